"""Compositing effects on synthetic frames with a known mask (no model needed)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from runtime.demo import DemoClip
from runtime.effects import Compositor
from runtime.effects.common import css_blur
from runtime.effects.parts import RAINBOW_PART_COLORS, body_part_keep, contour_rim
from runtime.images import scale_to_cover
from runtime.settings import Settings

H, W = 120, 160


@pytest.fixture()
def frame() -> np.ndarray:
    return DemoClip(W, H).frame(10)


@pytest.fixture()
def mask() -> np.ndarray:
    m = np.zeros((H, W), np.float32)
    m[20:100, 40:90] = 1.0  # the "person"
    return m


def test_blur_keeps_the_person_sharp_and_blurs_the_rest(frame, mask) -> None:
    out = Compositor(Settings(effect="blur", background_blur_amount=8, edge_blur_amount=0))
    image = out.composite(frame, mask, None)
    assert np.array_equal(image[30:90, 50:80], frame[30:90, 50:80])
    background = np.s_[:, 110:]
    assert np.abs(image[background].astype(int) - frame[background]).mean() > 2
    assert image[background].std() < frame[background].std()


def test_reduced_resolution_blur_looks_like_a_full_gaussian(frame) -> None:
    for sigma in (4, 10, 20):
        full = cv2.GaussianBlur(frame, (0, 0), sigma, borderType=cv2.BORDER_REFLECT)
        fast = css_blur(frame, sigma)
        inner = np.s_[2 * sigma : -2 * sigma, 2 * sigma : -2 * sigma]
        assert np.abs(fast[inner].astype(int) - full[inner]).mean() < 1.5, sigma


def test_replace_scales_the_background_to_cover_without_distortion(tmp_path: Path, frame, mask):
    # A 400x100 picture with a circle: scaled to cover 160x120 it must stay a circle.
    picture = np.zeros((100, 400, 3), np.uint8)
    cv2.circle(picture, (200, 50), 40, (0, 0, 255), -1)
    covered = scale_to_cover(picture, H, W)
    assert covered.shape == (H, W, 3)
    red = covered[:, :, 2] > 128
    ys, xs = np.nonzero(red)
    assert abs((ys.max() - ys.min()) - (xs.max() - xs.min())) <= 2

    cv2.imwrite(str(tmp_path / "bg.png"), picture)
    out = Compositor(
        Settings(effect="replace", background=str(tmp_path / "bg.png"), edge_blur_amount=0)
    )
    image = out.composite(frame, mask, None)
    assert np.array_equal(image[mask > 0], frame[mask > 0])
    assert np.array_equal(image[mask == 0], covered[mask == 0])


def test_replace_loops_a_video_background(tmp_path: Path, frame, mask) -> None:
    path = tmp_path / "bg.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), 10, (W, H))
    for value in (0, 250):
        writer.write(np.full((H, W, 3), value, np.uint8))
    writer.release()
    out = Compositor(Settings(effect="replace", background=str(path), edge_blur_amount=0))
    corners = [int(out.composite(frame, mask, None)[0, 0, 0]) for _ in range(4)]
    assert corners[0] < 10 and corners[1] > 240 and corners[2] < 10 and corners[3] > 240
    out.close()


def test_mask_draws_the_colours_with_opacity(frame, mask) -> None:
    settings = Settings(effect="mask")
    settings.mask.background_color = (255, 0, 0, 255)  # RGB red, opaque
    settings.mask.opacity = 0.5
    image = Compositor(settings).composite(frame, mask, None).astype(int)
    # Person: foreground (0,0,0,0) is transparent -> unchanged; background: halfway to red.
    assert np.abs(image[mask > 0] - frame[mask > 0]).max() <= 1
    expected_red = (frame[mask == 0][:, 2].astype(int) + 255) / 2
    assert np.abs(image[mask == 0][:, 2] - expected_red).max() <= 1


def test_parts_use_the_rainbow_palette_and_face_blur(frame) -> None:
    ids = np.full((H, W), -1, np.int8)
    ids[20:60, 40:90] = 0
    ids[60:100, 40:90] = 12
    settings = Settings(effect="parts")
    settings.parts.opacity = 1.0
    image = Compositor(settings).composite(frame, (ids >= 0).astype(np.float32), ids)
    assert tuple(image[80, 60][::-1]) == RAINBOW_PART_COLORS[12]
    assert tuple(image[40, 60][::-1]) == RAINBOW_PART_COLORS[0]
    # body-pix paints pixels with no part opaque white; (0,0,0,0) keeps the frame there.
    assert (image[ids < 0] == 255).all()
    settings.parts.opacity = 0.7
    settings.parts.no_part_color = (0, 0, 0, 0)
    untouched = Compositor(settings).composite(frame, (ids >= 0).astype(np.float32), ids)
    assert np.array_equal(untouched[ids < 0], frame[ids < 0])
    settings.parts.no_part_color = (255, 255, 255, 255)
    official = Compositor(settings).composite(frame, (ids >= 0).astype(np.float32), ids)
    expected = 0.3 * frame[ids < 0].astype(float) + 0.7 * 255
    assert np.abs(official[ids < 0] - expected).max() <= 1

    settings.parts.opacity = 0.0
    settings.parts.no_part_color = (0, 0, 0, 0)
    settings.parts.face_blur = True
    settings.parts.face_blur_amount = 6
    blurred = Compositor(settings).composite(frame, (ids >= 0).astype(np.float32), ids)
    assert not np.array_equal(blurred[25:55, 45:85], frame[25:55, 45:85])
    assert np.array_equal(blurred[:, 120:], frame[:, 120:])


@pytest.mark.parametrize("effect", ["blur", "mask", "parts", "none"])
def test_flip_mirrors_every_effect(frame, mask, effect) -> None:
    ids = np.where(mask > 0, 3, -1).astype(np.int8)
    plain = Compositor(Settings(effect=effect)).composite(frame, mask, ids)
    flipped = Compositor(Settings(effect=effect, flip_horizontal=True)).composite(frame, mask, ids)
    assert np.array_equal(flipped, plain[:, ::-1])


def test_none_passes_the_frame_through(frame, mask) -> None:
    assert np.array_equal(Compositor(Settings(effect="none")).composite(frame, mask, None), frame)


def test_face_blur_keeps_the_contour_rim_sharp() -> None:
    """toMask(drawContour=true): pixels whose lower diagonal neighbour is on the face's boundary
    stay sharp: for a square face, the row above it, its second-to-last row and one column inside
    each side, but not its bottom row (strokes into the next row are overwritten)."""
    face = np.zeros((12, 12), bool)
    face[3:9, 3:9] = True
    rim = contour_rim(face)
    assert rim[2, 2:10].all() and rim[7, 2:10].all()
    assert rim[3:7, 4].all() and rim[3:7, 7].all()
    assert not rim[8:, :].any() and not rim[3:7, 5:7].any()
    keep = body_part_keep(np.where(face, 0, -1).astype(np.int8))
    assert keep[4, 4] == 1 and keep[5, 5] == 0 and keep[8, 5] == 0 and keep[0, 0] == 1
