"""How each TensorRT version builds each precision (convert.engine.plan), fast FP16 per GPU,
the DLA checks, thread-safe build progress and the all-or-nothing engine write.

The `TensorRTApi` values below describe which API names each TensorRT release has (what
`tensorrt_api.probe` reads with hasattr); they test our decisions, not TensorRT.
"""

from __future__ import annotations

import io
import re
import sys
import threading
from pathlib import Path

import pytest

from convert.engine.builder import check_dla_core, resolve_precision
from convert.engine.ensure import write_engine_files
from convert.engine.gpu import GpuInfo, has_fast_fp16
from convert.engine.plan import BuildPlan, TensorRTApi, plan_build
from convert.engine.progress import BuildProgress
from convert.engine.sidecar import read_sidecar, sidecar_path
from convert.engine.tensorrt_api import parse_version
from core.errors import UserError
from tests.convert.engine.helpers import write_engine

# JetPack 5.1 and 6.0: no strongly typed networks, EXPLICIT_BATCH needed for ONNX.
TRT_8_5 = TensorRTApi((8, 5), fp16_flag=True, strongly_typed_flag=False, explicit_batch_flag=True)
TRT_8_6 = TensorRTApi((8, 6), fp16_flag=True, strongly_typed_flag=False, explicit_batch_flag=True)
# JetPack 6.1/6.2: both typings; EXPLICIT_BATCH still defined but deprecated (ignored).
TRT_10_3 = TensorRTApi((10, 3), fp16_flag=True, strongly_typed_flag=True, explicit_batch_flag=True)
# Weak typing deprecated from 10.12 on.
TRT_10_13 = TensorRTApi(
    (10, 13), fp16_flag=True, strongly_typed_flag=True, explicit_batch_flag=True
)
# 11.x: no FP16 builder flag; STRONGLY_TYPED kept but ignored, or gone: both must work.
TRT_11 = TensorRTApi((11, 0), fp16_flag=False, strongly_typed_flag=True, explicit_batch_flag=False)
TRT_11_NO_FLAG = TensorRTApi(
    (11, 4), fp16_flag=False, strongly_typed_flag=False, explicit_batch_flag=False
)

WEAK_FP16 = ("fp32", "weak", True)  # (ONNX precision, typing, FP16 builder flag)
STRONG_FP16 = ("fp16", "strong", False)


def _shape(plan: BuildPlan) -> tuple[str, str, bool]:
    return (plan.onnx_precision, plan.typing, plan.fp16_flag)


@pytest.mark.parametrize(
    ("api", "expected"),
    [
        (TRT_8_5, WEAK_FP16),
        (TRT_8_6, WEAK_FP16),
        (TRT_10_3, WEAK_FP16),
        (TRT_10_13, STRONG_FP16),
        (TRT_11, STRONG_FP16),
        (TRT_11_NO_FLAG, STRONG_FP16),
    ],
)
def test_fp16_engines_per_version(api: TensorRTApi, expected: tuple[str, str, bool]) -> None:
    """The variant's ONNX is exported for the build: the plan says which one."""
    plan = plan_build(api, "fp16", None)
    assert plan.precision == "fp16" and _shape(plan) == expected
    assert not plan.deprecated
    assert plan.explicit_batch_flag == (api.version[0] == 8)
    # The flag where strong typing is optional (9.x/10.x); 11.x is strongly typed regardless.
    assert plan.strongly_typed_flag == (plan.typing == "strong" and api.version[0] == 10)


@pytest.mark.parametrize(
    ("api", "typing"),
    [
        (TRT_8_5, "weak"),
        (TRT_8_6, "weak"),
        (TRT_10_3, "strong"),
        (TRT_10_13, "strong"),
        (TRT_11, "strong"),
    ],
)
def test_fp32_engines_stay_strongly_typed_where_tensorrt_has_it(
    api: TensorRTApi, typing: str
) -> None:
    plan = plan_build(api, "fp32", None)
    assert (plan.onnx_precision, plan.typing, plan.fp16_flag) == ("fp32", typing, False)
    assert plan_build(api, "fp32", "fp32") == plan


def test_a_given_fp16_onnx_is_built_strongly_typed_where_tensorrt_can() -> None:
    for api in (TRT_10_3, TRT_10_13, TRT_11, TRT_11_NO_FLAG):
        assert _shape(plan_build(api, "fp16", "fp16")) == STRONG_FP16
    # 8.x has no strongly typed networks: the FP32 ONNX and the FP16 flag are the way there.
    for api in (TRT_8_5, TRT_8_6):
        with pytest.raises(UserError, match=r"no strongly typed networks .* give it the FP32 ONNX"):
            plan_build(api, "fp16", "fp16")


def test_a_given_fp32_onnx_for_fp16() -> None:
    for api in (TRT_8_6, TRT_10_3):
        assert _shape(plan_build(api, "fp16", "fp32")) == WEAK_FP16
    # 10.12+: still possible through the deprecated flag, and the plan says so.
    plan = plan_build(TRT_10_13, "fp16", "fp32")
    assert _shape(plan) == WEAK_FP16 and plan.deprecated
    # 11.x: impossible; the message names the export that fixes it.
    with pytest.raises(UserError, match=r"only from an FP16 ONNX .* --precision fp16"):
        plan_build(TRT_11, "fp16", "fp32")


def test_an_fp16_onnx_cannot_give_an_fp32_engine() -> None:
    for api in (TRT_8_6, TRT_10_3, TRT_11):
        with pytest.raises(UserError, match="cannot give an FP32 engine"):
            plan_build(api, "fp32", "fp16")


