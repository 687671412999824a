"""`convert export-onnx`: the exported graph's interface, metadata, pads, caching and errors."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from convert import metadata as md
from convert.cli import main
from convert.engine.builder import inspect_onnx
from convert.metadata import read_onnx_metadata
from convert.onnx_export import default_onnx_path, ensure_onnx, export_onnx
from core.errors import UserError
from tests.convert.conftest import TEST_SIZE

DEFAULT = "mobilenet-float-050-stride16"
STRIDE8 = "mobilenet-quant1-050-stride8"


def _dims(value_info: onnx.ValueInfoProto) -> list[int | str]:
    return [d.dim_param or d.dim_value for d in value_info.type.tensor_type.shape.dim]


def _conv_attrs(model: onnx.ModelProto) -> list[dict[str, Any]]:
    return [
        {a.name: onnx.helper.get_attribute_value(a) for a in n.attribute}
        for n in model.graph.node
        if n.op_type == "Conv"
    ]


@pytest.mark.slow
def test_static_export_interface_and_metadata(
    exported: Callable[..., Path], models_dir: Path
) -> None:
    path = exported(DEFAULT)
    h, w = TEST_SIZE
    assert path == default_onnx_path(DEFAULT, h, w, False, models_dir)
    model = onnx.load(str(path))
    onnx.checker.check_model(model, full_check=True)
    assert [i.name for i in model.graph.input] == ["image"]
    assert [o.name for o in model.graph.output] == ["segments", "part_heatmaps"]
    assert _dims(model.graph.input[0]) == [1, h, w, 3]
    oh, ow = (h - 1) // 16 + 1, (w - 1) // 16 + 1
    assert _dims(model.graph.output[0]) == [1, oh, ow, 1]
    assert _dims(model.graph.output[1]) == [1, oh, ow, 24]
    assert model.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    # Everything BodyPix computes for poses is pruned: 14 backbone convs x 2 + 2 heads - 1.
    assert len(_conv_attrs(model)) == 29

    meta = read_onnx_metadata(path)
    source = json.loads(meta[md.SOURCE_SHA256])
    assert meta == {
        md.VARIANT: DEFAULT,
        md.ARCHITECTURE: "MobileNetV1",
        md.STRIDE: "16",
        md.MULTIPLIER: "0.5",
        md.QUANT_BYTES: "4",
        md.INPUT_HEIGHT: str(h),
        md.INPUT_WIDTH: str(w),
        md.INPUT_FORMAT: "NHWC float32 RGB 0-255",
        md.PREPROCESSING: "mobilenet: x/127.5-1 (folded)",
        md.OUTPUTS: "segments,part_heatmaps",
        md.SOURCE_SHA256: meta[md.SOURCE_SHA256],
        md.TOOLS: meta[md.TOOLS],
        md.FORMAT: "1",
        md.PRECISION: "fp32",
    }
    assert source["group1-shard1of1.bin"] == (
        "6066a2082f41602a10f59450754b38000616eadf8c800b07cf25aa895831698d"
    )
    assert set(json.loads(meta[md.TOOLS])) == {"tensorflow", "tf2onnx", "onnx"}


@pytest.mark.slow
def test_normalisation_is_folded_into_the_graph(exported: Callable[..., Path]) -> None:
    session = ort.InferenceSession(str(exported(DEFAULT)), providers=["CPUExecutionProvider"])
    h, w = TEST_SIZE
    black = np.zeros((1, h, w, 3), np.float32)
    white = np.full((1, h, w, 3), 255.0, np.float32)
    seg_black, _ = session.run(None, {"image": black})
    seg_white, _ = session.run(None, {"image": white})
    assert not np.allclose(seg_black, seg_white)  # the input range 0..255 is used as such


@pytest.mark.slow
def test_stride8_dynamic_export_has_explicit_pads_and_runs_at_any_valid_size(
    models_dir: Path,
) -> None:
    path = ensure_onnx(STRIDE8, dynamic=True, models_dir=models_dir)
    assert path.name == f"{STRIDE8}-dynamic.onnx"
    model = onnx.load(str(path))
    assert _dims(model.graph.input[0]) == [1, "height", "width", 3]
    assert _dims(model.graph.output[1]) == [1, "out_height", "out_width", 24]
    dilated = [a for a in _conv_attrs(model) if list(a.get("dilations", [1, 1])) != [1, 1]]
    assert len(dilated) == 7
    for attrs in dilated:
        # TF.js reads dilations [2, 2, 1, 1] as rate 2 in height, 1 in width.
        assert list(attrs["dilations"]) == [2, 1]
        assert list(attrs["pads"]) == [2, 1, 2, 1]
        assert attrs.get("auto_pad", b"NOTSET") in (b"NOTSET", "NOTSET")
    meta = read_onnx_metadata(path)
    assert meta[md.INPUT_HEIGHT] == meta[md.INPUT_WIDTH] == "dynamic"
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for h, w in ((129, 161), (97, 225)):
        seg, parts = session.run(None, {"image": np.zeros((1, h, w, 3), np.float32)})
        assert seg.shape == (1, (h - 1) // 8 + 1, (w - 1) // 8 + 1, 1)
        assert parts.shape == (1, (h - 1) // 8 + 1, (w - 1) // 8 + 1, 24)


@pytest.mark.slow
def test_ensure_onnx_reuses_a_current_file_and_replaces_a_foreign_one(
    exported: Callable[..., Path], models_dir: Path
) -> None:
    path = exported(DEFAULT)
    stamp = path.stat().st_mtime_ns
    assert ensure_onnx(DEFAULT, *TEST_SIZE, models_dir=models_dir) == path
    assert path.stat().st_mtime_ns == stamp
    # A file at the right path made from another variant is detected and exported again.
    other = models_dir / "foreign.onnx"
    export_onnx("mobilenet-quant2-050-stride16", *TEST_SIZE, output=other, progress=False)
    target = default_onnx_path(DEFAULT, *TEST_SIZE, False, models_dir)
    other.replace(target)
    assert read_onnx_metadata(target)[md.VARIANT] != DEFAULT
    assert ensure_onnx(DEFAULT, *TEST_SIZE, models_dir=models_dir) == target
    assert read_onnx_metadata(target)[md.VARIANT] == DEFAULT


@pytest.mark.slow
def test_fp16_export_computes_in_fp16_behind_a_float32_interface(
    exported: Callable[..., Path], models_dir: Path
) -> None:
    path = exported(STRIDE8, "fp16")
    h, w = TEST_SIZE
    assert path == default_onnx_path(STRIDE8, h, w, False, models_dir, "fp16")
    assert path.name.endswith("-fp16.onnx")
    model = onnx.load(str(path))
    onnx.checker.check_model(model, full_check=True)
    weights = {i.name: i.data_type for i in model.graph.initializer}
    convs = [n for n in model.graph.node if n.op_type == "Conv"]
    # Every convolution computes in FP16 but the first depthwise one (kept FP32 for accuracy).
    assert [weights[n.input[1]] for n in convs[2:]] == [onnx.TensorProto.FLOAT16] * 27
    assert weights[convs[0].input[1]] == onnx.TensorProto.FLOAT16
    assert weights[convs[1].input[1]] == onnx.TensorProto.FLOAT
    # The interface is the FP32 file's: names, shapes and float32 types (Casts at the edges).
    assert [i.name for i in model.graph.input] == ["image"]
    assert [o.name for o in model.graph.output] == ["segments", "part_heatmaps"]
    for value in (*model.graph.input, *model.graph.output):
        assert value.type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert _dims(model.graph.input[0]) == [1, h, w, 3]
    meta = read_onnx_metadata(path)
    assert meta[md.PRECISION] == "fp16"
    assert "onnxconverter-common" in json.loads(meta[md.TOOLS])
    # The FP32 file of the same variant and size is a different, current file.
    fp32 = exported(STRIDE8)
    assert fp32 != path and read_onnx_metadata(fp32)[md.PRECISION] == "fp32"
    # What build-engine reads to pick its network typing.
    assert inspect_onnx(path).precision == "fp16" and inspect_onnx(fp32).precision == "fp32"
    stamp = path.stat().st_mtime_ns
    assert ensure_onnx(STRIDE8, h, w, models_dir=models_dir, precision="fp16") == path
    assert path.stat().st_mtime_ns == stamp


@pytest.mark.slow
def test_fp16_dynamic_export_runs_at_any_valid_size(tmp_path: Path, models_dir: Path) -> None:
    out = export_onnx(
        DEFAULT,
        dynamic=True,
        output=tmp_path / "d.onnx",
        models_dir=models_dir,
        progress=False,
        precision="fp16",
    )
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    for h, w in ((129, 161), (97, 225)):
        seg, parts = session.run(None, {"image": np.zeros((1, h, w, 3), np.float32)})
        assert seg.dtype == np.float32 and seg.shape == (1, (h - 1) // 16 + 1, (w - 1) // 16 + 1, 1)
        assert parts.shape == (1, (h - 1) // 16 + 1, (w - 1) // 16 + 1, 24)


def test_missing_fp16_converter_names_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "onnxconverter_common", None)
    args = ["export-onnx", DEFAULT, "--precision", "fp16", "-o", str(tmp_path / "x.onnx"), "-q"]
    code = main([*args, "--models-dir", str(tmp_path / "models")])
    err = capsys.readouterr().err
    assert code == 2
    assert "onnxconverter_common" in err and "pip install 'bodypix-appliance[convert]'" in err
    assert list(tmp_path.iterdir()) == []  # nothing fetched, nothing written


def test_invalid_size_is_refused_before_any_work(tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"height 256 -> 241 or 257"):
        export_onnx(DEFAULT, 256, 353, output=tmp_path / "x.onnx", models_dir=tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_unwritable_output_path(tmp_path: Path, models_dir: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(UserError, match=r"Cannot write the ONNX file .* pass -o"):
        export_onnx(DEFAULT, output=blocker / "out.onnx", models_dir=models_dir)


def test_missing_conversion_extra_names_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # What a device without the conversion stack sees: `import tensorflow` fails.
    monkeypatch.setitem(sys.modules, "tensorflow", None)
    args = ["export-onnx", DEFAULT, "-o", str(tmp_path / "x.onnx"), "-q"]
    code = main([*args, "--models-dir", str(tmp_path / "models")])
    err = capsys.readouterr().err
    assert code != 0
    assert "pip install 'bodypix-appliance[convert]'" in err
    assert list(tmp_path.iterdir()) == []  # nothing fetched, nothing written


@pytest.mark.slow
def test_cli_export_writes_the_file(
    tmp_path: Path, models_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "model.onnx"
    args = ["export-onnx", STRIDE8, "--height", "161", "--width", "129", "-o", str(out), "-q"]
    assert main([*args, "--models-dir", str(models_dir)]) == 0
    assert str(out) in capsys.readouterr().out
    assert read_onnx_metadata(out)[md.INPUT_HEIGHT] == "161"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.onnx"]  # no temporary left
