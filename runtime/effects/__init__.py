"""Compositing effects (NumPy/OpenCV), one module each, following body-pix's output rendering.

`Compositor` applies the effect chosen in `Settings` to a BGR uint8 frame and its mask.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from runtime.effects.blur import bokeh
from runtime.effects.common import F32, U8, css_blur, flip_horizontal
from runtime.effects.mask_overlay import draw_mask
from runtime.effects.parts import blur_body_parts, draw_colored_parts
from runtime.effects.replace import Background, replace
from runtime.settings import Settings

__all__ = ["Background", "Compositor", "css_blur"]


class Compositor:
    """Applies `settings.effect` (blur, replace, mask, parts, none) and `flip_horizontal`."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._background: Background | None = None
        self._background_key: str | None = None

    @property
    def needs_parts(self) -> bool:
        return self.settings.effect == "parts"

    def update_settings(self, settings: Settings) -> None:
        """New settings for the next frame (safe while another thread composites)."""
        self.settings = settings
        if settings.background != self._background_key:
            # Dropped, not closed: a compositing thread may still be reading it; the capture
            # is released when the last reference goes.
            self._background = None

    def background(self, height: int, width: int) -> U8:
        """The replacement background for the next frame, (height, width)."""
        background = self._background
        if background is None:
            key = self.settings.background
            background = self._background = Background(key)
            self._background_key = key
        return background.frame(height, width)

    def composite(self, frame: U8, mask: F32, part_ids: npt.NDArray[np.int8] | None) -> U8:
        s = self.settings
        if s.effect == "blur":
            out = bokeh(frame, mask, s.background_blur_amount, s.edge_blur_amount)
        elif s.effect == "replace":
            h, w = frame.shape[:2]
            out = replace(frame, mask, self.background(h, w), s.edge_blur_amount)
        elif s.effect == "mask":
            m = s.mask
            out = draw_mask(
                frame, mask, m.foreground_color, m.background_color, m.opacity, m.mask_blur_amount
            )
        elif s.effect == "parts":
            out = frame
            # No part ids when the mask predates the switch to 'parts': plain frame this once.
            if part_ids is not None:
                if s.parts.face_blur:
                    out = blur_body_parts(out, part_ids, s.parts.face_blur_amount)
                out = draw_colored_parts(
                    out, part_ids, s.parts.opacity, no_part=s.parts.no_part_color
                )
        else:
            out = frame
        return flip_horizontal(out) if s.flip_horizontal else out

    def close(self) -> None:
        if self._background is not None:
            self._background.close()
            self._background = None
