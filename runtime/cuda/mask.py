"""From logits to the person mask and part ids on the GPU: the twin of runtime/mask.py.

    scores = crop(sigmoid(upsample(logits)))     runtime.mask.person_scores   upsample_sigmoid
    mask   = scores > threshold                  runtime.mask.threshold       mask_threshold
    ids    = argmax parts where mask             runtime.mask.part_ids        part_ids
    mask   = motion-aware smoothing ("motion")   MaskRefiner.smooth_motion    motion_*
    mask   = guided filter (edge_refine)         runtime.edge_refine          guided_*
    mask   = feather(mask)                       runtime.mask.feather         filter_axis
    mask   = EMA ("ema")                         MaskRefiner.smooth           smooth_mask

in MaskRefiner.refine's order. The resample tables come from runtime.geometry (tables.py), the
feather passes and the stillness shrink are measured off the CPU's own OpenCV calls
(operators.py), the motion and guided-filter numbers are the CPU modules'; the kernels are in
mask.cu and edge_refine.cu beside this file.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

from core.errors import UserError
from runtime.cuda.blur import DeviceFilter
from runtime.cuda.buffers import DeviceBuffer, FrameBuffers
from runtime.cuda.edge_refine import scratch_bytes
from runtime.cuda.kernels import Kernels
from runtime.cuda.operators import AxisFilter, measure, resize_filter
from runtime.cuda.tables import RESAMPLE_TAP_DTYPE, Table
from runtime.edge_refine import guided_plan
from runtime.mask import (
    HYSTERESIS,
    MOTION_REACH,
    MOVING_LEVELS,
    NUM_PARTS,
    STILL_LEVELS,
    feather,
)
from runtime.settings import Settings

# MaskRefiner.stillness's ramp, as float32 like the CPU computes it.
STILL_GAIN = np.float32(1.0 / (MOVING_LEVELS - STILL_LEVELS))


@dataclass(frozen=True)
class DeviceLogits:
    """Logits in device memory: [h, w] segments, [h, w, 24] part heatmaps."""

    segments: int
    part_heatmaps: int | None
    fp16: bool


@lru_cache(maxsize=32)
def feather_filter(size: int, width: int) -> AxisFilter:
    """`runtime.mask.feather` along an axis of `size` pixels, measured off the function."""
    return measure(lambda column: feather(column, width), size)


def feather_filters(buffers: FrameBuffers, width: int) -> tuple[DeviceFilter, DeviceFilter]:
    """feather's (rows, columns) passes for this frame size, uploaded on first use."""
    key = ("feather", width)
    if key not in buffers.filters:
        height, frame_width = buffers.geometry.frame_size
        buffers.filters[key] = (
            DeviceFilter(buffers, feather_filter(height, width)),
            DeviceFilter(buffers, feather_filter(frame_width, width)),
        )
    filters: tuple[DeviceFilter, DeviceFilter] = buffers.filters[key]
    return filters


def opencv_linear_table(in_size: int, out_size: int) -> Table:
    """One axis of `cv2.resize(..., INTER_LINEAR)` of a float image, as OpenCV computes its
    taps (source position in double precision, clamped at the border with weight 0); the
    kernel lerps with a fused multiply-add as OpenCV does, so the enlargement is exact."""
    position = (np.arange(out_size, dtype=np.float64) + 0.5) * (in_size / out_size) - 0.5
    first = np.floor(position).astype(np.int64)
    weight = (position - first).astype(np.float32)
    outside = (first < 0) | (first >= in_size - 1)
    first = np.clip(first, 0, in_size - 1)
    weight[outside] = 0.0
    table = np.empty(out_size, RESAMPLE_TAP_DTYPE)
    table["i0"] = first
    table["i1"] = np.minimum(first + 1, in_size - 1)
    table["w1"] = weight
    return table


@dataclass(eq=False)
class MotionTables:
    """The stillness map's geometry for one frame size, uploaded once: the INTER_AREA shrink
    (measured off cv2.resize) and the INTER_LINEAR enlargement back to frame size."""

    shrink_rows: DeviceFilter
    shrink_cols: DeviceFilter
    up_rows: DeviceBuffer
    up_cols: DeviceBuffer

    @staticmethod
    def of(buffers: FrameBuffers) -> MotionTables:
        key = "motion"
        if key not in buffers.filters:
            height, width = buffers.geometry.frame_size
            small_h, small_w = buffers.motion_small_size
            buffers.filters[key] = MotionTables(
                DeviceFilter(buffers, resize_filter(height, small_h, cv2.INTER_AREA)),
                DeviceFilter(buffers, resize_filter(width, small_w, cv2.INTER_AREA)),
                buffers.upload_table(opencv_linear_table(small_h, height)),
                buffers.upload_table(opencv_linear_table(small_w, width)),
            )
        tables: MotionTables = buffers.filters[key]
        return tables


