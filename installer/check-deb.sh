#!/usr/bin/env bash
# Install the built .deb into a clean Debian root and run the installed app's self-test there
# (`make installer-check-deb`, after `make installer`; needs root, debootstrap and the Debian
# mirror). A clean root holds only Debian's minimal base, so a system library the .deb uses
# but does not depend on (libGL, libEGL, xkbcommon, xcb-cursor, ...) fails here, where the
# development machine, which has them all, would hide it.
#   1. debootstrap --variant=minbase of the suite (bookworm: the oldest glibc the bundle
#      supports), kept in build/debian-root/base and copied for each check;
#   2. `apt-get install ./lumboplan_*.deb` in a copy: apt resolves the .deb's Depends and
#      nothing else; then Xvfb and xauth, the check's own display (not the app's);
#   3. in the root, with no network (unshare -n) and an empty environment: `lumboplan --version`,
#      `lumboplan --selftest` under Xvfb (exit 0), and the .desktop file and the command.
# Results go to build/installer/check-deb.txt.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
suite=${SUITE:-bookworm}
mirror=${MIRROR:-http://deb.debian.org/debian}
deb=$(ls -t dist/installer/lumboplan_*_amd64.deb | head -1)
base=build/debian-root/base-$suite
report=build/installer/check-deb.txt
mkdir -p build/installer build/debian-root
: > "$report"
say() { echo "$*" | tee -a "$report"; }

if [ "$(id -u)" -ne 0 ]; then
  echo "check-deb: run as root (debootstrap and chroot need it)" >&2; exit 1
fi
command -v debootstrap >/dev/null || {
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap
}

if [ ! -f "$base/.complete" ]; then
  rm -rf "$base"
  start=$(date +%s)
  debootstrap --variant=minbase "$suite" "$base" "$mirror" >/dev/null
  touch "$base/.complete"
  say "debootstrap_s $(( $(date +%s) - start ))"
fi

target=$(mktemp -d build/debian-root/check.XXXXXX)
cleanup() {
  umount -l "$target/proc" 2>/dev/null || true
  rm -rf "$target"
}
trap cleanup EXIT
cp -a "$base/." "$target/"
mount -t proc proc "$target/proc"
cp "$deb" "$target/tmp/lumboplan.deb"
in_root() { chroot "$target" env -i HOME=/root PATH=/usr/sbin:/usr/bin:/sbin:/bin "$@"; }

start=$(date +%s)
in_root apt-get update -qq
in_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
  /tmp/lumboplan.deb >/dev/null
say "deb_install_s $(( $(date +%s) - start ))"
say "deb_depends $(dpkg-deb -f "$deb" Depends)"
in_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
  xvfb xauth >/dev/null

isolated() {
  chroot "$target" env -i HOME=/tmp/home PATH=/usr/bin:/bin unshare -n "$@"
}
in_root mkdir -p /tmp/home
say "command $(in_root sh -c 'command -v lumboplan' || echo missing)"
test -f "$target/usr/share/applications/lumboplan.desktop"
say "desktop_entry ok"
say "version $(isolated lumboplan --version)"
start=$(date +%s.%N)
status=0
isolated xvfb-run -a lumboplan --selftest > "$target/tmp/selftest.json" 2>/dev/null || status=$?
say "selftest_s $(echo "$(date +%s.%N) - $start" | bc) (exit $status)"
cp "$target/tmp/selftest.json" build/installer/selftest-deb.json
if [ "$status" -ne 0 ]; then
  echo "check-deb: the self-test failed in a clean $suite root; build/installer/selftest-deb.json" \
       "says which check" >&2
  exit 1
fi
say "selftest ok"
