"""Edge refinement: the guided filter moves the mask's edge onto the frame's edge."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from runtime.edge_refine import guided_filter, guided_plan, shrink
from runtime.mask import MaskRefiner
from runtime.processor import FrameProcessor
from runtime.settings import Settings


def _edge_scene(h: int = 96, w: int = 128, edge: int = 60) -> np.ndarray:
    """A dark person on the left of column `edge`, a light wall on the right, some texture."""
    rng = np.random.default_rng(0)
    frame = np.where(np.arange(w)[None, :, None] < edge, 50, 200).repeat(h, axis=0)
    frame = frame + rng.normal(0, 2, (h, w, 3))
    return np.clip(frame, 0, 255).astype(np.uint8)


def _steepest(mask: np.ndarray) -> float:
    """Mean column of the mask's steepest drop along each row: where its edge is."""
    return float((np.argmax(-np.diff(mask, axis=1), axis=1) + 1).mean())


def test_the_refined_edge_follows_the_frame() -> None:
    frame = _edge_scene(edge=60)
    blocky = np.zeros((96, 128), np.float32)
    blocky[:, :66] = 1.0  # BodyPix's edge, 6 px off the picture's
    refined = guided_filter(frame, blocky, radius=8, eps=1e-4)
    assert _steepest(blocky) == 66
    assert _steepest(refined) == 60
    # Away from the edge the mask is untouched: inside stays person, the far wall background.
    assert (refined[:, :40] > 0.99).all() and (refined[:, 90:] < 0.01).all()


def test_flat_masks_and_sizes_not_a_multiple_of_the_subsample() -> None:
    frame = _edge_scene(37, 53)
    for value in (0.0, 1.0):
        flat = np.full((37, 53), value, np.float32)
        assert np.abs(guided_filter(frame, flat, 8, 1e-3) - value).max() < 1e-4
    plan = guided_plan(37, 53, 8, 1e-3)
    assert plan.subsample == 4 and plan.small_size == (14, 10) and plan.radius == 2
    assert shrink(np.ones((37, 53), np.float32), 4).shape == (10, 14)


def test_refiner_applies_guided_refinement_when_asked() -> None:
    frame = _edge_scene()
    mask = np.zeros((96, 128), np.float32)
    mask[:, :66] = 1.0
    scores = mask * 0.9
    off = MaskRefiner().refine(frame, scores, mask, Settings())
    assert off is mask  # nothing asked: BodyPix's mask itself
    on = MaskRefiner().refine(frame, scores, mask, Settings(edge_refine="guided"))
    assert _steepest(on) == 60


@pytest.mark.slow
def test_guided_refinement_in_the_processor(models_dir: Path, astronaut: np.ndarray) -> None:
    frame = np.ascontiguousarray(astronaut[:, :, ::-1])
    plain = FrameProcessor(Settings(effect="none", backend="onnxruntime"))
    guided = FrameProcessor(Settings(effect="none", backend="onnxruntime", edge_refine="guided"))
    try:
        hard, soft = plain.segment(frame).mask, guided.segment(frame).mask
    finally:
        plain.close()
        guided.close()
    assert set(np.unique(hard)) <= {0.0, 1.0}
    assert ((soft > 0.02) & (soft < 0.98)).mean() > 0.01  # soft along the edges
    agree = ((soft > 0.5) == (hard > 0.5)).mean()
    assert agree > 0.95  # refined, not replaced
