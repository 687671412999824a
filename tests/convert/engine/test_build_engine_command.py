"""`convert build-engine`: arguments, the ONNX file and sizes are checked before TensorRT loads;
without TensorRT it fails with one sentence saying how to get it."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from convert.cli import main
from convert.engine.builder import inspect_onnx
from convert.engine.ensure import dynamic_profile, resolve_target
from convert.engine.tensorrt_support import tensorrt_available
from core.errors import UserError
from tests.convert.engine.helpers import VARIANT, write_onnx

no_tensorrt = pytest.mark.skipif(
    tensorrt_available(), reason="TensorRT is installed here, so the command does not fail"
)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(["build-engine", *argv])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_build_engine_is_a_convert_subcommand(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["build-engine", "--help"])
    assert done.value.code == 0
    text = capsys.readouterr().out
    for option in ("--onnx", "--precision", "--workspace", "--dla-core", "--engine-dir", "--force"):
        assert option in text


@no_tensorrt
def test_without_tensorrt_one_sentence_says_how_to_get_it(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, text = run(capsys, VARIANT, "--engine-dir", str(tmp_path))
    assert code == 2
    assert "TensorRT" in text and "JetPack" in text and "pypi.nvidia.com" in text
    if importlib.util.find_spec("pycuda") is None:  # everything a new machine needs, at once
        assert "and pycuda" in text and "pip install 'bodypix-appliance[gpu]'" in text
    assert "Traceback" not in text
    assert list(tmp_path.iterdir()) == []  # nothing half-written


@no_tensorrt
def test_a_valid_onnx_file_gets_as_far_as_the_tensorrt_check(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    onnx = write_onnx(tmp_path / "m.onnx")
    code, text = run(capsys, "--onnx", str(onnx))
    assert code != 0 and "needs NVIDIA TensorRT" in text


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        ([VARIANT, "--height", "353"], ["Only one of --height and --width"]),
        ([VARIANT, "--height", "350", "--width", "641"], ["350x641", "337 or 353"]),
        (["mobilenet-float-050-stride61"], ["Unknown BodyPix variant", "did you mean"]),
        ([VARIANT, "--precision", "fp32", "--dla-core", "0"], ["DLA runs FP16"]),
        ([VARIANT, "--workspace", "0"], ["--workspace 0"]),
        ([VARIANT, "--dla-core", "-1"], ["--dla-core -1"]),
    ],
)
def test_argument_mistakes_are_clear_errors(
    capsys: pytest.CaptureFixture[str], argv: list[str], words: list[str]
) -> None:
    code, text = run(capsys, *argv)
    assert code != 0 and "Traceback" not in text
    for word in words:
        assert word in text


def test_onnx_file_mistakes_are_clear_errors(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, text = run(capsys, "--onnx", str(tmp_path / "missing.onnx"))
    assert code != 0 and "does not exist" in text
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"\x00\x01 not protobuf at all" * 10)
    code, text = run(capsys, "--onnx", str(garbage))
    assert code != 0 and "not a readable ONNX file" in text
    onnx = write_onnx(tmp_path / "m.onnx")
    code, text = run(capsys, VARIANT, "--onnx", str(onnx))
    assert code != 0 and "give one of them" in text
    code, text = run(capsys, "--onnx", str(onnx), "--height", "257", "--width", "449")
    assert code != 0 and "fixed input size 353x641, not 257x449" in text


def test_targets_for_variants_and_onnx_files(tmp_path: Path) -> None:
    target = resolve_target(VARIANT, None, None, None, None, tmp_path)
    assert target.input_size == (353, 641) and target.onnx is None and target.profile is None
    assert target.engine_dir == tmp_path / VARIANT / "engines"

    static = write_onnx(tmp_path / "static.onnx", 257, 449)
    target = resolve_target(None, static, None, None, None, tmp_path)
    assert (target.variant, target.input_size, target.stride) == (VARIANT, (257, 449), 16)

    dynamic = write_onnx(tmp_path / "dynamic.onnx", "height", "width")
    info = inspect_onnx(dynamic)
    assert info.is_dynamic and info.input_name == "image" and not info.is_fp16
    target = resolve_target(None, dynamic, 257, 449, None, None)
    assert target.input_size is None and target.profile == dynamic_profile((257, 449), 16)
    with pytest.raises(UserError, match="337 or 353"):
        resolve_target(None, dynamic, 350, 641)

    foreign = write_onnx(tmp_path / "custom.onnx", meta={})
    target = resolve_target(None, foreign, None, None, None, tmp_path)
    assert target.model == "custom" and target.engine_dir == tmp_path


@no_tensorrt
def test_dla_with_a_dynamic_onnx_is_refused_before_tensorrt(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    dynamic = write_onnx(tmp_path / "dynamic.onnx", "height", "width")
    code, text = run(capsys, "--onnx", str(dynamic), "--dla-core", "0", "--precision", "fp16")
    assert code == 2 and "Traceback" not in text
    assert "--dla-core 0 needs a fixed input size" in text and "silently run on the GPU" in text
    assert "needs NVIDIA TensorRT" not in text  # refused before TensorRT is even looked for
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dynamic.onnx"]
    # A fixed-size ONNX gets past that check (to the TensorRT check, here).
    static = write_onnx(tmp_path / "static.onnx")
    code, text = run(capsys, "--onnx", str(static), "--dla-core", "0")
    assert code == 2 and "needs NVIDIA TensorRT" in text
