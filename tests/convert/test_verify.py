"""`convert verify`, and the exports checked against TensorFlow and TensorFlow.js itself."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort
import pytest

from convert.cli import main
from convert.tf_graph import normalise
from convert.verify import (
    DEFAULT_MAX_DIFFERING,
    DEFAULT_MAX_LOGIT_DIFF,
    TOLERANCES,
    verify_onnx,
)
from core.catalog import get_variant
from core.errors import UserError
from tests.convert.conftest import TEST_SIZE

ROOT = Path(__file__).resolve().parents[2]
TFJS_MODULES = ROOT / "tools" / "reference" / "node_modules"
# One float, one quant2 and one quant1 variant; stride 16 and stride 8 (dilated convolutions).
VARIANTS = [
    "mobilenet-float-050-stride16",
    "mobilenet-quant2-050-stride16",
    "mobilenet-quant1-050-stride8",
    "mobilenet-quant2-075-stride8",
]


@pytest.mark.slow
@pytest.mark.parametrize("variant", VARIANTS)
def test_export_matches_tensorflow_on_real_photos(
    variant: str, exported: Callable[..., Path], models_dir: Path
) -> None:
    results = verify_onnx(variant, exported(variant), models_dir=models_dir)
    assert [r.label for r in results] == ["astronaut", "camera"]
    for r in results:
        assert r.input_size == TEST_SIZE
        assert r.passes(DEFAULT_MAX_LOGIT_DIFF, DEFAULT_MAX_DIFFERING), r


# FP16: float and quantised, stride 16 and stride 8 (dilated convolutions); float-050-stride8
# is the one that needs its first depthwise convolution in FP32 (0.67 % of pixels otherwise).
FP16_VARIANTS = [
    "mobilenet-float-050-stride16",
    "mobilenet-quant1-050-stride8",
    "mobilenet-float-050-stride8",
]


@pytest.mark.slow
@pytest.mark.parametrize("variant", FP16_VARIANTS)
def test_fp16_export_keeps_the_masks_of_tensorflow(
    variant: str, exported: Callable[..., Path], models_dir: Path
) -> None:
    results = verify_onnx(variant, exported(variant, "fp16"), models_dir=models_dir)
    assert [r.label for r in results] == ["astronaut", "camera"]
    fp16 = TOLERANCES["fp16"]
    for r in results:
        assert r.passes(fp16.max_logit_diff, fp16.max_differing), r
        # Really FP16: the logits move by far more than float32 reordering noise.
        assert max(r.segments_max_diff, r.part_heatmaps_max_diff) > DEFAULT_MAX_LOGIT_DIFF, r


@pytest.mark.slow
def test_cli_verify_uses_the_tolerances_of_the_files_precision(
    exported: Callable[..., Path], models_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    variant = FP16_VARIANTS[1]
    args = ["verify", variant, "--onnx", str(exported(variant, "fp16"))]
    assert main([*args, "--models-dir", str(models_dir)]) == 0
    out = capsys.readouterr().out
    assert "(fp16)" in out and "OK" in out
    # The FP32 tolerance on logits fails the same file.
    assert main([*args, "--models-dir", str(models_dir), "--max-logit-diff", "1e-3"]) == 1
    assert "FAILED" in capsys.readouterr().out


def test_tolerance_rejects_non_finite_logits() -> None:
    from convert.verify import ImageResult

    fp16 = TOLERANCES["fp16"]
    assert ImageResult("x", (33, 33), 0.2, 0.3, 0.001).passes(None, fp16.max_differing)
    assert not ImageResult("x", (33, 33), 0.2, 0.3, 0.006).passes(None, fp16.max_differing)
    assert not ImageResult("x", (33, 33), float("inf"), 0.3, 0.0).passes(None, 1.0)
    assert not ImageResult("x", (33, 33), float("nan"), 0.3, 0.0).passes(1.0, 1.0)


@pytest.mark.slow
def test_cli_verify_reports_and_fails_above_tolerance(
    exported: Callable[..., Path], models_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    variant = VARIANTS[0]
    args = ["verify", variant, "--onnx", str(exported(variant)), "--models-dir", str(models_dir)]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "astronaut" in out and "camera" in out and "OK" in out
    # Float32 arithmetic never agrees to the last bit, so a zero tolerance must fail.
    assert main([*args, "--max-logit-diff", "0"]) == 1
    assert "FAILED" in capsys.readouterr().out


@pytest.mark.slow
def test_verify_refuses_an_onnx_file_of_another_variant(
    exported: Callable[..., Path], models_dir: Path
) -> None:
    with pytest.raises(UserError, match="was exported from 'mobilenet-float-050-stride16'"):
        verify_onnx(VARIANTS[1], exported(VARIANTS[0]), models_dir=models_dir)


def test_verify_names_a_missing_onnx_file(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="does not exist: create it with"):
        verify_onnx(VARIANTS[0], tmp_path / "missing.onnx")


@pytest.mark.slow
@pytest.mark.skipif(
    shutil.which("node") is None or not (TFJS_MODULES / "@tensorflow" / "tfjs-converter").is_dir(),
    reason="needs Node.js and the TensorFlow.js reference in tools/reference (npm ci there)",
)
@pytest.mark.parametrize(
    "variant", ["mobilenet-quant2-050-stride16", "mobilenet-quant1-050-stride8"]
)
def test_export_matches_tensorflow_js(
    variant: str,
    exported: Callable[..., Path],
    models_dir: Path,
    astronaut: np.ndarray,
    tmp_path: Path,
) -> None:
    """The official library's own runtime gives the same logits (stride 8 included)."""
    v = get_variant(variant)
    h, w = TEST_SIZE
    image = cv2.resize(astronaut, (w, h), interpolation=cv2.INTER_LINEAR).astype(np.float32)[None]
    normalise(image, v.architecture).tofile(tmp_path / "input.f32")
    subprocess.run(
        [
            "node",
            str(Path(__file__).with_name("tfjs_logits.js")),
            str(models_dir / variant / v.json_name),
            str(tmp_path / "input.f32"),
            str(h),
            str(w),
            str(tmp_path / "tfjs_"),
        ],
        env={**os.environ, "NODE_PATH": str(TFJS_MODULES)},
        check=True,
        capture_output=True,
        timeout=300,
    )
    session = ort.InferenceSession(str(exported(variant)), providers=["CPUExecutionProvider"])
    ours = dict(
        zip(["segments", "part_heatmaps"], session.run(None, {"image": image}), strict=True)
    )
    for name, ours_logits in ours.items():
        theirs = np.fromfile(tmp_path / f"tfjs_{name}.f32", np.float32).reshape(ours_logits.shape)
        assert np.abs(ours_logits - theirs).max() < DEFAULT_MAX_LOGIT_DIFF, name
