"""Segmentation backends: one folder per backend, heavy imports done lazily.

`create_backend(settings, input_size)` picks one: `settings.backend` "onnxruntime" or
"tensorrt" explicitly, "auto" uses TensorRT where an engine for this GPU and TensorRT exists
(built by `convert build-engine` / `bodypix prepare-model`) and ONNX Runtime otherwise.
"""

from __future__ import annotations

from runtime.backends.base import Logits, SegmentationBackend
from runtime.settings import Settings

__all__ = ["Logits", "SegmentationBackend", "create_backend"]


def create_backend(
    settings: Settings, input_size: tuple[int, int] | None = None
) -> SegmentationBackend:
    """A backend for `settings.variant`; `input_size` (H, W) is the model input a fixed-size
    backend must be built for (ONNX Runtime uses a dynamic-size file and ignores it)."""
    if settings.backend == "tensorrt":
        from runtime.backends.tensorrt import open_tensorrt_backend

        return open_tensorrt_backend(settings.variant, input_size)
    if settings.backend == "auto":
        from runtime.backends.tensorrt import usable_engine

        engine = usable_engine(settings.variant, input_size)
        if engine is not None:
            from runtime.backends.tensorrt.backend import TensorRTBackend

            return TensorRTBackend(engine, settings.variant)

    from runtime.backends.onnxruntime import OnnxRuntimeBackend
    from runtime.models import find_onnx

    return OnnxRuntimeBackend(find_onnx(settings.variant), settings.variant, settings.threads)
