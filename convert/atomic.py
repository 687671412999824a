"""Files: writing them so that readers never see a partial one, and hashing them."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path


def make_readable(path: Path) -> None:
    """mkstemp creates 0600 files; give a finished file the mode the umask asks for."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, 0o666 & ~umask)


def write_bytes_atomic(data: bytes, out: Path) -> None:
    """Write to a temporary file beside `out`, then rename it over `out` (OSError on failure)."""
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".part", dir=out.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        make_readable(Path(tmp))
        os.replace(tmp, out)
    finally:
        Path(tmp).unlink(missing_ok=True)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
