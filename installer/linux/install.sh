#!/usr/bin/env bash
# Setup script inside LumboPlan-*.run (makeself runs it from the unpacked folder): installs the
# bundle for the current user, no root. `bash LumboPlan-*.run -- --prefix DIR` installs into DIR
# without questions; with no --prefix it asks (default ~/.local/opt/lumboplan) when there is a
# terminal, else takes the default. It also adds a menu entry and ~/.local/bin/lumboplan for
# this user (--no-menu: only DIR), and writes DIR/uninstall.sh. Nothing else is written.
set -euo pipefail

prefix=""
menu=1
while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) [ $# -ge 2 ] || { echo "install: --prefix needs a folder" >&2; exit 2; }
              prefix="$2"; shift 2 ;;
    --prefix=*) prefix="${1#--prefix=}"; shift ;;
    --no-menu) menu=0; shift ;;
    -h|--help) echo "usage: bash LumboPlan-*.run -- [--prefix DIR] [--no-menu]"; exit 0 ;;
    *) echo "install: unknown option $1 (try --help)" >&2; exit 2 ;;
  esac
done

: "${HOME:?install: HOME is not set}"
data_home="${XDG_DATA_HOME:-$HOME/.local/share}"
default="$HOME/.local/opt/lumboplan"
if [ -z "$prefix" ]; then
  prefix="$default"
  if [ -t 0 ]; then
    read -r -p "Install LumboPlan into [$default]: " answer || true
    prefix="${answer:-$default}"
  fi
fi
case "$prefix" in "~"*) prefix="$HOME${prefix#\~}" ;; esac
# A relative folder is taken from where the .run was started (makeself's USER_PWD).
case "$prefix" in /*) ;; *) prefix="${USER_PWD:-$PWD}/$prefix" ;; esac
prefix=$(realpath -m -- "$prefix")
[ -x ./lumboplan ] || { echo "install: run me from the unpacked bundle" >&2; exit 1; }
if [ -e "$prefix" ] && [ -n "$(ls -A "$prefix" 2>/dev/null)" ] && [ ! -f "$prefix/uninstall.sh" ]; then
  echo "install: $prefix exists and is not a LumboPlan install; choose an empty folder" >&2
  exit 1
fi

# Replace an earlier install of LumboPlan there; copy beside it first, then swap.
parent=$(dirname "$prefix")
mkdir -p "$parent"
staging=$(mktemp -d "$parent/.lumboplan-install.XXXXXX")
trap 'rm -rf "$staging"' EXIT
mkdir "$staging/app"
# Moved, not copied: makeself's unpacked folder is removed afterwards anyway.
find . -mindepth 1 -maxdepth 1 ! -name install.sh -exec mv -t "$staging/app" {} +
rm -rf "$prefix"
mv "$staging/app" "$prefix"
# makeself unpacks with umask 077; the app itself holds no private data (others may run it).
chmod -R u+rwX,go+rX,go-w "$prefix"

desktop="$data_home/applications/lumboplan.desktop"
link="$HOME/.local/bin/lumboplan"
if [ "$menu" -eq 1 ]; then
  mkdir -p "$data_home/applications" "$HOME/.local/bin"
  sed -e "s|@PREFIX@|$prefix|g" -e "s|@ICON@|$prefix/lumboplan.svg|g" \
    "$prefix/lumboplan.desktop.in" > "$desktop"
  ln -sfn "$prefix/lumboplan" "$link"
fi
rm -f "$prefix/lumboplan.desktop.in"

cat > "$prefix/uninstall.sh" <<UNINSTALL
#!/usr/bin/env bash
# Removes LumboPlan installed in $prefix (and its menu entry and command link, if made).
set -eu
[ "\$(readlink "$link" 2>/dev/null)" = "$prefix/lumboplan" ] && rm -f "$link"
grep -qs "Exec=$prefix/" "$desktop" && rm -f "$desktop"
rm -rf "$prefix"
echo "LumboPlan removed from $prefix"
UNINSTALL
chmod +x "$prefix/uninstall.sh"

echo "LumboPlan installed in $prefix"
echo "  window:       $prefix/lumboplan-gui (or LumboPlan in the applications menu)"
echo "  command line: $prefix/lumboplan --help"
echo "  uninstall:    $prefix/uninstall.sh"
