"""Masks and part ids agree with the official body-pix library (fixtures from tools/reference)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from runtime.backends import CPU_BACKENDS
from runtime.processor import FrameProcessor
from runtime.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "reference"
MANIFEST = json.loads((FIXTURES / "manifest.json").read_text())


def _photos() -> dict[str, np.ndarray]:
    sys.path.insert(0, str(ROOT / "tools" / "reference"))
    try:
        from export_photos import photos  # type: ignore[import-not-found]  # the same crops the Node script segmented
    finally:
        sys.path.pop(0)
    return photos()


def _read(path: Path) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    assert image is not None, path
    return np.asarray(image)


@pytest.fixture(scope="module")
def photos() -> dict[str, np.ndarray]:
    return _photos()


@pytest.mark.slow
@pytest.mark.parametrize("backend", CPU_BACKENDS)
@pytest.mark.parametrize("case", MANIFEST["cases"], ids=lambda c: c["mask"][: -len("_mask.png")])
def test_agrees_with_body_pix(case: dict, backend: str, photos: dict, models_dir: Path) -> None:
    settings = Settings.model_validate(
        {
            "effect": "none",
            "variant": case["variant"],
            "internal_resolution": case["internal_resolution"],
            "segmentation_threshold": MANIFEST["threshold"],
            "backend": backend,
        }
    )
    processor = FrameProcessor(settings)
    frame = cv2.cvtColor(photos[case["photo"]], cv2.COLOR_RGB2BGR)
    try:
        result = processor.segment(frame, parts="parts" in case)
    finally:
        processor.close()
    want = _read(FIXTURES / case["mask"]) > 0
    got = result.mask > 0.5
    iou = (want & got).sum() / (want | got).sum()
    assert iou >= 0.995, f"IoU {iou:.5f}"
    if "parts" in case:
        assert result.part_ids is not None
        ref = _read(FIXTURES / case["parts"]).astype(np.int16) - 1
        labelled = (ref >= 0) | (result.part_ids >= 0)
        agreement = (ref == result.part_ids)[labelled].mean()
        assert agreement >= 0.99, f"part agreement {agreement:.5f}"
