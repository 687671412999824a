"""Temporal smoothing: the motion-aware smoother steadies a still picture and follows motion.

The unit tests drive `MaskRefiner` with a textured frame and a person probability whose edge is
known; the slow test runs `bodypix flicker`'s measurement with the real model.
"""

from __future__ import annotations

import argparse
import itertools
import json
from pathlib import Path

import numpy as np
import pytest

from runtime import flicker as fl
from runtime.cli import main
from runtime.mask import MaskRefiner
from runtime.settings import Settings, SmoothingMethod

H, W = 96, 160
THRESHOLD = 0.7


def _texture(rng: np.random.Generator) -> np.ndarray:
    """A still scene with detail everywhere (so motion shows), BGR uint8."""
    base = rng.integers(40, 215, size=(H // 8, W // 8, 3), dtype=np.uint8)
    return np.kron(base, np.ones((8, 8, 1), np.uint8))


def _scores(edge_x: float, rng: np.random.Generator, noise: float) -> np.ndarray:
    """A person on the left of `edge_x`: probability ramps over ~10 px, plus noise."""
    x = np.arange(W, dtype=np.float32)[None, :].repeat(H, axis=0)
    p = 1.0 / (1.0 + np.exp((x - edge_x) / 3.0))
    return np.clip(p + rng.normal(0, noise, (H, W)), 0, 1).astype(np.float32)


def _frame(scene: np.ndarray, person: np.ndarray, edge_x: float, rng: np.random.Generator):
    """`person` (a different texture) left of `edge_x` over `scene`, with sensor noise."""
    x = np.arange(W)[None, :, None]
    frame = np.where(x < edge_x, person, scene).astype(np.float32)
    frame += rng.normal(0, 2.5, frame.shape)
    return np.clip(frame, 0, 255).astype(np.uint8)


def _run(
    method: SmoothingMethod, strength: float, edges: list[float], seed: int = 0
) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    scene, person = _texture(rng), _texture(rng)
    refiner = MaskRefiner()
    settings = Settings(
        smoothing=strength, smoothing_method=method, segmentation_threshold=THRESHOLD
    )
    masks = []
    for edge in edges:
        scores = _scores(edge, rng, noise=0.08)
        mask = (scores > THRESHOLD).astype(np.float32)
        masks.append(refiner.refine(_frame(scene, person, edge, rng), scores, mask, settings))
    return masks


def _flips(masks: list[np.ndarray]) -> float:
    return float(np.mean([((a > 0.5) != (b > 0.5)).mean() for a, b in itertools.pairwise(masks)]))


def test_motion_smoothing_steadies_a_still_noisy_picture() -> None:
    edges = [80.0] * 20
    none = _flips(_run("ema", 0.0, edges))
    ema = _flips(_run("ema", 0.5, edges))
    motion = _flips(_run("motion", 0.5, edges))
    assert none > 0.005  # the noisy probability does flip pixels
    assert motion <= none / 4, (none, ema, motion)
    assert motion < ema


def test_motion_smoothing_follows_a_moving_edge() -> None:
    """The edge moves 4 px a frame: the motion-aware mask puts it where the unsmoothed one does,
    while the EMA trails behind."""
    edges = [40.0 + 4 * t for t in range(15)]

    def edge_of(mask: np.ndarray) -> float:
        return float((mask[:, :] > 0.5).sum(axis=1).mean())  # person width from the left

    none = [edge_of(m) for m in _run("ema", 0.0, edges)]
    motion = [edge_of(m) for m in _run("motion", 0.5, edges)]
    ema = [edge_of(m) for m in _run("ema", 0.8, edges)]
    for t in range(3, len(edges)):
        assert abs(motion[t] - none[t]) <= 1.0, (t, motion[t], none[t])
    assert np.mean(ema[3:]) < np.mean(none[3:]) - 4  # the EMA trails by more than a frame


def test_first_frame_is_the_unsmoothed_mask() -> None:
    """After a reset the motion smoother returns BodyPix's own mask (stills stay official)."""
    rng = np.random.default_rng(3)
    scores = _scores(70.0, rng, noise=0.1)
    mask = (scores > THRESHOLD).astype(np.float32)
    settings = Settings(smoothing=0.5, smoothing_method="motion", segmentation_threshold=THRESHOLD)
    out = MaskRefiner().refine(_texture(rng), scores, mask, settings)
    assert np.array_equal(out, mask)


def test_flicker_figures_on_known_masks() -> None:
    still = [np.zeros((20, 40), np.float32) for _ in range(3)]
    still[1][:, :10] = 1.0  # a quarter of the pixels flip on, then off
    assert fl.flicker(still).flips == pytest.approx(0.25)
    person = np.zeros((40, 200), np.float32)
    person[:, 90:110] = 1.0
    masks = [fl.shifted(person, 2.0 * (t - 1)) for t in range(12)]  # one frame behind
    assert fl.motion_lag(masks, 2.0, truth=person) == pytest.approx(1.0, abs=0.15)


@pytest.mark.slow
def test_flicker_command_meets_the_goal(models_dir: Path, capsys) -> None:
    """`bodypix flicker` with the real model: motion smoothing flips at most a quarter of what
    unsmoothed BodyPix flips on the still clip and adds at most one frame of lag."""
    assert main(["flicker", "--frames", "12", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    rows = {r["method"]: r for r in report["rows"]}
    assert rows["none"]["flips_pct"] > 0
    assert rows["motion"]["flips_pct"] <= rows["none"]["flips_pct"] / 4
    assert rows["motion"]["added_lag"] <= 1.0
    assert rows["ema"]["added_lag"] > rows["motion"]["added_lag"]


def test_flicker_refuses_a_too_short_clip() -> None:
    from core.errors import UserError
    from runtime.commands.flicker import measure

    with pytest.raises(UserError, match="too few"):
        measure(argparse.Namespace(frames=2, smoothing=0.5))
    with pytest.raises(UserError, match="moves the photo 600 px"):
        measure(argparse.Namespace(frames=200, smoothing=0.5, speed=3.0, noise=2.5))
