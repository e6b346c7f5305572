#!/usr/bin/env bash
# Call features: CPU cost of an FXO line's caller ID receivers (Bell 202 + V.23 + DTMF, fed every
# on-hook 10 ms frame by the media loop) against the DTMF detector every port already runs, on
# the same audio in the same run. Release build; prints a markdown section.
set -euo pipefail
cd "$(dirname "$0")/../.."
target=${CARGO_TARGET_DIR:-target}
speech=../shared/vectors/audio/speech_8k.s16le.raw
[ -f "$speech" ] || speech=$(cd .. && pwd)/shared/vectors/audio/speech_8k.s16le.raw
cargo build -q --release -p gateway --example cid_rx_bench >&2
results=$(mktemp)
trap 'rm -f "$results"' EXIT
"$target/release/examples/cid_rx_bench" "$speech" "${CID_BENCH_SECONDS:-120}" >"$results"
python3 - "$results" <<'PY'
import sys
v = {}
for line in open(sys.argv[1]):
    k, _, x = line.strip().partition(" ")
    if x:
        v[k] = float(x)
rx, dtmf = v["cid_rx_frame_ns"], v["dtmf_frame_ns"]
print("## Call features (callfeat)")
print()
print(f"FXO caller ID receivers in the media loop: Bell 202, V.23 and DTMF receivers at once on an")
print(f"on-hook line, {int(v['frames']):,} frames of 10 ms (speech with a Bell 202 MDMF message every")
print(f"5 s: {int(v['messages_per_run'])} messages decoded per pass), best of 3 passes. Reference: the DTMF")
print("detector every port runs on every frame, on the same audio in the same run.")
print()
print("| figure | value | reference | ratio |")
print("|---|---:|---:|---:|")
print(f"| caller ID receivers per 10 ms frame | {rx / 1e3:.2f} µs | DTMF detector {dtmf / 1e3:.2f} µs | **{rx / dtmf:.2f}** |")
print(f"| share of one core per FXO line (on hook) | {rx / 1e7 * 100:.3f} % | DTMF detector {dtmf / 1e7 * 100:.3f} % | {rx / dtmf:.2f} |")
print()
print("The receivers stop while the line is seized (a call's audio is not caller ID).")
PY
