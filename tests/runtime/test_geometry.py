"""runtime.geometry against the official library's numbers and TF.js's op definitions."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from core.errors import UserError
from runtime.geometry import (
    Padding,
    crop_box,
    frame_geometry,
    input_size_for,
    internal_resolution_percentage,
    js_round,
    padding_for,
)
from runtime.resample import resample

MANIFEST = Path(__file__).resolve().parents[1] / "fixtures" / "reference" / "manifest.json"


def _cases() -> list[dict]:
    return list(json.loads(MANIFEST.read_text())["cases"])


@pytest.mark.parametrize("case", _cases(), ids=lambda c: c["mask"])
def test_sizes_and_padding_match_body_pix(case: dict) -> None:
    stride = 8 if case["variant"].endswith("stride8") else 16
    g = frame_geometry(case["height"], case["width"], case["internal_resolution"], stride)
    assert list(g.input_size) == case["input_size"]
    p = case["padding"]
    assert g.padding == Padding(p["top"], p["bottom"], p["left"], p["right"])


def test_internal_resolution_names_and_range() -> None:
    assert [internal_resolution_percentage(n) for n in ("low", "medium", "high", "full")] == [
        0.25,
        0.5,
        0.75,
        1.0,
    ]
    assert internal_resolution_percentage(1.7) == 1.7
    for bad in ("huge", 0.05, 2.5):
        with pytest.raises(UserError):
            internal_resolution_percentage(bad)


def test_input_size_rounds_like_to_valid_input_resolution() -> None:
    # 720 * 0.5 = 360 -> floor(360 / 16) * 16 + 1 = 353; 640 -> 641; already valid stays.
    assert input_size_for(720, 1280, "medium", 16) == (353, 641)
    assert input_size_for(720, 1280, "medium", 8) == (361, 641)
    assert input_size_for(514, 514, "medium", 16) == (257, 257)
    assert input_size_for(3, 3, 0.1, 16) == (1, 1)


def test_js_round_rounds_halves_up() -> None:
    assert [js_round(v) for v in (0.5, 1.5, 2.5, -0.5, 2.4999)] == [1, 2, 3, 0, 2]
    # Frame 100x101 into a square model: 0.5 excess per side rounds up to 1, not to even 0.
    assert padding_for(100, 101, 257, 257) == Padding(1, 1, 0, 0)


def _tfjs_resize_bilinear(img: np.ndarray, out_h: int, out_w: int, align: bool) -> np.ndarray:
    """TF.js CPU `resizeBilinear` (halfPixelCenters=false), transcribed, in doubles."""
    in_h, in_w = img.shape
    rr = (in_h - 1 if align and out_h > 1 else in_h) / (out_h - 1 if align and out_h > 1 else out_h)
    cr = (in_w - 1 if align and out_w > 1 else in_w) / (out_w - 1 if align and out_w > 1 else out_w)
    out = np.zeros((out_h, out_w))
    for r in range(out_h):
        fr = rr * r
        r0, r1 = max(0, math.floor(fr)), min(in_h - 1, math.ceil(fr))
        for c in range(out_w):
            fc = cr * c
            c0, c1 = max(0, math.floor(fc)), min(in_w - 1, math.ceil(fc))
            top = img[r0, c0] + (img[r0, c1] - img[r0, c0]) * (fc - c0)
            bottom = img[r1, c0] + (img[r1, c1] - img[r1, c0]) * (fc - c0)
            out[r, c] = top + (bottom - top) * (fr - r0)
    return out


def _tfjs_crop_and_resize(img: np.ndarray, box: tuple, out_h: int, out_w: int) -> np.ndarray:
    """TF.js CPU `cropAndResize` (bilinear, extrapolation 0), transcribed, in doubles."""
    y1, x1, y2, x2 = (float(np.float32(v)) for v in box)
    h, w = img.shape
    hs = (y2 - y1) * (h - 1) / (out_h - 1)
    ws = (x2 - x1) * (w - 1) / (out_w - 1)
    out = np.zeros((out_h, out_w))
    for y in range(out_h):
        yi = y1 * (h - 1) + y * hs
        if yi < 0 or yi > h - 1:
            continue
        t, b = math.floor(yi), math.ceil(yi)
        for x in range(out_w):
            xi = x1 * (w - 1) + x * ws
            if xi < 0 or xi > w - 1:
                continue
            le, ri = math.floor(xi), math.ceil(xi)
            top = img[t, le] + (img[t, ri] - img[t, le]) * (xi - le)
            bottom = img[b, le] + (img[b, ri] - img[b, le]) * (xi - le)
            out[y, x] = top + (bottom - top) * (yi - t)
    return out


@pytest.mark.parametrize(
    ("frame", "resolution", "stride"),
    [((37, 53), 0.7, 8), ((60, 31), "full", 16), ((45, 45), 1.3, 8)],
)
def test_sampling_plans_equal_the_tfjs_ops(frame: tuple[int, int], resolution, stride) -> None:
    rng = np.random.default_rng(1)
    h, w = frame
    g = frame_geometry(h, w, resolution, stride)
    image = rng.integers(0, 256, (h, w)).astype(np.float64)
    p = g.padding
    padded = np.pad(image, ((p.top, p.bottom), (p.left, p.right)))
    want = _tfjs_resize_bilinear(padded, *g.input_size, align=False)
    np.testing.assert_allclose(resample(image, *g.preprocess()), want, atol=2e-4)

    logits = rng.normal(0, 4, g.logits_size)
    up = _tfjs_resize_bilinear(logits, *g.input_size, align=True)
    np.testing.assert_allclose(resample(logits, *g.logits_upsampling()), up, atol=2e-5)

    b = crop_box(h, w, p)
    cropped = _tfjs_crop_and_resize(up, (b.y1, b.x1, b.y2, b.x2), h, w)
    got = resample(up, *g.crop())
    np.testing.assert_allclose(got, cropped, atol=2e-5)
    # Where TF extrapolates (a rounded box edge past the last row/column), both give exactly 0.
    assert np.array_equal(got == 0, cropped == 0)