def test_plan_description_for_logs() -> None:
    assert plan_build(TRT_10_3, "fp16", None).describe() == (
        "weakly typed, FP16 builder flag, FP32 ONNX"
    )
    assert plan_build(TRT_11, "fp16", None).describe() == (
        "strongly typed, types from the ONNX file, FP16 ONNX"
    )


def test_tensorrt_versions_are_read() -> None:
    assert parse_version("8.5.2.2") == (8, 5)
    assert parse_version("10.13.0.35") == (10, 13)
    assert parse_version("11") == (11, 0)
    with pytest.raises(UserError, match="Cannot read the TensorRT version"):
        parse_version("ten")


@pytest.mark.parametrize(
    ("capability", "fast"),
    [
        ((5, 0), False),  # Maxwell desktop: no FP16 arithmetic
        ((5, 2), False),
        ((5, 3), True),  # Jetson Nano / TX1
        ((6, 0), True),  # P100
        ((6, 1), False),  # GeForce 10xx, P4/P40: 1/64 of FP32
        ((6, 2), True),  # Jetson TX2
        ((7, 2), True),  # Xavier
        ((7, 5), True),  # Turing
        ((8, 7), True),  # Orin
        ((8, 9), True),  # Ada
        ((10, 0), True),  # Blackwell
    ],
)
def test_fast_fp16_from_the_compute_capability(capability: tuple[int, int], fast: bool) -> None:
    assert has_fast_fp16(capability) == fast


def test_precision_defaults_to_fp16_where_the_gpu_has_it() -> None:
    orin, gtx1080 = GpuInfo("Orin", (8, 7)), GpuInfo("NVIDIA GeForce GTX 1080", (6, 1))
    assert resolve_precision(None, orin) == "fp16"
    assert resolve_precision("fp32", orin) == "fp32"
    assert resolve_precision(None, orin, "fp16") == "fp16"
    assert resolve_precision(None, gtx1080) == "fp32"
    assert resolve_precision("fp32", gtx1080) == "fp32"
    with pytest.raises(UserError, match=r"GTX 1080 \(compute capability 6.1\) has no fast FP16"):
        resolve_precision("fp16", gtx1080)
    with pytest.raises(UserError, match="has no fast FP16"):
        resolve_precision(None, gtx1080, "fp16")  # an FP16 ONNX file asks for FP16 too


def test_dla_core_checks() -> None:
    check_dla_core(0, 2)
    check_dla_core(1, 2)
    with pytest.raises(UserError, match=r"has no DLA .* drop --dla-core"):
        check_dla_core(0, 0)
    with pytest.raises(UserError, match=r"DLA core 2 does not exist .* one of 0..1"):
        check_dla_core(2, 2)


def test_build_progress_survives_tensorrt_calling_from_many_threads() -> None:
    """TensorRT calls the monitor from its builder threads: phases start, step and finish
    concurrently while the progress line is drawn from the shared phase table."""
    stream = io.StringIO()
    progress = BuildProgress(stream, tty=True)
    errors: list[BaseException] = []
    # Switch threads as often as possible, as TensorRT's native threads would interleave.
    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)

    def work(worker: int) -> None:
        try:
            for round_ in range(200):
                phase = f"phase-{worker}-{round_}"
                progress.phase_start(phase, "top", 3)
                for step in range(3):
                    assert progress.step_complete(phase, step)
                progress.phase_finish(phase)
        except BaseException as exc:
            errors.append(exc)

    progress.phase_start("top", None, 8)
    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    try:
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(previous)
    progress.phase_finish("top")
    assert errors == []
    # Every redraw is whole: nothing interleaved inside one "\r\x1b[K..." update.
    updates = stream.getvalue().split("\r\x1b[K")
    assert all(re.fullmatch(r"(top \d+/8( > phase-\d+-\d+ \d+/3)*)?", u) for u in updates[1:-1])
    assert updates[-1].startswith("TensorRT: top done in")


def test_a_log_gets_one_line_per_top_level_phase() -> None:
    stream = io.StringIO()
    progress = BuildProgress(stream, tty=False)
    progress.phase_start("Building engine", None, 2)
    progress.phase_start("Tactics", "Building engine", 5)
    progress.step_complete("Tactics", 0)
    progress.phase_finish("Tactics")
    progress.phase_finish("Building engine")
    lines = stream.getvalue().splitlines()
    assert lines[0] == "TensorRT: Building engine (2 steps)"
    assert lines[1].startswith("TensorRT: Building engine done in") and len(lines) == 2


def test_engine_and_sidecar_are_written_both_or_neither(tmp_path: Path) -> None:
    described = read_sidecar(write_engine(tmp_path / "model"))
    engine = tmp_path / "engines" / "x.engine"
    engine.parent.mkdir()
    sidecar_path(engine).mkdir()  # the sidecar cannot be written: a folder is in the way
    with pytest.raises(UserError, match=r"Cannot write the TensorRT engine .* --engine-dir"):
        write_engine_files(engine, b"serialized", lambda: described)
    assert not engine.exists()

    def failing() -> None:
        raise RuntimeError("hashing failed")

    other = tmp_path / "engines" / "y.engine"
    with pytest.raises(RuntimeError):
        write_engine_files(other, b"serialized", failing)  # type: ignore[arg-type]
    assert sorted(p.name for p in other.parent.iterdir()) == [sidecar_path(engine).name]

    ok = tmp_path / "engines" / "z.engine"
    assert write_engine_files(ok, b"serialized", lambda: described) == described
    assert ok.read_bytes() == b"serialized" and sidecar_path(ok).is_file()
