"""FrameProcessor and the ONNX Runtime backend on the real model."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from core.errors import UserError
from runtime.backends.onnx_file import check_metadata
from runtime.backends.onnxruntime import OnnxRuntimeBackend
from runtime.demo import DemoClip
from runtime.models import find_onnx
from runtime.processor import FrameProcessor
from runtime.settings import Settings


def test_check_metadata_refuses_a_foreign_or_wrong_size_file() -> None:
    meta = {"bodypix.variant": "mobilenet-float-050-stride16", "bodypix.stride": "16"}
    path = Path("m.onnx")
    assert check_metadata(meta, path, "mobilenet-float-050-stride16", None) is None
    with pytest.raises(UserError, match="made from mobilenet-float-050-stride16"):
        check_metadata(meta, path, "mobilenet-quant1-050-stride16", None)
    fixed = {**meta, "bodypix.input_height": "241", "bodypix.input_width": "321"}
    assert check_metadata(fixed, path, "mobilenet-float-050-stride16", (241, 321)) == (241, 321)
    with pytest.raises(UserError, match="not 353x641"):
        check_metadata(fixed, path, "mobilenet-float-050-stride16", (353, 641))


@pytest.mark.slow
def test_backend_refuses_an_onnx_of_another_variant(models_dir: Path) -> None:
    path = find_onnx("mobilenet-float-050-stride16")
    with pytest.raises(UserError, match="export-onnx mobilenet-float-050-stride8"):
        OnnxRuntimeBackend(path, "mobilenet-float-050-stride8")


@pytest.mark.slow
def test_process_segments_composites_and_times_every_stage(models_dir: Path, astronaut) -> None:
    frame = cv2.cvtColor(astronaut, cv2.COLOR_RGB2BGR)
    processor = FrameProcessor(Settings(effect="blur", backend="onnxruntime"))
    out = processor.process(frame)
    assert set(out.timings_ms) == {"preprocess", "inference", "mask", "composite"}
    assert out.image.shape == frame.shape and out.image.dtype == np.uint8
    mask = out.result.mask
    assert mask.dtype == np.float32 and mask.shape == (512, 512)
    assert 0.15 < (mask > 0.5).mean() < 0.8  # the astronaut fills a good part of the photo
    assert out.result.part_ids is None

    # The pipeline may composite a newer frame with the last mask.
    again = processor.composite(frame, out.result)
    assert np.array_equal(again, out.image)

    backend = processor.backend
    processor.update_settings(Settings(effect="parts", backend="onnxruntime"))
    parts = processor.process(frame)
    assert processor.backend is backend  # effect changes keep the session
    assert parts.result.part_ids is not None
    ids = parts.result.part_ids
    assert set(np.unique(ids[mask > 0.5])) <= set(range(24))
    assert (ids[mask <= 0.5] == -1).all()
    assert {0, 1} <= set(np.unique(ids))  # both halves of the face are found

    processor.update_settings(Settings(effect="parts", backend="onnxruntime", threads=1))
    processor.process(frame)
    assert processor.backend is not backend
    processor.close()


@pytest.mark.slow
def test_smoothing_and_feather_soften_the_video_mask(models_dir: Path) -> None:
    clip = DemoClip(320, 240)
    hard = FrameProcessor(Settings(effect="none", backend="onnxruntime"))
    soft = FrameProcessor(Settings(effect="none", backend="onnxruntime", smoothing=0.6, feather=4))
    for i in range(3):
        frame = clip.frame(i * 20)
        h, s = hard.segment(frame).mask, soft.segment(frame).mask
    assert set(np.unique(h)) <= {0.0, 1.0}
    partial = ((s > 0.02) & (s < 0.98)).mean()
    assert partial > 2 * ((h > 0.02) & (h < 0.98)).mean() and partial > 0.005
    hard.close()
    soft.close()
