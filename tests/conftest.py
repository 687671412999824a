"""Shared fixtures: the model mirror beside the checkout, real photos, a models cache."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
MIRROR = Path(os.environ.get("BODYPIX_TEST_MIRROR", ROOT.parent / "shared" / "models" / "bodypix"))
# Exported ONNX files are reused across test runs (keyed by source hashes inside the exporter).
CACHE = Path(os.environ.get("BODYPIX_TEST_CACHE", ROOT / ".cache" / "test-models"))


@pytest.fixture(scope="session")
def mirror() -> Path:
    if not (MIRROR / "mobilenet-float-050-stride16").is_dir():
        pytest.fail(f"model mirror not found at {MIRROR}: CI expects ../shared/models/bodypix")
    return MIRROR


@pytest.fixture(scope="session")
def models_dir(mirror: Path) -> Path:
    """A models directory shared by the whole session, filled from the mirror on demand."""
    CACHE.mkdir(parents=True, exist_ok=True)
    os.environ["BODYPIX_MODEL_MIRROR"] = str(mirror)
    os.environ["BODYPIX_MODELS_DIR"] = str(CACHE)
    return CACHE


@pytest.fixture(scope="session")
def astronaut() -> np.ndarray:
    """A real photo of a person, RGB uint8 512x512."""
    from skimage import data

    return np.ascontiguousarray(data.astronaut())


@pytest.fixture(scope="session")
def cameraman() -> np.ndarray:
    """A real photo of a person, grayscale uint8 512x512, as RGB."""
    from skimage import data

    gray = data.camera()
    return np.ascontiguousarray(np.stack([gray] * 3, axis=-1))
