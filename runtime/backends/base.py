"""The interface every segmentation backend implements.

A backend takes the pre-processed model input (pad-to-aspect + bilinear resize done by
`runtime.geometry`, RGB float32 0..255, NHWC; normalisation is folded into the ONNX graph) and
returns the raw logits at stride resolution. Everything before and after is shared code.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from core.arrays import F32


@dataclass
class Logits:
    """Network outputs for one frame, at stride resolution (h = (H-1)/stride + 1)."""

    segments: F32  # [h, w] person logits
    part_heatmaps: F32 | None = None  # [h, w, 24] part logits, when asked for


class SegmentationBackend(Protocol):
    """What the pipeline needs from a backend."""

    name: str  # "onnxruntime", "openvino", "tensorrt"

    @property
    def input_size(self) -> tuple[int, int] | None:
        """(H, W) the backend was built for, or None when any valid size is accepted."""
        ...

    def run(self, image: F32, parts: bool = False) -> Logits:
        """`image` is [H, W, 3] float32 RGB 0..255 (already padded and resized)."""
        ...

    def close(self) -> None: ...
