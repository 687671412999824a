"""`convert build-engine`: arguments, the ONNX file and sizes are checked before TensorRT loads;
without TensorRT it fails with one sentence saying how to get it."""

from __future__ import annotations

from pathlib import Path

import pytest

from convert.cli import main
from convert.engine.builder import choose_network_typing, inspect_onnx, resolve_precision
from convert.engine.ensure import dynamic_profile, resolve_target
from convert.engine.tensorrt_support import major_version, tensorrt_available
from convert.errors import UserError
from tests.tensorrt.helpers import VARIANT, write_onnx

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
    assert code != 0
    assert "TensorRT" in text and "JetPack" in text and "pypi.nvidia.com" in text
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


def test_network_typing_per_tensorrt_version() -> None:
    # 8.x: weakly typed always; FP16 comes from the builder flag.
    assert choose_network_typing(8, "fp16", False, True) == "weak"
    assert choose_network_typing(8, "fp32", False, True) == "weak"
    # 10.x: FP32 and FP16-ONNX builds are strongly typed; FP16 from FP32 ONNX needs the flag.
    assert choose_network_typing(10, "fp32", False, True) == "strong"
    assert choose_network_typing(10, "fp16", True, True) == "strong"
    assert choose_network_typing(10, "fp16", False, True) == "weak"
    # 11.x: no FP16 flag any more.
    assert choose_network_typing(11, "fp16", True, False) == "strong"
    with pytest.raises(UserError, match="only from an FP16 ONNX"):
        choose_network_typing(11, "fp16", False, False)
    with pytest.raises(UserError, match="cannot give an FP32 engine"):
        choose_network_typing(10, "fp32", True, True)


def test_precision_defaults_to_fp16_where_the_gpu_has_it() -> None:
    assert resolve_precision(None, True) == "fp16"
    assert resolve_precision(None, False) == "fp32"
    assert resolve_precision("fp32", True) == "fp32"
    assert major_version("8.5.2.2") == 8 and major_version("10.13.0.35") == 10
