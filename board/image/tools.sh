#!/usr/bin/env bash
# Installs what building and booting the aarch64 firmware needs, without touching the host's
# QEMU or kernel: the cross linker from apt, the Rust aarch64 standard library (a rustup
# target when rustup is present, else Debian's rustc-web with libstd-rust-web-dev:arm64),
# and QEMU, the Debian arm64 kernel and busybox-static unpacked (apt-get download + dpkg -x)
# into TOOLS (default target/firmware-tools).
# Prints shell assignments for the caller to eval: RUSTC_FOR_CROSS ('rustup' or a rustc path),
# QEMU, QEMU_LIBS, QEMU_DATA, TOOLS_ROOT.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
TOOLS=${TOOLS:-$root/target/firmware-tools}
mkdir -p "$TOOLS/debs" "$TOOLS/root"
export DEBIAN_FRONTEND=noninteractive
log() { echo "firmware-tools: $*" >&2; }
die() { echo "firmware-tools: ERROR: $*" >&2; exit 1; }
need_root() { [ "$(id -u)" -eq 0 ] || die "$1 is missing and installing it needs root: $2"; }
apt_updated=
apt_update() {
  if [ -z "$apt_updated" ]; then
    apt-get update -q >&2 || die "apt-get update failed"
    apt_updated=1
  fi
}
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

# Host tools: cross linker, cpio and lz4 for the initramfs, e2fsprogs for the configuration disk.
missing=()
for p in gcc-aarch64-linux-gnu libc6-dev-arm64-cross cpio lz4 e2fsprogs xz-utils; do
  installed "$p" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  need_root "${missing[*]}" "apt-get install -y ${missing[*]}"
  log "installing ${missing[*]}"
  apt_update
  apt-get install -y -q --no-install-recommends "${missing[@]}" >&2 ||
    die "cannot install the cross toolchain (${missing[*]}): the aarch64 image cannot be built"
fi

# The Rust standard library for aarch64.
rustc_for_cross=
if command -v rustup >/dev/null 2>&1; then
  if ! rustup target list --installed 2>/dev/null | grep -qx aarch64-unknown-linux-gnu; then
    log "adding the rustup target aarch64-unknown-linux-gnu"
    rustup target add aarch64-unknown-linux-gnu >&2 || log "rustup target add failed; trying Debian's rustc-web"
  fi
  if rustup target list --installed 2>/dev/null | grep -qx aarch64-unknown-linux-gnu; then
    rustc_for_cross=rustup
  fi
fi
if [ -z "$rustc_for_cross" ]; then
  need_root "the Rust aarch64 standard library" "dpkg --add-architecture arm64 && apt-get install rustc-web libstd-rust-web-dev:arm64"
  if ! dpkg --print-foreign-architectures | grep -qx arm64; then
    dpkg --add-architecture arm64
    apt_updated=
  fi
  if ! installed rustc-web || ! installed libstd-rust-web-dev:arm64; then
    apt_update
    apt-get install -y -q --no-install-recommends rustc-web libstd-rust-web-dev:arm64 >&2 ||
      die "cannot install rustc-web and libstd-rust-web-dev:arm64: no Rust standard library for aarch64"
  fi
  for c in /usr/bin/rustc /usr/bin/rustc-web; do
    [ -x "$c" ] && { rustc_for_cross=$c; break; }
  done
  [ -n "$rustc_for_cross" ] || die "rustc-web installed no rustc binary"
fi

# QEMU, kernel and busybox, unpacked privately.
fetch() { # fetch PACKAGE[:ARCH]...: downloads the ones not yet in debs/ and unpacks them
  local want=()
  for p in "$@"; do
    local base=${p%%:*}
    compgen -G "$TOOLS/debs/${base}_*.deb" >/dev/null || want+=("$p")
  done
  if [ ${#want[@]} -gt 0 ]; then
    log "downloading ${want[*]}"
    (cd "$TOOLS/debs" && apt-get download "${want[@]}" >&2 2>/dev/null) || {
      apt_update
      (cd "$TOOLS/debs" && apt-get download "${want[@]}" >&2) || die "cannot download ${want[*]}"
    }
    for p in "${want[@]}"; do
      for d in "$TOOLS"/debs/"${p%%:*}"_*.deb; do dpkg -x "$d" "$TOOLS/root"; done
    done
  fi
}
if ! dpkg --print-foreign-architectures | grep -qx arm64; then
  need_root "the arm64 package lists" "dpkg --add-architecture arm64"
  dpkg --add-architecture arm64
  apt_updated=
  apt_update
fi
kernel_pkg=$(apt-cache depends linux-image-arm64:arm64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
if [ -z "$kernel_pkg" ]; then
  apt_update
  kernel_pkg=$(apt-cache depends linux-image-arm64:arm64 | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
fi
[ -n "$kernel_pkg" ] || die "no Debian arm64 kernel package found"
fetch "$kernel_pkg" busybox-static:arm64 qemu-system-arm qemu-system-data
# QEMU's shared libraries that a minimal host may lack (Debian 12's set), then any other.
qemu=$TOOLS/root/usr/bin/qemu-system-aarch64
fetch libfdt1 libcapstone4 libpmem1 librdmacm1 libibverbs1 libslirp0 libvdeplug2 libnl-route-3-200 libnl-3-200 \
  libndctl6 libdaxctl1
libs="$TOOLS/root/usr/lib/x86_64-linux-gnu:$TOOLS/root/lib/x86_64-linux-gnu"
for _ in 1 2 3; do
  mapfile -t absent < <(LD_LIBRARY_PATH=$libs ldd "$qemu" | awk '/not found/ {print $1}')
  [ ${#absent[@]} -eq 0 ] && break
  pkgs=()
  for l in "${absent[@]}"; do
    pkg=$(apt-cache search --names-only "^$(echo "${l%%.so*}" | sed 's/[.+]/./g')[0-9.-]*$" | awk '{print $1}' | head -n1)
    [ -n "$pkg" ] && pkgs+=("$pkg")
  done
  [ ${#pkgs[@]} -gt 0 ] || die "QEMU needs ${absent[*]} and no package provides them"
  fetch "${pkgs[@]}"
done
LD_LIBRARY_PATH=$libs "$qemu" --version >/dev/null || die "the unpacked QEMU does not run"
echo "RUSTC_FOR_CROSS='$rustc_for_cross'"
echo "QEMU='$qemu'"
echo "QEMU_LIBS='$libs'"
echo "QEMU_DATA='$TOOLS/root/usr/share/qemu'"
echo "TOOLS_ROOT='$TOOLS/root'"
