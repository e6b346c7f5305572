#!/usr/bin/env bash
# The ALSA PCM backend on a real kernel sound driver: boots a small aarch64 guest in QEMU (TCG)
# with the Debian arm64 kernel, loads the snd-aloop loopback card from the kernel package's
# modules and runs hal's pcm-loopback example (cross-compiled, dynamically linked against the
# arm64 libasound2) there: a tone per channel played into one side of the loopback card
# through hal's ALSA PcmBus, recorded from the other side and measured.
# Usage: board/image/alsa-guest.sh
# Environment (all optional):
#   OUT               work directory (target/alsa-guest)
#   TOOLS             QEMU, kernel, busybox (target/firmware-tools, see tools.sh)
#   CROSS_TARGET_DIR  cargo target dir of the cross build (target/alsa-guest-cross)
#   CHANNELS          channels played and checked (2); RUN_SECONDS per run (3)
#   PERIODS           ALSA buffer in 10 ms periods (16: a TCG guest on a busy host is often
#                     tens of milliseconds late)
#   STALL_MS          if set, a second run stalls that long once (more than PERIODS x 10 ms)
#                     and must recover from the xrun
#   GUEST_TIMEOUT     seconds the guest may run before it is stopped (120)
# Prints the guest's measurement lines; the last line is `alsa-guest: PASS` or
# `alsa-guest: FAIL (reason)`. Exit status 0 on pass, 1 on a failed measurement, 2 when
# something could not be built, installed or booted.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
OUT=${OUT:-$root/target/alsa-guest}
TOOLS=${TOOLS:-$root/target/firmware-tools}
CROSS_TARGET_DIR=${CROSS_TARGET_DIR:-$root/target/alsa-guest-cross}
CHANNELS=${CHANNELS:-2}
RUN_SECONDS=${RUN_SECONDS:-3}
PERIODS=${PERIODS:-16}
STALL_MS=${STALL_MS:-}
GUEST_TIMEOUT=${GUEST_TIMEOUT:-120}
TRIPLE=aarch64-unknown-linux-gnu
export DEBIAN_FRONTEND=noninteractive
log() { echo "alsa-guest: $*" >&2; }
die() {
  echo "alsa-guest: ERROR: $*" >&2
  echo "alsa-guest: FAIL ($*)"
  exit 2
}

# 1. Cross toolchain, QEMU, kernel and busybox (shared with the firmware image).
tools_out=$("$root/board/image/tools.sh") || die "board/image/tools.sh could not install the cross toolchain, QEMU or the kernel"
eval "$tools_out"

# 2. alsa-lib for arm64: the shared library and pkg-config file to link against, and the
#    configuration files (alsa.conf) it reads at run time. Unpacked privately.
alsa_root=$TOOLS/alsa-arm64
mkdir -p "$TOOLS/debs" "$alsa_root"
for p in libasound2:arm64 libasound2-dev:arm64 libasound2-data; do
  base=${p%%:*}
  case $p in *:arm64) pat="${base}_*_arm64.deb" ;; *) pat="${base}_*_all.deb" ;; esac
  if ! compgen -G "$TOOLS/debs/$pat" >/dev/null; then
    log "downloading $p"
    (cd "$TOOLS/debs" && apt-get download "$p" >&2 2>/dev/null) || {
      apt-get update -q >&2 || die "apt-get update failed"
      (cd "$TOOLS/debs" && apt-get download "$p" >&2) || die "cannot download $p"
    }
  fi
  for d in "$TOOLS"/debs/$pat; do dpkg -x "$d" "$alsa_root" || die "cannot unpack $d"; done
done
alsa_lib=$alsa_root/usr/lib/aarch64-linux-gnu
[ -f "$alsa_lib/pkgconfig/alsa.pc" ] || die "libasound2-dev:arm64 has no alsa.pc"
[ -f "$alsa_root/usr/share/alsa/alsa.conf" ] || die "libasound2-data has no alsa.conf"

# 3. pcm-loopback for aarch64, linked against that libasound.
log "cross-compiling hal's pcm-loopback example ($TRIPLE)"
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
export PKG_CONFIG_ALLOW_CROSS=1
export PKG_CONFIG_LIBDIR=$alsa_lib/pkgconfig
export PKG_CONFIG_SYSROOT_DIR=$alsa_root
if [ "$RUSTC_FOR_CROSS" != rustup ]; then export RUSTC=$RUSTC_FOR_CROSS; fi
(cd "$root" && CARGO_TARGET_DIR=$CROSS_TARGET_DIR nice cargo build --locked --release \
  --target $TRIPLE -p hal --features linux --example pcm-loopback -j "${CROSS_JOBS:-2}" >&2) ||
  die "cross build of pcm-loopback failed"
bin=$CROSS_TARGET_DIR/$TRIPLE/release/examples/pcm-loopback
[ -x "$bin" ] || die "no $bin after the build"

# 4. The guest's root file system: busybox, the sound modules, the program, the shared
#    libraries it needs (from the cross toolchain's sysroot and libasound2), alsa.conf.
stage=$OUT/rootfs
rm -rf "$stage"
mkdir -p "$stage"/{bin,lib,proc,sys,dev,tmp,usr/share,lib/modules}
cp "$TOOLS_ROOT/bin/busybox" "$stage/bin/busybox"
install -m 0755 "$bin" "$stage/bin/pcm-loopback"
aarch64-linux-gnu-strip "$stage/bin/pcm-loopback" 2>/dev/null || true
kver=$(ls "$TOOLS_ROOT/lib/modules" | head -n1)
modules="soundcore snd snd-timer snd-pcm snd-aloop"
for m in $modules; do
  ko=$(find "$TOOLS_ROOT/lib/modules/$kver/kernel" -name "$m.ko" | head -n1)
  [ -n "$ko" ] || die "kernel $kver has no module $m"
  cp "$ko" "$stage/lib/modules/$m.ko"
