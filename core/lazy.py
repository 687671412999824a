"""Heavy optional modules (tensorrt, pycuda) imported on first use, as Polygraphy's lazy_import.

A module that uses one writes, once at its top:

    if TYPE_CHECKING:
        import tensorrt as trt
    else:
        trt = lazy_import("tensorrt")

so mypy checks every `trt.` call against the stubs, while importing the module costs nothing
and works where TensorRT is not installed. The real import happens at the first attribute
use; callers first ask `convert.engine.tensorrt_support.require_tensorrt` (or `load` below),
which turn a missing module into one sentence saying how to install it.
"""

from __future__ import annotations

import importlib
import threading
from types import ModuleType
from typing import Any


class LazyModule:
    """Stands for the module `name` until an attribute is read; then it is that module's."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._module: ModuleType | None = None
        self._lock = threading.Lock()

    def load(self) -> ModuleType:
        if self._module is None:
            with self._lock:
                if self._module is None:
                    self._module = importlib.import_module(self._name)
        return self._module

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("_"):  # copy/pickle probes and our own fields before __init__
            raise AttributeError(attr)
        return getattr(self.load(), attr)

    def __repr__(self) -> str:
        state = "imported" if self._module is not None else "not imported yet"
        return f"<lazy module {self._name!r} ({state})>"


def lazy_import(name: str) -> Any:
    """The module `name`, imported at its first attribute use (typed `Any`: see the docstring)."""
    return LazyModule(name)


def load(module: object) -> None:
    """Import a lazily imported module now: ImportError when it cannot be."""
    if isinstance(module, LazyModule):
        module.load()
