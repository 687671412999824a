"""Our renderers against the official body-pix 2.2.1 ones, run in a real headless Chromium.

Both draw the same segmentation (ours, from ONNX Runtime), so only the rendering is compared:
`drawBokehEffect`, `toMask` + `drawMask`, `toColoredPartMask` + `drawMask` and `blurBodyPart`,
on two real photos with two settings each. The canvas treats the outside of the picture as
transparent while we mirror it (a camera output stays opaque), so a band along the border, as
wide as the blur reaches, is left out. Pixels are compared decoded (getImageData), never JPEG.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from runtime.effects import Compositor
from runtime.processor import FrameProcessor
from runtime.settings import Settings
from tests.api.test_panel_browser import CHROMIUM, CHROMIUM_ARGS

pytestmark = [pytest.mark.slow, pytest.mark.browser]
ROOT = Path(__file__).resolve().parents[2]
REFERENCE = ROOT / "tools" / "reference"
NODE = REFERENCE / "node_modules"
SCRIPTS = (
    NODE / "@tensorflow" / "tfjs" / "dist" / "tf.min.js",
    NODE / "@tensorflow-models" / "body-pix" / "dist" / "body-pix.min.umd.js",
    REFERENCE / "official_render.js",
)
LIMIT = 1.5  # mean absolute difference, levels (0-255)

# (effect, official options, our settings): two settings per effect.
CASES: list[tuple[str, str, dict[str, Any], dict[str, Any]]] = [
    ("blur", "default", {"backgroundBlur": 3, "edgeBlur": 3}, {}),
    (
        "blur",
        "strong",
        {"backgroundBlur": 12, "edgeBlur": 7},
        {"background_blur_amount": 12, "edge_blur_amount": 7},
    ),
    (
        "mask",
        "default",
        {"foreground": [0, 0, 0, 0], "background": [0, 0, 0, 255], "opacity": 0.7, "maskBlur": 0},
        {},
    ),
    (
        "mask",
        "colours",
        {
            "foreground": [0, 0, 255, 200],
            "background": [255, 200, 0, 120],
            "opacity": 0.5,
            "maskBlur": 4,
        },
        {
            "mask": {
                "foreground_color": (0, 0, 255, 200),
                "background_color": (255, 200, 0, 120),
                "opacity": 0.5,
                "mask_blur_amount": 4,
            }
        },
    ),
    ("parts", "default", {"opacity": 0.7}, {}),
    ("parts", "faint", {"opacity": 0.35}, {"parts": {"opacity": 0.35}}),
    (
        "face",
        "default",
        {"blur": 3, "edgeBlur": 3},
        {"parts": {"opacity": 0.0, "face_blur": True, "face_blur_amount": 3}},
    ),
    (
        "face",
        "strong",
        {"blur": 10, "edgeBlur": 3},
        {"parts": {"opacity": 0.0, "face_blur": True, "face_blur_amount": 10}},
    ),
]


def _b64(array: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(array).tobytes()).decode("ascii")


@pytest.fixture(scope="module")
def page() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.skip("Chromium is not installed at /usr/bin/chromium (apt-get install chromium)")
    missing = [str(p) for p in SCRIPTS if not p.is_file()]
    if missing:
        pytest.skip(f"official body-pix bundles missing ({missing[0]}): run `make reference`")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.set_content("<!doctype html><html><body></body></html>")
        for script in SCRIPTS:
            page.add_script_tag(path=str(script))
        yield page
        browser.close()


@pytest.fixture(scope="module")
def segmented(models_dir: Path, astronaut: np.ndarray, cameraman: np.ndarray) -> dict[str, Any]:
    """Photo name -> (BGR frame, person mask, part ids), segmented once with ONNX Runtime."""
    processor = FrameProcessor(Settings(effect="none", backend="onnxruntime"))
    out = {}
    try:
        for name, rgb in (("astronaut", astronaut), ("camera", cameraman)):
            frame = np.ascontiguousarray(rgb[:, :, ::-1])
            result = processor.segment(frame, parts=True)
            assert result.part_ids is not None
            out[name] = (frame, result.mask, result.part_ids)
    finally:
        processor.close()
    return out


def official(
    page: Any,
    frame: np.ndarray,
    mask: np.ndarray,
    ids: np.ndarray,
    effect: str,
    options: dict[str, Any],
) -> np.ndarray:
    """The official rendering, RGBA uint8."""
    h, w = mask.shape
    rgba = np.dstack([frame[:, :, ::-1], np.full((h, w), 255, np.uint8)])
    spec: dict[str, Any] = {
        "width": w,
        "height": h,
        "image": _b64(rgba),
        "effect": effect,
        "options": options,
    }
    if effect in ("parts", "face"):
        spec["parts"] = _b64((ids.astype(np.int16) + 1).astype(np.uint8))
    else:
        spec["mask"] = _b64((mask > 0.5).astype(np.uint8))
    data = base64.b64decode(page.evaluate("spec => officialRender(spec)", spec))
    return np.frombuffer(data, np.uint8).reshape(h, w, 4)


def ours(
    frame: np.ndarray, mask: np.ndarray, ids: np.ndarray, effect: str, fields: dict[str, Any]
) -> np.ndarray:
    settings = Settings.model_validate(
        {"effect": "parts" if effect == "face" else effect, **fields}
    )
    return Compositor(settings).composite(frame, mask, ids)[:, :, ::-1]  # RGB


def border_band(options: dict[str, Any]) -> int:
    """How far the official canvas' transparent outside reaches in: 3 sigma of the largest blur."""
    blurs = [v for k, v in options.items() if k.lower().endswith("blur")]
    return 3 * max(blurs, default=0) + 2


