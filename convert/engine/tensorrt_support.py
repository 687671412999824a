"""Is a real TensorRT importable? The one place that answers it, for code and tests alike.

`import tensorrt` alone proves nothing: the `tensorrt-stubs` package used for type checking
installs a `tensorrt/` folder of .pyi files, which Python imports as an empty namespace package.
"""

from __future__ import annotations

import importlib
import importlib.util
from functools import lru_cache
from types import ModuleType

from core.errors import UserError

HOW_TO_GET_TENSORRT = (
    "on a Jetson install JetPack's python3-libnvinfer and create the virtual environment with "
    "--system-site-packages; on a desktop run "
    "`pip install --extra-index-url https://pypi.nvidia.com tensorrt`"
)


HOW_TO_GET_PYCUDA = (
    "`pip install 'bodypix-appliance[gpu]'` with the CUDA toolkit's nvcc on PATH "
    "(/usr/local/cuda/bin)"
)


class TensorRTMissingError(UserError):
    """TensorRT's Python bindings (and, where asked for, pycuda too) cannot be imported."""

    def __init__(self, purpose: str, pycuda_missing: bool = False) -> None:
        if pycuda_missing:  # say everything a new machine needs at once
            super().__init__(
                f"{purpose} needs NVIDIA TensorRT's Python bindings and pycuda, which are not "
                f"installed: for TensorRT, {HOW_TO_GET_TENSORRT}; for pycuda, "
                f"{HOW_TO_GET_PYCUDA}."
            )
        else:
            super().__init__(
                f"{purpose} needs NVIDIA TensorRT's Python bindings, which are not installed: "
                f"{HOW_TO_GET_TENSORRT}."
            )


@lru_cache(maxsize=1)
def _load() -> ModuleType | None:
    try:
        module = importlib.import_module("tensorrt")
    except ImportError:
        return None
    # A real TensorRT has the Builder class; the stubs-only namespace package has nothing.
    return module if hasattr(module, "Builder") else None


def tensorrt_available() -> bool:
    """True when the real TensorRT Python bindings can be imported."""
    return _load() is not None


def require_tensorrt(purpose: str, with_pycuda: bool = False) -> str:
    """The running TensorRT version, or TensorRTMissingError naming how to install it (and
    pycuda, when `with_pycuda` and it is missing too).

    Callers then `import tensorrt as trt` themselves, so mypy checks their calls against the stubs.
    """
    module = _load()
    if module is None:
        pycuda_missing = with_pycuda and importlib.util.find_spec("pycuda") is None
        raise TensorRTMissingError(purpose, pycuda_missing)
    return str(module.__version__)


def tensorrt_version() -> str | None:
    """The running TensorRT version ("10.3.0.30"), or None without TensorRT."""
    module = _load()
    return str(module.__version__) if module is not None else None
