"""Compiled loops of the CPU frame path (numba), for the steps NumPy needs many passes for.

Decision: numba, a well-kept JIT, over a C extension of our own: nothing to compile at install
time (the appliance needs no compiler; wheels exist for x86-64 and the Jetson's aarch64), and
each loop stays Python, written beside the NumPy reference it must equal (tests compare them).
The CUDA kernels' host build (runtime/cuda/host_executor.py) was measured for this first and
lost to NumPy: its one-thread-per-pixel form runs as scalar code (4.4 ms against NumPy's 3.0 ms
for the 720p pre-process); numba's row loops take 1.6 ms.

Loops compile on first call (about half a second each) without fast-math, so float32
operations round one by one as NumPy's do. Compiled code is cached on disk under the user cache
(numba's own NUMBA_CACHE_DIR wins when set); a cache numba cannot read is compiled again.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from core.catalog import user_cache_dir

F = TypeVar("F", bound=Callable[..., Any])
log = logging.getLogger(__name__)
_lock = threading.Lock()


def _numba() -> Any:
    # The cache folder must be chosen before numba is imported (it reads it once).
    os.environ.setdefault("NUMBA_CACHE_DIR", str(user_cache_dir() / "numba"))
    import numba

    return numba


def _compile(function: Callable[..., Any], signature: str, cache: bool) -> Any:
    numba = _numba()
    options = {"nogil": True, "boundscheck": False, "error_model": "numpy"}
    try:
        return numba.njit(signature, cache=cache, **options)(function)
    except RuntimeError:  # no writable cache folder: compile in memory only
        return numba.njit(signature, cache=False, **options)(function)


def _cache_files(function: Callable[..., Any]) -> list[Path]:
    """numba's cache files of `function` (named after its file and qualified name)."""
    folder = Path(os.environ.get("NUMBA_CACHE_DIR", ""))
    if not folder.is_dir():
        return []
    stem = f"{Path(function.__code__.co_filename).stem}.{function.__qualname__}-"
    return [p for p in folder.rglob("*") if p.name.startswith(stem)]


def jit(signature: str) -> Callable[[F], F]:
    """The decorated function compiled by numba in nopython mode for `signature` (numba's
    type string) on its first call.

    One explicit signature, arrays of any layout where views come in ("[:, :]"): one
    compilation, never a second one in the middle of a video because a view happened to be
    contiguous. nogil: the segment and composite threads run their loops at once. No bounds
    checks and numpy's error model: the callers pass tables that index in range, which the
    tests check against the NumPy reference. The loops raise nothing themselves, so a first
    call that fails failed reading a damaged cache: its files are removed and the loop is
    compiled again in memory.
    """

    def decorate(function: F) -> F:
        compiled: list[Any] = []

        def call(*args: Any) -> Any:
            if compiled:
                return compiled[0](*args)
            with _lock:
                if not compiled:
                    try:
                        dispatcher = _compile(function, signature, cache=True)
                        result = dispatcher(*args)
                    except Exception as exc:
                        if not _cache_files(function):
                            raise
                        log.warning(
                            "Compiled-code cache of %s is unreadable (%s): compiling it again.",
                            function.__qualname__,
                            exc,
                        )
                        for path in _cache_files(function):
                            path.unlink(missing_ok=True)
                        dispatcher = _compile(function, signature, cache=False)
                        result = dispatcher(*args)
                    compiled.append(dispatcher)
                    return result
            return compiled[0](*args)

        call.__name__ = function.__name__
        call.__qualname__ = function.__qualname__
        call.__doc__ = function.__doc__
        return call  # type: ignore[return-value]

    return decorate
