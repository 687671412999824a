"""Segmentation backends: one folder per backend, heavy imports done lazily.

`create_backend(settings, input_size)` picks one: `settings.backend` "tensorrt", "openvino" or
"onnxruntime" explicitly; "auto" uses TensorRT where an engine for this GPU and TensorRT exists
(built by `convert build-engine` / `bodypix prepare-model`), else the CPU backend
`create_cpu_backend` picks: OpenVINO where it runs (faster), ONNX Runtime otherwise. No
backend builds an engine (minutes): an explicit "tensorrt" without one is a UserError.
"""

from __future__ import annotations

import logging

from runtime.backends.base import Logits, SegmentationBackend
from runtime.settings import CpuBackendName, Settings

__all__ = [
    "CPU_BACKENDS",
    "Logits",
    "SegmentationBackend",
    "create_backend",
    "create_cpu_backend",
    "default_cpu_backend",
]

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
                "no TensorRT engine for %s at %dx%d on this GPU: using the CPU backend (build one "
                "with `bodypix prepare-model` or `%s`)",
                settings.variant,
                *input_size,
                build_command(settings.variant, input_size),
            )
    return create_cpu_backend(settings)


# The backends that run on the CPU, fastest first; the last is always installed.
CPU_BACKENDS: tuple[CpuBackendName, ...] = ("openvino", "onnxruntime")


def default_cpu_backend() -> CpuBackendName:
    """OpenVINO where it runs here, else ONNX Runtime."""
    from runtime.backends.openvino import openvino_unavailable_reason

    reason = openvino_unavailable_reason()
    if reason is None:
        return "openvino"
    log.info("using ONNX Runtime on the CPU: %s", reason)
    return "onnxruntime"


def create_cpu_backend(settings: Settings) -> SegmentationBackend:
    """`settings.backend` "openvino" or "onnxruntime"; for any other `default_cpu_backend()`.
    Both load the same dynamic-size ONNX file."""
    from runtime.models import find_onnx

    onnx, variant, threads = find_onnx(settings.variant), settings.variant, settings.threads
    name = settings.backend if settings.backend in CPU_BACKENDS else default_cpu_backend()
    if name == "openvino":
        from runtime.backends.openvino import OpenVinoBackend

        return OpenVinoBackend(onnx, variant, threads)
    from runtime.backends.onnxruntime import OnnxRuntimeBackend

    return OnnxRuntimeBackend(onnx, variant, threads)
