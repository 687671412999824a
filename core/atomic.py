"""Files: writing them so that readers see the old file or the new one, never half of one.

The one writer of the project: a temporary file beside the target (same file system, so the
rename is atomic), its data and then the directory entry flushed to disk (a power cut after
the rename must not leave an empty file under the new name), the mode `open()` would give a
new file (0666 less the umask) unless the caller asks for another one (0600 for secrets), and
no temporary file left behind when anything fails.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

TEMP_SUFFIX = ".part"  # every temporary file of a write in progress: .<name>.<random>.part


def current_umask() -> int:
    """The process umask (the unit sets 0027), read without changing it where Linux allows."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    # Elsewhere: the classic read-by-setting (racy only with other threads that set the umask).
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _fsync_directory(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return  # not every file system lets a directory be opened; the rename still happened
    try:
        with suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)


class PendingFile:
    """A temporary file beside `path` (created empty, mode 0600 while written) that becomes
    `path` on `publish()`: flushed, given `mode` (default: 0666 less the umask), renamed over
    `path`, the directory entry flushed. `discard()` removes it; after a publish it does
    nothing. For writers that outlive one block (a recording); `atomic_path` for the rest.
    OSError when the folder is not writable."""

    def __init__(self, path: Path, *, mode: int | None = None, suffix: str = TEMP_SUFFIX) -> None:
        self.path = Path(path)
        self.mode = mode
        directory = self.path.parent if str(self.path.parent) else Path(".")
        fd, name = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=suffix, dir=directory)
        os.close(fd)
        self.tmp = Path(name)

    def publish(self) -> None:
        with open(self.tmp, "rb") as handle:
            os.fsync(handle.fileno())
        os.chmod(self.tmp, 0o666 & ~current_umask() if self.mode is None else self.mode)
        os.replace(self.tmp, self.path)
        _fsync_directory(self.tmp.parent)

    def discard(self) -> None:
        self.tmp.unlink(missing_ok=True)


@contextmanager
def atomic_path(
    path: Path, *, mode: int | None = None, suffix: str = TEMP_SUFFIX
) -> Iterator[Path]:
    """An empty temporary file beside `path` for the block to fill (by name: for writers such as
    OpenCV's or a compiler that want a path). When the block ends normally it replaces `path`
    (see `PendingFile`); when it raises, the temporary file is removed and `path` is untouched."""
    pending = PendingFile(path, mode=mode, suffix=suffix)
    try:
        yield pending.tmp
        pending.publish()
    finally:
        pending.discard()


def write_atomic(
    path: Path, data: bytes, *, mode: int | None = None, suffix: str = TEMP_SUFFIX
) -> None:
    """Write `data` to `path` atomically (see `atomic_path`); OSError on failure."""
    with atomic_path(path, mode=mode, suffix=suffix) as tmp:
        tmp.write_bytes(data)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
