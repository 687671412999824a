"""Every kernel on real photos against the CPU reference (needs pycuda and a CUDA device).

Each test runs the GPU path and the CPU path (runtime.processor / runtime.effects) with the
same settings and geometry and compares within the stated tolerance. Without pycuda or a GPU
the tests skip with the reason; the kernels are still compiled by test_compile.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from runtime.cuda.memory import CudaDevice
from runtime.cuda.processor import CudaFrameProcessor
from runtime.effects import Compositor
from runtime.processor import FrameProcessor
from runtime.resample import preprocess
from runtime.settings import Settings

pytestmark = [pytest.mark.cuda, pytest.mark.slow]
VARIANT = "mobilenet-float-050-stride16"


@pytest.fixture(scope="module")
def device() -> Iterator[CudaDevice]:
    try:
        import pycuda.driver as cuda
    except ImportError as exc:  # not installed, or no libcuda (no NVIDIA driver)
        pytest.skip(f"pycuda cannot be imported ({exc}): pip install '.[gpu]' on a CUDA machine")
    try:
        cuda.init()
        count = cuda.Device.count()
    except cuda.Error as exc:
        pytest.skip(f"no usable CUDA driver: {exc}")
    if count == 0:
        pytest.skip("no CUDA device")
    dev = CudaDevice()
    yield dev
    dev.close()


@pytest.fixture(scope="module")
def backend(device: CudaDevice, models_dir: Path) -> Iterator[Any]:
    from runtime.backends.onnxruntime import OnnxRuntimeBackend
    from runtime.models import find_onnx

    b = OnnxRuntimeBackend(find_onnx(VARIANT), VARIANT)
    yield b
    b.close()


@pytest.fixture(params=["astronaut", "cameraman"])
def photo(
    request: pytest.FixtureRequest, astronaut: np.ndarray, cameraman: np.ndarray
) -> np.ndarray:
    """A real photo as BGR, 512 wide and 384 high (the model pads it to its aspect ratio)."""
    rgb = astronaut if request.param == "astronaut" else cameraman
    return np.ascontiguousarray(cv2.cvtColor(rgb[:384], cv2.COLOR_RGB2BGR))


def settings(**kw: Any) -> Settings:
    return Settings.model_validate({"variant": VARIANT, "backend": "onnxruntime", **kw})


def to_yuyv(bgr: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2YUV_YUYV))


def assert_close_u8(gpu: np.ndarray, cpu: np.ndarray, mean: float, level: int) -> None:
    """Mean absolute difference below `mean` and under 0.1 % of values off by more than
    `level` (the CPU rounds to uint8 after each OpenCV pass, the GPU once at the end)."""
    diff = np.abs(gpu.astype(np.int16) - cpu.astype(np.int16))
    assert gpu.shape == cpu.shape
    assert diff.mean() < mean, diff.mean()
    assert (diff > level).mean() < 1e-3, (diff > level).mean()


@pytest.mark.parametrize("fmt", ["BGR", "YUYV"])
@pytest.mark.parametrize("fp16", [False, True], ids=["fp32", "fp16"])
def test_preprocess_matches_cpu(
    device: CudaDevice, backend: Any, photo: np.ndarray, fmt: str, fp16: bool
) -> None:
    proc = CudaFrameProcessor(settings(), backend, device, frame_format=fmt)
    frame = to_yuyv(photo) if fmt == "YUYV" else photo
    # The CPU path of a YUYV camera: OpenCV's decode, then the reference pre-process.
    bgr = np.asarray(
        cv2.cvtColor(frame, cv2.COLOR_YUV2BGR_YUYV) if fmt == "YUYV" else photo, np.uint8
    )
    expected = preprocess(bgr, proc.geometry(*photo.shape[:2]))
    got = proc.model_input(frame, fp16=fp16).astype(np.float32)
    # fp32: float rounding; fp16: half precision of 0..255 (step 0.125 near 255);
    # YUYV: the decode may round a channel one level apart from OpenCV's fixed point.
    atol = 3e-3 + (0.13 if fp16 else 0.0) + (1.0 if fmt == "YUYV" else 0.0)
    np.testing.assert_allclose(got, expected, rtol=0, atol=atol)
    proc.close()


@pytest.mark.parametrize("feather", [0, 5])
def test_mask_matches_cpu(
    device: CudaDevice, backend: Any, photo: np.ndarray, feather: int
) -> None:
    s = settings(feather=feather, smoothing=0.6, segmentation_threshold=0.7)
    cpu = FrameProcessor(s, backend=backend)
    gpu = CudaFrameProcessor(s, backend, device)
    # Two frames, so the temporal smoothing (state kept on the GPU) is compared too.
    for frame in (photo, np.ascontiguousarray(np.roll(photo, 24, axis=1))):
        expected = cpu.segment(frame).mask
        gpu.segment(frame)
        got = gpu.download_mask()
        # Identical up to pixels whose score is within float rounding of the threshold.
        assert (np.abs(got - expected) > 1e-3).mean() < 1e-3
    assert 0.05 < (got > 0.5).mean() < 0.95
    gpu.close()


def test_part_ids_match_cpu(device: CudaDevice, backend: Any, photo: np.ndarray) -> None:
    s = settings(effect="parts")
    expected = FrameProcessor(s, backend=backend).segment(photo, parts=True).part_ids
    gpu = CudaFrameProcessor(s, backend, device)
    gpu.segment(photo, parts=True)
    got = gpu.download_part_ids()
    assert expected is not None
    person = expected >= 0
    assert person.any()
    assert (got != expected).mean() < 2e-3
    assert (got[person] == expected[person]).mean() > 0.995
    gpu.close()


EFFECTS: list[dict[str, Any]] = [
    {"effect": "none"},
    {"effect": "none", "flip_horizontal": True},
    {"effect": "blur", "background_blur_amount": 2, "edge_blur_amount": 0},
    {"effect": "blur", "background_blur_amount": 12, "edge_blur_amount": 3},
    {
        "effect": "blur",
        "background_blur_amount": 20,
        "edge_blur_amount": 8,
        "flip_horizontal": True,
    },
    {"effect": "replace", "edge_blur_amount": 3},
    {"effect": "mask", "mask": {"opacity": 0.7, "mask_blur_amount": 0}},
    {
        "effect": "mask",
        "mask": {
            "foreground_color": (255, 0, 0, 128),
            "background_color": (0, 0, 255, 255),
            "opacity": 0.5,
            "mask_blur_amount": 6,
        },
    },
    {"effect": "parts", "parts": {"opacity": 0.7}},
    {"effect": "parts", "parts": {"opacity": 0.6, "face_blur": True, "face_blur_amount": 6}},
]


@pytest.mark.parametrize("out_format", ["BGR", "YUYV"])
@pytest.mark.parametrize("options", EFFECTS, ids=lambda o: "-".join(f"{v}" for v in o.values()))
def test_composite_matches_cpu(
    device: CudaDevice,
    backend: Any,
    photo: np.ndarray,
    cameraman: np.ndarray,
    tmp_path: Path,
    options: dict[str, Any],
    out_format: str,
) -> None:
    if options["effect"] == "replace":
        picture = tmp_path / "background.png"
        cv2.imwrite(str(picture), cv2.resize(cameraman, (300, 400)))  # scaled to cover
        options = {**options, "background": str(picture)}
    s = settings(**options)
    gpu = CudaFrameProcessor(s, backend, device, output_format=out_format)
    result = gpu.segment(photo)
    got = gpu.composite(photo, result).copy()
    # The CPU effect on the GPU's own mask and part ids: this compares the compositing alone.
    mask = gpu.download_mask()
    ids = gpu.download_part_ids() if result.parts else None
    expected = Compositor(s).composite(photo, mask, ids)
    if out_format == "YUYV":
        expected = to_yuyv(expected)
    assert_close_u8(got, expected, mean=0.5, level=3)
    gpu.close()


def test_a_frame_size_change_reallocates_once(
    device: CudaDevice, backend: Any, photo: np.ndarray
) -> None:
    gpu = CudaFrameProcessor(settings(effect="blur"), backend, device)
    gpu.process(photo)
    first = gpu.buffers(*photo.shape[:2])
    gpu.process(photo)
    assert gpu.buffers(*photo.shape[:2]) is first  # allocated once per resolution
    small = np.ascontiguousarray(photo[:256, :320])
    out = gpu.process(small)
    assert out.shape == small.shape
    assert gpu.buffers(256, 320) is not first
    gpu.close()
