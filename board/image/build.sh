#!/usr/bin/env bash
# Builds the firmware image of an aarch64 board:
#   gatewayd cross-compiled (profile `firmware`, static, stripped), the Debian arm64 kernel, an
#   initramfs root file system (busybox-static, our init scripts, the board's kernel modules)
#   and an empty configuration partition (ext2).
# Usage: board/image/build.sh [BOARD]   (default qemu-aarch64)
# Environment: OUT (default target/firmware/image/BOARD), TOOLS (target/firmware-tools),
#   CROSS_TARGET_DIR (cargo target dir of the cross build, default target/firmware-cross),
#   SRC (the source tree to build gatewayd from, default this repository).
# Writes OUT/{Image.gz,rootfs.cpio.lz4,config.img,board.toml,factory.toml,cmdline,sizes.txt}
# and prints the sizes; also OUT/Image, the kernel as a boot loader leaves it in RAM (what the runner loads).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
BOARD=${1:-${BOARD:-qemu-aarch64}}
board_file=$root/board/boards/$BOARD.toml
[ -f "$board_file" ] || { echo "image: no board definition $board_file" >&2; exit 2; }
OUT=${OUT:-$root/target/firmware/image/$BOARD}
SRC=${SRC:-$root}
CROSS_TARGET_DIR=${CROSS_TARGET_DIR:-$root/target/firmware-cross}
TRIPLE=aarch64-unknown-linux-gnu
log() { echo "image: $*" >&2; }

eval "$("$root/board/image/tools.sh")"

# 1. gatewayd. Static glibc: the root file system then needs no shared libraries.
log "cross-compiling gatewayd ($TRIPLE, profile firmware)"
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUSTFLAGS="-C target-feature=+crt-static"
if [ "$RUSTC_FOR_CROSS" != rustup ]; then export RUSTC=$RUSTC_FOR_CROSS; fi
(cd "$SRC" && CARGO_TARGET_DIR=$CROSS_TARGET_DIR nice cargo build --locked --profile firmware \
  --target $TRIPLE -p gateway --bin gatewayd -j "${CROSS_JOBS:-2}" >&2) ||
  { echo "image: cross build of gatewayd failed" >&2; exit 1; }
gatewayd=$CROSS_TARGET_DIR/$TRIPLE/firmware/gatewayd
aarch64-linux-gnu-strip "$gatewayd" 2>/dev/null || true

# 2. Root file system.
stage=$OUT/rootfs
rm -rf "$stage"
mkdir -p "$stage"/{bin,sbin,usr/bin,usr/sbin,etc/gatewayd,lib/modules,proc,sys,dev,tmp,run,config,var/log,root}
cp -a "$root/board/image/rootfs/." "$stage/"
cp "$TOOLS_ROOT/bin/busybox" "$stage/bin/busybox"
install -m 0755 "$gatewayd" "$stage/usr/bin/gatewayd"
cp "$board_file" "$stage/etc/gatewayd/board.toml"
echo "$BOARD" >"$stage/etc/hostname"
kver=$(ls "$TOOLS_ROOT/lib/modules" | head -n1)
: >"$stage/lib/modules/load.order"
while read -r m _; do
  case "$m" in ''|'#'*) continue ;; esac
  ko=$(find "$TOOLS_ROOT/lib/modules/$kver/kernel" -name "$m.ko" | head -n1)
  [ -n "$ko" ] || { echo "image: kernel $kver has no module $m" >&2; exit 1; }
  # Without Debian's signature: the image's kernel holds no module keys (see cmdline), and an
  # unsigned module is loaded without hashing it first (seconds under TCG for ext4).
  aarch64-linux-gnu-objcopy --strip-debug "$ko" "$stage/lib/modules/$m.ko"
  echo "$m" >>"$stage/lib/modules/load.order"
done <"$root/board/image/modules.load"
# LZ4 (the kernel's legacy framing): unpacked several times faster than gzip under TCG, for
# half a megabyte more.
(cd "$stage" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) >"$OUT/rootfs.cpio"
rm -f "$OUT/rootfs.cpio.gz"
lz4 -l -9 -q -f "$OUT/rootfs.cpio" "$OUT/rootfs.cpio.lz4"
rm -f "$OUT/rootfs.cpio"

# 3. Kernel: Debian's arm64 vmlinuz is a plain Image; QEMU loads it gzip-compressed too.
if gzip -t "$TOOLS_ROOT/boot/vmlinuz-$kver" 2>/dev/null; then
  cp "$TOOLS_ROOT/boot/vmlinuz-$kver" "$OUT/Image.gz"
else
  gzip -9 -n -c "$TOOLS_ROOT/boot/vmlinuz-$kver" >"$OUT/Image.gz"
fi
# QEMU would inflate Image.gz on every launch; a board's boot loader does it in RAM at memory
# speed, so the runner is given the inflated kernel.
gzip -d -c "$OUT/Image.gz" >"$OUT/Image"
cp "$board_file" "$OUT/board.toml"
# The factory configuration beside it: the runner reads its RTP port range before first boot.
cp "$root/board/image/rootfs/etc/gatewayd/factory.toml" "$OUT/factory.toml"
grep -v '^#' "$root/board/image/cmdline" | tr -s ' \n' ' ' | sed 's/ *$//' >"$OUT/cmdline"

# 4. Configuration partition template (the runner copies it once into its state directory).
rm -f "$OUT/config.img"
mke2fs -q -t ext2 -L config -b 1024 "$OUT/config.img" 4096

# 5. Sizes.
size() { stat -c %s "$1"; }
g=$(size "$stage/usr/bin/gatewayd")
k=$(size "$OUT/Image.gz")
r=$(size "$OUT/rootfs.cpio.lz4")
mods=$(du -cb "$stage"/lib/modules/*.ko | tail -n1 | cut -f1)
{
  echo "board            $BOARD"
  echo "kernel           $kver"
  echo "gatewayd         $g bytes stripped ($((g / 1024)) KiB; target under 4 MiB)"
  echo "kernel image     $k bytes (Image.gz)"
  echo "root fs          $r bytes (rootfs.cpio.lz4; modules $mods bytes before compression)"
  echo "firmware total   $((k + r)) bytes ($(((k + r) / 1024)) KiB: kernel + root fs)"
  echo "config partition $(size "$OUT/config.img") bytes (config.img, ext2)"
} | tee "$OUT/sizes.txt"
[ "$g" -lt $((4 * 1024 * 1024)) ] || log "WARNING: gatewayd is over the 4 MiB target"
echo "image: written to $OUT"
