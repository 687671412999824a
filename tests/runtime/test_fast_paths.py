"""The frame path's shortcuts give the very numbers of the step-by-step BodyPix reproduction."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from runtime.backends.onnxruntime import OnnxRuntimeBackend
from runtime.demo import DemoClip
from runtime.effects.common import blend, blend_blurred_mask, css_blur
from runtime.geometry import frame_geometry
from runtime.mask import HYSTERESIS, MaskRefiner, person_mask, person_scores, threshold
from runtime.models import find_onnx
from runtime.resample import preprocess, preprocess_planar, resample, scale_and_crop

SIZES = [(720, 1280), (480, 640), (512, 512), (300, 512), (479, 641), (1080, 1920)]


@pytest.mark.parametrize("frame", SIZES, ids=lambda s: f"{s[1]}x{s[0]}")
@pytest.mark.parametrize("resolution", ["medium", "low", "full", 0.3, 1.5])
def test_person_mask_is_the_thresholded_scores(frame: tuple[int, int], resolution) -> None:
    g = frame_geometry(*frame, resolution, 16)
    rng = np.random.default_rng(7)
    yy, xx = np.mgrid[0 : g.logits_size[0], 0 : g.logits_size[1]]
    # A person-like blob, floored where real logits stop (exp of more overflows to 0 anyway).
    blob = np.maximum(
        6 - np.hypot((yy - g.logits_size[0] / 2) * 1.5, xx - g.logits_size[1] / 3), -30
    )
    for source in (
        rng.normal(0, 4, g.logits_size),
        np.round(rng.normal(0, 2, g.logits_size)),  # equal neighbours: ties at the threshold
        blob,
    ):
        logits = np.asarray(source, np.float32)
        reference = scale_and_crop(logits, g)  # NumPy, step by step
        assert np.array_equal(person_scores(logits, g), reference)
        for t in (0.7, 0.5, 0.0, 0.95):
            want = threshold(reference, t)
            assert np.array_equal(person_mask(logits, g, t), want), (t, logits.std())


@pytest.mark.parametrize("frame", [*SIZES, (120, 160)], ids=lambda s: f"{s[1]}x{s[0]}")
def test_compiled_preprocess_is_the_numpy_resample(frame: tuple[int, int]) -> None:
    h, w = frame
    image = DemoClip(w, h).frame(45)
    for resolution in ("medium", "low", "full", 0.3, 1.5):
        g = frame_geometry(h, w, resolution, 16)
        want = resample(image, *g.preprocess())[:, :, ::-1]
        assert np.array_equal(preprocess(image, g), want), resolution
        # A view (a flipped frame) reads the same pixels as its copy.
        flipped = image[:, ::-1]
        assert np.array_equal(preprocess(flipped, g), preprocess(flipped.copy(), g))


@pytest.mark.parametrize("frame", [*SIZES, (120, 160)], ids=lambda s: f"{s[1]}x{s[0]}")
def test_planar_preprocess_is_the_normalised_preprocess(frame: tuple[int, int]) -> None:
    h, w = frame
    image = DemoClip(w, h).frame(60)
    scale, shift = np.float32(1 / 127.5), np.float32(-1.0)
    for resolution in ("medium", "full", 0.3, 1.5):
        g = frame_geometry(h, w, resolution, 16)
        want = (preprocess(image, g).transpose(2, 0, 1) * scale + shift)[None]
        assert np.array_equal(preprocess_planar(image, g, scale, shift), want), resolution


def test_planar_input_gives_the_logits_of_the_exported_graph(models_dir: Path) -> None:
    import onnxruntime as ort

    variant = "mobilenet-float-050-stride16"
    path = find_onnx(variant)
    backend = OnnxRuntimeBackend(path, variant, threads=1)
    assert backend.planar_input is not None  # the export starts with Mul, Add, Transpose
    exported = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    g = frame_geometry(480, 640, "medium", 16)
    frame = DemoClip(640, 480).frame(30)
    image = preprocess(frame, g)
    want = exported.run(["segments", "part_heatmaps"], {"image": image[None]})
    planar = backend.run(preprocess_planar(frame, g, *backend.planar_input), parts=True)
    nhwc = backend.run(image, parts=True)  # the NHWC input still works
    for got in (planar, nhwc):
        assert got.part_heatmaps is not None
        assert np.array_equal(got.segments, want[0][0, :, :, 0])
        assert np.array_equal(got.part_heatmaps, want[1][0])
    backend.close()


def test_blend_gives_the_bytes_of_opencv_blend_linear() -> None:
    rng = np.random.default_rng(5)
    h, w = 97, 131
    fg = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    bg = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    near = np.array(
        [0, 1e-7, 0.0009, 0.001, 0.0011, 0.5, 0.9989, 0.999, 0.9999999, 1, 1.0000001], np.float32
    )
    alphas: list[npt.NDArray[np.float32]] = [
        rng.random((h, w), dtype=np.float32),
        rng.choice(near, (h, w)).astype(np.float32),  # around where the shortcuts start
        (np.round(rng.random((h, w)) * 8) / 8).astype(np.float32),  # halves: ties when rounding
        (rng.random((h, w)) * 3 - 1).astype(np.float32),  # outside 0..1: saturation
    ]
    for alpha in alphas:
        inverse = np.subtract(np.float32(1), alpha, dtype=np.float32)
        want = cv2.blendLinear(fg, bg, alpha, inverse)
        assert np.array_equal(blend(fg, bg, alpha), want)
        # A window of bigger images (not contiguous), written into the background itself.
        big = np.zeros((h + 4, w + 6, 3), np.uint8)
        big[2:-2, 3:-3] = bg
        window = big[2:-2, 3:-3]
        blend(fg, window, alpha, reuse_background=True)
        assert np.array_equal(window, want)


def test_blend_in_the_box_gives_the_full_blend() -> None:
    frame = DemoClip(320, 240).frame(20)
    background = css_blur(frame, 6)
    person = np.zeros((240, 320), np.float32)
    person[40:200, 120:220] = 1.0
    specks = (np.random.default_rng(2).random(person.shape) > 0.999).astype(np.float32)
    for mask in (person, specks, np.zeros_like(person), np.ones_like(person)):
        for sigma in (0, 2, 3, 9):
            alpha = css_blur(mask, sigma)
            inverse = np.subtract(np.float32(1), alpha, dtype=np.float32)
            want = cv2.blendLinear(frame, background, alpha, inverse)
            assert np.array_equal(blend(frame, background, alpha), want)
            scratch = background.copy()
            assert np.array_equal(blend(frame, scratch, alpha, reuse_background=True), want)


@pytest.mark.parametrize("frame", [(240, 320), (121, 161), (720, 1280)], ids=str)
def test_blend_with_the_mask_blurred_in_the_box_only(frame: tuple[int, int]) -> None:
    h, w = frame
    image = DemoClip(w, h).frame(33)
    background = css_blur(image, 5)
    person = np.zeros((h, w), np.float32)
    person[h // 5 : h - 3, w // 3 : w // 2 + 10] = 1.0
    corner = np.zeros_like(person)
    corner[: h // 3, : w // 4] = 1.0
    specks = (np.random.default_rng(1).random(person.shape) > 0.9995).astype(np.float32)
    for mask in (person, corner, specks, np.zeros_like(person), np.ones_like(person)):
        for sigma in (0, 2, 3, 4, 9, 20):
            want = blend(image, background, css_blur(mask, sigma))
            assert np.array_equal(blend_blurred_mask(image, background, mask, sigma), want)


def _motion_reference(
    refiner: MaskRefiner, frame: np.ndarray, scores: np.ndarray, thr: float, strength: float
) -> np.ndarray:
    """MaskRefiner.smooth_motion step by step in OpenCV/NumPy passes (the plain version)."""
    still = refiner.stillness(frame)
    previous, side = refiner._scores, refiner._decision
    if still is None or previous is None or side is None:
        refiner._scores = scores.copy()
        decision = (scores > np.float32(thr)).astype(np.float32)
        refiner._decision = 1.0 - 2.0 * decision
        return decision
    h, w = scores.shape
    keep = cv2.resize(still * np.float32(strength), (w, h), interpolation=cv2.INTER_LINEAR)
    margin = cv2.resize(still * np.float32(HYSTERESIS), (w, h), interpolation=cv2.INTER_LINEAR)
    averaged = np.asarray(cv2.subtract(previous, scores), np.float32)
    cv2.multiply(averaged, keep, dst=averaged)
    cv2.add(averaged, scores, dst=averaged)
    limit = np.asarray(cv2.multiply(side, margin), np.float32)
    limit += np.float32(thr)
    person = cv2.compare(averaged, limit, cv2.CMP_GT)
    decision = np.multiply(person, np.float32(1.0 / 255.0), dtype=np.float32)
    refiner._scores = averaged
    refiner._decision = np.asarray(cv2.addWeighted(decision, -2.0, decision, 0.0, 1.0), np.float32)
    return decision


def test_motion_smoothing_gives_the_step_by_step_numbers() -> None:
    clip = DemoClip(200, 150)
    g = frame_geometry(150, 200, "medium", 16)
    rng = np.random.default_rng(11)
    compiled, plain = MaskRefiner(), MaskRefiner()
    for i in range(8):
        frame = clip.frame(i if i < 4 else 4)  # moving, then still
        logits = np.asarray(rng.normal(0, 3, g.logits_size), np.float32)
        scores = person_scores(logits, g)
        got = compiled.smooth_motion(frame, scores, 0.7, 0.6)
        want = _motion_reference(plain, frame, scores, 0.7, 0.6)
        assert np.array_equal(got, want), i
        for state in ("_scores", "_decision"):
            assert np.array_equal(getattr(compiled, state), getattr(plain, state)), (i, state)
