"""The numbers the kernels are given reproduce the CPU reference (runs without a GPU).

The kernels only apply per-axis tables and filters; these tests apply the very same tables
with NumPy, in the kernels' order of operations, and compare with the CPU modules.
"""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from core.arrays import F32
from runtime.cuda.device import choose_memory_mode
from runtime.cuda.operators import AxisFilter, css_blur_filters, measure
from runtime.cuda.tables import Table, tables_from_sampling
from runtime.effects.common import css_blur
from runtime.geometry import frame_geometry
from runtime.mask import feather
from runtime.resample import preprocess, sigmoid


def apply_tables(src: np.ndarray, rows: Table, cols: Table) -> F32:
    """What preprocess/upsample_sigmoid/mask_threshold compute: lerp along x on both rows,
    then along y, an index of -1 reading 0."""
    img = src.astype(np.float32)
    if img.ndim == 2:
        img = img[:, :, None]

    def take(a: F32, idx: npt.NDArray[np.int32], axis: int) -> F32:
        out = np.take(a, np.maximum(idx, 0), axis=axis)
        shape = [1, 1, 1]
        shape[axis] = -1
        return np.where((idx >= 0).reshape(shape), out, np.float32(0))

    w1x = cols["w1"].reshape(1, -1, 1)
    left, right = take(img, cols["i0"], 1), take(img, cols["i1"], 1)
    across = left + (right - left) * w1x
    w1y = rows["w1"].reshape(-1, 1, 1)
    top, bottom = take(across, rows["i0"], 0), take(across, rows["i1"], 0)
    out = (top + (bottom - top) * w1y).astype(np.float32)
    return out[:, :, 0] if src.ndim == 2 else out


def apply_filters(image: np.ndarray, rows: AxisFilter, cols: AxisFilter) -> npt.NDArray[np.float64]:
    """What filter_axis computes, as dense matrices."""
    img = image.astype(np.float64)
    r, c = rows.matrix(), cols.matrix()
    if img.ndim == 2:
        return r @ img @ c.T
    return np.stack([r @ img[:, :, ch] @ c.T for ch in range(img.shape[2])], axis=-1)


FRAMES = [(384, 512), (512, 300), (512, 512)]


@pytest.fixture(params=FRAMES, ids=lambda s: f"{s[1]}x{s[0]}")
def frame(request: pytest.FixtureRequest, astronaut: np.ndarray) -> np.ndarray:
    h, w = request.param
    return np.ascontiguousarray(astronaut[:h, :w, ::-1])  # BGR, padded both ways by geometry


def test_memory_mode_follows_the_device() -> None:
    assert choose_memory_mode(integrated=True, can_map_host_memory=True) == "mapped"
    assert choose_memory_mode(integrated=True, can_map_host_memory=False) == "pinned"
    assert choose_memory_mode(integrated=False, can_map_host_memory=True) == "pinned"


@pytest.mark.parametrize("internal_resolution", ["medium", "full", 0.3])
def test_preprocess_tables_reproduce_the_cpu_input(
    frame: np.ndarray, internal_resolution: str | float
) -> None:
    g = frame_geometry(frame.shape[0], frame.shape[1], internal_resolution, 16)
    rows, cols = tables_from_sampling(g.preprocess())
    padded = g.padding.top or g.padding.bottom or g.padding.left or g.padding.right
    assert bool((rows["i0"] == -1).any() or (cols["i0"] == -1).any()) == bool(padded)
    gpu = apply_tables(frame, rows, cols)[:, :, ::-1]
    # Equal up to float32 rounding: runtime.resample may interpolate rows first when it shrinks
    # (about 1e-5 of the value); the kernels always go columns first, as TF.js.
    np.testing.assert_allclose(gpu, preprocess(frame, g), rtol=0, atol=3e-3)


def test_mask_tables_reproduce_the_cpu_scores(frame: np.ndarray) -> None:
    g = frame_geometry(frame.shape[0], frame.shape[1], "medium", 16)
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 4, g.logits_size).astype(np.float32)
    up = sigmoid(apply_tables(logits, *tables_from_sampling(g.logits_upsampling())))
    scores = apply_tables(up, *tables_from_sampling(g.crop()))
    from runtime.mask import person_scores

    np.testing.assert_allclose(scores, person_scores(logits, g), rtol=0, atol=1e-6)


@pytest.mark.parametrize("sigma", [1, 3, 5, 12, 20])
def test_css_blur_filters_reproduce_css_blur(astronaut: np.ndarray, sigma: int) -> None:
    h, w = 384, 512
    mask = (cv2.cvtColor(astronaut[:h, :w], cv2.COLOR_RGB2GRAY) > 100).astype(np.float32)
    f = css_blur_filters(h, w, sigma)
    out = apply_filters(mask, *f.blur) if f.shrink is None else mask
    if f.shrink is not None and f.enlarge is not None:
        out = apply_filters(apply_filters(apply_filters(mask, *f.shrink), *f.blur), *f.enlarge)
    np.testing.assert_allclose(out, css_blur(mask, sigma), atol=2e-4)
    # The uint8 frame: the CPU rounds after each of its passes, the GPU once at the end.
    frame = np.ascontiguousarray(astronaut[:h, :w])
    small = apply_filters(frame, *f.shrink) if f.shrink is not None else frame
    blurred = apply_filters(small, *f.blur)
    enlarged = blurred if f.enlarge is None else apply_filters(blurred, *f.enlarge)
    diff = np.abs(enlarged - css_blur(frame, sigma).astype(np.float64))
    assert diff.mean() < 0.6 and diff.max() <= 3.0, (diff.mean(), diff.max())


def test_enlarge_filters_as_two_tap_tables_give_the_same_image() -> None:
    """The composite kernel enlarges the blurred background through 2-tap tables."""
    f = css_blur_filters(720, 1280, 10)
    assert f.enlarge is not None and f.factor > 1
    rows, cols = f.enlarge
    small = np.random.default_rng(1).uniform(0, 255, (rows.in_size, cols.in_size, 3))
    tables = rows.as_resample_table(), cols.as_resample_table()
    assert all((t["i1"] - t["i0"] <= 1).all() for t in tables)
    np.testing.assert_allclose(
        apply_tables(small.astype(np.float32), *tables), apply_filters(small, rows, cols), atol=1e-3
    )


@pytest.mark.parametrize("width", [2, 7])
def test_feather_filter_reproduces_feather(astronaut: np.ndarray, width: int) -> None:
    h, w = 200, 300
    mask = (astronaut[:h, :w, 0] > 120).astype(np.float32)
    rows, cols = measure(lambda c: feather(c, width), h), measure(lambda c: feather(c, width), w)
    np.testing.assert_allclose(apply_filters(mask, rows, cols), feather(mask, width), atol=1e-5)
