#!/usr/bin/env bash
# Media protocol paths (RTP/RTCP session, jitter buffer, SDP offer/answer), release build.
set -euo pipefail
cd "$(dirname "$0")/../.."
speed=$(cargo test --release -p gateway --test rtp_bench -- --ignored --nocapture --test-threads=1 2>/dev/null \
        | grep -E '^(\||Protocol work)')
quality=$(cargo test --release -p gateway --test rtp_jitter jitter_quality_report -- --ignored --nocapture \
          --test-threads=1 2>/dev/null | grep -E '^\|')
echo "## Media protocols (RTP, jitter buffer, SDP)"
echo
echo "$speed"
echo
echo "Jitter buffer on synthetic network traces (20 ms packets, virtual time): mean buffering delay"
echo "over the second half of the call and packets arriving too late to play."
echo
echo "$quality"
echo
