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
rustup component add rustfmt clippy >/dev/null 2>&1 || true

echo "== format"
cargo fmt --check
echo "== clippy"
cargo clippy --all-targets --locked -- -D warnings
echo "== tests"
cargo test --all-targets --locked
