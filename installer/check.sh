#!/usr/bin/env bash
# Check the built .run as a clinic would get it (`make installer-check`, after `make installer`):
# install it into a temporary prefix with an empty environment (HOME a fresh folder, PATH the
# system's) and no network, then, from the install:
#   - every ELF file's libraries resolve (ldd; a "not found" library present elsewhere in the
#     bundle is reached at run time through the RPATH of the module that loads it);
#   - `lumboplan --version`, `lumboplan --selftest` (exit 0), and `lumboplan run` on the shipped
#     demo case (scan to PDF report);
#   - the window opens and paints under Xvfb (`lumboplan-gui --exit-when-shown`, timed);
#   - the menu entry the install wrote passes desktop-file-validate;
#   - uninstall.sh removes the prefix and the menu entry.
# Nothing may be written outside the prefix and HOME: each step runs in its own mount and
# network namespace (unshare -mn, needs root) where the root file system (/) is read-only but
# for this check's folder (prefix, HOME, TMPDIR; other mounts such as /dev/shm stay as they
# are), so a write there fails the step that tried it, and /tmp is an empty tmpfs that must be
# empty again afterwards (but for Xvfb's socket and lock: the check's display, which xvfb-run stops
# without waiting). XDG_CACHE_HOME points into HOME because Mesa otherwise takes its shader
# cache folder from the password database (/root/.cache here), not from HOME.
# Results go to build/installer/check.txt.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
run=$(ls -t "$root"/dist/installer/LumboPlan-*-linux-x86_64.run | head -1)
case "$root/" in /tmp/*)
  echo "check: the checkout lies under /tmp, which each step replaces by an empty tmpfs;" \
       "clone it elsewhere" >&2; exit 1 ;;
esac
mkdir -p "$root/build/installer"
work=$(mktemp -d "$root/build/installer/check.XXXXXX")
trap 'rm -rf "$work"' EXIT
home="$work/home"
prefix="$work/prefix/LumboPlan"
mkdir -p "$home" "$work/tmp"
# shellcheck disable=SC2016  # expanded by the inner shell
confine='mount -t tmpfs tmpfs /tmp && mount --bind "$0" "$0" && mount -o remount,bind,ro / \
  || { echo "check: cannot confine the file system (unshare -m and mount need root)" >&2; exit 90; }
status=0; "$@" || status=$?
left=$(find /tmp -mindepth 1 ! -path /tmp/.X11-unix ! -path "/tmp/.X11-unix/*" ! -name ".X*-lock")
[ -z "$left" ] || { echo "check: written outside the prefix and HOME: $left" >&2; exit 91; }
exit $status'
isolated() {
  env -i HOME="$home" XDG_CACHE_HOME="$home/.cache" PATH=/usr/bin:/bin TMPDIR="$work/tmp" unshare -mn sh -c "$confine" "$work" "$@"
}
report="$root/build/installer/check.txt"
: > "$report"
say() { echo "$*" | tee -a "$report"; }

start=$(date +%s.%N)
isolated bash "$run" -- --prefix "$prefix" >"$work/install.log" 2>&1 || {
  cat "$work/install.log" >&2; echo "check: the .run did not install" >&2; exit 1; }
say "install_s $(echo "$(date +%s.%N) - $start" | bc)"
say "installed_mb $(( $(du -sk "$prefix" | cut -f1) / 1024 ))"

missing=$(find "$prefix" -type f \( -name '*.so*' -o -perm -u+x \) -exec sh -c \
  'file -b "$1" | grep -q ^ELF && ldd "$1" 2>/dev/null | sed -n "s/^\s*\(\S*\) => not found/\1/p"' _ {} \; \
  | sort -u)
unresolved=""
for library in $missing; do
  [ -n "$(find "$prefix" -name "$library" -print -quit)" ] || unresolved="$unresolved $library"
done
say "ldd_not_found_anywhere ${unresolved:-none}"
[ -z "$unresolved" ] || { echo "check: libraries missing on this system:$unresolved" >&2; exit 1; }

desktop="$home/.local/share/applications/lumboplan.desktop"
desktop-file-validate "$desktop"
say "desktop_entry_valid ok"

isolated xvfb-run -a "$prefix/lumboplan" --version | tee -a "$report"
start=$(date +%s.%N)
isolated xvfb-run -a "$prefix/lumboplan" --selftest > "$root/build/installer/selftest.json"
say "selftest_s $(echo "$(date +%s.%N) - $start" | bc) (exit 0)"
start=$(date +%s.%N)
isolated xvfb-run -a "$prefix/lumboplan" run \
  "$prefix/_internal/lumboplan_app/resources/demo/case_00057/dicom" -o "$work/demo" | tail -1
say "demo_run_s $(echo "$(date +%s.%N) - $start" | bc)"
test -s "$work/demo/report.pdf"
say "demo_report_pdf ok"

for attempt in 1 2 3; do
  start=$(date +%s.%N)
  isolated xvfb-run -a -s "-screen 0 1920x1080x24" "$prefix/lumboplan-gui" --exit-when-shown
  say "window_shown_s_$attempt $(echo "$(date +%s.%N) - $start" | bc) (with Xvfb's start)"
done
isolated "$prefix/uninstall.sh" >/dev/null
test ! -e "$prefix"
test ! -e "$desktop"
say "uninstall ok"

say "written_outside_prefix_and_home none"
