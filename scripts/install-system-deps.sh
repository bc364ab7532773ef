#!/usr/bin/env bash
# Install the system libraries LumboPlan needs on Debian/Ubuntu, only those that are missing:
# Qt's xcb and Wayland platform plugins (xcb-cursor, xkbcommon, libwayland-*, ...), EGL/OpenGL
# for Qt and VTK, fontconfig, and Xvfb + xauth so GUI tests and screenshots run without a
# screen; makeself, nsis (makensis) and desktop-file-utils build and check the installers
# (`make installer`, tests/test_installer.py).
# On other systems it says what it would need and changes nothing.
set -euo pipefail

packages=(
  libegl1 libgl1 libopengl0 libglx0 libglib2.0-0 libdbus-1-3 libfontconfig1 libfreetype6
  libxkbcommon0 libxkbcommon-x11-0 libxcb1 libxcb-cursor0 libxcb-icccm4 libxcb-image0
  libxcb-keysyms1 libxcb-randr0 libxcb-render-util0 libxcb-shape0 libxcb-xinerama0
  libxcb-xfixes0 libxcb-xkb1 libx11-xcb1 libxrender1 libxi6 libxext6 libsm6 libice6
  xvfb xauth
  libwayland-client0 libwayland-cursor0 libwayland-egl1
  makeself nsis desktop-file-utils
)

if ! command -v dpkg-query >/dev/null 2>&1; then
  echo "install-system-deps: not a Debian-like system; make sure Qt 6's xcb libraries and" \
       "OpenGL are installed (see README)." >&2
  exit 0
fi

missing=()
for package in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Status}' "$package" 2>/dev/null || true)
  [ "$status" = "installed" ] || missing+=("$package")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "install-system-deps: installing ${missing[*]}"
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
    echo "install-system-deps: run as root or install: ${missing[*]}" >&2; exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
