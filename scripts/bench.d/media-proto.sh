#!/usr/bin/env bash
# Media protocol paths (RTP/RTCP session, jitter buffer, SDP offer/answer), release build.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=$(cargo test --release -p gateway --test rtp_bench -- --ignored --nocapture --test-threads=1 2>/dev/null \
      | grep -E '^(\||Protocol work)')
echo "## Media protocols (RTP, jitter buffer, SDP)"
echo
echo "$out"
echo