done
sysroot=/usr/aarch64-linux-gnu/lib
find_lib() {
  local f
  for d in "$alsa_lib" "$sysroot"; do
    f="$d/$1"
    [ -e "$f" ] && { echo "$f"; return 0; }
  done
  return 1
}
# The program's shared libraries and theirs, transitively.
todo=("$stage/bin/pcm-loopback")
while [ ${#todo[@]} -gt 0 ]; do
  f=${todo[0]}
  todo=("${todo[@]:1}")
  while read -r lib; do
    [ -e "$stage/lib/$lib" ] && continue
    src=$(find_lib "$lib") || die "shared library $lib (needed by $(basename "$f")) not found"
    cp -L "$src" "$stage/lib/$lib"
    todo+=("$stage/lib/$lib")
  done < <(aarch64-linux-gnu-readelf -d "$f" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
done
interp=$(aarch64-linux-gnu-readelf -l "$stage/bin/pcm-loopback" | sed -n 's/.*interpreter: \(.*\)\]/\1/p')
[ -n "$interp" ] || die "pcm-loopback has no program interpreter"
mkdir -p "$stage$(dirname "$interp")"
cp -L "$sysroot/$(basename "$interp")" "$stage$interp" || die "no dynamic loader $(basename "$interp") in $sysroot"
cp -a "$alsa_root/usr/share/alsa" "$stage/usr/share/alsa"
run_args="--playback hw:Loopback,0,0 --capture hw:Loopback,1,0 --channels $CHANNELS --seconds $RUN_SECONDS --periods $PERIODS"
cat >"$stage/init" <<INIT
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
export LD_LIBRARY_PATH=/lib
for m in $modules; do
  insmod /lib/modules/\$m.ko || echo "ALSA-GUEST: insmod \$m failed"
done
for _ in \$(seq 1 50); do [ -e /dev/snd/pcmC0D1c ] && break; sleep 0.1; done
echo "ALSA-GUEST: cards"
cat /proc/asound/cards
echo "ALSA-GUEST: run"
/bin/pcm-loopback $run_args
echo "ALSA-GUEST: exit \$?"
if [ -n "$STALL_MS" ]; then
  echo "ALSA-GUEST: run with a $STALL_MS ms stall"
  /bin/pcm-loopback $run_args --stall-ms $STALL_MS
  echo "ALSA-GUEST: stall exit \$?"
fi
echo "ALSA-GUEST: done"
poweroff -f
INIT
chmod 0755 "$stage/init"
(cd "$stage" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) | gzip -1 -n >"$OUT/rootfs.cpio.gz"
if gzip -t "$TOOLS_ROOT/boot/vmlinuz-$kver" 2>/dev/null; then
  kernel=$TOOLS_ROOT/boot/vmlinuz-$kver
else
  kernel=$OUT/Image.gz
  gzip -1 -n -c "$TOOLS_ROOT/boot/vmlinuz-$kver" >"$kernel"
fi

# 5. Boot, bounded in time.
log "booting the guest (kernel $kver, TCG)"
console=$OUT/console.log
t0=$(date +%s.%N)
rc=0
LD_LIBRARY_PATH=$QEMU_LIBS timeout "$GUEST_TIMEOUT" "$QEMU" -L "$QEMU_DATA" -M virt -cpu cortex-a53 -smp 1 -m 256 \
  -nographic -no-user-config -nodefaults -no-reboot -serial "file:$console" \
  -kernel "$kernel" -initrd "$OUT/rootfs.cpio.gz" \
  -append "console=ttyAMA0 rdinit=/init panic=-1 loglevel=3" </dev/null >&2 || rc=$?
secs=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
[ -f "$console" ] || die "QEMU wrote no console output (exit $rc)"
tr -d '\r' <"$console" | sed -n '/ALSA-GUEST: cards/,$p' |
  grep -v -e '^ALSA-GUEST: \(cards\|run\|done\)' -e '^\[ *[0-9.]*\] ' || true
[ "$rc" -eq 124 ] && { tail -n 20 "$console" >&2; echo "alsa-guest: FAIL (the guest did not finish within $GUEST_TIMEOUT s)"; exit 2; }
grep -q "ALSA-GUEST: done" "$console" || { tail -n 30 "$console" >&2; die "the guest did not run the test (QEMU exit $rc)"; }
grep -q "insmod .* failed" "$console" && { grep "insmod" "$console" >&2; die "a sound module did not load"; }
log "guest ran for $secs s"
status=$(tr -d '\r' <"$console" | sed -n 's/^ALSA-GUEST: exit \([0-9]*\)/\1/p')
case "$status" in
  0) ;;
  1) echo "alsa-guest: FAIL (a tone did not come back intact)"; exit 1 ;;
  *) echo "alsa-guest: FAIL (pcm-loopback could not run: exit ${status:-none})"; exit 1 ;;
esac
if [ -n "$STALL_MS" ]; then
  s=$(tr -d '\r' <"$console" | sed -n 's/^ALSA-GUEST: stall exit \([0-9]*\)/\1/p')
  [ "$s" = 0 ] || { echo "alsa-guest: FAIL (the run with a $STALL_MS ms stall did not recover: exit ${s:-none})"; exit 1; }
fi
echo "alsa-guest: PASS"
