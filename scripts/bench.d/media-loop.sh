#!/usr/bin/env bash
# Media loop: G.711<->GSM transcoded channels per core against libgsm's raw codec cost (Debian
# libgsm1-dev through codecs/bench-ref/libgsm_bench.c, measured in the same run), and the added
# latency from a line frame to its RTP packet. Release build; prints a markdown section.
set -euo pipefail
cd "$(dirname "$0")/../.."
target=${CARGO_TARGET_DIR:-target}
speech=../shared/vectors/audio/speech_8k.s16le.raw
[ -f "$speech" ] || speech=$(cd .. && pwd)/shared/vectors/audio/speech_8k.s16le.raw
if [ ! -f /usr/include/gsm.h ] && [ ! -f /usr/include/gsm/gsm.h ]; then
  echo "media-loop bench: libgsm1-dev is missing (scripts/deps.sh test)" >&2
  exit 1
fi
cargo build -q --release -p gateway --example media_bench >&2
mkdir -p "$target/bench-ref"
cc -O2 -I/usr/include/gsm -o "$target/bench-ref/libgsm_bench" codecs/bench-ref/libgsm_bench.c -lgsm
pairs=${MEDIA_BENCH_PAIRS:-32}
ticks=${MEDIA_BENCH_TICKS:-3000}
results=$(mktemp)
pesq_report=$(mktemp)
trap 'rm -f "$results" "$pesq_report"' EXIT
"$target/bench-ref/libgsm_bench" "$speech" 10 10 >>"$results"
"$target/release/examples/media_bench" "$speech" "$pairs" "$ticks" >>"$results"
"$target/bench-ref/libgsm_bench" "$speech" 10 10 >>"$results"
libgsm_ver=$(dpkg-query -W -f='${Version}' libgsm1-dev 2>/dev/null || echo unknown)
python3 - "$results" "$libgsm_ver" <<'PY'
import sys
v = {}
for line in open(sys.argv[1]):
    k, _, x = line.strip().partition(" ")
    if not x or k == "checksum":
        continue
    x = float(x)
    # Keep the best (fastest) libgsm figure of the runs around ours.
    v[k] = max(v.get(k, 0.0), x) if k.startswith("libgsm") else x
pairs = int(v["pairs"])
tick_mean, tick_p999, tick_max = v["tick_mean_ns"], v["tick_p999_ns"], v["tick_max_ns"]
per_chan_mean = tick_mean / pairs
cap_mean = 10e6 / per_chan_mean
cap_p999 = pairs * 10e6 / tick_p999
# libgsm: one encode and one decode of 160 samples per 20 ms per transcoded channel.
libgsm_frame_ns = 160 / v["libgsm_encode"] * 1e9 + 160 / v["libgsm_decode"] * 1e9
libgsm_limit = 20e6 / libgsm_frame_ns
ours_frame_ns = v["ours_gsm_frame_ns"]
ours_codec_limit = 20e6 / ours_frame_ns
print("## Media loop (media-loop)")
print()
print(f"G.711 (PCMU, 20 ms) <-> GSM 06.10 (20 ms) transcoding bridges in the real loop: {pairs} bridges")
print("(each: two RTP streams on loopback sockets with sessions, jitter buffers, decoders with")
print("concealment, encoders, RTCP), driven by a virtual PCM clock as fast as it runs; thread CPU time")
print("per 10 ms tick. One channel = one transcoded call. Reference: libgsm " + sys.argv[2] + " encode +")
print("decode of the same speech (codecs/bench-ref/libgsm_bench.c, best of the runs around ours),")
print("which is the physical limit of a core doing nothing but GSM.")
print()
print("| figure | value | reference | ratio |")
print("|---|---:|---:|---:|")
print(f"| channels per core, mean tick | {cap_mean:,.0f} | libgsm limit {libgsm_limit:,.0f} | **{cap_mean / libgsm_limit:.2f}** |")
print(f"| channels per core, no tick over 10 ms (99.9th pct tick {tick_p999 / 1e3:,.0f} µs for {pairs}) | {cap_p999:,.0f} | libgsm limit {libgsm_limit:,.0f} | **{cap_p999 / libgsm_limit:.2f}** |")
print(f"| GSM encode + decode per 20 ms frame, ours | {ours_frame_ns / 1e3:.1f} µs | libgsm {libgsm_frame_ns / 1e3:.1f} µs | **{libgsm_frame_ns / ours_frame_ns:.2f}x** |")
print(f"| loop CPU per channel per 10 ms tick (sockets, RTP, jitter buffer, codecs, mixing) | {per_chan_mean / 1e3:.1f} µs | GSM codec alone {ours_frame_ns / 2e3:.1f} µs | {per_chan_mean / (ours_frame_ns / 2):.2f} |")
print()
print(f"Longest tick seen: {tick_max / 1e3:,.0f} µs for {pairs} channels (a shared machine; the 99.9th percentile is the figure above).")
print(f"Overruns reported by the loop: {int(v['overruns'])}.")
print()
print("Added latency from the PCM exchange returning the frame that completes a packet to that")
print("packet being readable at the peer's socket (PCMU, 20 ms packets; target: under 1 ms beyond")
print("the packetisation time):")
print()
print("| load | median | 95th pct | 99th pct | target | ratio (median / target) |")
print("|---|---:|---:|---:|---:|---:|")
for name, label in (("light", "one call"), ("loaded", f"one call + {pairs} transcoding bridges")):
    med = v[f"latency_{name}_median_ns"] / 1e3
    p95 = v[f"latency_{name}_p95_ns"] / 1e3
    p99 = v[f"latency_{name}_p99_ns"] / 1e3
    print(f"| {label} | {med:,.0f} µs | {p95:,.0f} µs | {p99:,.0f} µs | 1,000 µs | {med / 1000:.2f} |")
print()
print("Latency is wall-clock time on a shared machine: the upper percentiles include the loop thread")
print("being preempted (the benchmark does not run with SCHED_FIFO).")
PY
# Speech quality through the loop's receive path under loss (gateway/tests/media_pesq.rs).
if MEDIA_PESQ_REPORT="$pesq_report" cargo test -q --release -p gateway --test media_pesq >&2 \
  && [ -s "$pesq_report" ]; then
  echo
  echo "Speech through the receive path (jitter buffer, decoder, concealment) over a loopback UDP"
  echo "proxy: 40-100 ms delay with reordering, then the same plus exactly 5 % loss (20 of the 400"
  echo "packets of 8 s of the speech sample, fixed seed), narrow-band PESQ (PyPI pesq). Reference,"
  echo "same run: the clean output with the lost packets' audio replaced by silence (a receiver"
  echo "without concealment). Last column: the same losses with RFC 2198 redundancy negotiated (a"
  echo "second loop sends RED with the previous frame; isolated losses are recovered exactly)."
  echo
  echo "| codec | clean | delay + jitter | plus 5 % loss, concealed (from clean) | silence insertion | plus 5 % loss with RED (from clean) |"
  echo "|---|---:|---:|---:|---:|---:|"
  cat "$pesq_report"
else
  echo
  echo "PESQ under loss not measured: python3 with numpy and pesq is missing (scripts/deps.sh test)."
fi
