#!/usr/bin/env bash
# Check the built .run as a clinic would get it (`make installer-check`, after `make installer`):
# install it into a temporary prefix with an empty environment (HOME a fresh folder, PATH the
# system's) and no network (unshare -n, needs root or user namespaces), then, from the install:
#   - every ELF file's libraries resolve (ldd; a "not found" library present elsewhere in the
#     bundle is reached at run time through the RPATH of the module that loads it);
#   - `lumboplan --version`, `lumboplan --selftest` (exit 0), and `lumboplan run` on the shipped
#     demo case (scan to PDF report);
#   - the window opens and paints under Xvfb (`lumboplan-gui --exit-when-shown`, timed).
# Results go to build/installer/check.txt.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
run=$(ls -t "$root"/dist/installer/LumboPlan-*-linux-x86_64.run | head -1)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
home="$work/home"
prefix="$work/prefix/LumboPlan"
mkdir -p "$home"
isolated() { env -i HOME="$home" PATH=/usr/bin:/bin TMPDIR="$work" unshare -n "$@"; }
report="$root/build/installer/check.txt"
mkdir -p "$(dirname "$report")"
: > "$report"
say() { echo "$*" | tee -a "$report"; }

start=$(date +%s.%N)
isolated bash "$run" -- --prefix "$prefix" >/dev/null 2>&1
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
say "uninstall ok"
