#!/usr/bin/env bash
# Signalling DSP throughput (tones, DTMF, caller ID) against spandsp, measured in the same run.
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target/codecs-signal}"
cargo test --release -q -p codecs --test dtmf_bench -- --ignored --nocapture --test-threads 1 2>/dev/null \
  | sed -n '/^BENCH-BEGIN$/,/^BENCH-END$/p' | sed '1d;$d'
echo
