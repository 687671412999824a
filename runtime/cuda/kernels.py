"""Typed launchers for the kernels in the .cu files beside this module.

Each method enqueues one kernel on the device's stream; pointers are plain ints (device
addresses, or mapped aliases of pinned host memory) so the same call serves a TensorRT input
binding, a zero-copy camera frame and a scratch buffer. The device is a GPU through pycuda or
the host executor (runtime/cuda/device.py); every launch is timed (CUDA events on the GPU, wall
time on the host executor) for `stage_ms`, status and /metrics.
"""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Callable
from typing import Any, ClassVar, cast

import numpy as np

from runtime.cuda.device import Device, Event
from runtime.cuda.edge_refine import KERNELS as GUIDED_KERNELS
from runtime.cuda.edge_refine import enqueue_guided_filter
from runtime.edge_refine import GuidedPlan

BLOCK_2D = (32, 8, 1)
FORMATS = {"BGR": 0, "YUYV": 1}
BACKGROUND_BLURRED, BACKGROUND_IMAGE = 0, 1
OVERLAY_NONE, OVERLAY_MASK, OVERLAY_PARTS = 0, 1, 2
# How the parts layer is drawn (composite.cu `PartsRule`, chosen by runtime/cuda/compositing.py
# as runtime/effects/parts.py `draw_colored_parts` chooses its arithmetic).
PARTS_WEIGHTED_ALL, PARTS_WEIGHTED_PARTS, PARTS_OVERLAY = 0, 1, 2

POINTER, INT, FLOAT = "<u8", "<i4", "<f4"
# Layout of `struct CompositeParams` in composite.cu (natural C alignment: align=True).
COMPOSITE_PARAMS_DTYPE = np.dtype(
    [
        ("frame", POINTER),
        ("frame_pitch", INT),
        ("frame_format", INT),
        ("width", INT),
        ("height", INT),
        ("flip", INT),
        ("blend", INT),
        ("alpha", POINTER),
        ("background_kind", INT),
        ("blurred", POINTER),
        ("blurred_w", INT),
        ("up_rows", POINTER),
        ("up_cols", POINTER),
        ("image", POINTER),
        ("image_pitch", INT),
        ("overlay", INT),
        ("overlay_alpha", POINTER),
        ("mask_base", FLOAT, (4,)),
        ("mask_delta", FLOAT, (4,)),
        ("ids", POINTER),
        ("palette", POINTER),
        ("num_parts", INT),
        ("opacity", FLOAT),
        ("parts_rule", INT),
        ("parts_keep", FLOAT),
        ("out", POINTER),
        ("out_pitch", INT),
        ("out_format", INT),
    ],
    align=True,
)


def _grid(width: int, height: int, block: tuple[int, int, int] = BLOCK_2D) -> tuple[int, int]:
    return (width + block[0] - 1) // block[0], (height + block[1] - 1) // block[1]


def _pointer(ptr: int) -> np.uintp:
    return np.uintp(ptr)


# Recent launches per kernel that `mean_ms` averages over.
TIMING_WINDOW = 200


