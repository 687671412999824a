"""Which engine the TensorRT backend runs: the best matching one for this GPU and TensorRT.

The runtime never builds an engine: that takes minutes and is the install step's job
(`bodypix prepare-model`, `convert build-engine`). Without a matching engine `auto` uses ONNX
Runtime and an explicit `tensorrt` is refused with the command that builds one.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from core.catalog import get_variant
from core.errors import UserError

if TYPE_CHECKING:
    import pycuda.driver as cuda

    from runtime.backends.tensorrt.backend import TensorRTBackend

log = logging.getLogger(__name__)


def usable_engine(
    variant: str, input_size: tuple[int, int] | None, models_dir: Path | None = None
) -> Path | None:
    """The engine for (variant, input size) on this GPU and TensorRT, or None: no TensorRT, no
    GPU, no size given, or no matching engine. Never raises for those, so `auto` can fall back."""
    from convert.engine.gpu import current_gpu
    from convert.engine.naming import default_engine_dir
    from convert.engine.sidecar import find_matching_engine
    from convert.engine.tensorrt_support import tensorrt_version

    version = tensorrt_version()
    if version is None or input_size is None:
        return None
    try:
        gpu = current_gpu()
    except UserError as exc:
        log.info("TensorRT is installed but no GPU is usable (%s)", exc)
        return None
    folder = default_engine_dir(get_variant(variant).name, models_dir, None)
    return find_matching_engine(folder, variant, input_size, gpu, version)


def build_command(variant: str, size: tuple[int, int]) -> str:
    """The command that builds the engine the runtime looks for."""
    return f"python -m convert build-engine {variant} --height {size[0]} --width {size[1]}"


def open_tensorrt_backend(
    variant: str,
    input_size: tuple[int, int] | None = None,
    models_dir: Path | None = None,
    stream: cuda.Stream | None = None,
) -> TensorRTBackend:
    """The TensorRT backend for (variant, input size); a UserError naming the build command
    when no engine matches this GPU and TensorRT (never a build of minutes by surprise)."""
    from convert.engine.tensorrt_support import require_tensorrt
    from core.input_size import default_input_size
    from runtime.backends.tensorrt.backend import TensorRTBackend

    require_tensorrt("The TensorRT backend")
    size = input_size or default_input_size(get_variant(variant).stride)
    engine = usable_engine(variant, size, models_dir)
    if engine is None:
        raise UserError(
            f"No TensorRT engine for {variant} at {size[0]}x{size[1]} matches this GPU and "
            f"TensorRT: build it with `bodypix prepare-model` or `{build_command(variant, size)}`."
        )
    return TensorRTBackend(engine, variant, stream)
