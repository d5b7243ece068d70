#!/usr/bin/env bash
# Checks the served API against its own OpenAPI document, with tools written
# by others: openapi-spec-validator (the document is valid OpenAPI 3.1) and
# Schemathesis (generated requests, as an operator and as the public: no 5xx,
# and every answer's status, content type, headers and body as documented;
# 405 with Allow for the methods a route does not take).
#
# Starts its own server (memory engine, a free port) and stops it.
# Usage: tests/tools/schemathesis.sh [path to the campanile binary]
# Env: ST_MAX_EXAMPLES (default 25 per operation), ST_SEED (default 20261129).
set -euo pipefail
cd "$(dirname "$0")/../.."

bin="${1:-target/debug/campanile}"
max_examples="${ST_MAX_EXAMPLES:-25}"
seed="${ST_SEED:-20261129}"
work="$(mktemp -d)"
# Reports (JUnit, and every request and answer as NDJSON) are kept here.
report_dir="${ST_REPORT_DIR:-target/schemathesis}"
mkdir -p "$report_dir"
report_dir="$(cd "$report_dir" && pwd)"
server_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
export CAMPANILE_JWT_SECRET="schemathesis-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
# The public's limits are raised for this run only: Schemathesis sends
# hundreds of requests from one address within a minute, and with the
# defaults (600 reads, 10 reports a minute) nearly every public answer after
# the first few would be a 429 and the checks would test nothing else. 429
# itself is documented (envelope and Retry-After) and tested in tests/api.
"$bin" serve --listen "127.0.0.1:$port" --geodata-dir geodata --web-dir web \
  --public-read-rate 1000000 --public-report-rate 1000000 >"$work/server.log" 2>&1 &
server_pid=$!
base="http://127.0.0.1:$port"
for _ in $(seq 1 100); do
  if curl -fsS "$base/healthz" >/dev/null 2>&1; then break; fi
  if ! kill -0 "$server_pid" 2>/dev/null; then cat "$work/server.log"; exit 1; fi
  sleep 0.1
done
curl -fsS "$base/openapi.json" -o "$work/openapi.json"

echo "-- openapi-spec-validator"
python3 -m openapi_spec_validator "$work/openapi.json"

operator="$("$bin" token --role operator --sub schemathesis --ttl 1h)"
checks="not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance,unsupported_method,allow_header_conformance"
run() { # run NAME [extra args]
  local name="$1"; shift
  echo "-- schemathesis as $name"
  # Run from the scratch folder: Schemathesis keeps a cache in the working directory.
  (cd "$work" && python3 -m schemathesis.cli run "$base/openapi.json" --checks "$checks" --max-examples "$max_examples" --seed "$seed" \
    --workers 1 --no-shrink --warnings off \
    --report junit,ndjson --report-junit-path "$report_dir/$name.xml" --report-ndjson-path "$report_dir/$name.ndjson" "$@")
}
status=0
run operator -H "Authorization: Bearer $operator" || status=1
run public || status=1
if [ "$status" -ne 0 ]; then
  echo "server log (last 50 lines):"; tail -n 50 "$work/server.log"
fi
exit "$status"