class Kernels:
    """The compiled kernel functions of one device, loaded once (with the context current)."""

    SOURCES: ClassVar[dict[str, tuple[str, ...]]] = {
        "preprocess.cu": ("preprocess",),
        "mask.cu": (
            "upsample_sigmoid", "mask_threshold", "smooth_mask", "part_keep", "part_ids",
            "motion_gray_shrink", "motion_difference", "motion_stillness", "motion_smooth",
        ),
        "blur.cu": ("filter_axis", "filter_frame_rows"),
        "composite.cu": ("composite",),
        "edge_refine.cu": GUIDED_KERNELS,
    }  # fmt: skip

    def __init__(self, dev: Device, window: int = TIMING_WINDOW) -> None:
        self.dev = dev
        self.functions: dict[str, Callable[..., None]] = {}
        with dev.active():
            for source, names in self.SOURCES.items():
                for name in names:
                    self.functions[name] = dev.load_function(source, name)
        self.stage = "frame"  # a label the bench groups launches by
        self._pending: list[tuple[str, str, Event, Event]] = []
        self.samples: dict[tuple[str, str], deque[float]] = defaultdict(
            lambda: deque(maxlen=window)
        )

    def _timed(self, name: str, launch: Callable[[], None]) -> None:
        start = self.dev.record_event()
        launch()
        end = self.dev.record_event()
        self._pending.append((self.stage, name, start, end))

    def _launch(self, name: str, width: int, height: int, *args: Any) -> None:
        func = self.functions[name]
        self._timed(
            name,
            lambda: func(*args, block=BLOCK_2D, grid=_grid(width, height), stream=self.dev.stream),
        )

    def _launch_1d(self, name: str, n: int, *args: Any) -> None:
        func = self.functions[name]
        grid = ((n + 255) // 256, 1)
        self._timed(name, lambda: func(*args, block=(256, 1, 1), grid=grid, stream=self.dev.stream))

    def collect(self) -> None:
        """Read the timings of the launches so far (after the stream synchronised; with the
        context current)."""
        for stage, name, start, end in self._pending:
            self.samples[(stage, name)].append(end.elapsed_ms_since(start))
        self._pending.clear()

    def mean_ms(self) -> dict[str, float]:
        """Mean milliseconds per launch of each kernel over the recent launches."""
        merged: dict[str, list[float]] = defaultdict(list)
        for (_, name), values in self.samples.items():
            merged[name].extend(values)
        return {name: float(np.mean(values)) for name, values in merged.items() if values}

    def reset_timings(self) -> None:
        self._pending.clear()
        self.samples.clear()

    def preprocess(
        self,
        frame: int,
        frame_pitch: int,
        frame_format: str,
        rows: int,
        cols: int,
        out_h: int,
        out_w: int,
        out: int,
        out_fp16: bool,
        scale: float = 1.0,
        offset: float = 0.0,
    ) -> None:
        self._launch(
            "preprocess", out_w, out_h,
            _pointer(frame), np.int32(frame_pitch), np.int32(FORMATS[frame_format]),
            _pointer(rows), _pointer(cols), np.int32(out_h), np.int32(out_w),
            _pointer(out), np.int32(out_fp16), np.float32(scale), np.float32(offset),
        )  # fmt: skip

    def upsample_sigmoid(
        self, logits: int, logits_fp16: bool, in_w: int, channels: int,
        rows: int, cols: int, out_h: int, out_w: int, out: int,
    ) -> None:  # fmt: skip
        self._launch(
            "upsample_sigmoid", out_w, out_h,
            _pointer(logits), np.int32(logits_fp16), np.int32(in_w), np.int32(channels),
            _pointer(rows), _pointer(cols), np.int32(out_h), np.int32(out_w), _pointer(out),
        )  # fmt: skip

    def mask_threshold(
        self, prob: int, prob_w: int, rows: int, cols: int, frame_h: int, frame_w: int,
        threshold: float, mask: int,
    ) -> None:  # fmt: skip
        self._launch(
            "mask_threshold", frame_w, frame_h,
            _pointer(prob), np.int32(prob_w), _pointer(rows), _pointer(cols), np.int32(frame_h), np.int32(frame_w),
            np.float32(threshold), _pointer(mask),
        )  # fmt: skip

    def smooth_mask(
        self, mask: int, n: int, smoothing: float, has_previous: bool, state: int
    ) -> None:
        self._launch_1d(
            "smooth_mask", n,
            _pointer(mask), np.int32(n), np.float32(smoothing), np.int32(has_previous), _pointer(state),
        )  # fmt: skip

    def part_keep(
        self, ids: int, height: int, width: int, parts: tuple[int, ...], keep: int
    ) -> None:
        bits = sum(1 << part for part in parts)
        self._launch(
            "part_keep", width, height,
            _pointer(ids), np.int32(width), np.int32(height), np.uint32(bits), _pointer(keep),
        )  # fmt: skip

    def motion_gray_shrink(
        self, frame: int, frame_pitch: int, frame_format: str, row_start: int,
        row_weights: int, row_taps: int, col_start: int, col_weights: int, col_taps: int,
        small_w: int, small_h: int, small: int,
    ) -> None:  # fmt: skip
        self._launch(
            "motion_gray_shrink", small_w, small_h,
            _pointer(frame), np.int32(frame_pitch), np.int32(FORMATS[frame_format]),
            _pointer(row_start), _pointer(row_weights), np.int32(row_taps),
            _pointer(col_start), _pointer(col_weights), np.int32(col_taps),
            np.int32(small_w), np.int32(small_h), _pointer(small),
        )  # fmt: skip

    def motion_difference(self, small: int, previous: int, w: int, h: int, diff: int) -> None:
        self._launch(
            "motion_difference", w, h,
            _pointer(small), _pointer(previous), np.int32(w), np.int32(h), _pointer(diff),
        )  # fmt: skip

    def motion_stillness(
        self, diff: int, w: int, h: int, reach: int, moving: float, gain: float, still: int
    ) -> None:
        self._launch(
            "motion_stillness", w, h,
            _pointer(diff), np.int32(w), np.int32(h), np.int32(reach), np.float32(moving),
            np.float32(gain), _pointer(still),
        )  # fmt: skip

    def motion_smooth(
        self, prob: int, prob_w: int, rows: int, cols: int, frame_h: int, frame_w: int,
        threshold: float, still: int, small_w: int, up_rows: int, up_cols: int,
        strength: float, hysteresis: float, has_previous: bool, average: int, side: int,
        mask: int,
    ) -> None:  # fmt: skip
        self._launch(
            "motion_smooth", frame_w, frame_h,
            _pointer(prob), np.int32(prob_w), _pointer(rows), _pointer(cols), np.int32(frame_h),
            np.int32(frame_w), np.float32(threshold), _pointer(still), np.int32(small_w),
            _pointer(up_rows), _pointer(up_cols), np.float32(strength), np.float32(hysteresis),
            np.int32(has_previous), _pointer(average), _pointer(side), _pointer(mask),
        )  # fmt: skip

    def guided_filter(
        self, frame: int, frame_pitch: int, frame_format: str, mask: int, height: int,
        width: int, plan: GuidedPlan, scratch: int, out: int,
    ) -> None:  # fmt: skip
        """runtime/edge_refine.py `guided_filter` (edge_refine.cu's four launches)."""
        enqueue_guided_filter(
            self._launch, frame, frame_pitch, frame_format, mask, height, width, plan, scratch, out
        )

    def part_ids(
        self, prob: int, part_prob: int, prob_w: int, num_parts: int, rows: int, cols: int,
        frame_h: int, frame_w: int, threshold: float, ids: int,
    ) -> None:  # fmt: skip
        self._launch(
            "part_ids", frame_w, frame_h,
            _pointer(prob), _pointer(part_prob), np.int32(prob_w), np.int32(num_parts), _pointer(rows), _pointer(cols),
            np.int32(frame_h), np.int32(frame_w), np.float32(threshold), _pointer(ids),
        )  # fmt: skip

    def filter_axis(
        self, src: int, in_h: int, in_w: int, channels: int, start: int, weights: int,
        taps: int, out_len: int, axis: int, out: int,
    ) -> None:  # fmt: skip
        out_w, out_h = (out_len, in_h) if axis == 1 else (in_w, out_len)
        self._launch(
            "filter_axis", out_w, out_h,
            _pointer(src), np.int32(in_h), np.int32(in_w), np.int32(channels), _pointer(start),
            _pointer(weights), np.int32(taps), np.int32(out_len), np.int32(axis), _pointer(out),
        )  # fmt: skip

    def filter_frame_rows(
        self, frame: int, frame_pitch: int, frame_format: str, frame_h: int, start: int,
        weights: int, taps: int, out_len: int, out: int,
    ) -> None:  # fmt: skip
        self._launch(
            "filter_frame_rows", out_len, frame_h,
            _pointer(frame), np.int32(frame_pitch), np.int32(FORMATS[frame_format]), np.int32(frame_h),
            _pointer(start), _pointer(weights), np.int32(taps), np.int32(out_len), _pointer(out),
        )  # fmt: skip

    def composite(self, params: np.void) -> None:
        """`params` is one COMPOSITE_PARAMS_DTYPE record; one thread per pixel pair."""
        width, height = int(params["width"]), int(params["height"])
        self._launch("composite", (width + 1) // 2, height, params)


def composite_params() -> np.void:
    """A zeroed CompositeParams record (every pointer null, every option off)."""
    return cast(np.void, np.zeros((), COMPOSITE_PARAMS_DTYPE)[()])
