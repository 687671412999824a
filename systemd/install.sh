#!/usr/bin/env bash
# Installs the BodyPix appliance on a Jetson (JetPack), a desktop Linux with an NVIDIA driver,
# or any Linux (CPU backend): service user, virtual environment under /opt, config file,
# systemd units, v4l2loopback, panel password; then enables and starts the units.
#
# Idempotent: a second run with the same source changes nothing. --dry-run prints what it
# would do. --root DIR (or DESTDIR=DIR) writes everything under DIR and never touches the
# running system (no apt, modprobe or systemctl start; users go to DIR/etc/passwd).
set -euo pipefail

usage() {
    cat <<'EOF'
Usage: sudo systemd/install.sh [OPTIONS]

  --root DIR             install into DIR instead of / (also DESTDIR=DIR); for packaging and tests
  --dry-run              print what would be done, change nothing
  --platform P           auto (default), jetson, nvidia or cpu
  --prefix DIR           application directory (default /opt/bodypix-appliance)
  --venv DIR             virtual environment (default PREFIX/venv)
  --python PATH          Python >= 3.10 for the virtual environment (default: detected)
  --no-pip               do not create or update the virtual environment (it must exist)
  --no-convert           skip the conversion extra (TensorFlow); then give ready ONNX files
  --models-from DIR      copy prepared model files (ONNX, engines) into the models cache
  --mirror DIR|URL       fetch BodyPix models from this mirror (written to the environment file)
  --camera URI           camera for a new config file (default v4l2:///dev/video0)
  --password-file FILE   read the panel password from FILE ('-' for stdin)
  --generate-password    generate a panel password and print it (non-interactive)
  --no-password          leave the panel password as it is / unset
  --no-apt               do not install system packages
  --no-start             enable the units but do not (re)start them
  -h, --help             this help
EOF
}

ROOT=${DESTDIR:-}
DRY_RUN=0
PLATFORM=auto
PREFIX=/opt/bodypix-appliance
VENV=
PYTHON=
DO_PIP=1
WITH_CONVERT=1
MODELS_FROM=
MIRROR=
CAMERA=v4l2:///dev/video0
PORT=8080 # the panel's default (issue 7)
PASSWORD_MODE=auto
PASSWORD_FILE=
DO_APT=1
DO_START=1
SERVICE_USER=bodypix
CONF_DIR=/etc/bodypix-appliance
STATE_DIR=/var/lib/bodypix-appliance
CACHE_DIR=/var/cache/bodypix-appliance
UNIT_DIR=/etc/systemd/system
UNITS=(bodypix-build-engine.service bodypix-appliance.service)

die() {
    echo "install: error: $*" >&2
    exit 1
}
need_arg() { if [ $# -lt 2 ] || [ -z "$2" ]; then die "$1 needs a value: see --help."; fi; }

while [ $# -gt 0 ]; do
    case $1 in
    --root) need_arg "$@"; ROOT=$2; shift ;;
    --dry-run) DRY_RUN=1 ;;
    --platform) need_arg "$@"; PLATFORM=$2; shift ;;
    --prefix) need_arg "$@"; PREFIX=$2; shift ;;
    --venv) need_arg "$@"; VENV=$2; shift ;;
    --python) need_arg "$@"; PYTHON=$2; shift ;;
    --no-pip) DO_PIP=0 ;;
    --no-convert) WITH_CONVERT=0 ;;
    --models-from) need_arg "$@"; MODELS_FROM=$2; shift ;;
    --mirror) need_arg "$@"; MIRROR=$2; shift ;;
    --camera) need_arg "$@"; CAMERA=$2; shift ;;
    --password-file) need_arg "$@"; PASSWORD_MODE="file"; PASSWORD_FILE=$2; shift ;;
    --generate-password) PASSWORD_MODE=generate ;;
    --no-password) PASSWORD_MODE=none ;;
    --no-apt) DO_APT=0 ;;
    --no-start) DO_START=0 ;;
    -h | --help) usage; exit 0 ;;
    *) die "unknown option '$1': see --help." ;;
    esac
    shift
done

case $PLATFORM in auto | jetson | nvidia | cpu) ;; *) die "--platform must be auto, jetson, nvidia or cpu, not '$PLATFORM'." ;; esac
VENV=${VENV:-$PREFIX/venv}
ROOT=${ROOT%/}
[ -z "$ROOT" ] || [ "${ROOT#/}" != "$ROOT" ] || ROOT=$(pwd)/$ROOT
SRC=$(cd "$(dirname "$0")/.." && pwd)
SYSTEMD_SRC=$SRC/systemd
if [ ! -f "$SRC/pyproject.toml" ] || [ ! -f "$SYSTEMD_SRC/bodypix-appliance.service" ]; then
    die "run this script from a checkout of the project (systemd/install.sh beside pyproject.toml)."
