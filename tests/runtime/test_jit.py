"""The compiled loops' disk cache: reused when sound, compiled again when damaged."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# One compiled loop, run in a fresh process (numba reads its cache folder once, at import).
PROGRAM = """
import numpy as np
from runtime.geometry import frame_geometry
from runtime.resample import preprocess, resample
g = frame_geometry(48, 64, "medium", 16)
frame = np.arange(48 * 64 * 3, dtype=np.uint8).reshape(48, 64, 3)
assert np.array_equal(preprocess(frame, g), resample(frame, *g.preprocess())[:, :, ::-1])
print("same")
"""


def _run(cache: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NUMBA_CACHE_DIR": str(cache), "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-c", PROGRAM], env=env, capture_output=True, text=True, timeout=120
    )


def test_a_damaged_cache_is_compiled_again(tmp_path: Path) -> None:
    first = _run(tmp_path)
    assert first.returncode == 0 and first.stdout.strip() == "same", first.stderr
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert files, "nothing was cached"
    again = _run(tmp_path)  # read from the cache
    assert again.returncode == 0 and "unreadable" not in again.stderr, again.stderr
    for path in files:
        path.write_bytes(os.urandom(64))
    damaged = _run(tmp_path)
    assert damaged.returncode == 0 and damaged.stdout.strip() == "same", damaged.stderr
    assert "cache of _resample_frame is unreadable" in damaged.stderr
    assert not any(p.exists() for p in files)  # removed, not left damaged
    healed = _run(tmp_path)  # the damaged files are gone: compiled and cached afresh
    assert healed.returncode == 0 and "unreadable" not in healed.stderr, healed.stderr


def test_no_writable_cache_folder_still_runs(tmp_path: Path) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    done = _run(blocked / "numba")  # cannot be created: compiled in memory only
    assert done.returncode == 0 and done.stdout.strip() == "same", done.stderr
