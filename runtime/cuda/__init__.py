"""The CUDA frame path: pre-process, mask and compositing kernels (.cu files beside the Python
that launches them), laid out as the twin of the CPU modules:

    runtime/mask.py            -> mask.py + mask.cu
    runtime/effects/           -> compositing.py + composite.cu, blur.py + blur.cu
    runtime/resample.py        -> preprocess.cu (launched by processor.py)
    runtime/processor.py       -> processor.py (CudaFrameProcessor)
    memory                     -> buffers.py (frames, buffers), device.py (context, driver)

The live pipeline uses the two entry points below. Importing this package is free: pycuda and
the GPU are only touched when a processor is opened. `BODYPIX_CUDA_EXECUTOR=host` runs the
same kernels compiled for the CPU (host_executor.py; CI's executor, slow).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from core.lazy import lazy_import, load

if TYPE_CHECKING:
    import pycuda.driver as cuda

    from runtime.cuda.processor import CudaFrameProcessor
    from runtime.settings import Settings
else:
    cuda = lazy_import("pycuda.driver")


def cuda_unavailable_reason() -> str | None:
    """None when the CUDA frame path can run here; otherwise one sentence saying why.

    Device executor (default): pycuda imports and a CUDA device is usable. Host executor
    (BODYPIX_CUDA_EXECUTOR=host): the kernels build with the C++ compiler.
    """
    from core.errors import UserError
    from runtime.cuda.device import executor_from_env

    try:
        executor = executor_from_env()
    except UserError as exc:
        return str(exc)
    if executor == "host":
        from runtime.cuda.host_executor import build_host_library
        from runtime.cuda.kernels import Kernels

        try:
            for source in Kernels.SOURCES:
                build_host_library(source)
        except UserError as exc:
            return str(exc)
        return None
    try:
        load(cuda)
    except ImportError as exc:
        return (
            f"pycuda cannot be imported ({exc}): install the gpu extra "
            "(pip install 'bodypix-appliance[gpu]') on a machine with the CUDA toolkit."
        )
    try:
        cuda.init()
        count = cuda.Device.count()
    except Exception as exc:  # pycuda.driver.Error and friends: no driver, no device
        return f"The CUDA driver is not usable ({exc}): check the NVIDIA driver with nvidia-smi."
    if count < 1:
        return "No CUDA device was found: check the NVIDIA driver with nvidia-smi."
    return None


def open_cuda_processor(settings: Settings) -> CudaFrameProcessor:
    """A CUDA frame processor for `settings` on the executor BODYPIX_CUDA_EXECUTOR selects.

    The backend is chosen per model input size on the first frame (a matching TensorRT engine:
    the pre-process writes its input binding and the mask kernels read its outputs; else ONNX
    Runtime between the CUDA pre- and post-processing). Raises UserError or RuntimeError with
    one sentence when the path cannot start (the pipeline then falls back to the CPU path).
    """
    from core.errors import UserError
    from runtime.cuda.processor import CudaFrameProcessor

    reason = cuda_unavailable_reason()
    if reason is not None:
        raise UserError(reason)
    try:
        return CudaFrameProcessor(settings)
    except UserError:
        raise
    except Exception as exc:  # a driver error while loading the kernels or allocating
        raise RuntimeError(f"The CUDA frame path could not start: {exc}") from exc