fi
if [ -z "$ROOT" ] && [ "$DRY_RUN" = 0 ] && [ "$(id -u)" != 0 ]; then
    die "the installer changes the system: run it with sudo (or use --dry-run / --root DIR)."
fi

log() { echo "install: $*"; }
# Every change to the system goes through run (commands) or put_file (files).
run() {
    if [ "$DRY_RUN" = 1 ]; then
        echo "would run: $*"
    else
        "$@"
    fi
}
CHANGED=0
# put_file SRC DEST MODE: installs SRC as ROOT/DEST unless an identical file is already there.
put_file() {
    local src=$1 dest=$ROOT$2 mode=$3
    if [ -f "$dest" ] && cmp -s "$src" "$dest"; then
        if [ "$(stat -c %a "$dest")" != "${mode#0}" ]; then run chmod "$mode" "$dest"; fi
        return 0
    fi
    CHANGED=1
    if [ "$DRY_RUN" = 1 ]; then
        echo "would install: $2 (mode $mode)"
        return 0
    fi
    mkdir -p "$(dirname "$dest")"
    # Temp file in the same directory, then rename: never a half-written file.
    local tmp
    tmp=$(mktemp "$dest.XXXXXX")
    cat "$src" >"$tmp"
    chmod "$mode" "$tmp"
    mv -f "$tmp" "$dest"
    log "installed $2"
}
# put_new_file SRC DEST MODE: like put_file, but never replaces an existing (edited) file.
put_new_file() {
    if [ -e "$ROOT$2" ]; then
        log "kept $2 (exists; the defaults for it are in $SYSTEMD_SRC)"
        return 0
    fi
    put_file "$@"
}
remove_file() {
    if [ -e "$ROOT$1" ] || [ -L "$ROOT$1" ]; then
        CHANGED=1
        run rm -f "$ROOT$1"
    fi
}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

# --- Platform ----------------------------------------------------------------------------
if [ "$PLATFORM" = auto ]; then
    if [ -f /etc/nv_tegra_release ]; then
        PLATFORM=jetson
    elif [ -e /proc/driver/nvidia/version ] || command -v nvidia-smi >/dev/null 2>&1; then
        PLATFORM=nvidia
    else
        PLATFORM=cpu
    fi
fi
case $PLATFORM in
jetson) log "platform: Jetson ($(head -n1 /etc/nv_tegra_release 2>/dev/null || echo 'L4T release unknown')): TensorRT and OpenCV from JetPack" ;;
nvidia) log "platform: desktop Linux with an NVIDIA driver: TensorRT backend" ;;
cpu) log "platform: no NVIDIA GPU found: ONNX Runtime CPU backend" ;;
esac

# --- System packages (real system only) ------------------------------------------------------
if [ -z "$ROOT" ] && [ "$DO_APT" = 1 ] && command -v apt-get >/dev/null 2>&1; then
    pkgs=(python3-venv python3-dev v4l-utils)
    case $PLATFORM in
    jetson) pkgs+=(build-essential python3-libnvinfer v4l2loopback-dkms) ;;
    nvidia) pkgs+=(build-essential v4l2loopback-dkms) ;;
    cpu) pkgs+=(v4l2loopback-dkms) ;;
    esac
    missing=()
    for p in "${pkgs[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        log "installing system packages: ${missing[*]}"
        run apt-get update -qq
        # v4l2loopback-dkms is not packaged for every L4T kernel: carry on without it.
        run env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" ||
            log "warning: some system packages failed to install (${missing[*]}); the virtual camera may need v4l2loopback built by hand (see README, operator section)"
    fi
fi

# --- Service user ------------------------------------------------------------------------
put_file "$SYSTEMD_SRC/sysusers.d/bodypix-appliance.conf" /etc/sysusers.d/bodypix-appliance.conf 0644
in_group() { awk -F: -v g="$1" -v u="$SERVICE_USER" '$1 == g { n = split($4, m, ","); for (i = 1; i <= n; i++) if (m[i] == u) found = 1 } END { exit !found }' "$ROOT/etc/group" 2>/dev/null; }
if grep -q "^$SERVICE_USER:" "$ROOT/etc/passwd" 2>/dev/null && in_group video && in_group render; then
    : # user and memberships in place; sysusers would only rewrite the lock file
