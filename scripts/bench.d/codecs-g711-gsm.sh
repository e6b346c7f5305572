#!/usr/bin/env bash
# G.711 and GSM 06.10 throughput against their references, measured in the same run:
# G.711 against spandsp (g711_encode/g711_decode through spandsp-sys, same process), GSM against
# libgsm (Debian libgsm1-dev, codecs/bench-ref/libgsm_bench.c). Prints a markdown section.
# Timing is thread CPU time, best of several rounds, each program run three times alternately.
set -euo pipefail
cd "$(dirname "$0")/../.."
target=${CARGO_TARGET_DIR:-target}
speech=../shared/vectors/audio/speech_8k.s16le.raw
[ -f "$speech" ] || speech=$(cd .. && pwd)/shared/vectors/audio/speech_8k.s16le.raw
if [ ! -f /usr/include/gsm.h ] && [ ! -f /usr/include/gsm/gsm.h ]; then
  echo "codecs-g711-gsm bench: libgsm1-dev is missing (scripts/deps.sh test)" >&2
  exit 1
fi
cargo build -q --release --locked -p codecs --example bench_codecs >&2
mkdir -p "$target/bench-ref"
cc -O2 -I/usr/include/gsm -o "$target/bench-ref/libgsm_bench" codecs/bench-ref/libgsm_bench.c -lgsm
seconds=10 rounds=15
results=$(mktemp)
trap 'rm -f "$results"' EXIT
for _ in 1 2 3; do
  "$target/release/examples/bench_codecs" "$speech" "$seconds" "$rounds" >>"$results"
  "$target/bench-ref/libgsm_bench" "$speech" "$seconds" "$rounds" >>"$results"
done
libgsm_ver=$(dpkg-query -W -f='${Version}' libgsm1-dev 2>/dev/null || echo unknown)
python3 - "$results" "$libgsm_ver" <<'PY'
import sys
best = {}
for line in open(sys.argv[1]):
    parts = line.split()
    if len(parts) < 2 or parts[0] == "checksum":
        continue
    vals = [float(x) for x in parts[1:]]
    old = best.get(parts[0])
    best[parts[0]] = vals if old is None else [max(a, b) for a, b in zip(old, vals)]

def m(x):
    return f"{x / 1e6:,.1f} M"

print("## G.711 and GSM 06.10 (codecs-g711-gsm)")
print()
print("Samples per second of one core's CPU time (8 kHz samples; real time is 8000/s), best of")
print("several rounds. G.711 in 160-sample frames against spandsp's `g711_encode`/`g711_decode`")
print("(spandsp-sys, same process); input: the speech sample, and full-range white noise.")
print()
print("| G.711 | input | ours | spandsp | ratio |")
print("|---|---|---:|---:|---:|")
for law in ("ulaw", "alaw"):
    for op in ("encode", "decode"):
        for inp in ("speech", "noise"):
            ours, ref = best[f"{law}_{op}_{inp}"]
            name = {"ulaw": "µ-law", "alaw": "A-law"}[law]
            print(f"| {name} {op} | {inp} | {m(ours)} | {m(ref)} | **{ours / ref:.1f}x** |")
print()
print(f"GSM 06.10 full rate on the speech sample, frame by frame, against libgsm {sys.argv[2]}")
print("(`gsm_encode`/`gsm_decode`, Debian build, separate process) and spandsp's `gsm0610_encode`/")
print("`gsm0610_decode` (same process):")
print()
print("| GSM 06.10 | ours | libgsm | ratio | spandsp | ratio |")
print("|---|---:|---:|---:|---:|---:|")
for op in ("encode", "decode"):
    ours, sp = best[f"gsm_{op}"]
    ref = best[f"libgsm_{op}"][0]
    print(f"| {op} | {m(ours)} | {m(ref)} | **{ours / ref:.2f}x** | {m(sp)} | {ours / sp:.2f}x |")
print()
print("Targets: G.711 at least 3x spandsp; GSM encode and decode at least as fast as libgsm.")
print()
PY
