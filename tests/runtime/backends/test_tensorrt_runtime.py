"""The real thing: build an engine with TensorRT and run it against ONNX Runtime.

Skipped where TensorRT or a CUDA GPU is missing (CI, development machines); runs unchanged on a
Jetson or a PC with an NVIDIA GPU and TensorRT. Nothing here stands in for TensorRT.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from convert.cli import main
from convert.engine.naming import sidecar_path
from convert.engine.tensorrt_support import tensorrt_available
from core.catalog import MODELS_DIR_ENV
from core.errors import UserError
from runtime.backends import create_backend
from runtime.backends.base import SegmentationBackend
from runtime.settings import Settings

VARIANT = "mobilenet-float-050-stride16"

pytestmark = [
    pytest.mark.tensorrt,
    pytest.mark.cuda,
    pytest.mark.slow,
    pytest.mark.skipif(
        not tensorrt_available(),
        reason="needs the TensorRT runtime (JetPack's python3-libnvinfer or NVIDIA's pip "
        "index); TensorRT cannot be imported here",
    ),
]


@pytest.fixture(scope="module")
def gpu() -> None:
    from convert.engine.gpu import current_gpu

    try:
        current_gpu()
    except UserError as exc:
        pytest.skip(f"needs a CUDA GPU with pycuda: {exc}")


@pytest.fixture(scope="module")
def frame(astronaut: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(astronaut[:, :, ::-1])  # BGR, as cameras give it


@pytest.fixture(scope="module")
def input_size(frame: np.ndarray) -> tuple[int, int]:
    from runtime.geometry import frame_geometry

    return frame_geometry(frame.shape[0], frame.shape[1], "medium", 16).input_size


@pytest.fixture(scope="module")
def onnx_file(models_dir: Path, input_size: tuple[int, int]) -> Path:
    from convert.onnx_export import ensure_onnx

    return ensure_onnx(VARIANT, input_size[0], input_size[1], models_dir=models_dir)


def build_argv(engines: Path, models_dir: Path, input_size: tuple[int, int]) -> list[str]:
    """The install step's command: the ONNX this TensorRT builds from (FP32 with the FP16
    builder flag, or FP16 strongly typed) is picked by convert.engine.plan."""
    h, w = input_size
    return [
        "build-engine", VARIANT, "--height", str(h), "--width", str(w),
        "--engine-dir", str(engines), "--models-dir", str(models_dir),
    ]  # fmt: skip


@pytest.fixture(scope="module")
def engine_models_dir(
    gpu: None,
    models_dir: Path,
    input_size: tuple[int, int],
    tmp_path_factory: pytest.TempPathFactory,
) -> Path:
    """A models folder whose engines/ holds one freshly built engine."""
    root = tmp_path_factory.mktemp("models")
    engines = root / VARIANT / "engines"
    assert main(build_argv(engines, models_dir, input_size)) == 0
    return root


@pytest.fixture(scope="module")
def engine(engine_models_dir: Path) -> Path:
    (path,) = (engine_models_dir / VARIANT / "engines").glob("*.engine")
    return path


@pytest.fixture()
def trt_backend(engine: Path) -> Iterator[SegmentationBackend]:
    from runtime.backends.tensorrt.backend import TensorRTBackend

    backend = TensorRTBackend(engine, VARIANT)
    yield backend
    backend.close()


@pytest.fixture()
def ort_backend(onnx_file: Path, input_size: tuple[int, int]) -> Iterator[SegmentationBackend]:
    from runtime.backends.onnxruntime import OnnxRuntimeBackend

    backend = OnnxRuntimeBackend(onnx_file, VARIANT, input_size=input_size)
    yield backend
    backend.close()


def test_build_writes_engine_sidecar_and_timing_cache(
    engine: Path, onnx_file: Path, input_size: tuple[int, int]
) -> None:
    import tensorrt as trt

    from convert.engine.gpu import current_gpu, has_fast_fp16
    from convert.engine.plan import plan_build
    from convert.engine.tensorrt_api import probe

    sidecar = json.loads(sidecar_path(engine).read_text())
    assert sidecar["tensorrt_version"] == trt.__version__
    fast = has_fast_fp16(current_gpu().compute_capability)
    plan = plan_build(probe(trt.__version__), "fp16" if fast else "fp32", None)
    assert sidecar["precision"] == plan.precision
    assert sidecar["extra"] == {
        "network_typing": plan.typing,
        "onnx_precision": plan.onnx_precision,
        "fp16_builder_flag": plan.fp16_flag,
    }
    assert sidecar["precision"] in ("fp16", "fp32") and sidecar["input_size"] == list(input_size)
    assert [t["name"] for t in sidecar["inputs"]] == ["image"]
    assert {t["name"] for t in sidecar["outputs"]} == {"segments", "part_heatmaps"}
    assert f"trt{trt.__version__}" in engine.name and engine.name.endswith(".engine")
    assert list(engine.parent.glob("timing-*.cache"))
    assert not list(engine.parent.glob(".*.part"))


def test_build_is_idempotent_and_force_rebuilds(
    engine: Path,
    models_dir: Path,
    input_size: tuple[int, int],
    capsys: pytest.CaptureFixture[str],
) -> None:
    before = engine.stat().st_mtime_ns
    argv = build_argv(engine.parent, models_dir, input_size)
    assert main(argv) == 0
    assert "up to date" in capsys.readouterr().out
    assert engine.stat().st_mtime_ns == before
    assert main([*argv, "--force", "-q"]) == 0
    assert engine.stat().st_mtime_ns != before


def test_logits_match_onnxruntime(
    trt_backend: SegmentationBackend,
    ort_backend: SegmentationBackend,
    frame: np.ndarray,
    input_size: tuple[int, int],
) -> None:
    from runtime.geometry import frame_geometry
    from runtime.resample import preprocess

    image = preprocess(frame, frame_geometry(frame.shape[0], frame.shape[1], "medium", 16))
    assert image.shape[:2] == input_size
    got = trt_backend.run(image, parts=True)
    want = ort_backend.run(image, parts=True)
    assert got.part_heatmaps is not None and want.part_heatmaps is not None
    for a, b in ((got.segments, want.segments), (got.part_heatmaps, want.part_heatmaps)):
        assert a.shape == b.shape and a.dtype == np.float32
        # FP16 arithmetic: logits of size ~10 agree to a few hundredths.
        assert float(np.abs(a - b).max()) < 0.5
        assert float(np.abs(a - b).mean()) < 0.05
        assert float(np.corrcoef(a.ravel(), b.ravel())[0, 1]) > 0.999


def test_masks_agree_with_the_cpu_backend(
    trt_backend: SegmentationBackend, ort_backend: SegmentationBackend, frame: np.ndarray
) -> None:
    from runtime.processor import FrameProcessor

    settings = Settings.model_validate({"variant": VARIANT, "internal_resolution": "medium"})
    gpu_mask = FrameProcessor(settings, backend=trt_backend).segment(frame, parts=False).mask
    cpu_mask = FrameProcessor(settings, backend=ort_backend).segment(frame, parts=False).mask
    assert gpu_mask.shape == cpu_mask.shape == frame.shape[:2]
    person = cpu_mask > 0.5
    assert 0.05 < person.mean() < 0.95  # the astronaut is found at all
    assert float(((gpu_mask > 0.5) == person).mean()) > 0.995


def test_device_outputs_hold_the_same_logits(
    trt_backend: SegmentationBackend, frame: np.ndarray
) -> None:
    import pycuda.driver as cuda

    from runtime.backends.tensorrt.backend import TensorRTBackend
    from runtime.geometry import frame_geometry
    from runtime.resample import preprocess

    assert isinstance(trt_backend, TensorRTBackend)
    geometry = frame_geometry(frame.shape[0], frame.shape[1], "medium", 16)
    image = preprocess(frame, geometry)
    host = trt_backend.run(image).segments
    outputs = trt_backend.device_outputs()
    segments = outputs["segments"]
    assert segments.shape == (1, *geometry.logits_size, 1)
    assert outputs["part_heatmaps"].shape == (1, *geometry.logits_size, 24)
    assert trt_backend.device_input().shape == (1, *geometry.input_size, 3)
    with trt_backend.activate():
        trt_backend.enqueue()  # the input buffer still holds the image run() copied in
        copy = np.empty(segments.shape, segments.dtype)
        trt_backend.stream.synchronize()
        cuda.memcpy_dtoh(copy, segments.pointer)
    np.testing.assert_array_equal(copy[0, :, :, 0], host)


def test_auto_picks_the_engine_and_a_stale_one_is_refused(
    engine: Path,
    engine_models_dir: Path,
    input_size: tuple[int, int],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    from runtime.backends.tensorrt.backend import TensorRTBackend

    monkeypatch.setenv(MODELS_DIR_ENV, str(engine_models_dir))
    backend = create_backend(
        Settings.model_validate({"variant": VARIANT, "backend": "auto"}), input_size
    )
    try:
        assert backend.name == "tensorrt"
    finally:
        backend.close()

    stale = tmp_path / engine.name
    shutil.copy(engine, stale)
    data = json.loads(sidecar_path(engine).read_text())
    data["tensorrt_version"] = (
        "8.5.2.2" if not data["tensorrt_version"].startswith("8.5.2.2") else "10.3.0.30"
    )
    sidecar_path(stale).write_text(json.dumps(data))
    with pytest.raises(UserError, match=r"stale.*python -m convert build-engine"):
        TensorRTBackend(stale, VARIANT)
