#!/usr/bin/env bash
# Echo canceller and packet loss concealment: cost per channel against spandsp (same run),
# and the quality figures (ERLE on simulated hybrids, PESQ under frame loss) from their tests.
# Prints a markdown section on stdout; build and test chatter goes to stderr.
set -euo pipefail
cd "$(dirname "$0")/../.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# spandsp's echo_can_update prints every sample on stdout: discard the harness's stdout.
BENCH_OUT="$tmp/cost.md" cargo test --release -q -p codecs --test echo_bench -- --ignored >/dev/null
ECHO_REPORT="$tmp/echo.md" cargo test --release -q -p codecs --test echo -- --test-threads 1 >/dev/null
PLC_REPORT="$tmp/plc.md" cargo test --release -q -p codecs --test plc >/dev/null

cat "$tmp/cost.md"
echo
echo "### Echo cancellation quality (ERLE)"
echo
cat "$tmp/echo.md"
echo "### Packet loss concealment quality (PESQ)"
echo
if [ -s "$tmp/plc.md" ]; then
  cat "$tmp/plc.md"
else
  echo "PESQ not measured: python3 with numpy and pesq is missing (scripts/deps.sh test)."
fi
echo
