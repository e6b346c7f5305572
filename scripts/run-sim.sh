#!/usr/bin/env bash
# Starts the simulated PSTN exchange and gatewayd on the simulated board; Ctrl-C stops both.
# The exchange serves two subscriber lines for virtual phones (numbers 5551001 on 127.0.0.1:7011,
# 5551002 on 127.0.0.1:7012) and a line numbered 5552000 wired to the gateway's FXO port (7003).
set -euo pipefail
cd "$(dirname "$0")/.."
bin=target/release
state=${RUN_DIR:-.run}
mkdir -p "$state"
"$bin/sim-pstn" --country US --card 5551001:7011 --card 5551002:7012 --trunk 5552000:127.0.0.1:7003 \
  >"$state/sim-pstn.log" 2>&1 &
pstn=$!
cleanup() { kill "$pstn" 2>/dev/null || true; wait "$pstn" 2>/dev/null || true; }
trap cleanup EXIT
trap 'exit 130' INT TERM
echo "Simulated PSTN: subscribers 5551001 (simphone --connect 127.0.0.1:7011) and 5551002 (127.0.0.1:7012);"
echo "                the gateway's FXO line is number 5552000. Exchange log: $state/sim-pstn.log"
"$bin/gatewayd" --board sim --state-dir "$state" &
gw=$!
# Forward Ctrl-C/TERM to gatewayd and wait for its clean exit.
trap 'kill -INT $gw 2>/dev/null || true' INT TERM
wait $gw || true
wait $gw 2>/dev/null || true
