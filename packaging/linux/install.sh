#!/bin/sh
# Installs the s3up desktop app for the current user from this unpacked tarball, or removes it again.
#
#   ./install.sh                  install (or update) under ~/.local
#   ./install.sh --uninstall      remove it (also: ~/.local/lib/s3up/install.sh --uninstall)
#   PREFIX=/opt/me ./install.sh   use another prefix than ~/.local (pass the same one to uninstall)
#
# What goes where:
#   $PREFIX/lib/s3up/                             the app (the PyInstaller folder) and a copy of this script
#   $PREFIX/bin/s3up-gui                          a launcher
#   $PREFIX/share/applications/s3up.desktop       the applications-menu entry
#   $PREFIX/share/icons/hicolor/*/apps/s3up.*     the icon, PNG sizes and SVG
# Uninstalling leaves your uploads' journal, settings and logs (~/.local/share/s3up, ~/.config/s3up,
# ~/.local/state/s3up) where they are.
set -eu

PREFIX=${PREFIX:-$HOME/.local}
APP_DIR=$PREFIX/lib/s3up
LAUNCHER=$PREFIX/bin/s3up-gui
DESKTOP_FILE=$PREFIX/share/applications/s3up.desktop
ICONS=$PREFIX/share/icons/hicolor
MARKER="installed by s3up's install.sh"
HERE=$(cd "$(dirname "$0")" && pwd)

die() {
    echo "install.sh: $*" >&2
    exit 1
}

# Remove the directory $1 and then its parents while they are empty, stopping at $2.
prune_empty_dirs() {
    dir=$1
    while [ "$dir" != "$2" ] && rmdir "$dir" 2>/dev/null; do
        dir=$(dirname "$dir")
    done
}

do_uninstall() {
    if [ -e "$LAUNCHER" ] && ! grep -qF "$MARKER" "$LAUNCHER"; then
        die "$LAUNCHER is not s3up's launcher (from pip install --user?): remove it, or set another PREFIX"
    fi
    rm -rf "$APP_DIR"
    rm -f "$LAUNCHER" "$DESKTOP_FILE"
    for icon in "$ICONS"/*/apps/s3up.png "$ICONS"/*/apps/s3up.svg; do
        [ -e "$icon" ] || continue
        rm -f "$icon"
        prune_empty_dirs "$(dirname "$icon")" "$PREFIX/share"
    done
    prune_empty_dirs "$PREFIX/lib" "$PREFIX"
}

do_install() {
    [ -x "$HERE/s3up/s3up" ] || die "run me from the unpacked s3up tarball (no s3up/s3up next to me)"
    [ -f "$HERE/s3up.desktop" ] || die "s3up.desktop is missing next to me"
    do_uninstall  # an update replaces every file of the previous version
    mkdir -p "$PREFIX/lib" "$PREFIX/bin" "$PREFIX/share/applications"
    cp -R "$HERE/s3up" "$APP_DIR"
    cp "$HERE/install.sh" "$APP_DIR/install.sh"
    chmod 755 "$APP_DIR/install.sh"

    cat >"$LAUNCHER" <<EOF
#!/bin/sh
# The s3up desktop app ($MARKER; remove with $APP_DIR/install.sh --uninstall).
exec "$APP_DIR/s3up" "\$@"
EOF
    chmod 755 "$LAUNCHER"

    sed "s|^Exec=.*|Exec=\"$LAUNCHER\"|" "$HERE/s3up.desktop" >"$DESKTOP_FILE"
    chmod 644 "$DESKTOP_FILE"

    for icon in "$HERE"/icons/hicolor/*/apps/s3up.*; do
        size_dir=$(basename "$(dirname "$(dirname "$icon")")")
        mkdir -p "$ICONS/$size_dir/apps"
        cp "$icon" "$ICONS/$size_dir/apps/"
    done
    touch "$ICONS"  # icon caches look at the theme folder's time

    echo "s3up is installed: find it in your applications menu, or run $LAUNCHER"
    case ":$PATH:" in
    *":$PREFIX/bin:"*) ;;
    *) echo "($PREFIX/bin is not on your PATH; the menu entry works all the same.)" ;;
    esac
    echo "To remove it: $APP_DIR/install.sh --uninstall"
}

case "${1:-}" in
"") do_install ;;
--uninstall)
    do_uninstall
    echo "s3up is uninstalled (your settings and upload history are kept)."
    ;;
-h | --help) sed -n '2,15s/^# \{0,1\}//p' "$0" ;;
*) die "unknown option: $1 (use --uninstall, or no option to install)" ;;
esac
