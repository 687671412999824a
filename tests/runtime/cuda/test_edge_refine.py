"""The guided-filter kernels (runtime/cuda/edge_refine.cu) against the CPU guided filter.

Runs on every executor of the folder's conftest: the host executor (the .cu built with g++ and
looped over the grid) always, the GPU through pycuda where one exists.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from runtime.cuda.device import Device
from runtime.edge_refine import guided_filter, guided_plan

pytestmark = [pytest.mark.cuda]


def _blocky_mask(h: int, w: int) -> np.ndarray:
    """A BodyPix-like mask: a blob at stride 16, enlarged bilinearly and thresholded."""
    ny, nx = -(-h // 16), -(-w // 16)
    yy, xx = np.mgrid[0:ny, 0:nx].astype(np.float32)
    blob = np.exp(-(((yy - yy.mean()) / (0.35 * ny)) ** 2 + ((xx - xx.mean()) / (0.3 * nx)) ** 2))
    big = cv2.resize(blob, (w, h), interpolation=cv2.INTER_LINEAR)
    return (big > 0.5).astype(np.float32)


@pytest.mark.parametrize(
    ("size", "radius", "eps"),
    [((512, 512), 8, 1e-4), ((301, 413), 8, 1e-3), ((120, 90), 3, 1e-2), ((64, 80), 1, 1e-3)],
)
def test_guided_filter_kernels_match_the_cpu(
    pinned_device: Device, astronaut: np.ndarray, size: tuple[int, int], radius: int, eps: float
) -> None:
    from runtime.cuda.edge_refine import GuidedFilterKernels, scratch_bytes

    h, w = size
    frame = np.ascontiguousarray(cv2.resize(astronaut, (w, h))[:, :, ::-1], dtype=np.uint8)
    mask = _blocky_mask(h, w)
    want = guided_filter(frame, mask, radius, eps)
    plan = guided_plan(h, w, radius, eps)
    kernels = GuidedFilterKernels(pinned_device)
    got = np.empty((h, w), np.float32)
    with pinned_device.active():
        buffers = [
            pinned_device.mem_alloc(n) for n in (frame.nbytes, mask.nbytes, scratch_bytes(plan))
        ]
        try:
            frame_buf, mask_buf, scratch = buffers
            pinned_device.memcpy_htod(frame_buf.ptr, frame)
            pinned_device.memcpy_htod(mask_buf.ptr, mask)
            kernels.run(
                frame_buf.ptr, w * 3, "BGR", mask_buf.ptr, h, w, plan, scratch.ptr, mask_buf.ptr
            )
            pinned_device.synchronize()
            pinned_device.memcpy_dtoh(got, mask_buf.ptr)
        finally:
            for buffer in buffers:
                buffer.free()
    diff = np.abs(got - want)
    print(f"{w}x{h} r={radius} eps={eps}: max |diff| {diff.max():.2e}, mean {diff.mean():.2e}")
    # Float sums in another order than OpenCV's box filter: far under one level of 255.
    assert diff.max() <= 5e-4, diff.max()
    assert diff.mean() <= 1e-5, diff.mean()
    assert ((want > 0.02) & (want < 0.98)).any()  # the filter did soften the edge
