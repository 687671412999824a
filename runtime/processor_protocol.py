"""The one processor protocol the live pipeline drives; the CPU path (`runtime.processor`)
and the CUDA path (`runtime.cuda.processor`) both implement it.

Threads: `segment` runs on the inference thread, `composite` on the output thread and capture
writes into `capture_frames` buffers on the capture thread; `close` may come from any thread.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import numpy as np
import numpy.typing as npt

from runtime.settings import Settings

FramePath = Literal["cpu", "cuda"]


@dataclass(frozen=True)
class ProcessorDescription:
    """What the status shows about a processor."""

    backend: str  # "onnxruntime" | "openvino" | "tensorrt"
    model_file: str | None  # the engine or ONNX file the backend runs
    frame_path: FramePath
    detail: Mapping[str, Any] = field(default_factory=dict)  # e.g. memory mode, executor
    # True when segment() of a frame of another size than before would rebuild the backend
    # (a TensorRT engine, a fixed-size ONNX): the pipeline then builds a new processor for the
    # new size off the frame path instead of calling segment() with it.
    fixed_size: bool = False


class FrameProcessorProtocol(Protocol):
    """Segmentation and compositing of camera frames, driven by one `Settings`."""

    def segment(self, frame: npt.NDArray[np.uint8]) -> Any:
        """Segment one frame; the result is opaque to the caller and only handed back to
        `composite` of the same processor (possibly with a newer frame of the same size)."""
        ...

    def composite(self, frame: npt.NDArray[np.uint8], segmentation: Any) -> npt.NDArray[np.uint8]:
        """The composited BGR frame. The processor never writes to a returned array again:
        outputs may keep it as long as they like."""
        ...

    def capture_frames(self, height: int, width: int, count: int) -> list[npt.NDArray[np.uint8]]:
        """`count` host arrays [h, w, 3] uint8 that capture may decode frames into (a ring);
        `segment`/`composite` skip their host-to-device copy when given one of them (CPU path:
        plain arrays; CUDA path: pinned, on Jetson GPU-mapped, memory)."""
        ...

    def update_settings(self, settings: Settings) -> None: ...

    def reset_smoothing(self) -> None: ...

    def describe(self) -> ProcessorDescription: ...

    def stage_ms(self) -> Mapping[str, float]:
        """Mean milliseconds per stage (CPU) or per kernel (CUDA) over the recent frames."""
        ...

    def close(self) -> None: ...
