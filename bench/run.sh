#!/usr/bin/env bash
# Runs the load generator against Campanile (memory and Redis engines) and
# the Node.js peers, keeps every result as JSON under bench/results/ and
# draws the charts in docs/. Release build; takes about half an hour.
#
#   bash bench/run.sh            # the whole matrix
#   bash bench/run.sh fanout     # one part: latency | ingest | fanout | idle | throughput | compare | replicas | durable | headroom | event
#   TAG=before bash bench/run.sh compare   # 10k subscribers (CLIENTS) + 20k posts/s on both engines, kept as compare-*-before
#   PEERS="ws" RATES="10" bash bench/run.sh throughput   # some servers, some rates
#   HEADROOM_CLIENTS=80000 bash bench/run.sh headroom   # how many subscribers one node holds (50,000 by default)
#   TAG=after bash bench/run.sh event   # 10k subscribers, 20k posts/s, 3 in 10 with text: latency and per-tick costs
#
# The generator and the servers share this machine's cores: every figure is
# a floor for the server alone, and the generator reports when it saturated.
set -euo pipefail
cd "$(dirname "$0")/.."

PARTS=${1:-"latency ingest fanout idle throughput"}
RESULTS=bench/results
SECS=${BENCH_SECS:-20}
PEERS=${PEERS:-"campanile-memory ws socketio"}
RATES=${RATES:-"5 10 20 50"}
mkdir -p "$RESULTS"

command -v redis-server >/dev/null || { echo "redis-server is needed (apt-get install redis-server)"; exit 1; }
command -v node >/dev/null || { echo "node is needed (apt-get install nodejs npm)"; exit 1; }
[ -d bench/peers/node_modules ] || (cd bench/peers && npm ci --no-audit --no-fund)
cargo build --release --quiet
BIN=target/release/campanile

export CAMPANILE_JWT_SECRET=bench-secret-not-for-production-use
TOKEN=$($BIN token --role operator --sub bench --ttl 4h)
# The subscribers come from a few loopback addresses here (127.0.0.1, and
# 127.0.0.2, … past what one address's ephemeral ports hold), where in the
# field each phone has its own address: lift the per-address limits on
# public reads and WebSocket connections.
# Each WebSocket holds two descriptors on the server and one on the
# generator: 10,000 subscribers need more than the usual soft limit.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
SERVE_FLAGS=(--public-read-rate 100000000 --ws-max-per-address 100000 --demo false)

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_ready() { for _ in $(seq 200); do curl -fsS "$1/readyz" >/dev/null 2>&1 && return 0; sleep 0.05; done; echo "not ready: $1"; exit 1; }
rss_mb() { awk '/VmRSS/ {print $2/1024}' "/proc/$1/status"; }

