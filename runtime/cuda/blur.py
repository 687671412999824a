"""`css_blur` on the GPU (the twin of runtime/effects/common.py `css_blur`): shrink, Gaussian at
the reduced size, enlarge, as separable passes of blur.cu's `filter_axis` whose weights are
measured off the CPU function's own OpenCV calls (runtime/cuda/operators.py)."""

from __future__ import annotations

from functools import lru_cache

from runtime.cuda.buffers import DeviceBuffer, FrameBuffers, identity_table
from runtime.cuda.kernels import Kernels
from runtime.cuda.operators import AxisFilter, CssBlurFilters, css_blur_filters


@lru_cache(maxsize=32)
def cached_css_blur_filters(height: int, width: int, sigma: float) -> CssBlurFilters:
    return css_blur_filters(height, width, sigma)


class DeviceFilter:
    """An AxisFilter uploaded once: start indices and weights in device memory."""

    def __init__(self, buffers: FrameBuffers, axis_filter: AxisFilter) -> None:
        self.taps = axis_filter.taps
        self.start: DeviceBuffer = buffers.upload_table(axis_filter.start)
        self.weights: DeviceBuffer = buffers.upload_table(axis_filter.weights)

    def along_rows(
        self, kernels: Kernels, source: int, height: int, width: int, channels: int, out_len: int,
        out: int,
    ) -> None:  # fmt: skip
        kernels.filter_axis(
            source, height, width, channels, self.start.ptr, self.weights.ptr, self.taps,
            out_len, 1, out,
        )  # fmt: skip

    def along_columns(
        self, kernels: Kernels, source: int, height: int, width: int, channels: int, out_len: int,
        out: int,
    ) -> None:  # fmt: skip
        kernels.filter_axis(
            source, height, width, channels, self.start.ptr, self.weights.ptr, self.taps,
            out_len, 0, out,
        )  # fmt: skip


class CssBlur:
    """`css_blur` of a frame-sized image: shrink and blur into a small image; then either the
    compositing kernel enlarges it on the fly (frames) or `enlarge_mask` does (masks)."""

    def __init__(self, buffers: FrameBuffers, sigma: float) -> None:
        height, width = buffers.geometry.frame_size
        filters = cached_css_blur_filters(height, width, sigma)
        self.height, self.width = height, width
        self.small_height, self.small_width = filters.small_size
        self.shrink = (
            tuple(DeviceFilter(buffers, axis) for axis in filters.shrink)
            if filters.shrink
            else None
        )
        self.blur = tuple(DeviceFilter(buffers, axis) for axis in filters.blur)
        self.enlarge = (
            tuple(DeviceFilter(buffers, axis) for axis in filters.enlarge)
            if filters.enlarge
            else None
        )
        if filters.enlarge is not None:
            rows, cols = (axis.as_resample_table() for axis in filters.enlarge)
        else:  # factor 1: the blurred image is already frame-sized
            rows, cols = identity_table(height), identity_table(width)
        self.up_rows, self.up_cols = buffers.upload_table(rows), buffers.upload_table(cols)

    @staticmethod
    def of(buffers: FrameBuffers, sigma: float) -> CssBlur:
        """The passes for this frame size and sigma, uploaded on first use."""
        key = ("css_blur", sigma)
        if key not in buffers.filters:
            buffers.filters[key] = CssBlur(buffers, sigma)
        blur: CssBlur = buffers.filters[key]
        return blur

    def shrink_and_blur(
        self,
        kernels: Kernels,
        channels: int,
        source: int,
        out_small: int,
        scratch_a: int,
        scratch_b: int,
        frame: tuple[int, int, str] | None = None,
    ) -> None:
        """Blur `source` ([h, w, channels] float; or, when `frame` = (pointer, pitch, format)
        is given, the uint8 camera frame itself) into `out_small` ([small_h, small_w,
        channels]); each scratch buffer holds h * w * channels floats."""
        height, width = self.height, self.width
        small_height, small_width = self.small_height, self.small_width
        first_pass = True

        def along_rows(
            axis_filter: DeviceFilter, src: int, in_h: int, in_w: int, out_len: int, dst: int
        ) -> None:
            nonlocal first_pass
            if frame is not None and first_pass:  # the first pass reads the uint8 frame
                pointer, pitch, frame_format = frame
                kernels.filter_frame_rows(
                    pointer, pitch, frame_format, in_h, axis_filter.start.ptr,
                    axis_filter.weights.ptr, axis_filter.taps, out_len, dst,
                )  # fmt: skip
            else:
                axis_filter.along_rows(kernels, src, in_h, in_w, channels, out_len, dst)
            first_pass = False

        current = source
        if self.shrink is not None:  # INTER_AREA shrink: along rows, then along columns
            along_rows(self.shrink[1], current, height, width, small_width, scratch_a)
            self.shrink[0].along_columns(
                kernels, scratch_a, height, small_width, channels, small_height, scratch_b
            )
            current = scratch_b
        # The Gaussian at the reduced size.
        along_rows(self.blur[1], current, small_height, small_width, small_width, scratch_a)
        self.blur[0].along_columns(
            kernels, scratch_a, small_height, small_width, channels, small_height, out_small
        )

    def enlarge_mask(self, kernels: Kernels, small: int, scratch: int, out: int) -> None:
        """The linear enlargement of a 1-channel blurred mask back to h x w."""
        if self.enlarge is None:
            raise ValueError("nothing to enlarge at factor 1")
        rows, cols = self.enlarge
        cols.along_rows(kernels, small, self.small_height, self.small_width, 1, self.width, scratch)
        rows.along_columns(kernels, scratch, self.small_height, self.width, 1, self.height, out)

    def blur_mask(self, kernels: Kernels, buffers: FrameBuffers, source: int, out: int) -> int:
        """`css_blur(mask)` of a 1-channel frame-sized float image into `out`."""
        scratch_a, scratch_b = buffers.scratch_a.ptr, buffers.scratch_b.ptr
        if self.enlarge is None:
            self.shrink_and_blur(kernels, 1, source, out, scratch_a, scratch_b)
        else:
            self.shrink_and_blur(kernels, 1, source, buffers.blurred.ptr, scratch_a, scratch_b)
            self.enlarge_mask(kernels, buffers.blurred.ptr, scratch_a, out)
        return out
