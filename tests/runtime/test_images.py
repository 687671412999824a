"""Loading pictures: conversions instead of crashes, one clear error for bad files."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from core.errors import UserError
from runtime.images import load_image, to_bgr8, write_image


def test_gray_rgba_and_16_bit_become_bgr8(tmp_path: Path, astronaut: np.ndarray) -> None:
    bgr = cv2.cvtColor(astronaut, cv2.COLOR_RGB2BGR)
    cases = {
        "gray.png": cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY),
        "rgba.png": cv2.cvtColor(bgr, cv2.COLOR_BGR2BGRA),
        "deep.png": bgr.astype(np.uint16) * 257,
        "deep_gray.tiff": cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY).astype(np.uint16) * 257,
    }
    for name, image in cases.items():
        cv2.imwrite(str(tmp_path / name), image)
        loaded = load_image(tmp_path / name)
        assert loaded.dtype == np.uint8 and loaded.shape == (512, 512, 3), name
    assert np.array_equal(load_image(tmp_path / "deep.png"), bgr)
    assert np.array_equal(load_image(tmp_path / "rgba.png"), bgr)


@pytest.mark.parametrize(
    ("content", "message"),
    [(None, "does not exist"), (b"", "empty"), (b"not a picture at all", "cannot be decoded")],
)
def test_bad_files_raise_one_sentence(tmp_path: Path, content: bytes | None, message: str) -> None:
    path = tmp_path / "input.png"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(UserError, match=message):
        load_image(path)


def test_empty_and_huge_arrays_are_refused() -> None:
    with pytest.raises(UserError, match="no pixels"):
        to_bgr8(np.zeros((0, 10, 3), np.uint8))
    huge = np.lib.stride_tricks.as_strided(np.zeros(1, np.uint8), (20000, 20000), (0, 0))
    with pytest.raises(UserError, match="megapixels"):
        to_bgr8(huge)


def test_write_image_is_atomic_and_checks_the_folder(tmp_path: Path) -> None:
    write_image(tmp_path / "m.png", np.full((4, 5), 255, np.uint8))
    assert load_image(tmp_path / "m.png").shape == (4, 5, 3)
    assert [p.name for p in tmp_path.iterdir()] == ["m.png"]
    with pytest.raises(UserError, match="does not exist"):
        write_image(tmp_path / "missing" / "m.png", np.zeros((4, 4), np.uint8))
