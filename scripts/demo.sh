#!/usr/bin/env bash
# Builds Campanile and runs it with the embedded engine and the demo event.
# Prints where to open it and an operator and a commander token.
# Extra arguments go to `campanile serve` (e.g. --listen 0.0.0.0:8080).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked
exec ./target/release/campanile serve --demo "$@"
