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
#   RTP_PORTS  FIRST-LAST: the UDP ports forwarded to the guest port for port (host 127.0.0.1:P ->
#              guest 10.0.2.15:P), RTP and RTCP; by default gatewayd's RTP port range as configured
#              on the configuration disk (factory: 16384-16391); `none` forwards none
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

mkdir -p "$STATE"
if [ "${FRESH:-0}" = 1 ] || [ ! -f "$STATE/config.img" ]; then
  cp "$IMAGE/config.img" "$STATE/config.img"
fi

# Media: gatewayd puts its own address and RTP port in its SDP, so each port of its RTP range is
# forwarded to the same port number on the host (as a router's port forwarding to an ATA): a far
# end on the host sends to 127.0.0.1 and the port of the SDP, whichever pair a call uses. The
# range is the one configured (the configuration disk, read without mounting it; else the
# image's factory configuration; else gatewayd's defaults), or RTP_PORTS.
# network_key FILE KEY: KEY's value in FILE's [network] table (empty when absent).
network_key() {
  awk -v k="$2" '/^[ \t]*\[/ { s = ($0 ~ /^[ \t]*\[network\][ \t]*$/); next }
    s { split($0, kv, "="); gsub(/[ \t"\r]/, "", kv[1]); gsub(/[ \t"\r]/, "", kv[2]);
        if (kv[1] == k) { print kv[2]; exit } }' "$1"
}
rtp_from=
if [ -z "${RTP_PORTS:-}" ]; then
  conf=$(mktemp)
  debugfs=$(command -v debugfs || echo /sbin/debugfs)
  if "$debugfs" -R "cat /gateway.toml" "$STATE/config.img" >"$conf" 2>/dev/null && [ -s "$conf" ]; then
    rtp_from="configuration disk"
  elif cp "$IMAGE/factory.toml" "$conf" 2>/dev/null ||
    cp "$root/board/image/rootfs/etc/gatewayd/factory.toml" "$conf" 2>/dev/null; then
    rtp_from="factory configuration"
  else
    : >"$conf"
    rtp_from="gatewayd's defaults"
  fi
  lo=$(network_key "$conf" rtp_port_min)
  hi=$(network_key "$conf" rtp_port_max)
  rm -f "$conf"
  RTP_PORTS=${lo:-16384}-${hi:-16482}
fi
rtp_fwd=
rtp_msg=
if [ "$RTP_PORTS" != none ]; then
  lo=${RTP_PORTS%-*}
  hi=${RTP_PORTS#*-}
  case "$lo$hi" in
    *[!0-9]* | '') echo "qemu: RTP_PORTS=$RTP_PORTS: expected FIRST-LAST or none" >&2; exit 2 ;;
  esac
  if [ "$lo" -lt 1024 ] || [ "$hi" -gt 65535 ] || [ "$hi" -le "$lo" ]; then
    echo "qemu: RTP port range $lo-$hi (${rtp_from:-RTP_PORTS}) is not a range of unprivileged UDP ports" >&2
    exit 2
  fi
  for ((p = lo; p <= hi; p++)); do
    rtp_fwd+=",hostfwd=udp:127.0.0.1:$p-:$p"
  done
  rtp_msg="  RTP:       udp 127.0.0.1:$lo-$hi -> guest 10.0.2.15:$lo-$hi, port for port (${rtp_from:-RTP_PORTS})"
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
${rtp_msg:+$rtp_msg
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
