"""Helpers shared by the systemd tests: run the installer into a temporary root, hash a tree."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SYSTEMD = ROOT / "systemd"
INSTALL = SYSTEMD / "install.sh"
UNINSTALL = SYSTEMD / "uninstall.sh"
# The checkout's own virtual environment stands in for /opt/bodypix-appliance/venv, so the
# rendered units name binaries that exist (systemd-analyze verify checks them).
VENV = Path(sys.executable).parent.parent
UNITS = ("bodypix-appliance.service", "bodypix-build-engine.service")


def run_script(
    script: Path, *args: str, stdin: str | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "DESTDIR"}
    done = subprocess.run(
        ["bash", str(script), *args],
        input=stdin if stdin is not None else "",
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    if check and done.returncode != 0:
        raise AssertionError(
            f"{script.name} {' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
        )
    return done


def install(
    root: Path, *extra: str, platform: str = "jetson", check: bool = True
) -> subprocess.CompletedProcess[str]:
    return run_script(
        INSTALL,
        "--root",
        str(root),
        "--platform",
        platform,
        "--no-pip",
        "--venv",
        str(VENV),
        *extra,
        check=check,
    )


def tree_digest(root: Path) -> dict[str, tuple[object, ...]]:
    """Path -> (mode, uid, gid, mtime, content hash or link target) for everything under root."""
    digest: dict[str, tuple[object, ...]] = {}
    for path in sorted(root.rglob("*")):
        st = path.lstat()
        if path.is_symlink():
            what: object = os.readlink(path)
        elif path.is_file():
            what = hashlib.sha256(path.read_bytes()).hexdigest()
        else:
            what = None
        digest[str(path.relative_to(root))] = (
            st.st_mode,
            st.st_uid,
            st.st_gid,
            st.st_mtime_ns,
            what,
        )
    return digest


def unit_entries(path: Path) -> dict[str, list[str]]:
    """`Key=value` lines of a unit file, every value of repeated keys kept (configparser can't)."""
    entries: dict[str, list[str]] = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";", "[")):
            continue
        key, _, value = line.partition("=")
        entries.setdefault(key.strip(), []).append(value.strip())
    return entries
