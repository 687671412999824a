"""Fixtures for the conversion tests: exports cached across tests (and runs, via ensure_onnx)."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

# Non-square and valid for strides 8 and 16 ((side - 1) % 16 == 0), so H/W swaps show.
TEST_SIZE = (257, 353)


@pytest.fixture(scope="session")
def exported(models_dir: Path) -> Callable[..., Path]:
    """`exported(variant, precision="fp32")`: the ONNX file of `variant` at TEST_SIZE, exported
    once."""
    from convert.metadata import Precision
    from convert.onnx_export import ensure_onnx

    cache: dict[tuple[str, str], Path] = {}

    def get(variant: str, precision: Precision = "fp32") -> Path:
        if (variant, precision) not in cache:
            cache[(variant, precision)] = ensure_onnx(
                variant, *TEST_SIZE, models_dir=models_dir, precision=precision
            )
        return cache[(variant, precision)]

    return get


@pytest.fixture
def fake_mirror(tmp_path: Path, mirror: Path) -> Callable[[str], Path]:
    """`fake_mirror(variant)`: a writable mirror directory holding a copy of one variant."""
    root = tmp_path / "mirror"

    def make(variant: str) -> Path:
        shutil.copytree(mirror / variant, root / variant)
        for f in (root / variant).iterdir():
            f.chmod(0o644)
        return root

    return make
