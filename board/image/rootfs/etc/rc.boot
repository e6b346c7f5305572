#!/bin/sh
# Board bring-up: drivers, line ports, network, the persistent configuration partition.
up() { cut -d' ' -f1 /proc/uptime; }
echo "rc.boot: start at $(up) s"
hostname "$(cat /etc/hostname 2>/dev/null || echo gateway)"
# Drivers (the kernel is Debian's generic arm64 one: virtio, ext4 and the watchdog are modules).
while read -r m; do
  case "$m" in ''|'#'*) continue ;; esac
  insmod "/lib/modules/$m.ko" 2>/dev/null || echo "rc.boot: cannot load $m"
done </lib/modules/load.order
# Line ports: /dev/virtio-ports/NAME for each named virtio-serial port, as udev would make.
mkdir -p /dev/virtio-ports
for p in /sys/class/virtio-ports/*; do
  [ -e "$p/name" ] || continue
  n=$(cat "$p/name")
  [ -n "$n" ] && ln -sf "/dev/${p##*/}" "/dev/virtio-ports/$n"
done
# Network: QEMU user networking (address 10.0.2.15, gateway and host at 10.0.2.2).
ip link set lo up
ip addr add 10.0.2.15/24 dev eth0 && ip link set eth0 up && ip route add default via 10.0.2.2 ||
  echo "rc.boot: no network interface"
# Configuration partition: the first virtio disk, ext2. An unreadable one is made anew (the
# gateway then starts from its factory configuration).
CONFIG_DEV=/dev/vda
if ! mount -t ext2 -o sync,noatime "$CONFIG_DEV" /config 2>/dev/null; then
  if [ -b "$CONFIG_DEV" ]; then
    echo "rc.boot: configuration partition unreadable; formatting it"
    mke2fs -q -L config "$CONFIG_DEV" && mount -t ext2 -o sync,noatime "$CONFIG_DEV" /config
  else
    echo "rc.boot: no configuration disk; configuration kept in RAM until reboot"
  fi
fi
[ -f /config/gateway.toml ] || cp /etc/gatewayd/factory.toml /config/gateway.toml
echo "rc.boot: done at $(up) s"
