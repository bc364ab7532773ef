#!/usr/bin/env bash
# Package a LumboPlan bundle folder (PyInstaller's dist/LumboPlan) for Linux:
#   OUT/lumboplan_VERSION_amd64.deb  root install into /opt/lumboplan, menu entry and icon,
#                                    /usr/bin/lumboplan and /usr/bin/lumboplan-gui links;
#   OUT/LumboPlan-VERSION-linux-x86_64.run  makeself archive, one user, no root:
#                                    bash LumboPlan-*.run -- --prefix DIR
# usage: installer/linux/package.sh BUNDLE_DIR OUT_DIR VERSION
# COMPRESSION=fast (CI's check of the installers): gzip -1 instead of xz -6, the same files and
# install script in seconds rather than a quarter of an hour; releases keep the default xz.
# Tools: dpkg-deb (dpkg) and makeself (Debian package makeself: a shell archive the target
# unpacks with sh, tar and xz, which every Linux desktop has; AppImage needs downloads here).
# Both compress with xz: every Debian/Ubuntu release unpacks it (zstd .debs need dpkg >= 1.21.18).
set -euo pipefail

bundle=$(cd "$1" && pwd)
out=$(mkdir -p "$2" && cd "$2" && pwd)
version=$3
case "${COMPRESSION:-xz}" in
  xz) deb_compression=(-Zxz -z6); run_compression=(--xz --complevel 6 --threads 0) ;;
  fast) deb_compression=(-Zgzip -z1); run_compression=(--gzip --complevel 1) ;;
  *) echo "package: COMPRESSION is xz (release) or fast (checks), not ${COMPRESSION}" >&2; exit 2 ;;
esac
here=$(cd "$(dirname "$0")" && pwd)
icon="$here/../lumboplan.svg"
[ -x "$bundle/lumboplan" ] && [ -x "$bundle/lumboplan-gui" ] || {
  echo "package: $bundle holds no lumboplan and lumboplan-gui executables" >&2; exit 1; }
for tool in dpkg-deb makeself; do
  command -v "$tool" >/dev/null || { echo "package: $tool is missing (make installer installs it)" >&2; exit 1; }
done
work=$(mktemp -d "$out/.package.XXXXXX")
trap 'rm -rf "$work"' EXIT

# --- .deb -------------------------------------------------------------------------------
# Depends: what the bundle's Qt xcb plugin, EGL/OpenGL (Qt and VTK) and fontconfig load from
# the system (scripts/install-system-deps.sh lists the same for development). libxcb-cursor0
# is the one Qt 6.5+ needs that desktops often lack: without it the window does not open.
depends=$(grep -v -e '^#' -e '^$' "$here/deb-depends.txt" | paste -sd, - | sed 's/,/, /g')
root="$work/deb"
mkdir -p "$root/DEBIAN" "$root/opt" "$root/usr/bin" "$root/usr/share/applications" \
  "$root/usr/share/icons/hicolor/scalable/apps"
# Hard links where the file system allows: the bundle is not copied a second time.
cp -al "$bundle" "$root/opt/lumboplan" 2>/dev/null || cp -a "$bundle" "$root/opt/lumboplan"
ln -s /opt/lumboplan/lumboplan "$root/usr/bin/lumboplan"
ln -s /opt/lumboplan/lumboplan-gui "$root/usr/bin/lumboplan-gui"
sed -e "s|@PREFIX@|/opt/lumboplan|g" -e "s|@ICON@|lumboplan|g" \
  "$here/lumboplan.desktop.in" > "$root/usr/share/applications/lumboplan.desktop"
cp "$icon" "$root/usr/share/icons/hicolor/scalable/apps/lumboplan.svg"
size_kb=$(du -sk --apparent-size "$root" | cut -f1)
cat > "$root/DEBIAN/control" <<CONTROL
Package: lumboplan
Version: $version
Architecture: amd64
Maintainer: LumboPlan <support@lumboplan.invalid>
Installed-Size: $size_kb
Depends: $depends
Section: science
Priority: optional
Homepage: https://lumboplan.invalid
Description: preoperative planning of PELD at L5/S1 from lumbar MR
 LumboPlan reads a lumbar MR (DICOM, NIfTI, NRRD), segments L5, S1, the disc, the
 nerve roots and the ilium with its shipped model (ONNX Runtime, on the CPU, offline),
 and plans the transforaminal or interlaminar channel with a PDF report.
 Self-contained: Python, Qt, VTK and the model are inside /opt/lumboplan.
CONTROL
deb="$out/lumboplan_${version}_amd64.deb"
dpkg-deb --root-owner-group "${deb_compression[@]}" --build "$root" "$deb" >/dev/null
rm -rf "$root"

# --- .run (makeself) -------------------------------------------------------------------
payload="$work/run"
cp -al "$bundle" "$payload" 2>/dev/null || cp -a "$bundle" "$payload"
cp "$here/install.sh" "$payload/install.sh"
cp "$here/lumboplan.desktop.in" "$icon" "$payload/"
run="$out/LumboPlan-$version-linux-x86_64.run"
# --nox11: never open an xterm when started without a terminal (a file manager, IT's scripts).
makeself --quiet --nox11 --noprogress "${run_compression[@]}" --tar-quietly \
  "$payload" "$run" "LumboPlan $version" ./install.sh
rm -rf "$payload"
echo "$deb"
echo "$run"
