"""Segmentation backends: one folder per backend, heavy imports done lazily.

`create_backend(settings, input_size)` picks one: `settings.backend` "onnxruntime" or
"tensorrt" explicitly, "auto" uses TensorRT where an engine for this GPU and TensorRT exists
(built by `convert build-engine` / `bodypix prepare-model`) and ONNX Runtime otherwise. No
backend builds an engine (minutes): an explicit "tensorrt" without one is a UserError.
"""

from __future__ import annotations

import logging

from runtime.backends.base import Logits, SegmentationBackend
from runtime.settings import Settings

__all__ = ["Logits", "SegmentationBackend", "create_backend"]

log = logging.getLogger(__name__)


def create_backend(
    settings: Settings, input_size: tuple[int, int] | None = None
) -> SegmentationBackend:
    """A backend for `settings.variant`; `input_size` (H, W) is the model input a fixed-size
    backend must be built for (ONNX Runtime uses a dynamic-size file and ignores it)."""
    if settings.backend == "tensorrt":
        from runtime.backends.tensorrt import open_tensorrt_backend

        return open_tensorrt_backend(settings.variant, input_size)
    if settings.backend == "auto":
        from convert.engine.tensorrt_support import tensorrt_available
        from runtime.backends.tensorrt import usable_engine

        engine = usable_engine(settings.variant, input_size)
        if engine is not None:
            from runtime.backends.tensorrt.backend import TensorRTBackend

            return TensorRTBackend(engine, settings.variant)
        if tensorrt_available() and input_size is not None:
            from runtime.backends.tensorrt.selection import build_command

            log.warning(
                "no TensorRT engine for %s at %dx%d on this GPU: using ONNX Runtime (build one "
                "with `bodypix prepare-model` or `%s`)",
                settings.variant,
                *input_size,
                build_command(settings.variant, input_size),
            )

    from runtime.backends.onnxruntime import OnnxRuntimeBackend
    from runtime.models import find_onnx

    return OnnxRuntimeBackend(find_onnx(settings.variant), settings.variant, settings.threads)
