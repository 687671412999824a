"""Check an exported ONNX file against the original TF.js graph run in TensorFlow.

Both sides get the same resized photo: TensorFlow runs the rebuilt TF.js graph on the
normalised image (normalisation done in NumPy), ONNX Runtime runs the exported file on the raw
0..255 image (normalisation folded into the graph), so the comparison covers the folding too.

The tolerances follow the file's recorded precision: an FP32 export must agree to float32
reordering noise; an FP16 export (10-bit mantissa) moves logits by tenths, so what it must keep
is the mask: at most 0.5 % of pixels may change their person/background decision.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from convert import metadata as md
from convert.metadata import Precision
from core.arrays import F32, U8
from core.catalog import get_variant
from core.errors import MissingExtraError, UserError
from core.input_size import default_input_size, to_valid_input_resolution

# Logits run roughly -50..50; float32 reordering differences stay far below this.
DEFAULT_MAX_LOGIT_DIFF = 1e-3
# Share of pixels whose person/background decision may differ (a few border pixels at most).
DEFAULT_MAX_DIFFERING = 1e-3
SEGMENTATION_THRESHOLD = 0.7


@dataclass(frozen=True)
class Tolerance:
    max_logit_diff: float | None  # None: reported, not checked (FP16 rounding moves logits)
    max_differing: float


TOLERANCES: dict[Precision, Tolerance] = {
    "fp32": Tolerance(DEFAULT_MAX_LOGIT_DIFF, DEFAULT_MAX_DIFFERING),
    "fp16": Tolerance(None, 5e-3),
}


@dataclass(frozen=True)
class ImageResult:
    """Agreement of TensorFlow and ONNX Runtime on one image."""

    label: str
    input_size: tuple[int, int]
    segments_max_diff: float
    part_heatmaps_max_diff: float
    differing_pixels: float  # share of output pixels whose sigmoid > 0.7 decision differs

    def passes(self, max_logit_diff: float | None, max_differing: float) -> bool:
        diffs = (self.segments_max_diff, self.part_heatmaps_max_diff)
        if not all(math.isfinite(d) for d in diffs):  # an FP16 overflow shows as inf/NaN
            return False
        if max_logit_diff is not None and max(diffs) > max_logit_diff:
            return False
        return self.differing_pixels <= max_differing


def default_images() -> list[tuple[str, U8]]:
    """scikit-image's astronaut and camera: real photos of people, RGB uint8."""
    try:
        from skimage import data
    except ImportError:
        raise MissingExtraError("convert", "skimage", "The default verification photos") from None
    gray = data.camera()
    return [("astronaut", data.astronaut()), ("camera", np.stack([gray] * 3, axis=-1))]


def load_image(path: Path) -> U8:
    """An image file as RGB uint8."""
    import cv2

    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise UserError(
            f"Cannot read the image {path}: pass --image with an existing JPEG or PNG file."
        )
    return np.ascontiguousarray(bgr[:, :, ::-1])


def _input_size(meta: dict[str, str], image: U8, stride: int) -> tuple[int, int]:
    if meta.get(md.INPUT_HEIGHT, md.DYNAMIC) != md.DYNAMIC:
        return int(meta[md.INPUT_HEIGHT]), int(meta[md.INPUT_WIDTH])
    h, w = image.shape[:2]
    if h < stride + 1 or w < stride + 1:
        return default_input_size(stride)
    return to_valid_input_resolution(h, stride), to_valid_input_resolution(w, stride)


def onnx_file_precision(onnx_path: Path) -> Precision:
    """The precision recorded in the file (a file without one predates FP16 exports: FP32)."""
    meta = md.read_onnx_metadata(onnx_path)
    return md.onnx_precision(meta) if md.PRECISION in meta else "fp32"


def verify_onnx(
    variant: str,
    onnx_path: Path,
    images: list[tuple[str, U8]] | None = None,
    models_dir: Path | None = None,
) -> list[ImageResult]:
    """Run both sides on every image and measure how far apart their logits are."""
    import cv2
    import onnxruntime as ort

    from convert.fetch import fetch_variant
    from convert.tf_graph import (
        PART_HEATMAPS_NODE,
        SEGMENTS_NODE,
        build_graph_def,
        normalise,
        run_graph_def,
    )
    from convert.tfjs_model import read_model_json

    v = get_variant(variant)
    onnx_path = Path(onnx_path)
    if not onnx_path.is_file():
        raise UserError(
            f"ONNX file {onnx_path} does not exist: create it with "
            f"`python -m convert export-onnx {v.name}` or pass --onnx with its path."
        )
    meta = md.read_onnx_metadata(onnx_path)
    if meta.get(md.VARIANT) != v.name:
        raise UserError(
            f"{onnx_path} was exported from {meta.get(md.VARIANT, 'an unknown model')!r}, not "
            f"{v.name!r}: pass the matching variant or ONNX file."
        )
    model = read_model_json(
        fetch_variant(v.name, models_dir=models_dir, progress=False) / v.json_name
    )
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    graphs: dict[tuple[int, int], object] = {}
    results: list[ImageResult] = []
    for label, image in images if images is not None else default_images():
        h, w = _input_size(meta, image, v.stride)
        resized = cv2.resize(image, (w, h), interpolation=cv2.INTER_LINEAR)
        batch: F32 = resized.astype(np.float32)[None]
        if (h, w) not in graphs:
            graphs[(h, w)] = build_graph_def(model, v.architecture, h, w, fold_preprocessing=False)
        source_input = next(n["name"] for n in model.nodes if n["op"] == "Placeholder")
        tf_seg, tf_parts = run_graph_def(
            graphs[(h, w)],
            source_input,
            normalise(batch, v.architecture),
            [SEGMENTS_NODE, PART_HEATMAPS_NODE],
        )
        ort_seg, ort_parts = session.run([md.SEGMENTS, md.PART_HEATMAPS], {md.INPUT_NAME: batch})
        if ort_seg.shape != tf_seg.shape or ort_parts.shape != tf_parts.shape:
            raise UserError(
                f"{onnx_path} produced outputs of shape {ort_seg.shape} where the TF.js graph "
                f"gives {tf_seg.shape}: export it again with `python -m convert export-onnx`."
            )
        logit = float(np.log(SEGMENTATION_THRESHOLD / (1 - SEGMENTATION_THRESHOLD)))
        differing = float(np.mean((tf_seg > logit) != (ort_seg > logit)))
        results.append(
            ImageResult(
                label,
                (h, w),
                float(np.max(np.abs(tf_seg - ort_seg))),
                float(np.max(np.abs(tf_parts - ort_parts))),
                differing,
            )
        )
    return results


def format_results(results: list[ImageResult]) -> str:
    lines = [
        f"{'image':<20} {'input':>9} {'segments max|diff|':>19} "
        f"{'part_heatmaps max|diff|':>24} {'differing pixels':>17}"
    ]
    for r in results:
        lines.append(
            f"{r.label[:20]:<20} {r.input_size[0]:>4}x{r.input_size[1]:<4} "
            f"{r.segments_max_diff:>19.2e} {r.part_heatmaps_max_diff:>24.2e} "
            f"{r.differing_pixels:>16.4%}"
        )
    return "\n".join(lines)
