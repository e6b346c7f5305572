#!/usr/bin/env bash
# Installs the Debian (and PyPI) packages a make target needs, or says the one command to run.
# Usage: scripts/deps.sh GROUP...   where each GROUP names lists in scripts/deps.d/:
#   GROUP.apt (Debian packages, one per line) and GROUP.pip (PyPI requirements, one per line).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
apt_missing=()
pip_missing=()
for g in "$@"; do
  for f in "$here"/deps.d/"$g".apt "$here"/deps.d/"$g"-*.apt; do
    [ -f "$f" ] || continue
    while read -r pkg _; do
      case "$pkg" in ''|'#'*) continue ;; esac
      if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
        # A tool that is already there from elsewhere (npm bundled with a vendor's nodejs, say)
        # counts as present: installing Debian's would conflict with it.
        command -v "$pkg" >/dev/null 2>&1 && continue
        apt_missing+=("$pkg")
      fi
    done <"$f"
  done
  for f in "$here"/deps.d/"$g".pip "$here"/deps.d/"$g"-*.pip; do
    [ -f "$f" ] || continue
    while read -r req _; do
      case "$req" in ''|'#'*) continue ;; esac
      mod=${req%%[=<>]*}
      if ! python3 -m pip show -q "$mod" >/dev/null 2>&1; then pip_missing+=("$req"); fi
    done <"$f"
  done
done
if [ ${#apt_missing[@]} -gt 0 ]; then
  mapfile -t apt_missing < <(printf '%s\n' "${apt_missing[@]}" | sort -u)
  if [ "$(id -u)" -eq 0 ]; then
    echo "deps: installing ${apt_missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    stamp=/var/lib/apt/periodic/update-success-stamp
    if [ ! -d /var/lib/apt/lists/partial ] || [ -z "$(find /var/lib/apt/lists -maxdepth 1 -name '*Packages*' -mmin -1440 2>/dev/null | head -n1)" ]; then
      apt-get update -q >&2
    fi
    : "$stamp"
    apt-get install -y -q --no-install-recommends "${apt_missing[@]}" >&2
  else
    echo "Missing system packages. Run:" >&2
    echo "  sudo apt-get update && sudo apt-get install -y --no-install-recommends ${apt_missing[*]}" >&2
    exit 1
  fi
fi
if [ ${#pip_missing[@]} -gt 0 ]; then
  echo "deps: pip installing ${pip_missing[*]}" >&2
  python3 -m pip install -q "${pip_missing[@]}" >&2 || python3 -m pip install -q --break-system-packages "${pip_missing[@]}" >&2
fi
