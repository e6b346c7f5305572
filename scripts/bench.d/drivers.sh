#!/usr/bin/env bash
# PCM bus and line drivers: cost of one ALSA exchange against bare alsa-lib transfers (same
# run), and the SPI traffic each line driver adds to a 10 ms tick.
# Prints a markdown section on stdout; build and test chatter goes to stderr.
set -euo pipefail
cd "$(dirname "$0")/../.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
BENCH_OUT="$tmp/drivers.md" cargo test --release -q -p hal --features linux --test drivers_bench -- --ignored >&2
cat "$tmp/drivers.md"
