"""Engine naming, sidecars and stale detection: everything about engine files but TensorRT."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from convert.engine.ensure import dynamic_profile
from convert.engine.gpu import GpuInfo
from convert.engine.naming import (
    default_engine_dir,
    engine_file_name,
    sidecar_path,
    timing_cache_path,
)
from convert.engine.sidecar import (
    EngineSidecar,
    Expected,
    check_engine_files,
    find_matching_engine,
    read_sidecar,
    stale_reasons,
)
from core.errors import UserError
from core.input_size import is_valid_input_size
from tests.convert.engine.helpers import ORIN, RTX, TRT, VARIANT, write_engine


def test_gpu_names_for_files() -> None:
    assert ORIN.slug == "orin" and ORIN.sm == "sm87" and ORIN.capability_text == "8.7"
    assert RTX.slug == "geforce-rtx-4090" and RTX.sm == "sm89"
    assert GpuInfo("NVIDIA Jetson AGX Xavier [16GB]", (7, 2)).slug == "jetson-agx-xavier-16gb"


def test_engine_name_encodes_everything_that_makes_an_engine_different() -> None:
    name = engine_file_name(VARIANT, (353, 641), "fp16", ORIN, TRT)
    assert name == f"{VARIANT}-353x641-fp16-orin-sm87-trt{TRT}.engine"
    variations = {
        name,
        engine_file_name(VARIANT, (353, 641), "fp32", ORIN, TRT),
        engine_file_name(VARIANT, (353, 641), "fp16", RTX, TRT),
        engine_file_name(VARIANT, (353, 641), "fp16", GpuInfo("Orin", (8, 6)), TRT),
        engine_file_name(VARIANT, (353, 641), "fp16", ORIN, "8.5.2.2"),
        engine_file_name(VARIANT, (257, 449), "fp16", ORIN, TRT),
        engine_file_name(VARIANT, None, "fp16", ORIN, TRT),
        engine_file_name(VARIANT, (353, 641), "fp16", ORIN, TRT, dla_core=0),
        engine_file_name("resnet50-float-stride16", (353, 641), "fp16", ORIN, TRT),
    }
    assert len(variations) == 9
    assert "-dynamic-" in engine_file_name(VARIANT, None, "fp16", ORIN, TRT)
    assert "-dla0-" in engine_file_name(VARIANT, (353, 641), "fp16", ORIN, TRT, dla_core=0)


def test_engine_locations(tmp_path: Path) -> None:
    assert default_engine_dir(VARIANT, tmp_path, None) == tmp_path / VARIANT / "engines"
    onnx = tmp_path / "x" / "custom.onnx"
    assert default_engine_dir(None, tmp_path, onnx) == onnx.parent
    engine = tmp_path / "a.engine"
    assert sidecar_path(engine) == tmp_path / "a.engine.json"
    assert timing_cache_path(tmp_path, ORIN, TRT).name == f"timing-orin-sm87-trt{TRT}.cache"


def test_sidecar_round_trip_and_atomic_write(tmp_path: Path) -> None:
    engine = write_engine(tmp_path, profile=None)
    sidecar = read_sidecar(engine)
    assert sidecar.tensorrt_version == TRT and sidecar.gpu == ORIN
    assert sidecar.input_size == (353, 641) and sidecar.precision == "fp16"
    assert EngineSidecar.from_json(sidecar.to_json()) == sidecar
    data = json.loads(sidecar_path(engine).read_text())
    for key in (
        "tensorrt_version",
        "gpu_name",
        "compute_capability",
        "precision",
        "inputs",
        "outputs",
        "onnx_sha256",
        "build_seconds",
        "built_at",
    ):
        assert key in data
    assert sorted(p.name for p in tmp_path.iterdir()) == [engine.name, engine.name + ".json"]


def test_current_engine_passes_the_check(tmp_path: Path) -> None:
    engine = write_engine(tmp_path)
    sidecar = check_engine_files(engine, Expected(TRT, ORIN, "fp16", "0" * 64, None, True))
    assert sidecar.variant == VARIANT


@pytest.mark.parametrize(
    ("expected", "words"),
    [
        (Expected("8.5.2.2", ORIN), ["TensorRT 10.3.0.30", "8.5.2.2"]),
        (Expected(TRT, RTX), ["built for Orin", "GeForce RTX 4090"]),
        (Expected(TRT, GpuInfo("Orin", (8, 6))), ["compute 8.7", "compute 8.6"]),
        (Expected(TRT, ORIN, precision="fp32"), ["fp16", "fp32"]),
        (Expected(TRT, ORIN, onnx_sha256="f" * 64), ["different ONNX"]),
        (Expected(TRT, ORIN, dla_core=1, check_dla=True), ["DLA core None", "1 wanted"]),
    ],
)
def test_stale_engines_are_refused_with_the_rebuild_command(
    tmp_path: Path, expected: Expected, words: list[str]
) -> None:
    engine = write_engine(tmp_path)
    assert stale_reasons(read_sidecar(engine), expected)
    with pytest.raises(UserError) as err:
        check_engine_files(engine, expected)
    message = str(err.value)
    assert "stale" in message and engine.name in message
    assert f"python -m convert build-engine {VARIANT} --height 353 --width 641" in message
    for word in words:
        assert word in message


def test_an_engine_swapped_under_its_sidecar_is_stale(tmp_path: Path) -> None:
    engine = write_engine(tmp_path)
    engine.write_bytes(b"another engine")
    with pytest.raises(UserError, match="does not match its sidecar"):
        check_engine_files(engine, Expected(TRT, ORIN))


def test_missing_or_broken_files_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="does not exist: build it"):
        check_engine_files(tmp_path / "none.engine", Expected(TRT, ORIN))
    engine = write_engine(tmp_path)
    sidecar_path(engine).unlink()
    with pytest.raises(UserError, match="has no sidecar"):
        check_engine_files(engine, Expected(TRT, ORIN))
    sidecar_path(engine).write_text("{not json")
    with pytest.raises(UserError, match="unreadable"):
        read_sidecar(engine)
    sidecar_path(engine).write_text(json.dumps({"format_version": 99}))
    with pytest.raises(UserError, match="unreadable"):
        read_sidecar(engine)


def test_find_matching_engine_picks_the_best_current_one(tmp_path: Path) -> None:
    size = (353, 641)
    assert find_matching_engine(tmp_path / "none", VARIANT, size, ORIN, TRT) is None
    # Engines that must never be chosen on this Orin with TensorRT 10.3:
    write_engine(tmp_path, gpu=RTX)
    write_engine(tmp_path, trt="8.5.2.2")
    write_engine(tmp_path, size=(257, 449))
    write_engine(tmp_path, variant="mobilenet-float-075-stride16")
    assert find_matching_engine(tmp_path, VARIANT, size, ORIN, TRT) is None
    profile = dynamic_profile(size, 16)
    dynamic = write_engine(tmp_path, size=None, profile=profile)
    assert find_matching_engine(tmp_path, VARIANT, size, ORIN, TRT) == dynamic
    assert find_matching_engine(tmp_path, VARIANT, (177, 321), ORIN, TRT) == dynamic
    assert find_matching_engine(tmp_path, VARIANT, (1409, 2561), ORIN, TRT) is None
    dla = write_engine(tmp_path, dla_core=0)
    assert find_matching_engine(tmp_path, VARIANT, size, ORIN, TRT) == dla
    write_engine(tmp_path, precision="fp32")  # FP16 (even on the DLA) beats FP32
    assert find_matching_engine(tmp_path, VARIANT, size, ORIN, TRT) == dla
    fp16 = write_engine(tmp_path, precision="fp16")
    assert find_matching_engine(tmp_path, VARIANT, size, ORIN, TRT) == fp16
    sidecar_path(fp16).write_text("garbage")  # an unreadable sidecar is skipped, not fatal
    assert find_matching_engine(tmp_path, VARIANT, size, ORIN, TRT) == dla


@pytest.mark.parametrize("stride", [8, 16, 32])
def test_dynamic_profile_spans_low_to_full_with_valid_sizes(stride: int) -> None:
    opt = (353, 641) if stride != 8 else (361, 641)
    profile = dynamic_profile(opt, stride)
    assert profile["opt"] == opt
    for key in ("min", "max"):
        assert is_valid_input_size(*profile[key], stride)
    assert profile["min"][0] < opt[0] < profile["max"][0]
    assert profile["min"][1] < opt[1] < profile["max"][1]
    assert profile["max"][0] >= 2 * opt[0] - stride and profile["min"][0] <= opt[0] // 2 + 1


def test_rebuild_command_for_an_engine_built_from_a_dynamic_onnx(tmp_path: Path) -> None:
    profile = dynamic_profile((353, 641), 16)
    sidecar = read_sidecar(write_engine(tmp_path, size=None, profile=profile, dla_core=1))
    command = sidecar.rebuild_command()
    assert command.startswith("python -m convert build-engine --onnx ")
    assert "--height 353 --width 641" in command and "--dla-core 1" in command
    assert command.endswith("--force")
