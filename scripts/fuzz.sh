#!/usr/bin/env bash
# Runs every cargo-fuzz target for FUZZ_SECONDS each (default 60).
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${FUZZ_SECONDS:-60}
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
# cargo-fuzz needs a nightly compiler for sanitizers; RUSTC_BOOTSTRAP lets the stable one act as it.
export RUSTC_BOOTSTRAP=1
for dir in fuzz; do
  [ -d "$dir" ] || continue
  for t in $(cd "$dir" && cargo fuzz list); do
    echo "== fuzz $t for ${secs}s" >&2
    (cd "$dir" && cargo fuzz run "$t" -- -max_total_time="$secs")
  done
done
