#!/usr/bin/env bash
# Boots a firmware image in QEMU (TCG) with its line ports and services on loopback.
# Usage: board/qemu/run.sh [BOARD]   (default qemu-aarch64; build it first: make image)
# Environment (all optional):
#   IMAGE      image directory (target/firmware/image/BOARD)
#   STATE      where the configuration disk persists between runs (target/firmware/run/BOARD);
#              FRESH=1 starts from the factory configuration
#   SIP_PORT   host UDP port forwarded to the guest's SIP port 5060 (5070)
#   WEB_PORT   host TCP port forwarded to the guest's web page, port 80 (8088)
#   LINE_PORT  host TCP port of the first line port; port N is LINE_PORT+N (7101)
#   RTP_PORT   host UDP port forwarded to the guest's first RTP port pair, 16384/16385 (none)
#   MEM        guest RAM in MiB (128)
# The serial console is this terminal: log in is not needed; `poweroff` in the guest or Ctrl-A x
# stops QEMU. SIGINT/SIGTERM (when not on a terminal) stop it as well.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
BOARD=${1:-${BOARD:-qemu-aarch64}}
IMAGE=${IMAGE:-$root/target/firmware/image/$BOARD}
STATE=${STATE:-$root/target/firmware/run/$BOARD}
SIP_PORT=${SIP_PORT:-5070}
WEB_PORT=${WEB_PORT:-8088}
LINE_PORT=${LINE_PORT:-7101}
MEM=${MEM:-128}
TOOLS=${TOOLS:-$root/target/firmware-tools}
initrd=$IMAGE/rootfs.cpio.lz4
[ -f "$initrd" ] || initrd=$IMAGE/rootfs.cpio.gz
for f in "${initrd##*/}" config.img board.toml; do
  [ -f "$IMAGE/$f" ] || { echo "qemu: $IMAGE/$f is missing: run 'make image BOARD=$BOARD' first" >&2; exit 2; }
done
[ -f "$IMAGE/Image" ] || [ -f "$IMAGE/Image.gz" ] ||
  { echo "qemu: $IMAGE has no kernel: run 'make image BOARD=$BOARD' first" >&2; exit 2; }
QEMU=$TOOLS/root/usr/bin/qemu-system-aarch64
[ -x "$QEMU" ] || eval "$("$root/board/image/tools.sh")"
export LD_LIBRARY_PATH="$TOOLS/root/usr/lib/x86_64-linux-gnu:$TOOLS/root/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"

kernel=$IMAGE/Image
[ -f "$kernel" ] || kernel=$IMAGE/Image.gz
cmdline="console=ttyAMA0 quiet panic=5"
[ -f "$IMAGE/cmdline" ] && cmdline=$(cat "$IMAGE/cmdline")

rtp_fwd=
[ -n "${RTP_PORT:-}" ] &&
  rtp_fwd=",hostfwd=udp:127.0.0.1:$RTP_PORT-:16384,hostfwd=udp:127.0.0.1:$((RTP_PORT + 1))-:16385"

mkdir -p "$STATE"
if [ "${FRESH:-0}" = 1 ] || [ ! -f "$STATE/config.img" ]; then
  cp "$IMAGE/config.img" "$STATE/config.img"
fi

# One virtio-serial port per board port, in board order, named port0, port1, ...; its host end
# is a loopback TCP server where simphone (FXS) or sim-pstn (FXO) connects.
line_args=()
attach=()
i=0
while read -r kind; do
  hp=$((LINE_PORT + i))
  line_args+=(-chardev "socket,id=line$i,host=127.0.0.1,port=$hp,server=on,wait=off"
    -device "virtserialport,bus=vser.0,chardev=line$i,name=port$i,nr=$((i + 1))")
  case "$kind" in
    fxs) attach+=("  port $i FXS: target/release/simphone --connect 127.0.0.1:$hp") ;;
    fxo) attach+=("  port $i FXO: target/release/sim-pstn attaches its line to 127.0.0.1:$hp") ;;
  esac
  i=$((i + 1))
done < <(awk -F'"' '/^\[\[port\]\]/ {p=1} p && /^kind *=/ {print $2; p=0}' "$IMAGE/board.toml")

cat <<MSG
qemu: booting $BOARD (TCG) from $IMAGE
  web page:  http://127.0.0.1:$WEB_PORT/
  SIP:       udp 127.0.0.1:$SIP_PORT -> guest 10.0.2.15:5060 (the guest reaches the host as 10.0.2.2)
${RTP_PORT:+  RTP:       udp 127.0.0.1:$RTP_PORT-$((RTP_PORT + 1)) -> guest 10.0.2.15:16384-16385 (first call)
}  configuration disk: $STATE/config.img (kept between runs; FRESH=1 for factory settings)
  line ports (attach a virtual phone or the simulated exchange):
$(printf '%s\n' "${attach[@]}")
  stop: 'poweroff' in the guest shell, or Ctrl-A x
MSG

t0=$(date +%s.%N)
since() { awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }
# The serial console is also written to a log, which the watcher below reads.
console_log=$STATE/console.log
: >"$console_log"
# Milestones, timed from launch: the web page answering through the forwarded port (QEMU
# accepts the host side of a forwarded connection before the guest listens: a write may then
# hit a closed socket) and the first SIP registration (gatewayd's 'account NAME registered' on
# the console).
(
  trap '' PIPE
  set +e
  for _ in $(seq 1 600); do
    if { exec 3<>"/dev/tcp/127.0.0.1/$WEB_PORT"; } 2>/dev/null; then
      printf 'GET /api/session HTTP/1.0\r\nHost: gw\r\n\r\n' >&3
      if timeout 2 head -c 12 <&3 2>/dev/null | grep -q 'HTTP/1.. 200'; then
        printf '\r\nqemu: gatewayd ready (web page answering) %s s after launch\r\n' "$(since)" >&2
        exit 0
      fi
      exec 3>&-
    fi
    sleep 0.1
  done
) &
web_watcher=$!
(
  for _ in $(seq 1 3000); do
    if a=$(grep -a -m1 -o 'account [^ ]* registered' "$console_log"); then
      printf '\r\nqemu: registered (%s) %s s after launch\r\n' "${a% registered}" "$(since)" >&2
      exit 0
    fi
    sleep 0.02
  done
) &
reg_watcher=$!
trap 'kill $web_watcher $reg_watcher 2>/dev/null || true' EXIT

rc=0
"$QEMU" -M virt -cpu cortex-a53 -smp 1 -m "$MEM" -nographic -no-user-config -nodefaults \
  -pidfile "$STATE/qemu.pid" \
  -chardev "stdio,id=con,mux=on,logfile=$console_log" -serial chardev:con -mon chardev=con \
  -kernel "$kernel" -initrd "$initrd" \
  -append "$cmdline ${APPEND:-}" \
  -netdev "user,id=net0,net=10.0.2.0/24,host=10.0.2.2,hostfwd=udp:127.0.0.1:$SIP_PORT-:5060,hostfwd=tcp:127.0.0.1:$WEB_PORT-:80$rtp_fwd" \
  -device virtio-net-device,netdev=net0 \
  -drive "if=none,id=config,file=$STATE/config.img,format=raw" -device virtio-blk-device,drive=config \
  -device i6300esb -watchdog-action reset \
  -device virtio-serial-device,id=vser \
  "${line_args[@]}" || rc=$?
echo "qemu: stopped (exit $rc)" >&2
exit $rc
