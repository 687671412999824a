#!/usr/bin/env bash
# Removes what systemd/install.sh installed: units, module files, the virtual environment.
# Config (/etc/bodypix-appliance), state (password, settings, backgrounds), the model cache and
# the service user are kept unless --purge. --dry-run and --root DIR (or DESTDIR) as install.sh.
set -euo pipefail

usage() {
    cat <<'EOF'
Usage: sudo systemd/uninstall.sh [--purge] [--dry-run] [--root DIR] [--prefix DIR]

  --purge        also remove config, state, model cache and the service user
  --dry-run      print what would be done, change nothing
  --root DIR     uninstall from DIR instead of / (also DESTDIR=DIR)
  --prefix DIR   application directory (default /opt/bodypix-appliance)
EOF
}

ROOT=${DESTDIR:-}
DRY_RUN=0
PURGE=0
PREFIX=/opt/bodypix-appliance
SERVICE_USER=bodypix
UNITS=(bodypix-appliance.service bodypix-build-engine.service)

die() {
    echo "uninstall: error: $*" >&2
    exit 1
}
while [ $# -gt 0 ]; do
    case $1 in
    --purge) PURGE=1 ;;
    --dry-run) DRY_RUN=1 ;;
    --root)
        if [ $# -lt 2 ] || [ -z "$2" ]; then die "--root needs a value: see --help."; fi
        ROOT=$2
        shift
        ;;
    --prefix)
        if [ $# -lt 2 ] || [ -z "$2" ]; then die "--prefix needs a value: see --help."; fi
        PREFIX=$2
        shift
        ;;
    -h | --help) usage; exit 0 ;;
    *) die "unknown option '$1': see --help." ;;
    esac
    shift
done
ROOT=${ROOT%/}
if [ -z "$ROOT" ] && [ "$DRY_RUN" = 0 ] && [ "$(id -u)" != 0 ]; then
    die "the uninstaller changes the system: run it with sudo (or use --dry-run / --root DIR)."
fi

log() { echo "uninstall: $*"; }
run() {
    if [ "$DRY_RUN" = 1 ]; then
        echo "would run: $*"
    else
        "$@"
    fi
}
remove() {
    local path
    for path in "$@"; do
        if [ -e "$ROOT$path" ] || [ -L "$ROOT$path" ]; then
            run rm -rf "$ROOT$path"
            [ "$DRY_RUN" = 1 ] || log "removed $path"
        fi
    done
}

if [ -n "$ROOT" ]; then
    run systemctl --root="$ROOT" disable --quiet "${UNITS[@]}" 2>/dev/null || true
elif command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
    run systemctl disable --now --quiet "${UNITS[@]}" 2>/dev/null || true
fi

for unit in "${UNITS[@]}"; do
    remove "/etc/systemd/system/$unit" "/etc/systemd/system/$unit.d/tegra-devices.conf"
    if [ -d "$ROOT/etc/systemd/system/$unit.d" ]; then
        # Keep the operator's own drop-ins; remove the folder only when it is empty now.
        run rmdir --ignore-fail-on-non-empty "$ROOT/etc/systemd/system/$unit.d"
    fi
done
remove /etc/modules-load.d/bodypix-v4l2loopback.conf /etc/modprobe.d/bodypix-v4l2loopback.conf
remove "$PREFIX"

if [ -z "$ROOT" ] && command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
    run systemctl daemon-reload
fi

if [ "$PURGE" = 1 ]; then
    remove /etc/bodypix-appliance /var/lib/bodypix-appliance /var/cache/bodypix-appliance \
        /var/log/bodypix-appliance /etc/sysusers.d/bodypix-appliance.conf
    if grep -q "^$SERVICE_USER:" "$ROOT/etc/passwd" 2>/dev/null; then
        if [ -n "$ROOT" ]; then
            run userdel --root "$ROOT" "$SERVICE_USER" || log "warning: could not remove user $SERVICE_USER from $ROOT (userdel --root needs root privileges)"
        else
            run userdel "$SERVICE_USER"
        fi
    fi
    if grep -q "^$SERVICE_USER:" "$ROOT/etc/group" 2>/dev/null; then
        if [ -n "$ROOT" ]; then
            run groupdel --root "$ROOT" "$SERVICE_USER" || log "warning: could not remove group $SERVICE_USER from $ROOT"
        else
            run groupdel "$SERVICE_USER"
        fi
    fi
    log "purged: configuration, state, model cache and user $SERVICE_USER are gone"
else
    remove /etc/sysusers.d/bodypix-appliance.conf
    log "kept /etc/bodypix-appliance, /var/lib/bodypix-appliance, /var/cache/bodypix-appliance and user $SERVICE_USER (--purge removes them)"
fi
