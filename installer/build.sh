#!/usr/bin/env bash
# Build LumboPlan's Linux installers (`make installer` runs this):
#   1. the build environment build/installer-venv from installer/requirements.txt (pinned;
#      remade when that file changes), kept apart from the development .venv;
#   2. the PyInstaller bundle build/installer/dist/LumboPlan (installer/lumboplan.spec), at
#      the lowest CPU priority (a build takes CPU-minutes);
#   3. the .deb and the .run in dist/installer/ (installer/linux/package.sh);
#   4. the measurements (build time, sizes) in build/installer/measurements.txt.
# The Windows installer is built on Windows (.github/workflows/windows-installer.yml).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
python=${PYTHON:-python3}
venv=build/installer-venv
work=build/installer
out=${OUT:-dist/installer}
version=$(sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)

if [ ! -f "$venv/.installed" ] || [ installer/requirements.txt -nt "$venv/.installed" ]; then
  rm -rf "$venv"
  "$python" -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --upgrade pip
  "$venv/bin/python" -m pip install --quiet -r installer/requirements.txt
  touch "$venv/.installed"
fi
if "$venv/bin/python" -c 'import torch' 2>/dev/null; then
  echo "build: torch is installed in $venv; the bundle must not hold it" >&2; exit 1
fi

mkdir -p "$work"
start=$(date +%s)
nice -n 19 "$venv/bin/pyinstaller" --noconfirm --log-level WARN \
  --distpath "$work/dist" --workpath "$work/work" installer/lumboplan.spec
bundle_s=$(( $(date +%s) - start ))
bundle="$work/dist/LumboPlan"

# The bundle must not hold PyTorch (it runs on ONNX Runtime), and must hold the model.
if find "$bundle/_internal" -maxdepth 1 -name 'torch*' | grep -q .; then
  echo "build: torch ended up in the bundle" >&2; exit 1
fi
test -f "$bundle/_internal/lumboplan_app/model_weights/lumboplan_unet.onnx"

start=$(date +%s)
nice -n 19 installer/linux/package.sh "$bundle" "$out" "$version"
package_s=$(( $(date +%s) - start ))

glibc=$(nice -n 19 find "$bundle" -type f \( -name '*.so*' -o -perm -u+x \) -exec objdump -T {} + 2>/dev/null \
  | grep -o 'GLIBC_[0-9.]*' | sort -uV | tail -1)
{
  echo "version $version"
  echo "bundle_build_s $bundle_s"
  echo "package_s $package_s"
  echo "bundle_unpacked_mb $(( $(du -sk "$bundle" | cut -f1) / 1024 ))"
  echo "deb_mb $(( $(stat -c %s "$out/lumboplan_${version}_amd64.deb") / 1048576 ))"
  echo "run_mb $(( $(stat -c %s "$out/LumboPlan-$version-linux-x86_64.run") / 1048576 ))"
  echo "newest_glibc_symbol $glibc"
} | tee "$work/measurements.txt"
