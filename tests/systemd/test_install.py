"""install.sh / uninstall.sh run into a temporary root (DESTDIR-style): files, modes, users,
the panel password, idempotence, dry runs; and shellcheck on the scripts."""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from api.security import PasswordStore
from api.state import PASSWORD_FILE
from runtime.config import load_settings
from tests.systemd.installer import INSTALL, UNINSTALL, install, run_script, tree_digest

needs_sysusers = pytest.mark.skipif(
    shutil.which("systemd-sysusers") is None or shutil.which("systemctl") is None,
    reason="systemd is not installed (apt-get install systemd; scripts/setup-dev.sh does it)",
)
STATE = "var/lib/bodypix-appliance"
FIXTURE_ARGS = ("--generate-password", "--camera", "csi://0", "--mirror", "/srv/bodypix-models")


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _passwd(root: Path, name: str) -> list[str] | None:
    for line in (root / "etc/passwd").read_text().splitlines():
        fields = line.split(":")
        if fields[0] == name:
            return fields
    return None


def _group_members(root: Path, group: str) -> list[str]:
    for line in (root / "etc/group").read_text().splitlines():
        fields = line.split(":")
        if fields[0] == group:
            return [m for m in fields[3].split(",") if m]
    return []


def _generated_password(stdout: str) -> str:
    match = re.search(r"panel password \(shown once.*\): (\S+)", stdout)
    assert match, stdout
    return match.group(1)


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    root = tmp_path_factory.mktemp("root")
    done = install(root, *FIXTURE_ARGS)
    return root, done.stdout


@needs_sysusers
def test_files_and_modes(installed: tuple[Path, str]) -> None:
    root, _ = installed
    expected = {
        "etc/systemd/system/bodypix-appliance.service": 0o644,
        "etc/systemd/system/bodypix-build-engine.service": 0o644,
        "etc/systemd/system/bodypix-appliance.service.d/tegra-devices.conf": 0o644,
        "etc/modules-load.d/bodypix-v4l2loopback.conf": 0o644,
        "etc/modprobe.d/bodypix-v4l2loopback.conf": 0o644,
        "etc/sysusers.d/bodypix-appliance.conf": 0o644,
        "etc/bodypix-appliance/config.toml": 0o644,
        "etc/bodypix-appliance/environment": 0o644,
        "opt/bodypix-appliance/README.md": 0o644,
        f"{STATE}/{PASSWORD_FILE}": 0o600,
    }
    for rel, mode in expected.items():
        path = root / rel
        assert path.is_file(), rel
        assert _mode(path) == mode, f"{rel}: {oct(_mode(path))}"
    for rel in (STATE, "var/cache/bodypix-appliance", "var/cache/bodypix-appliance/models"):
        assert _mode(root / rel) == 0o750, rel
    # Nothing else: no temporary files left behind by the atomic writes. (sysusers writes the
    # user databases; `systemctl enable` the wants/ links.)
    user_db = {"passwd", "group", "shadow", "gshadow", ".pwd.lock"}
    files = {
        str(p.relative_to(root))
        for p in root.rglob("*")
        if p.is_file()
        and not p.is_symlink()
        and not (p.parent == root / "etc" and p.name in user_db)
    }
    assert files == set(expected) | {
        "etc/systemd/system/bodypix-build-engine.service.d/tegra-devices.conf"
    }


@needs_sysusers
def test_service_user_owns_state(installed: tuple[Path, str]) -> None:
    root, _ = installed
    user = _passwd(root, "bodypix")
    assert user is not None
    assert user[5] == "/var/lib/bodypix-appliance"
    assert user[6] == "/usr/sbin/nologin"
    assert int(user[2]) < 1000  # a system user
    assert "bodypix" in _group_members(root, "video")
    assert "bodypix" in _group_members(root, "render")
    if os.geteuid() == 0:
        for rel in (STATE, f"{STATE}/{PASSWORD_FILE}", "var/cache/bodypix-appliance/models"):
            assert (root / rel).stat().st_uid == int(user[2]), rel


@needs_sysusers
def test_units_enabled(installed: tuple[Path, str]) -> None:
    root, _ = installed
    wants = root / "etc/systemd/system/multi-user.target.wants"
    for unit in ("bodypix-appliance.service", "bodypix-build-engine.service"):
        assert os.readlink(wants / unit) == f"/etc/systemd/system/{unit}"