@pytest.mark.parametrize("photo", ["astronaut", "camera"])
@pytest.mark.parametrize(
    ("effect", "label", "options", "fields"), CASES, ids=[f"{c[0]}-{c[1]}" for c in CASES]
)
def test_matches_the_official_renderer(
    page: Any,
    segmented: dict[str, Any],
    photo: str,
    effect: str,
    label: str,
    options: dict[str, Any],
    fields: dict[str, Any],
) -> None:
    frame, mask, ids = segmented[photo]
    want = official(page, frame, mask, ids, effect, options)
    got = ours(frame, mask, ids, effect, fields)
    band = border_band(options)
    inner = (slice(band, -band), slice(band, -band))
    assert (want[inner][:, :, 3] == 255).all(), "the official rendering is not opaque inside"
    diff = np.abs(want[inner][:, :, :3].astype(np.int16) - got[inner].astype(np.int16))
    mad = float(diff.mean())
    print(
        f"{effect}/{label}/{photo}: mean |diff| {mad:.3f} levels, "
        f"{(diff.max(axis=2) > 8).mean() * 100:.2f} % of pixels off by more than 8"
    )
    assert mad <= LIMIT, f"{effect} {label} on {photo}: mean |diff| {mad:.2f} levels > {LIMIT}"
    if effect == "face":
        # The face is a small share of the picture: its neighbourhood on its own, where the
        # sharp contour rim of toMask(drawContour=true) matters (without it: 1.2-2.9 levels).
        face = np.isin(ids, (0, 1)).astype(np.uint8)
        near = cv2.dilate(face, np.ones((9, 9), np.uint8)) > 0
        local = float(np.abs(want[:, :, :3].astype(np.int16) - got.astype(np.int16))[near].mean())
        print(f"  face neighbourhood ({int(near.sum())} px): mean |diff| {local:.3f} levels")
        assert local <= LIMIT, f"face {label} on {photo}: {local:.2f} levels near the face"


def test_the_comparison_sees_a_different_look(page: Any, segmented: dict[str, Any]) -> None:
    """Control: the look before issue 14 (no-part pixels left untouched) fails the comparison."""
    frame, mask, ids = segmented["astronaut"]
    want = official(page, frame, mask, ids, "parts", {"opacity": 0.7})
    got = ours(frame, mask, ids, "parts", {"parts": {"no_part_color": (0, 0, 0, 0)}})
    mad = float(np.abs(want[2:-2, 2:-2, :3].astype(np.int16) - got[2:-2, 2:-2]).mean())
    assert mad > 10 * LIMIT, mad
