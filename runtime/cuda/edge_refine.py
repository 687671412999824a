"""Launcher of the guided-filter kernels (edge_refine.cu), the CUDA twin of runtime/edge_refine.py.

The plan (subsample, small size, radius, eps) and the gray weights come from the CPU module, so
both paths filter with the same numbers. Works on any device that offers `load_function` and
`mem_alloc` (the GPU through pycuda, or the host executor: runtime/cuda/device.py).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any, Protocol

import numpy as np

from runtime.edge_refine import GRAY_WEIGHTS, STRETCH_HIGH, STRETCH_LOW, GuidedPlan

SOURCE = "edge_refine.cu"
KERNELS = ("guided_shrink", "guided_coefficients", "guided_mean", "guided_apply")
BLOCK_2D = (32, 8, 1)
FORMATS = {"BGR": 0, "YUYV": 1}
# Float buffers of the small size: guide, mask, a, b, mean a, mean b.
SCRATCH_PLANES = 6


class _Allocation(Protocol):
    ptr: int

    def free(self) -> None: ...


class GuidedDevice(Protocol):
    """What the launcher needs of runtime.cuda.device's Device."""

    @property
    def stream(self) -> Any: ...

    def active(self) -> AbstractContextManager[None]: ...

    def mem_alloc(self, nbytes: int) -> Any: ...

    def load_function(self, source_name: str, name: str) -> Callable[..., None]: ...


def _grid(width: int, height: int) -> tuple[int, int]:
    return (width + BLOCK_2D[0] - 1) // BLOCK_2D[0], (height + BLOCK_2D[1] - 1) // BLOCK_2D[1]


def scratch_bytes(plan: GuidedPlan) -> int:
    sw, sh = plan.small_size
    return SCRATCH_PLANES * sw * sh * 4


class GuidedFilterKernels:
    """The four kernels, loaded once per device (with its context current)."""

    def __init__(self, dev: GuidedDevice) -> None:
        self.dev = dev
        with dev.active():
            self.functions = {name: dev.load_function(SOURCE, name) for name in KERNELS}

    def _launch(self, name: str, width: int, height: int, *args: Any) -> None:
        self.functions[name](
            *args, block=BLOCK_2D, grid=_grid(width, height), stream=self.dev.stream
        )

    def run(
        self,
        frame: int,
        frame_pitch: int,
        frame_format: str,
        mask: int,
        height: int,
        width: int,
        plan: GuidedPlan,
        scratch: int,
        out: int,
    ) -> None:
        """Enqueue the filter of `mask` (float32 [height, width]) guided by `frame` into `out`
        (which may be `mask`); `scratch` holds `scratch_bytes(plan)` bytes. Context current."""
        enqueue_guided_filter(
            self._launch, frame, frame_pitch, frame_format, mask, height, width, plan, scratch, out
        )


Launch = Callable[..., None]  # launch(kernel name, grid width, grid height, *arguments)


def enqueue_guided_filter(
    launch: Launch,
    frame: int,
    frame_pitch: int,
    frame_format: str,
    mask: int,
    height: int,
    width: int,
    plan: GuidedPlan,
    scratch: int,
    out: int,
) -> None:
    """The four launches of the filter, through `launch` (this module's loader, or the frame
    path's timed `Kernels`): `mask` guided by `frame` into `out` (which may be `mask`)."""
    sw, sh = plan.small_size
    plane = sw * sh * 4
    guide, small_mask, a, b, mean_a, mean_b = (
        np.uintp(scratch + k * plane) for k in range(SCRATCH_PLANES)
    )
    wb, wg, wr = (np.float32(v) for v in GRAY_WEIGHTS[0])
    fmt, pitch = np.int32(FORMATS[frame_format]), np.int32(frame_pitch)
    s, r = np.int32(plan.subsample), np.int32(plan.radius)
    w, h, small_w, small_h = np.int32(width), np.int32(height), np.int32(sw), np.int32(sh)
    launch(
        "guided_shrink", sw, sh,
        np.uintp(frame), pitch, fmt, np.uintp(mask), w, h, s, small_w, small_h,
        wb, wg, wr, guide, small_mask,
    )  # fmt: skip
    launch(
        "guided_coefficients", sw, sh,
        guide, small_mask, small_w, small_h, r, np.float32(plan.eps), a, b,
    )  # fmt: skip
    launch("guided_mean", sw, sh, a, b, small_w, small_h, r, mean_a, mean_b)
    launch(
        "guided_apply", width, height,
        np.uintp(frame), pitch, fmt, w, h, mean_a, mean_b, s, small_w, small_h,
        wb, wg, wr, np.float32(STRETCH_LOW), np.float32(1.0 / (STRETCH_HIGH - STRETCH_LOW)),
        np.uintp(out),
    )  # fmt: skip
