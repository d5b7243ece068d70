#!/usr/bin/env bash
# RFC 6455 conformance of Campanile's WebSocket: Autobahn|Testsuite's
# fuzzingclient against `campanile serve` (embedded memory engine, loopback
# only), then a summary read from the report's index.json.
#
# Autobahn|Testsuite runs on Python 2.7 only. This script uses
# $PYTHON2 if set, else python2.7 on PATH, else a pyenv 2.7.x, and installs
# autobahntestsuite from PyPI into a virtualenv under target/conformance.
# scripts/test.sh runs it after Schemathesis. The cases that found faults
# also have Rust tests (tests/api/ws_conformance.rs), which run everywhere.
#
# Campanile does not echo: a text message is a JSON command, answered by
# the protocol (DESIGN §4). Case groups and cases that expect an echo are not
# run; docs/CONFORMANCE.md says which and why.
#
# Usage: scripts/conformance.sh [path to the campanile binary]
#   (without one, a release build is made; report: target/conformance/report/index.html)
# Exit status: 0 every case run passed; 1 a case failed, or the server or the
# suite broke; 2 the suite could not be run here (no Python 2.7, or
# autobahntestsuite could not be installed), which is not a verdict on the server.
set -euo pipefail
cd "$(dirname "$0")/.."

out=target/conformance
mkdir -p "$out"

find_python2() {
  local candidates=()
  [ -n "${PYTHON2:-}" ] && candidates+=("$PYTHON2")
  command -v python2.7 >/dev/null 2>&1 && candidates+=("$(command -v python2.7)")
  local root="${PYENV_ROOT:-$HOME/.pyenv}"
  for p in "$root"/versions/2.7*/bin/python; do
    [ -x "$p" ] && candidates+=("$p")
  done
  for p in "${candidates[@]}"; do
    # A pyenv shim answers even when no 2.7 is installed behind it: ask the interpreter.
    if "$p" -c 'import sys; sys.exit(0 if sys.version_info[:2] == (2, 7) else 1)' >/dev/null 2>&1; then
      echo "$p"
      return 0
    fi
  done
  return 1
}

if ! python2=$(find_python2); then
  echo "conformance: no Python 2.7 found (tried \$PYTHON2, python2.7 on PATH, ~/.pyenv/versions/2.7*)." >&2
  echo "Autobahn|Testsuite needs Python 2.7, which Debian 12 no longer packages and PyPI does not carry;" >&2
  echo "'pyenv install 2.7.18' builds one from python.org's sources. Install one that way, or set PYTHON2." >&2
  exit 2
fi
echo "== Python 2.7: $python2"

venv="$out/venv"
if [ ! -x "$venv/bin/wstest" ]; then
  not_installed() {
    echo "conformance: autobahntestsuite could not be installed from PyPI for $python2 (see above)." >&2
    rm -rf "$venv"
    exit 2
  }
  if ! "$python2" -c 'import virtualenv' >/dev/null 2>&1; then
    # virtualenv 20.22 dropped Python 2.7; keep it beside the venv, not in the interpreter.
    "$python2" -m pip install -q --disable-pip-version-check --target "$out/virtualenv" 'virtualenv<20.22' \
      || not_installed
  fi
  PYTHONPATH="$out/virtualenv${PYTHONPATH:+:$PYTHONPATH}" "$python2" -m virtualenv -q "$venv" || not_installed
  echo "== installing autobahntestsuite from PyPI"
  "$venv/bin/pip" install -q --disable-pip-version-check 'autobahntestsuite==25.10.1' || not_installed
fi

if [ -n "${1:-}" ]; then
  bin="$1"
  [ -x "$bin" ] || { echo "conformance: $bin is not an executable" >&2; exit 1; }
else
  echo "== building campanile (release)"
  cargo build --release --locked --bin campanile
  bin=target/release/campanile
fi
echo "== server: $bin"

port=$("$venv/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$bin" serve --ephemeral --listen "127.0.0.1:$port" >"$out/server.log" 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
  sleep 0.1
done
curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null || { echo "the server did not start; see $out/server.log" >&2; exit 1; }

# The cases to run: groups 2-7, less every case whose expectation includes an
# echoed message. Decided from the installed suite's own case definitions, so
# a new version of it is classified the same way.
"$venv/bin/python" - "$port" "$out" <<'EOF'
import inspect, json, sys
from autobahntestsuite.case import Cases

port, out = sys.argv[1], sys.argv[2]

def case_id(klass):
    return ".".join(klass.__name__[len("Case"):].split("_"))

def expects_echo(klass):
    # The generated UTF-8 cases (6.5 onwards) echo exactly the valid payloads.
    if hasattr(klass, "isValid"):
        return bool(klass.isValid)
    for base in inspect.getmro(klass):
        if base.__name__ in ("Case", "object"):
            continue
        try:
            source = inspect.getsource(base)
        except (IOError, TypeError):
            continue
        if '("message"' in source:
            return True
    return False

groups = ("2", "3", "4", "5", "6", "7")
run, echo = [], []
for klass in Cases:
    cid = case_id(klass)
    if cid.split(".")[0] not in groups:
        continue
    (echo if expects_echo(klass) else run).append(cid)
spec = {
    "outdir": out + "/report",
    "servers": [{"agent": "campanile", "url": "ws://127.0.0.1:%s/ws" % port}],
    "cases": run,
    "exclude-cases": [],
    "exclude-agent-cases": {},
}
json.dump(spec, open(out + "/fuzzingclient.json", "w"), indent=2)
json.dump({"run": run, "excluded_echo": echo}, open(out + "/cases.json", "w"), indent=2)
print("== %d cases to run in groups %s; %d excluded there because they expect an echo"
      % (len(run), ",".join(groups), len(echo)))
EOF

echo "== running the fuzzingclient (about ten seconds)"
rm -rf "$out/report"
"$venv/bin/wstest" -m fuzzingclient -s "$out/fuzzingclient.json" >"$out/wstest.log" 2>&1 \
  || { tail -n 30 "$out/wstest.log" >&2; echo "conformance: the fuzzingclient stopped with an error" >&2; exit 1; }

"$venv/bin/python" - "$out" <<'EOF'
import json, sys
from collections import Counter
out = sys.argv[1]
index = json.load(open(out + "/report/index.json"))["campanile"]
planned = json.load(open(out + "/cases.json"))["run"]
behavior = Counter(r["behavior"] for r in index.values())
close = Counter(r["behaviorClose"] for r in index.values())
bad = ("FAILED", "WRONG CODE", "UNCLEAN")
failed = sorted((cid for cid, r in index.items() if r["behavior"] in bad or r["behaviorClose"] in bad),
                key=lambda c: [int(x) for x in c.split(".")])
print("cases run:      %d" % len(index))
print("passed (OK):    %d" % behavior["OK"])
print("non-strict:     %d" % behavior["NON-STRICT"])
print("informational:  %d" % behavior["INFORMATIONAL"])
print("failed:         %d %s" % (len(failed), " ".join(failed)))
print("other:          %s" % dict((k, v) for k, v in behavior.items()
                                   if k not in ("OK", "NON-STRICT", "INFORMATIONAL", "FAILED", "WRONG CODE", "UNCLEAN")))
print("close behavior: %s" % dict(close))
missing = sorted(set(planned) - set(index))
if missing:
    print("no result:      %d %s" % (len(missing), " ".join(missing)))
json.dump({"run": len(index), "behavior": behavior, "behaviorClose": close, "failed": failed,
           "missing": missing}, open(out + "/summary.json", "w"), indent=2)
sys.exit(1 if failed or missing else 0)
EOF
