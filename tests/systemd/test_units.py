"""The units as the installer renders them: systemd-analyze verify, and the settings that matter."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.systemd.installer import SYSTEMD, UNITS, VENV, install, unit_entries

needs_analyze = pytest.mark.skipif(
    shutil.which("systemd-analyze") is None,
    reason="systemd-analyze not installed (apt-get install systemd; scripts/setup-dev.sh does it)",
)


@pytest.fixture(scope="module")
def jetson_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("jetson-root")
    install(root, "--no-password")
    return root


@needs_analyze
@pytest.mark.parametrize("unit", UNITS)
def test_systemd_analyze_verify(jetson_root: Path, unit: str) -> None:
    unit_dir = jetson_root / "etc/systemd/system"
    # The trailing ':' appends the built-in search path (targets the units refer to); the
    # Jetson drop-ins in unit_dir/<unit>.d are read as well.
    env = {**os.environ, "SYSTEMD_UNIT_PATH": f"{unit_dir}:"}
    done = subprocess.run(
        ["systemd-analyze", "verify", unit],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    # verify exits 0 on unknown keys, printing a warning: any output is a defect.
    assert done.returncode == 0 and not done.stderr.strip() and not done.stdout.strip(), (
        done.stdout + done.stderr
    )


@needs_analyze
def test_verify_catches_a_broken_unit(tmp_path: Path) -> None:
    """The check above can fail: a unit naming a missing binary and a bad key is reported."""
    bad = tmp_path / "bodypix-broken.service"
    text = (SYSTEMD / "bodypix-appliance.service").read_text()
    bad.write_text(text.replace("ProtectHome=yes", "ProtectHome=yes\nProtectHomee=yes"))
    done = subprocess.run(
        ["systemd-analyze", "verify", str(bad)], capture_output=True, text=True, check=False
    )
    assert "/opt/bodypix-appliance/venv/bin/bodypix" in done.stderr
    assert "ProtectHomee" in done.stderr


def test_appliance_unit_contents(jetson_root: Path) -> None:
    unit = unit_entries(jetson_root / "etc/systemd/system/bodypix-appliance.service")
    assert unit["ExecStart"] == [
        f"{VENV}/bin/bodypix serve --config /etc/bodypix-appliance/config.toml "
        "--state-dir /var/lib/bodypix-appliance"
    ]
    expected = {
        "Type": "notify",
        "NotifyAccess": "main",
        "Restart": "on-failure",
        "User": "bodypix",
        "Group": "bodypix",
        "StateDirectory": "bodypix-appliance",
        "CacheDirectory": "bodypix-appliance",
        "ConfigurationDirectory": "bodypix-appliance",
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "NoNewPrivileges": "yes",
        "DevicePolicy": "closed",
    }
    for key, value in expected.items():
        assert unit.get(key) == [value], key
    assert unit["WatchdogSec"] and unit["WatchdogSec"][0] != "0"
    assert "PrivateDevices" not in unit  # it would hide the cameras and the GPU
    allowed = unit["DeviceAllow"]
    for group in ("char-video4linux rw", "char-nvidia* rw", "char-nvhost* rw", "char-nvgpu* rw"):
        assert group in allowed
    assert "bodypix-build-engine.service" in unit["After"][0].split()
    assert "bodypix-build-engine.service" in unit["Wants"][0].split()
    # ProtectHome hides ~/.cache: whatever is compiled at run time is cached where it may write.
    environment = dict(e.split("=", 1) for e in unit["Environment"])
    for name in ("BODYPIX_MODELS_DIR", "BODYPIX_CUDA_CACHE", "NUMBA_CACHE_DIR"):
        assert environment[name].startswith("/var/cache/bodypix-appliance/"), name


def test_build_engine_unit_contents(jetson_root: Path) -> None:
    unit = unit_entries(jetson_root / "etc/systemd/system/bodypix-build-engine.service")
    assert unit["Type"] == ["oneshot"]
    assert unit["RemainAfterExit"] == ["yes"]
    assert unit["Before"] == ["bodypix-appliance.service"]
    assert unit["ExecStart"] == [
        f"{VENV}/bin/bodypix prepare-model --config /etc/bodypix-appliance/config.toml"
    ]
    assert unit["User"] == ["bodypix"]
    assert "char-nvidia* rw" in unit["DeviceAllow"]


def test_no_bare_convert_command() -> None:
    """ImageMagick installs a `convert` too: every command is named by its venv path."""
    for unit in UNITS:
        for line in unit_entries(SYSTEMD / unit).get("ExecStart", []):
            assert line.startswith("/opt/bodypix-appliance/venv/bin/"), line


def test_tegra_drop_in_only_on_jetson(jetson_root: Path, tmp_path: Path) -> None:
    for unit in UNITS:
        drop_in = jetson_root / f"etc/systemd/system/{unit}.d/tegra-devices.conf"
        assert "DeviceAllow=/dev/nvmap rw" in drop_in.read_text()
    install(tmp_path, "--no-password", platform="nvidia")
    assert not list(tmp_path.glob("etc/systemd/system/*.d/tegra-devices.conf"))


def test_v4l2loopback_module_files(jetson_root: Path) -> None:
    load = (jetson_root / "etc/modules-load.d/bodypix-v4l2loopback.conf").read_text()
    assert [ln for ln in load.splitlines() if ln and not ln.startswith("#")] == ["v4l2loopback"]
    options = (jetson_root / "etc/modprobe.d/bodypix-v4l2loopback.conf").read_text()
    line = next(ln for ln in options.splitlines() if ln.startswith("options v4l2loopback "))
    assert "exclusive_caps=1" in line
    assert "video_nr=10" in line
    assert 'card_label="BodyPix Camera"' in line
