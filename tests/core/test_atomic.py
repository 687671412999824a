"""The one atomic writer: old or new file, never half of one; the umask's mode; no leftovers."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.atomic import TEMP_SUFFIX, PendingFile, atomic_path, current_umask, write_atomic


@pytest.fixture
def umask_027() -> Iterator[None]:
    old = os.umask(0o027)
    try:
        yield
    finally:
        os.umask(old)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_write_replaces_and_honours_the_umask(tmp_path: Path, umask_027: None) -> None:
    target = tmp_path / "settings.json"
    target.write_text("old")
    write_atomic(target, b"new")
    assert target.read_bytes() == b"new"
    assert current_umask() == 0o027
    assert _mode(target) == 0o640  # what open() would have given a new file
    assert sorted(p.name for p in tmp_path.iterdir()) == ["settings.json"]


def test_an_explicit_mode_wins(tmp_path: Path, umask_027: None) -> None:
    secret = tmp_path / "password.argon2"
    write_atomic(secret, b"hash", mode=0o600)
    assert _mode(secret) == 0o600


def test_a_failure_keeps_the_old_file_and_leaves_nothing(tmp_path: Path) -> None:
    target = tmp_path / "engine.plan"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        assert tmp.parent == tmp_path and tmp.name.startswith(".engine.plan.")
        assert tmp.name.endswith(TEMP_SUFFIX)
        tmp.write_bytes(b"half")
        raise RuntimeError("the writer failed")
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["engine.plan"]


def test_a_path_for_writers_that_want_one_keeps_the_suffix(tmp_path: Path) -> None:
    target = tmp_path / "clip.mp4"
    with atomic_path(target, suffix=".mp4") as tmp:
        assert tmp.suffix == ".mp4" and tmp.exists() and not target.exists()
        tmp.write_bytes(b"video")
    assert target.read_bytes() == b"video"


def test_an_unwritable_folder_is_an_os_error(tmp_path: Path) -> None:
    with pytest.raises(OSError):
        write_atomic(tmp_path / "missing" / "file", b"x")


def test_a_pending_file_appears_only_when_published(tmp_path: Path, umask_027: None) -> None:
    target = tmp_path / "recording.mp4"
    pending = PendingFile(target, suffix=".partial.mp4")
    pending.tmp.write_bytes(b"frames")
    assert _mode(pending.tmp) == 0o600 and not target.exists()  # private while written
    pending.publish()
    pending.discard()  # after a publish: nothing to remove
    assert target.read_bytes() == b"frames" and _mode(target) == 0o640
    empty = PendingFile(tmp_path / "empty.mp4")
    empty.discard()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["recording.mp4"]
