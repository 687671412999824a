"""Blur taps for the separable blur kernel, read off the CPU reference's own filter.

The CPU effects blur with OpenCV (sizes and sigmas chosen in runtime/mask.py and
runtime/effects). Rather than re-deriving OpenCV's kernel-size rules here, the taps are
measured: the reference filter is applied to a unit impulse, and for a separable symmetric
filter the centre row of the response is the 1-D kernel scaled by its centre tap.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

F32 = npt.NDArray[np.float32]
# Taps below this fraction of the largest are dropped (OpenCV's float kernels reach ~1e-9).
NEGLIGIBLE = 1e-7


@dataclass(frozen=True)
class BlurTaps:
    """A symmetric 1-D kernel of 2 * radius + 1 taps, summing to 1."""

    taps: F32

    @property
    def radius(self) -> int:
        return (int(self.taps.shape[0]) - 1) // 2

    @property
    def is_identity(self) -> bool:
        return self.radius == 0


IDENTITY = BlurTaps(np.ones(1, np.float32))


def measure_taps(blur: Callable[[F32], F32], max_radius: int = 256) -> BlurTaps:
    """The 1-D kernel of a separable 2-D blur `blur(image) -> image` (float32, one channel)."""
    size = 2 * max_radius + 1
    impulse = np.zeros((size, size), np.float32)
    impulse[max_radius, max_radius] = 1.0
    response = np.asarray(blur(impulse), dtype=np.float64)
    row = response[max_radius]
    kernel = row / row.sum()
    significant = np.nonzero(kernel > NEGLIGIBLE * kernel.max())[0]
    radius = int(max(max_radius - significant[0], significant[-1] - max_radius))
    if radius >= max_radius:
        raise ValueError(f"blur is wider than {max_radius} pixels each side")
    taps = kernel[max_radius - radius : max_radius + radius + 1]
    return BlurTaps((taps / taps.sum()).astype(np.float32))
