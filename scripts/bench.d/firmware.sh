#!/usr/bin/env bash
# Firmware in QEMU (TCG): time from launch to the SIP account registered with Kamailio on the
# host, against the plain kernel boot to init (the same kernel, machine and command line with an
# initramfs holding only busybox) measured in the same run; the image's sizes. Prints a markdown
# section. Needs kamailio (scripts/deps.d/test-firmware.apt).
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
BOARD=qemu-aarch64
RUNS=${RUNS:-3}
image=$root/target/firmware/image/$BOARD
work=$root/target/firmware/bench
board/image/build.sh "$BOARD" >&2
command -v kamailio >/dev/null || [ -x /usr/sbin/kamailio ] || { echo "bench firmware: kamailio missing" >&2; exit 1; }
rm -rf "$work"
mkdir -p "$work/ref/stage/bin" "$work/kam" "$work/state"

# Kamailio on a free loopback port; the account on a copy of the configuration partition.
free_port() { # free_port udp|tcp
  python3 -c 'import socket,sys; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM if sys.argv[1] == "udp" else socket.SOCK_STREAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' "$1"
}
kport=$(free_port udp)
kamailio -f board/qemu/kamailio.cfg -DD -E -l "udp:127.0.0.1:$kport" -Y "$work/kam" -w "$work/kam" \
  >"$work/kam/log" 2>&1 &
kam=$!
qemu_pid=
cleanup() {
  [ -n "$qemu_pid" ] && kill "$qemu_pid" 2>/dev/null
  kill "$kam" 2>/dev/null || true
}
trap cleanup EXIT
{
  sed 's/^kind = "fxs"$/kind = "fxs"\naccount = "main"/' board/image/rootfs/etc/gatewayd/factory.toml
  printf '\n[[account]]\nname = "main"\nuser = "1001"\ndomain = "10.0.2.2"\nregistrar = "10.0.2.2:%s"\npassword = "secret"\nexpires_s = 300\n' "$kport"
} >"$work/gateway.toml"
cp "$image/config.img" "$work/config.img"
debugfs -w -R "write $work/gateway.toml gateway.toml" "$work/config.img" >/dev/null 2>&1

# The reference image: same kernel and command line, /init says so and powers off.
cp "$image/Image" "$image/cmdline" "$image/board.toml" "$image/config.img" "$work/ref/"
cp "$image/rootfs/bin/busybox" "$work/ref/stage/bin/"
printf '#!/bin/busybox sh\n/bin/busybox echo "bench: init reached"\n/bin/busybox poweroff -f\n' >"$work/ref/stage/init"
chmod 0755 "$work/ref/stage/init"
(cd "$work/ref/stage" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) |
  lz4 -l -9 -q >"$work/ref/rootfs.cpio.lz4"

now() { date +%s.%N; }
# launch IMAGE_DIR MARKER [web]: seconds from starting the runner to MARKER on its output; with
# `web`, also waits for the runner's web page figure. Stops QEMU.
launch() {
  local out=$work/out.log t0 t
  cp "$work/config.img" "$work/state/config.img"
  : >"$out"
  t0=$(now)
  IMAGE=$1 STATE=$work/state WEB_PORT=$(free_port tcp) SIP_PORT=$(free_port udp) RTP_PORTS=none \
    LINE_PORT=$((20000 + RANDOM % 20000)) \
    board/qemu/run.sh "$BOARD" </dev/null >"$out" 2>&1 &
  local runner=$!
  t=
  for _ in $(seq 1 1200); do
    if grep -aq "$2" "$out"; then t=$(now); break; fi
    sleep 0.02
  done
  # The runner's web page figure comes from the same launch: give it time to appear.
  for _ in $(seq 1 500); do
    grep -aq 'gatewayd ready' "$out" && break
    [ -n "${3:-}" ] || break
    sleep 0.02
  done
  qemu_pid=$(cat "$work/state/qemu.pid" 2>/dev/null || true)
  [ -n "$qemu_pid" ] && kill "$qemu_pid" 2>/dev/null
  wait "$runner" 2>/dev/null || true
  qemu_pid=
  [ -n "$t" ] || { echo "bench firmware: '$2' not seen:" >&2; tail -20 "$out" >&2; exit 1; }
  awk -v a="$t0" -v b="$t" 'BEGIN { printf "%.2f", b - a }'
}
median() { tr ' ' '\n' | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

ref=() fw=() web=()
for _ in $(seq 1 "$RUNS"); do
  ref+=("$(launch "$work/ref" 'bench: init reached')")
  fw+=("$(launch "$image" 'account main registered' web)")
  # The runner's own figure for the web page, from the same launch.
  web+=("$(grep -ao 'web page answering) [0-9.]*' "$work/out.log" | awk '{print $NF}' | head -n1 || true)")
done
r=$(echo "${ref[*]}" | median)
f=$(echo "${fw[*]}" | median)
w=$(echo "${web[*]}" | median)
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
size() { stat -c %s "$1"; }
g=$(size "$image/rootfs/usr/bin/gatewayd")
k=$(size "$image/Image.gz")
rf=$(size "$image/rootfs.cpio.lz4")

echo "## Firmware in QEMU (qemu-aarch64, TCG)"
echo
echo "Launch of \`board/qemu/run.sh\` to gatewayd's \`account main registered\` (Kamailio on the"
echo "host, across QEMU's user-mode NAT), against the same kernel, machine and command line"
echo "booting an initramfs that only runs \`/init\` (launch to init). Median of $RUNS runs each."
echo
echo "| figure | value | ratio to launch-to-init |"
echo "|---|---|---|"
echo "| launch to init (reference) | $r s | 1.00 |"
echo "| launch to web page answering | ${w:-?} s | $( [ -n "$w" ] && ratio "$w" "$r" || echo '?') |"
echo "| launch to registered | $f s (target < 5 s) | $(ratio "$f" "$r") |"
echo
echo "| size | bytes | ratio to the kernel (Image.gz) |"
echo "|---|---|---|"
echo "| gatewayd, stripped, static | $g ($((g / 1024)) KiB; target < 4 MiB) | $(ratio "$g" "$k") |"
echo "| root fs (rootfs.cpio.lz4) | $rf | $(ratio "$rf" "$k") |"
echo "| firmware (kernel + root fs) | $((k + rf)) | $(ratio $((k + rf)) "$k") |"