@needs_sysusers
def test_config_is_valid_and_matches_the_loopback_device(installed: tuple[Path, str]) -> None:
    root, _ = installed
    settings = load_settings(root / "etc/bodypix-appliance/config.toml", environ={})
    assert settings.source == "csi://0"  # from --camera
    options = (root / "etc/modprobe.d/bodypix-v4l2loopback.conf").read_text()
    video_nr = re.search(r"video_nr=(\d+)", options)
    assert video_nr
    assert f"v4l2loopback:///dev/video{video_nr.group(1)}" in settings.outputs
    environment = (root / "etc/bodypix-appliance/environment").read_text().splitlines()
    assert "BODYPIX_MODEL_MIRROR=/srv/bodypix-models" in environment


@needs_sysusers
def test_generated_password_works(installed: tuple[Path, str]) -> None:
    root, stdout = installed
    store = PasswordStore(root / STATE / PASSWORD_FILE)
    assert store.verify(_generated_password(stdout))
    assert not store.verify("not-the-password")
    assert "Panel: http://" in stdout


@needs_sysusers
def test_second_run_changes_nothing(installed: tuple[Path, str]) -> None:
    root, _ = installed
    before = tree_digest(root)
    done = install(root, *FIXTURE_ARGS)
    assert tree_digest(root) == before
    assert "installed " not in done.stdout
    assert "panel password already set" in done.stdout


@needs_sysusers
def test_edited_config_is_kept_and_password_file_sets_it(tmp_path: Path) -> None:
    install(tmp_path, "--no-password")
    config = tmp_path / "etc/bodypix-appliance/config.toml"
    config.write_text('effect = "replace"\n')
    password_file = tmp_path / "pw.txt"
    password_file.write_text("correct horse battery\n")
    done = install(tmp_path, "--password-file", str(password_file), platform="cpu")
    assert config.read_text() == 'effect = "replace"\n'
    assert "kept /etc/bodypix-appliance/config.toml" in done.stdout
    assert PasswordStore(tmp_path / STATE / PASSWORD_FILE).verify("correct horse battery")
    # Moving from the Jetson layout to a CPU one drops the Tegra drop-ins.
    assert not list(tmp_path.glob("etc/systemd/system/*.d/tegra-devices.conf"))


def test_dry_run_writes_nothing(tmp_path: Path) -> None:
    done = install(tmp_path, "--dry-run", "--generate-password")
    assert list(tmp_path.iterdir()) == []
    assert "would install: /etc/systemd/system/bodypix-appliance.service" in done.stdout
    assert "would run: bodypix set-password" in done.stdout


def test_bad_options_are_one_sentence(tmp_path: Path) -> None:
    done = install(tmp_path, "--platform", "amiga", check=False)
    assert done.returncode != 0
    assert done.stderr.strip() == (
        "install: error: --platform must be auto, jetson, nvidia or cpu, not 'amiga'."
    )
    done = install(tmp_path, "--password-file", str(tmp_path / "missing"), check=False)
    assert done.returncode != 0
    assert "cannot be read" in done.stderr
    assert not (tmp_path / STATE / PASSWORD_FILE).exists()


@needs_sysusers
def test_uninstall_keeps_state_unless_purge(tmp_path: Path) -> None:
    install(tmp_path, "--generate-password")
    run_script(UNINSTALL, "--root", str(tmp_path))
    assert not (tmp_path / "etc/systemd/system/bodypix-appliance.service").exists()
    assert not (tmp_path / "etc/systemd/system/multi-user.target.wants").exists()
    assert not (tmp_path / "etc/modprobe.d/bodypix-v4l2loopback.conf").exists()
    assert not (tmp_path / "opt/bodypix-appliance").exists()
    assert (tmp_path / "etc/bodypix-appliance/config.toml").is_file()
    assert (tmp_path / STATE / PASSWORD_FILE).is_file()
    assert _passwd(tmp_path, "bodypix") is not None
    run_script(UNINSTALL, "--root", str(tmp_path), "--purge")
    assert not (tmp_path / "etc/bodypix-appliance").exists()
    assert not (tmp_path / STATE).exists()
    assert not (tmp_path / "var/cache/bodypix-appliance").exists()
    if os.geteuid() == 0:  # userdel --root chroots, which needs root
        assert _passwd(tmp_path, "bodypix") is None


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="shellcheck not installed")
def test_shellcheck() -> None:
    scripts = [INSTALL, UNINSTALL, INSTALL.parents[1] / "scripts/setup-dev.sh"]
    done = subprocess.run(
        ["shellcheck", "--severity=style", *map(str, scripts)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_scripts_refuse_to_touch_the_system_without_root_privileges() -> None:
    if os.geteuid() == 0:
        pytest.skip("running as root: the refusal is for unprivileged users")
    done = subprocess.run(
        ["bash", str(INSTALL)],
        capture_output=True,
        text=True,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode != 0 and "sudo" in done.stderr
