"""Body-part colours and face blur: body-pix's `toColoredPartMask` + `drawMask`, `blurBodyPart`.

Both follow the official 2.2.1 rendering (checked in headless Chromium by
tests/runtime/test_official_renderers.py): pixels with no part are painted opaque white, so at
opacity 0.7 the background becomes 0.3 * frame + 0.7 * 255; the face-blur mask is `toMask(...,
drawContour=true)`, which keeps a rim of face pixels sharp.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
import numpy.typing as npt

from runtime.effects.common import F32, U8, blend, css_blur, overlay

RGBA = tuple[int, int, int, int]
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
# toColoredPartMask paints pixels without a part opaque white; (0, 0, 0, 0) leaves them untouched.
OFFICIAL_NO_PART_COLOR: RGBA = (255, 255, 255, 255)


def part_color_table(
    palette: Sequence[tuple[int, int, int]] = RAINBOW_PART_COLORS,
    no_part: RGBA = OFFICIAL_NO_PART_COLOR,
) -> tuple[F32, F32]:
    """(premultiplied BGR [25, 3], alpha [25]) indexed by part id + 1 (row 0: no part).

    The one table of part colours: the CPU path gathers from it, the CUDA path uploads it.
    """
    color = np.empty((len(palette) + 1, 3), dtype=np.float32)
    alpha = np.ones(len(palette) + 1, dtype=np.float32)
    alpha[0] = no_part[3] / 255.0
    color[0] = np.asarray(no_part[2::-1], dtype=np.float32) * alpha[0]
    color[1:] = np.asarray(palette, dtype=np.float32)[:, ::-1]
    return color, alpha


def draw_colored_parts(
    frame: U8,
    ids: npt.NDArray[np.int8],
    opacity: float,
    palette: Sequence[tuple[int, int, int]] = RAINBOW_PART_COLORS,
    no_part: RGBA = OFFICIAL_NO_PART_COLOR,
) -> U8:
    """`drawMask(toColoredPartMask(parts, palette), opacity)`, `no_part` where ids are -1."""
    color, alpha = part_color_table(palette, no_part)
    index = ids.astype(np.intp) + 1
    if no_part[3] == 255:
        # Every pixel opaque: one weighted sum (as the canvas does it, in 8 bits).
        layer = np.take(color.astype(np.uint8), index, axis=0)
        return np.asarray(cv2.addWeighted(frame, 1.0 - opacity, layer, opacity, 0.0), np.uint8)
    if no_part[3] == 0:
        # No-part pixels transparent: mix only where there is a part.
        layer = np.take(color.astype(np.uint8), index, axis=0)
        mixed = cv2.addWeighted(frame, 1.0 - opacity, layer, opacity, 0.0)
        out = frame.copy()
        np.copyto(out, mixed, where=(ids >= 0)[:, :, None])
        return out
    return overlay(frame, np.take(color, index, axis=0), np.take(alpha, index), opacity)


def contour_rim(selected: npt.NDArray[np.bool_]) -> npt.NDArray[np.bool_]:
    """The pixels `toMask(..., drawContour=true)` leaves painted with its contour colour.

    body-pix marks a selected pixel (not on the picture's border) as a boundary when one of its
    four diagonal neighbours is not selected, and strokes that pixel's four diagonal
    neighbours. It writes pixels in raster order, so strokes into the next row are overwritten
    when that row is drawn: what remains are the pixels whose lower-left or lower-right
    neighbour is a boundary pixel (mostly a 1 px rim inside and outside the selection).
    """
    h, w = selected.shape
    boundary = np.zeros_like(selected)
    if h < 3 or w < 3:
        return boundary
    other = ~selected
    diagonal_other = other[:-2, :-2] | other[:-2, 2:] | other[2:, :-2] | other[2:, 2:]
    boundary[1:-1, 1:-1] = selected[1:-1, 1:-1] & diagonal_other
    rim = np.zeros_like(selected)
    rim[:-1, 1:] |= boundary[1:, :-1]  # stroke (-1, +1) of the pixel below-left
    rim[:-1, :-1] |= boundary[1:, 1:]  # stroke (-1, -1) of the pixel below-right
    return rim


def body_part_keep(ids: npt.NDArray[np.int8], parts: Sequence[int] = FACE_PARTS) -> F32:
    """`createBodyPartMask` before its blur: 1 where the frame stays sharp, 0 on the parts.

    The listed parts are transparent in body-pix's mask, the rest and the contour rim opaque.
    """
    selected = np.isin(ids, parts)
    keep = ~selected | contour_rim(selected)
    return keep.astype(np.float32)


def blur_body_parts(
    frame: U8,
    ids: npt.NDArray[np.int8],
    blur_amount: int,
    edge_blur_amount: int = 3,
    parts: Sequence[int] = FACE_PARTS,
) -> U8:
    """`blurBodyPart`: the listed parts (default the face) blurred, the rest kept sharp."""
    keep = css_blur(body_part_keep(ids, parts), edge_blur_amount)
    return blend(frame, css_blur(frame, blur_amount), keep)
