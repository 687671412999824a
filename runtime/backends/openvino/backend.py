"""`SegmentationBackend` on OpenVINO's CPU plugin, loading the same ONNX file as ONNX Runtime.

Why a second CPU runtime: on the same graph and input OpenVINO's CPU kernels take 10.2 ms per
720p frame (641x353 model input) where ONNX Runtime's take 12.0, and 3.6 against 4.1 ms at
640x480, one thread each (2-core AVX-512 box, both measured in one process). The network is
most of a CPU frame, so this is the largest single saving left there; the logits agree with
ONNX Runtime's to about 1e-5 (tests/runtime/backends/test_openvino.py).
"""

from __future__ import annotations

import functools
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from core.errors import UserError
from core.lazy import lazy_import
from runtime.backends.base import F32, Logits
from runtime.backends.onnx_file import OnnxFileBackend, model_batch, model_batch_shape

if TYPE_CHECKING:
    import openvino as ov
else:
    ov = lazy_import("openvino")


@functools.cache
def openvino_unavailable_reason() -> str | None:
    """Why OpenVINO cannot run here (one sentence), or None when it can."""
    try:
        import openvino
    except Exception as exc:  # ImportError, or a wheel whose native library fails to load
        return (
            f"OpenVINO cannot be imported ({type(exc).__name__}: {exc}); install it with "
            "`pip install openvino` or choose the onnxruntime backend"
        )
    try:
        core = openvino.Core()
        if "CPU" not in core.available_devices:
            return "OpenVINO has no CPU plugin for this processor; choose the onnxruntime backend"
        # A one-layer model compiled with our options and run: a plugin that loads but refuses
        # an option or this CPU fails here, before `auto` picks it.
        from openvino import opset13 as ops

        image = ops.parameter([1, 3, 4, 4], np.float32)
        model = openvino.Model([ops.relu(image)], [image])
        probe = np.full((1, 3, 4, 4), -1.0, np.float32)
        out = (
            core.compile_model(model, "CPU", plugin_config(1)).create_infer_request().infer([probe])
        )
        if np.any(next(iter(out.values())) != 0):
            return "OpenVINO's CPU plugin gave a wrong result for a one-layer model"
    except Exception as exc:  # a plugin that fails to load or compile on this machine
        return f"OpenVINO's CPU plugin does not run here ({openvino_message(exc)})"
    return None


# Lines of an OpenVINO exception's text that locate it or give advice, not what went wrong.
_TRACE_LINES = ("Exception from ", "Check '", "To facilitate ", "Summary:")


def openvino_message(exc: BaseException) -> str:
    """The line of an OpenVINO exception that says what went wrong: its text is a trace of
    source locations and advice around the cause, which comes last."""
    lines = [line.strip(" -") for line in str(exc).splitlines()]
    causes = [line for line in lines if line and not line.startswith(_TRACE_LINES)]
    return causes[-1] if causes else type(exc).__name__


def plugin_config(threads: int) -> dict[str, Any]:
    """The CPU plugin options every compiled model gets (see `OpenVinoBackend`)."""
    return {
        "INFERENCE_PRECISION_HINT": "f32",  # never bf16/fp16: masks must stay the official
        "NUM_STREAMS": "1",
        "INFERENCE_NUM_THREADS": str(threads),
        "ENABLE_CPU_PINNING": False,
    }


class OpenVinoBackend(OnnxFileBackend):
    """Runs the BodyPix ONNX on OpenVINO's CPU plugin, compiled for the model input size in
    use (fixed shapes run about 8 % faster than one dynamic-shape compile; a compile takes
    about 0.1 s). `threads` is per run, as ONNX Runtime's intra-op threads.

    Each compiled model has one stream and one infer request, and runs one frame at a time:
    threads that run frames at once (runtime/parallel.py) each take a free one from a pool, so
    there are as many as frames ever ran at once. One stream each, because a plugin with
    several streams runs even a single caller's frame on one of its own threads (0.5-1 ms more
    per 720p frame, measured); no CPU pinning, because the capture, compositing and output
    threads share these cores (two pinned models were measured running on one core).
    """

    name = "openvino"

    def __init__(
        self,
        path: str | Path,
        variant: str,
        threads: int = 0,
        input_size: tuple[int, int] | None = None,
    ) -> None:
        reason = openvino_unavailable_reason()
        if reason is not None:
            raise UserError(f"The openvino backend cannot run: {reason}.")
        model = self._open(path, variant, threads, input_size)
        self._config = plugin_config(self.threads)
        self._core = ov.Core()
        try:
            self._model: Any = self._core.read_model(model.SerializeToString(), b"")
        except Exception as exc:  # an ONNX construct OpenVINO's reader does not take
            raise UserError(
                f"OpenVINO cannot read ONNX file {self.path} ({openvino_message(exc)}): run it "
                "with --backend onnxruntime, or export it again with `python -m convert "
                f"export-onnx {variant} --dynamic`."
            ) from None
        self._lock = threading.Lock()
        self._shape: tuple[int, ...] | None = None  # the input shape the pool is for
        self._free: list[_Compiled] = []
        if self.input_size is not None:
            self._give_back(self._take(model_batch_shape(self.input_size, self.planar_input)))

    def _take(self, shape: tuple[int, ...]) -> _Compiled:
        """A compiled model for `shape` no other thread is running: a free one, or a new one."""
        with self._lock:
            model = self._model
            if model is None:
                raise RuntimeError("the openvino backend is closed")
            if shape != self._shape:  # a new size: the others' models are not kept
                self._shape, self._free = shape, []
            if self._free:
                return self._free.pop()
        sized = model.clone()
        sized.reshape({sized.inputs[0].any_name: list(shape)})
        compiled = self._core.compile_model(sized, "CPU", self._config)
        return _Compiled(
            shape,
            compiled.create_infer_request(),
            compiled.output("segments"),
            compiled.output("part_heatmaps") if self._has_parts else None,
        )

    def _give_back(self, item: _Compiled) -> None:
        with self._lock:
            if self._model is not None and item.shape == self._shape:
                self._free.append(item)

    def run(self, image: F32, parts: bool = False) -> Logits:
        """`image` is [H, W, 3] float32 RGB 0..255, or, where `planar_input` is set, also
        [1, 3, H, W] already normalised (`preprocess_planar`); returns logits at stride size."""
        batch = model_batch(image, self.planar_input)
        item = self._take(batch.shape)
        try:
            result = item.request.infer({0: batch}, share_inputs=True)
            # The request's output buffers are reused by its next frame: copy what is kept.
            segments = np.array(result[item.segments][0, :, :, 0])
            heatmaps = None
            if parts and item.heatmaps is not None:
                heatmaps = np.array(result[item.heatmaps][0])
        finally:
            self._give_back(item)
        return Logits(segments=segments, part_heatmaps=heatmaps)

    def close(self) -> None:
        with self._lock:
            self._model, self._free = None, []


@dataclass(frozen=True)
class _Compiled:
    """A model compiled for one input shape: its one infer request and output ports."""

    shape: tuple[int, ...]
    request: Any  # openvino.InferRequest (it holds its CompiledModel)
    segments: Any  # openvino.ConstOutput
    heatmaps: Any | None
