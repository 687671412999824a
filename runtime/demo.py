"""The built-in synthetic clip: a real photo of a person moving across a frame of any size.

Used by `bodypix bench` and as the live pipeline's `demo://` source. The photo (skimage's
astronaut, NASA, public domain) ships in runtime/assets so no dev dependency is needed.
"""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np

from core.arrays import U8

PHOTO = Path(__file__).with_name("assets") / "astronaut.jpg"
PERIOD_FRAMES = 240  # one left-right-left sweep


class DemoClip:
    """`DemoClip(width, height).frame(index) -> BGR uint8 [height, width, 3]`, deterministic."""

    def __init__(self, width: int, height: int) -> None:
        if width < 16 or height < 16:
            raise ValueError(f"demo clip size {width}x{height} is too small (min 16x16)")
        self.width, self.height = width, height
        photo = cv2.imread(str(PHOTO), cv2.IMREAD_COLOR)
        if photo is None:
            raise FileNotFoundError(f"demo photo missing: {PHOTO}")
        side = max(8, min(height * 9 // 10, width * 9 // 10))
        self._photo = np.asarray(
            cv2.resize(photo, (side, side), interpolation=cv2.INTER_AREA), dtype=np.uint8
        )
        # A quiet backdrop: vertical gradient with a soft diagonal pattern.
        y = np.linspace(0, 1, height, dtype=np.float32)[:, None]
        x = np.linspace(0, 1, width, dtype=np.float32)[None, :]
        stripes = 0.5 + 0.5 * np.sin((x * 7 + y * 4) * math.pi)
        ones = np.ones((height, width), dtype=np.float32)
        channels = [150 + 60 * y + 20 * stripes, (120 + 40 * x) * ones, (90 + 50 * (1 - y)) * ones]
        base = np.stack(channels, axis=-1)
        self._backdrop: U8 = np.clip(base, 0, 255).astype(np.uint8)

    def frame(self, index: int) -> U8:
        """Frame `index`: the photo slides horizontally and bobs slightly, looping."""
        out = self._backdrop.copy()
        side = self._photo.shape[0]
        phase = 2 * math.pi * (index % PERIOD_FRAMES) / PERIOD_FRAMES
        travel = self.width - side
        left = round(travel * (0.5 - 0.5 * math.cos(phase)))
        top = self.height - side - round(0.03 * self.height * (1 + math.sin(2 * phase)))
        top = max(0, top)
        out[top : top + side, left : left + side] = self._photo[: self.height - top]
        return out