SERVER_PID=""; REDIS_PID=""; REPLICA_PID=""; DATA_DIR=""
stop_all() {
  [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null || true
  [ -n "$REPLICA_PID" ] && kill "$REPLICA_PID" 2>/dev/null && wait "$REPLICA_PID" 2>/dev/null || true
  [ -n "$REDIS_PID" ] && kill "$REDIS_PID" 2>/dev/null && wait "$REDIS_PID" 2>/dev/null || true
  [ -n "$DATA_DIR" ] && rm -rf "$DATA_DIR"
  SERVER_PID=""; REDIS_PID=""; REPLICA_PID=""; DATA_DIR=""
}
trap stop_all EXIT

# start KIND: campanile-memory | campanile-durable-everysec | campanile-durable-always | campanile-redis |
# campanile-redis-aof | campanile-redis-waitN | ws | socketio; sets TARGET and SERVER_PID.
# campanile-durable-*: the embedded engine kept in a fresh data directory
# (on this machine's disk, under bench/results/) with that --fsync policy.
# campanile-redis-waitN: a primary with one replica, every write acknowledged
# once N replicas confirmed it (--redis-wait-replicas N).
start() {
  local port; port=$(free_port)
  TARGET="http://127.0.0.1:$port"
  case "$1" in
    campanile-memory)
      $BIN serve --ephemeral --listen "127.0.0.1:$port" "${SERVE_FLAGS[@]}" >/dev/null 2>&1 & SERVER_PID=$! ;;
    campanile-durable-*)
      DATA_DIR=$(mktemp -d "$RESULTS/.data.XXXXXX")
      $BIN serve --data-dir "$DATA_DIR" --fsync "${1#campanile-durable-}" --listen "127.0.0.1:$port" \
        "${SERVE_FLAGS[@]}" >/dev/null 2>&1 & SERVER_PID=$! ;;
    campanile-redis)
      local rport; rport=$(free_port)
      redis-server --port "$rport" --save "" --appendonly no >/dev/null & REDIS_PID=$!
      sleep 0.3
      $BIN serve --listen "127.0.0.1:$port" --redis-url "redis://127.0.0.1:$rport" "${SERVE_FLAGS[@]}" >/dev/null 2>&1 & SERVER_PID=$! ;;
    campanile-redis-aof)  # Redis writing its append-only file, flushed once a second
      local rport; rport=$(free_port); DATA_DIR=$(mktemp -d "$RESULTS/.data.XXXXXX")
      redis-server --port "$rport" --save "" --appendonly yes --appendfsync everysec --dir "$PWD/$DATA_DIR" >/dev/null & REDIS_PID=$!
      sleep 0.3
      $BIN serve --listen "127.0.0.1:$port" --redis-url "redis://127.0.0.1:$rport" "${SERVE_FLAGS[@]}" >/dev/null 2>&1 & SERVER_PID=$! ;;
    campanile-redis-wait*)
      local rport qport; rport=$(free_port); qport=$(free_port)
      redis-server --port "$rport" --save "" --appendonly no >/dev/null & REDIS_PID=$!
      redis-server --port "$qport" --save "" --appendonly no --replicaof 127.0.0.1 "$rport" >/dev/null & REPLICA_PID=$!
      for _ in $(seq 200); do
        redis-cli -p "$rport" INFO replication 2>/dev/null | grep -q "port=$qport,state=online" && break; sleep 0.05
      done
      $BIN serve --listen "127.0.0.1:$port" --redis-url "redis://127.0.0.1:$rport" \
        --redis-wait-replicas "${1#campanile-redis-wait}" "${SERVE_FLAGS[@]}" >/dev/null 2>&1 & SERVER_PID=$! ;;
    ws) node bench/peers/ws-server.js --port "$port" >/dev/null & SERVER_PID=$! ;;
    socketio) node bench/peers/socketio-server.js --port "$port" >/dev/null & SERVER_PID=$! ;;
  esac
  wait_ready "$TARGET"
  BASELINE_RSS=$(rss_mb "$SERVER_PID")
}

# run LABEL KIND CLIENTS RATE BROADCASTS [extra generator flags]
run() {
  local label=$1 kind=$2 clients=$3 rate=$4 broadcasts=$5; shift 5
  local protocol=campanile; case "$kind" in ws|socketio) protocol=$kind ;; esac
  start "$kind"
  echo "== $label: $kind, $clients clients, $rate posts/s, $broadcasts broadcasts, ${SECS}s"
  $BIN bench --target "$TARGET" --token "$TOKEN" --protocol "$protocol" --clients "$clients" \
    --ingest-rate "$rate" --batch 1000 --broadcasts "$broadcasts" --duration "${SECS}s" \
    --server-pid "$SERVER_PID" --json "$@" >"$RESULTS/.report.json"
  python3 - "$label" "$kind" "$BASELINE_RSS" "$RESULTS/.report.json" "$RESULTS/$label.json" <<'EOF'
import json, sys
label, kind, baseline, src, dst = sys.argv[1:]
report = json.load(open(src))
server_kind, _, engine = kind.partition("-")
p = report["params"]
json.dump({"label": label, "server_kind": server_kind, "engine": engine or None,
           "params": {"clients": p["clients"], "ingest_rate": p["ingest_rate"], "broadcasts": p["broadcasts"],
                      "duration_s": p["duration_s"], "tick_ms": 500 if server_kind == "campanile" else None},
           "baseline_rss_mb": float(baseline), "report": report}, open(dst, "w"), indent=1)
r = report
print(f'   ingest 202 p50/p99 {r["ingest"].get("latency_ms", {}).get("p50", 0):.1f}/{r["ingest"].get("latency_ms", {}).get("p99", 0):.1f} ms, '
      f'delta p50/p99 {r["delta_latency_ms"]["p50"]:.0f}/{r["delta_latency_ms"]["p99"]:.0f} ms, '
      f'broadcast last p99 {r["broadcast_latency_ms"]["last_subscriber"]["p99"]:.0f} ms '
      f'({r["broadcast_latency_ms"]["delivered"]}/{r["broadcast_latency_ms"]["expected"]}), '
      f'{r["clients"]["connected"]} connected from {r["clients"].get("source_addresses", {}).get("count", 1)} addresses, '
      f'{r["clients"]["dropped"]} dropped, '
      f'server {r["server"]["rss_mb"]:.0f} MiB {r["server"]["cpu_pct"]:.0f}% CPU, '
      f'generator {r["generator"]["cpu_pct"]:.0f}%{" SATURATED" if r["generator_saturated"] else ""}')