elif [ "$DRY_RUN" = 1 ]; then
    echo "would create user $SERVICE_USER (groups video, render) with systemd-sysusers"
elif command -v systemd-sysusers >/dev/null 2>&1; then
    if [ -n "$ROOT" ]; then
        systemd-sysusers --root="$ROOT" "$ROOT/etc/sysusers.d/bodypix-appliance.conf"
    else
        systemd-sysusers /etc/sysusers.d/bodypix-appliance.conf
    fi
elif [ -z "$ROOT" ]; then
    id "$SERVICE_USER" >/dev/null 2>&1 ||
        useradd --system --user-group --home-dir "$STATE_DIR" --no-create-home --shell /usr/sbin/nologin "$SERVICE_USER"
    for g in video render; do
        getent group "$g" >/dev/null && usermod -aG "$g" "$SERVICE_USER"
    done
else
    die "systemd-sysusers is needed to create the service user under --root."
fi
user_id() { awk -F: -v u="$SERVICE_USER" '$1 == u { print $3 ":" $4 }' "$ROOT/etc/passwd" 2>/dev/null || true; }

# --- Virtual environment -----------------------------------------------------------------
source_hash() {
    (cd "$SRC" && find pyproject.toml README.md convert runtime api -type f \
        ! -path '*/__pycache__/*' ! -name '*.pyc' -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -c1-32)
}
pick_python() {
    local c
    for c in "$PYTHON" /usr/bin/python3 python3 python3.12 python3.11 python3.10; do
        if [ -z "$c" ] || ! command -v "$c" >/dev/null 2>&1; then continue; fi
        if "$c" -c 'import sys; sys.exit(sys.version_info < (3, 10))' 2>/dev/null; then
            command -v "$c"
            return 0
        fi
        [ -z "$PYTHON" ] || die "$PYTHON is older than Python 3.10: install python3.10 (on JetPack 5: the deadsnakes PPA) and pass --python."
    done
    die "no Python >= 3.10 found: install python3.10 or newer (JetPack 5: deadsnakes PPA) and pass --python PATH."
}
VENV_PY=$ROOT$VENV/bin/python
STAMP=$ROOT$VENV/.bodypix-installed
if [ "$DO_PIP" = 1 ]; then
    want=$(source_hash)
    if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ]; then
        log "virtual environment $VENV is up to date"
    else
        CHANGED=1
        py=$(pick_python)
        venv_args=()
        # JetPack's TensorRT and GStreamer-enabled OpenCV are system packages; desktop
        # TensorRT from NVIDIA's apt repository too.
        if [ "$PLATFORM" = jetson ] || { [ "$PLATFORM" = nvidia ] && "$py" -c 'import tensorrt' 2>/dev/null; }; then
            venv_args+=(--system-site-packages)
        fi
        [ -x "$VENV_PY" ] || run "$py" -m venv "${venv_args[@]}" "$ROOT$VENV"
        extras=()
        [ "$WITH_CONVERT" = 1 ] && extras+=(convert)
        if [ "$PLATFORM" != cpu ]; then
            if [ -x /usr/local/cuda/bin/nvcc ] || command -v nvcc >/dev/null 2>&1; then
                extras+=(gpu)
            else
                log "warning: no CUDA compiler (nvcc): pycuda is skipped and the CPU backend is used; install the CUDA toolkit and re-run"
            fi
        fi
        spec=$SRC
        if [ ${#extras[@]} -gt 0 ]; then spec="${SRC}[$(IFS=, && echo "${extras[*]}")]"; fi
        pip_args=(--disable-pip-version-check -q)
        if [ "$PLATFORM" = jetson ]; then
            # JetPack's cv2 and TensorRT are built against NumPy 1.x.
            echo 'numpy<2' >"$TMP/constraints.txt"
            pip_args+=(-c "$TMP/constraints.txt")
        fi
        log "installing the project into $VENV (${extras[*]:-core only}; this takes a while)"
        run env PATH="/usr/local/cuda/bin:$PATH" CUDA_ROOT=/usr/local/cuda \
            "$VENV_PY" -m pip install "${pip_args[@]}" "$spec" ||
            die "installing the Python packages failed (see pip's message above): fix it and re-run; on a device without TensorFlow wheels use --no-convert --models-from DIR."
        # Same version number after an update: reinstall the project's own code.
        run "$VENV_PY" -m pip install "${pip_args[@]}" --no-deps --force-reinstall "$SRC"
        if [ "$PLATFORM" = nvidia ] && ! "$VENV_PY" -c 'import tensorrt, sys; sys.exit(not hasattr(tensorrt, "Builder"))' 2>/dev/null; then
            log "installing TensorRT from PyPI"
            run "$VENV_PY" -m pip install "${pip_args[@]}" --extra-index-url https://pypi.nvidia.com tensorrt ||
                log "warning: TensorRT could not be installed: the CPU backend is used"
        fi
        if [ "$PLATFORM" = jetson ] && [ "$DRY_RUN" = 0 ] &&
            /usr/bin/python3 -c 'import cv2' 2>/dev/null; then
            # The pip wheel would shadow JetPack's OpenCV, which has GStreamer for CSI cameras.
            "$VENV_PY" -m pip uninstall -y -q opencv-python-headless || true
        fi
        [ "$DRY_RUN" = 1 ] || echo "$want" >"$STAMP"
    fi
elif [ ! -x "$VENV_PY" ] && [ ! -x "$VENV/bin/python" ]; then
    die "--no-pip given but $VENV has no Python: drop --no-pip or pass --venv with an existing environment."
fi
if [ -x "$VENV_PY" ]; then BODYPIX=$VENV_PY; else BODYPIX=$VENV/bin/python; fi
BODYPIX_CMD=("$BODYPIX" -m api)
if "$BODYPIX" -c 'import tensorrt, sys; sys.exit(not hasattr(tensorrt, "Builder"))' 2>/dev/null; then
    log "TensorRT: $("$BODYPIX" -c 'import tensorrt; print(tensorrt.__version__)')"
elif [ "$PLATFORM" != cpu ]; then
    log "TensorRT is not importable in $VENV: the CPU backend (ONNX Runtime) is used until it is"
fi

# --- Files -------------------------------------------------------------------------------
render_unit() {
    # The units name the default paths; substitute the chosen ones.
    sed -e "s#/opt/bodypix-appliance/venv#$VENV#g" -e "s#/opt/bodypix-appliance#$PREFIX#g" \
        -e "s#^User=bodypix\$#User=$SERVICE_USER#" -e "s#^Group=bodypix\$#Group=$SERVICE_USER#" "$1" >"$2"
}
for unit in "${UNITS[@]}"; do
    render_unit "$SYSTEMD_SRC/$unit" "$TMP/$unit"
    put_file "$TMP/$unit" "$UNIT_DIR/$unit" 0644
    if [ "$PLATFORM" = jetson ]; then
        put_file "$SYSTEMD_SRC/tegra-devices.conf" "$UNIT_DIR/$unit.d/tegra-devices.conf" 0644
    else
        remove_file "$UNIT_DIR/$unit.d/tegra-devices.conf"
    fi
done
put_file "$SYSTEMD_SRC/modules-load.d/bodypix-v4l2loopback.conf" /etc/modules-load.d/bodypix-v4l2loopback.conf 0644
put_file "$SYSTEMD_SRC/modprobe.d/bodypix-v4l2loopback.conf" /etc/modprobe.d/bodypix-v4l2loopback.conf 0644
put_file "$SRC/README.md" "$PREFIX/README.md" 0644

sed -e "s#^source = .*#source = \"$CAMERA\"#" "$SYSTEMD_SRC/config.toml" >"$TMP/config.toml"
put_new_file "$TMP/config.toml" "$CONF_DIR/config.toml" 0644
{
    echo "# Environment of the BodyPix units (KEY=value lines); see README, operator section."
    if [ -n "$MIRROR" ]; then echo "BODYPIX_MODEL_MIRROR=$MIRROR"; else echo "#BODYPIX_MODEL_MIRROR=/srv/bodypix-models"; fi
} >"$TMP/environment"
put_new_file "$TMP/environment" "$CONF_DIR/environment" 0644

# State and cache: systemd creates them on start, but the password and models go in first.
owner=$(user_id)
for dir in "$STATE_DIR" "$CACHE_DIR" "$CACHE_DIR/models"; do
    if [ ! -d "$ROOT$dir" ]; then
        CHANGED=1
        run mkdir -p "$ROOT$dir"
    fi
    [ "$DRY_RUN" = 1 ] || [ "$(stat -c %a "$ROOT$dir")" = 750 ] || chmod 0750 "$ROOT$dir"
    if [ "$DRY_RUN" = 0 ] && [ -n "$owner" ] && [ "$(id -u)" = 0 ] &&
        [ "$(stat -c %u:%g "$ROOT$dir")" != "$owner" ]; then
        chown "$owner" "$ROOT$dir"
    fi
done
if [ -n "$MODELS_FROM" ]; then
    [ -d "$MODELS_FROM" ] || die "--models-from $MODELS_FROM is not a directory: give the folder with the prepared model files."
    run cp -a --update "$MODELS_FROM/." "$ROOT$CACHE_DIR/models/"
    if [ "$DRY_RUN" = 0 ] && [ -n "$owner" ] && [ "$(id -u)" = 0 ]; then chown -R "$owner" "$ROOT$CACHE_DIR/models"; fi
fi

# --- Panel password ----------------------------------------------------------------------
password_is_set() {
    # The panel's own PasswordStore decides what "set" means.
    "$BODYPIX" - "$ROOT$STATE_DIR" <<'PY' 2>/dev/null
import sys
from pathlib import Path

from api.security import PasswordStore
from api.state import PASSWORD_FILE

sys.exit(0 if PasswordStore(Path(sys.argv[1]) / PASSWORD_FILE).is_set() else 1)
PY
}
set_password() {
    # The password goes through stdin, never the command line (visible in ps).
    if [ "$DRY_RUN" = 1 ]; then
        echo "would run: bodypix set-password --state-dir $STATE_DIR"
        return 0
    fi
    "${BODYPIX_CMD[@]}" set-password --state-dir "$ROOT$STATE_DIR" --stdin
    if [ -n "$owner" ] && [ "$(id -u)" = 0 ]; then chown -R "$owner" "$ROOT$STATE_DIR"; fi
}
GENERATED_PASSWORD=
case $PASSWORD_MODE in
none) ;;
file)
    if [ "$PASSWORD_FILE" = - ]; then head -n1 | set_password; else
        [ -r "$PASSWORD_FILE" ] || die "--password-file $PASSWORD_FILE cannot be read: check the path."
        head -n1 "$PASSWORD_FILE" | set_password
    fi
    CHANGED=1
    ;;
