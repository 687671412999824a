"""Body-part colours and face blur: body-pix's `toColoredPartMask` + `drawMask`, `blurBodyPart`."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
import numpy.typing as npt

from runtime.effects.common import U8, blend, css_blur

# body-pix's default palette (RGB), one colour per part id 0-23.
RAINBOW_PART_COLORS: tuple[tuple[int, int, int], ...] = (
    (110, 64, 170), (143, 61, 178), (178, 60, 178), (210, 62, 167),
    (238, 67, 149), (255, 78, 125), (255, 94, 99), (255, 115, 75),
    (255, 140, 56), (239, 167, 47), (217, 194, 49), (194, 219, 64),
    (175, 240, 91), (135, 245, 87), (96, 247, 96), (64, 243, 115),
    (40, 234, 141), (28, 219, 169), (26, 199, 194), (33, 176, 213),
    (47, 150, 224), (65, 125, 224), (84, 101, 214), (99, 81, 195),
)  # fmt: skip
FACE_PARTS = (0, 1)  # left_face, right_face


def draw_colored_parts(
    frame: U8,
    ids: npt.NDArray[np.int8],
    opacity: float,
    palette: Sequence[tuple[int, int, int]] = RAINBOW_PART_COLORS,
) -> U8:
    """`drawMask(toColoredPartMask(parts, palette), opacity)`: -1 is transparent."""
    # Row 0 is "no part"; the palette is RGB, frames are BGR.
    lut = np.zeros((len(palette) + 1, 3), dtype=np.uint8)
    lut[1:] = np.asarray(palette, dtype=np.uint8)[:, ::-1]
    color = np.take(lut, ids.astype(np.intp) + 1, axis=0)
    mixed = cv2.addWeighted(frame, 1.0 - opacity, color, opacity, 0.0)
    out = frame.copy()
    np.copyto(out, mixed, where=(ids >= 0)[:, :, None])
    return out


def blur_body_parts(
    frame: U8,
    ids: npt.NDArray[np.int8],
    blur_amount: int,
    edge_blur_amount: int = 3,
    parts: Sequence[int] = FACE_PARTS,
) -> U8:
    """`blurBodyPart`: the listed parts (default the face) blurred, the rest kept sharp."""
    keep = (~np.isin(ids, parts)).astype(np.float32)
    keep = css_blur(keep, edge_blur_amount)
    return blend(frame, css_blur(frame, blur_amount), keep)