EOF
  rm -f "$RESULTS/.report.json"
  stop_all
}

for part in $PARTS; do
  case "$part" in
    latency)  # ingest-to-delta and broadcast latency against subscribers, at 20k posts/s
      for engine in memory redis; do
        for clients in 1000 5000 10000; do
          run "latency-$engine-${clients}c-20000pps" "campanile-$engine" "$clients" 20000 20
        done
      done ;;
    compare)  # one structural change against another: 10k subscribers, 20k posts/s, both engines, TAG names the side
      for engine in memory redis; do
        run "compare-$engine-${CLIENTS:-10000}c-20000pps-${TAG:-now}" "campanile-$engine" "${CLIENTS:-10000}" 20000 20
      done ;;
    ingest)   # against ingest rate, at 10k subscribers
      for engine in memory redis; do
        for rate in 0 5000 40000; do
          run "latency-$engine-10000c-${rate}pps" "campanile-$engine" 10000 "$rate" 20
        done
      done ;;
    replicas) # what acknowledging only replicated writes costs: one replica, 1k subscribers, 20k posts/s
      # Kept apart from the results the charts are drawn from: another study.
      mkdir -p "$RESULTS/replicas"
      for wait in 0 1; do
        run "replicas/redis-wait$wait-1000c-20000pps" "campanile-redis-wait$wait" 1000 20000 0
      done ;;
    durable)  # the embedded engine kept on disk against memory only and Redis: ingest alone, then under subscribers
      # Kept apart from the results the charts are drawn from: another study.
      mkdir -p "$RESULTS/durable"
      for kind in campanile-memory campanile-durable-everysec campanile-durable-always campanile-redis campanile-redis-aof; do
        run "durable/ingest-${kind#campanile-}-0c-max" "$kind" 0 200000 0
        run "durable/latency-${kind#campanile-}-1000c-20000pps" "$kind" 1000 20000 20
      done ;;
    # Against the peers every server carries the same load: subscribers of
    # the broadcasts channel only, no heatmap, no posts.
    fanout)   # 50 broadcasts to 10k subscribers
      for kind in $PEERS; do
        run "fanout-$kind-10000c" "$kind" 10000 0 50 --broadcasts-only
      done ;;
    idle)     # memory per idle subscriber: connected and subscribed, nothing sent
      for kind in $PEERS; do
        run "idle-$kind-10000c" "$kind" 10000 0 0 --broadcasts-only
      done ;;
    throughput)  # deliveries per second as the broadcast rate climbs
      for kind in $PEERS; do
        for per_s in $RATES; do
          run "throughput-$kind-10000c-${per_s}bps" "$kind" 10000 0 $((per_s * SECS)) --broadcasts-only
        done
      done ;;
    event)    # issue 17's load: 10k subscribers (CLIENTS), 20k posts/s with texts on three posts in ten (TEXT_SHARE),
      # both engines; the report carries latency and what zones, trends and coordination cost per tick
      mkdir -p "$RESULTS/event"
      for engine in memory redis; do
        run "event/$engine-${CLIENTS:-10000}c-20000pps-${TAG:-now}" "campanile-$engine" "${CLIENTS:-10000}" 20000 20 \
          --text-share "${TEXT_SHARE:-0.3}"
      done ;;
    headroom) # how many subscribers one node holds: 50,000 (HEADROOM_CLIENTS) under the latency part's load,
      # past the server's default cap of 20,000 connections and past the ~28,000 ephemeral ports of one
      # source address (the generator spreads its subscribers over several loopback addresses and says so)
      clients=${HEADROOM_CLIENTS:-50000}
      saved_flags=("${SERVE_FLAGS[@]}")
      SERVE_FLAGS+=(--ws-max-connections "$((clients + 1000))")
      mkdir -p "$RESULTS/headroom"
      run "headroom/memory-${clients}c-20000pps" campanile-memory "$clients" 20000 20
      SERVE_FLAGS=("${saved_flags[@]}") ;;
    *) echo "unknown part: $part"; exit 1 ;;
  esac
done

python3 bench/chart.py "$RESULTS" docs