auto | generate)
    if password_is_set; then
        log "panel password already set (change it with: sudo -u $SERVICE_USER $VENV/bin/bodypix set-password --state-dir $STATE_DIR)"
    elif [ "$PASSWORD_MODE" = auto ] && [ -t 0 ] && [ "$DRY_RUN" = 0 ]; then
        read -r -s -p "Panel password (empty: generate one): " pw
        echo
        if [ -z "$pw" ]; then GENERATED_PASSWORD=$("$BODYPIX" -c 'import secrets; print(secrets.token_urlsafe(12))'); pw=$GENERATED_PASSWORD; fi
        printf '%s\n' "$pw" | set_password
        CHANGED=1
    elif [ "$DRY_RUN" = 1 ]; then
        set_password </dev/null
    else
        GENERATED_PASSWORD=$("$BODYPIX" -c 'import secrets; print(secrets.token_urlsafe(12))')
        printf '%s\n' "$GENERATED_PASSWORD" | set_password
        CHANGED=1
    fi
    ;;
esac

# --- Activate ----------------------------------------------------------------------------
if [ -n "$ROOT" ]; then
    # Offline enable: only creates the wants/ links under ROOT.
    run systemctl --root="$ROOT" enable --quiet "${UNITS[@]}"
elif command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
    run systemctl daemon-reload
    run systemctl enable --quiet "${UNITS[@]}"
    if ! grep -q '^v4l2loopback ' /proc/modules 2>/dev/null; then
        run modprobe v4l2loopback ||
            log "warning: v4l2loopback could not be loaded: install v4l2loopback-dkms (or build it for this kernel) for the virtual camera"
    fi
    if [ "$DO_START" = 1 ]; then
        if [ "$CHANGED" = 1 ]; then
            log "building the engine and starting the appliance (the first engine build takes minutes)"
            run systemctl restart bodypix-build-engine.service ||
                log "warning: the engine build failed (journalctl -u bodypix-build-engine); the appliance uses ONNX Runtime meanwhile"
            run systemctl restart bodypix-appliance.service
        else
            run systemctl start bodypix-build-engine.service ||
                log "warning: the engine build failed (journalctl -u bodypix-build-engine); the appliance uses ONNX Runtime meanwhile"
            run systemctl start bodypix-appliance.service
        fi
    fi
else
    log "systemd is not running here: enable the units at the next boot with 'systemctl enable ${UNITS[*]}'"
fi

host=$(hostname -I 2>/dev/null | awk '{print $1}')
log "done. Panel: http://${host:-localhost}:$PORT/"
if [ -n "$GENERATED_PASSWORD" ]; then
    log "panel password (shown once; change it with bodypix set-password): $GENERATED_PASSWORD"
fi
