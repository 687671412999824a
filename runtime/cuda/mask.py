"""From logits to the person mask and part ids on the GPU: the twin of runtime/mask.py.

    scores = crop(sigmoid(upsample(logits)))     runtime.mask.person_scores   upsample_sigmoid
    mask   = scores > threshold                  runtime.mask.threshold       mask_threshold
    ids    = argmax parts where mask             runtime.mask.part_ids        part_ids
    mask   = smooth(feather(mask))               runtime.mask.feather,        filter_axis,
                                                 MaskRefiner.smooth           smooth_mask

The resample tables come from runtime.geometry (tables.py), the feather passes are measured
off `runtime.mask.feather` itself (operators.py); the kernels are in mask.cu beside this file.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from convert.errors import UserError
from runtime.cuda.blur import DeviceFilter
from runtime.cuda.buffers import FrameBuffers
from runtime.cuda.kernels import Kernels
from runtime.cuda.operators import AxisFilter, measure
from runtime.mask import NUM_PARTS, feather
from runtime.settings import Settings


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


def make_mask(
    kernels: Kernels, buffers: FrameBuffers, logits: DeviceLogits, settings: Settings, parts: bool
) -> None:
    """scores -> threshold -> (part ids) -> feather -> smoothing, into buffers.state."""
    geometry = buffers.geometry
    height, width = geometry.frame_size
    input_h, input_w = geometry.input_size
    logits_w = geometry.logits_size[1]
    threshold = settings.segmentation_threshold
    kernels.upsample_sigmoid(
        logits.segments, logits.fp16, logits_w, 1, buffers.upsample_rows.ptr,
        buffers.upsample_cols.ptr, input_h, input_w, buffers.prob.ptr,
    )  # fmt: skip
    kernels.mask_threshold(
        buffers.prob.ptr, input_w, buffers.crop_rows.ptr, buffers.crop_cols.ptr, height, width,
        threshold, buffers.mask.ptr,
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
    if settings.feather > 0:
        rows, cols = feather_filters(buffers, settings.feather)
        cols.along_rows(kernels, mask, height, width, 1, width, buffers.scratch_a.ptr)
        rows.along_columns(
            kernels, buffers.scratch_a.ptr, height, width, 1, height, buffers.scratch_b.ptr
        )
        mask = buffers.scratch_b.ptr
    has_previous = buffers.has_state and not buffers.restart_smoothing and settings.smoothing > 0
    kernels.smooth_mask(mask, height * width, settings.smoothing, has_previous, buffers.state.ptr)
    buffers.has_state = True
    buffers.has_ids = parts
    buffers.restart_smoothing = False
