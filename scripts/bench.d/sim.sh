#!/usr/bin/env bash
# Simulated board clock: drift and tick lateness with virtual phones attached, against a naive
# relative-sleep loop measured in the same run. Prints a markdown section.
set -euo pipefail
cd "$(dirname "$0")/../.."
target=${CARGO_TARGET_DIR:-target}
cargo build -q --release --locked -p board --example sim_clock_bench >&2
"$target/release/examples/sim_clock_bench" 1000
