#!/usr/bin/env bash
# Builds Campanile and runs it with the embedded engine and the demo event.
# Prints where to open it and an operator and a commander token.
# Extra arguments go to `campanile serve` (e.g. --listen 0.0.0.0:8080).
set -euo pipefail
cd "$(dirname "$0")/.."
# Front-end libraries (MapLibre, h3-js) come from npm and are served by Campanile.
if [ ! -d web/node_modules/maplibre-gl ]; then
  if ! command -v npm >/dev/null 2>&1; then
    if [ "$(id -u)" -eq 0 ]; then apt-get update -qq && apt-get install -y -qq nodejs npm; else sudo apt-get update -qq && sudo apt-get install -y -qq nodejs npm; fi
  fi
  (cd web && npm ci --omit=dev --no-audit --no-fund --loglevel=error)
fi
cargo build --release --locked
exec ./target/release/campanile serve --demo "$@"
