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
servers=()
cleanup() {
  for pid in "${servers[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
export CAMPANILE_JWT_SECRET="schemathesis-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
servers=()
start_server() { # start_server NAME [serve options]; sets $base
  local name="$1"; shift
  local port; port="$(free_port)"
  "$bin" serve --ephemeral --listen "127.0.0.1:$port" --geodata-dir geodata --web-dir web "$@" >"$work/$name.log" 2>&1 &
  local pid=$!
  servers+=("$pid")
  base="http://127.0.0.1:$port"
  for _ in $(seq 1 100); do
    if curl -fsS "$base/healthz" >/dev/null 2>&1; then return 0; fi
    if ! kill -0 "$pid" 2>/dev/null; then cat "$work/$name.log"; exit 1; fi
    sleep 0.1
  done
  echo "$name server did not start"; exit 1
}

# The public's limits are raised for the main runs: Schemathesis sends
# hundreds of requests from one address within a minute, and with the
# defaults (600 reads, 10 reports a minute) most public answers after the
# first few would be 429 and the checks would test little else. A last run
# keeps the defaults so that the 429 answers themselves (envelope, required
# Retry-After) are checked against the document.
start_server limited
limited_base="$base"
# The main server has a base-map archive, so that /basemap.pmtiles answers
# its ranges (206, 416) and not only 404.
python3 tests/tools/make_pmtiles.py geodata/basemap/bologna-streets.geojson "$work/basemap.pmtiles" 2>/dev/null
start_server main --public-read-rate 1000000 --public-report-rate 1000000 --basemap "$work/basemap.pmtiles"
curl -fsS "$base/openapi.json" -o "$work/openapi.json"

echo "-- openapi-spec-validator"
python3 -m openapi_spec_validator "$work/openapi.json"

operator="$("$bin" token --role operator --sub schemathesis --ttl 1h)"
checks="not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance,unsupported_method,allow_header_conformance"
run() { # run NAME BASE [extra args]: in the background, its output kept for the end
  local name="$1" at="$2"; shift 2
  # Each run in a scratch folder of its own: Schemathesis keeps a cache in the working directory.
  mkdir -p "$work/$name"
  (cd "$work/$name" && python3 -m schemathesis.cli run "$at/openapi.json" --checks "$checks" --max-examples "$max_examples" --seed "$seed" \
    --workers 1 --no-shrink --warnings off \
    --report junit,ndjson --report-junit-path "$report_dir/$name.xml" --report-ndjson-path "$report_dir/$name.ndjson" "$@") \
    >"$work/$name.out" 2>&1 &
  runs+=("$name:$!")
}
# The three runs side by side (no check depends on what another run
# changed): one after the other they took 1 min 51 s, together 56 s.
runs=()
run operator "$base" -H "Authorization: Bearer $operator"
run public "$base"
# Reports (10 a minute, shared by the JSON and the GeoReport routes) and the
# public reads: past the limit every answer is a 429 that must match the
# document too.
run public-rate-limited "$limited_base" --include-path /api/v1/reports --include-path /api/v1/broadcasts \
  --include-path /api/v1/alerts.atom --include-path '/open311/v2/requests.{format}'
status=0
for entry in "${runs[@]}"; do
  name="${entry%%:*}"
  echo "-- schemathesis: $name"
  wait "${entry#*:}" || status=1
  cat "$work/$name.out"
done
if [ "$status" -ne 0 ]; then
  for log in "$work"/*.log; do echo "$log (last 30 lines):"; tail -n 30 "$log"; done
fi
exit "$status"