def smooth_motion(
    kernels: Kernels, buffers: FrameBuffers, frame_ptr: int, settings: Settings, out: int
) -> None:
    """MaskRefiner.smooth_motion: the binary mask into `out`, the motion state updated."""
    geometry = buffers.geometry
    height, width = geometry.frame_size
    small_h, small_w = buffers.motion_small_size
    tables = MotionTables.of(buffers)
    has_previous = buffers.has_motion_state and not buffers.restart_smoothing
    current = 1 - buffers.motion_current
    gray, previous = buffers.motion_gray[current], buffers.motion_gray[buffers.motion_current]
    rows, cols = tables.shrink_rows, tables.shrink_cols
    kernels.motion_gray_shrink(
        frame_ptr, buffers.frame_pitch, buffers.format, rows.start.ptr, rows.weights.ptr,
        rows.taps, cols.start.ptr, cols.weights.ptr, cols.taps, small_w, small_h, gray.ptr,
    )  # fmt: skip
    if has_previous:
        kernels.motion_difference(gray.ptr, previous.ptr, small_w, small_h, buffers.motion_diff.ptr)
        kernels.motion_stillness(
            buffers.motion_diff.ptr, small_w, small_h, MOTION_REACH, MOVING_LEVELS, STILL_GAIN,
            buffers.motion_still.ptr,
        )  # fmt: skip
    kernels.motion_smooth(
        buffers.prob.ptr, geometry.input_size[1], buffers.crop_rows.ptr, buffers.crop_cols.ptr,
        height, width, settings.segmentation_threshold, buffers.motion_still.ptr, small_w,
        tables.up_rows.ptr, tables.up_cols.ptr, settings.smoothing, HYSTERESIS, has_previous,
        buffers.motion_average.ptr, buffers.motion_side.ptr, out,
    )  # fmt: skip
    buffers.motion_current = current
    buffers.has_motion_state = True


def make_mask(
    kernels: Kernels,
    buffers: FrameBuffers,
    logits: DeviceLogits,
    settings: Settings,
    parts: bool,
    frame_ptr: int,
) -> None:
    """MaskRefiner.refine on BodyPix's mask, into buffers.state: scores -> threshold (or
    motion-aware smoothing) -> (part ids) -> guided filter -> feather -> (EMA)."""
    geometry = buffers.geometry
    height, width = geometry.frame_size
    input_h, input_w = geometry.input_size
    logits_w = geometry.logits_size[1]
    threshold = settings.segmentation_threshold
    kernels.upsample_sigmoid(
        logits.segments, logits.fp16, logits_w, 1, buffers.upsample_rows.ptr,
        buffers.upsample_cols.ptr, input_h, input_w, buffers.prob.ptr,
    )  # fmt: skip
    motion = settings.smoothing > 0 and settings.smoothing_method == "motion"
    if motion:
        smooth_motion(kernels, buffers, frame_ptr, settings, buffers.mask.ptr)
    else:
        buffers.has_motion_state = False  # as MaskRefiner, which resets on a method change
        kernels.mask_threshold(
            buffers.prob.ptr, input_w, buffers.crop_rows.ptr, buffers.crop_cols.ptr, height,
            width, threshold, buffers.mask.ptr,
        )  # fmt: skip
    if parts:
        if logits.part_heatmaps is None:
            raise UserError("Part ids were asked for but the backend gave no part heatmaps.")
        kernels.upsample_sigmoid(
            logits.part_heatmaps, logits.fp16, logits_w, NUM_PARTS, buffers.upsample_rows.ptr,
            buffers.upsample_cols.ptr, input_h, input_w, buffers.part_prob.ptr,
        )  # fmt: skip
        kernels.part_ids(
            buffers.prob.ptr, buffers.part_prob.ptr, input_w, NUM_PARTS, buffers.crop_rows.ptr,
            buffers.crop_cols.ptr, height, width, threshold, buffers.ids.ptr,
        )  # fmt: skip
    mask = buffers.mask.ptr
    if settings.edge_refine == "guided":
        plan = guided_plan(height, width, settings.edge_refine_radius, settings.edge_refine_eps)
        scratch = buffers.scratch("guided", scratch_bytes(plan))
        kernels.guided_filter(
            frame_ptr, buffers.frame_pitch, buffers.format, mask, height, width, plan,
            scratch.ptr, mask,
        )  # fmt: skip
    if settings.feather > 0:
        rows, cols = feather_filters(buffers, settings.feather)
        cols.along_rows(kernels, mask, height, width, 1, width, buffers.scratch_a.ptr)
        rows.along_columns(
            kernels, buffers.scratch_a.ptr, height, width, 1, height, buffers.scratch_b.ptr
        )
        mask = buffers.scratch_b.ptr
    has_previous = (
        not motion
        and buffers.has_state
        and not buffers.restart_smoothing
        and settings.smoothing > 0
    )
    kernels.smooth_mask(mask, height * width, settings.smoothing, has_previous, buffers.state.ptr)
    buffers.has_state = True
    buffers.has_ids = parts
    buffers.restart_smoothing = False
