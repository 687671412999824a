"""Every kernel and the CUDA processor against the CPU reference, on every executor present.

The host executor (the .cu files compiled for the CPU) runs these everywhere, CI included; the
same tests run on a GPU through pycuda where one exists (scripts/gpu-check.sh). Tolerances are
per effect and tight: where the CPU and GPU compute the same numbers (no blur of the frame) the
outputs must be identical, so a rounding-rule mismatch fails; where the CPU rounds after each
OpenCV pass and the GPU once, values may differ by one level.

Length (over 400 lines): one test per kernel and effect against its CPU twin, all on the same
executor fixtures; tests/runtime/cuda/test_quality.py holds issue 14's look and refinements.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from runtime.cuda.buffers import DeviceBuffer
from runtime.cuda.device import Device
from runtime.cuda.kernels import FORMATS, Kernels, composite_params
from runtime.cuda.operators import css_blur_filters
from runtime.cuda.tables import tables_from_sampling
from runtime.effects import Compositor
from runtime.effects.parts import FACE_PARTS, body_part_keep, contour_rim
from runtime.geometry import frame_geometry
from runtime.processor import FrameProcessor
from runtime.resample import preprocess, sigmoid
from tests.runtime.cuda.conftest import diff_u8, open_processor, settings, to_yuyv
from tests.runtime.cuda.test_host_numbers import apply_tables


def assert_u8(got: np.ndarray, expected: np.ndarray, level: int, share: float) -> None:
    """No value off by more than `level`, and at most `share` of values off at all."""
    diff = diff_u8(got, expected)
    assert diff.max() <= level, (diff.max(), (diff > level).mean())
    assert (diff > 0).mean() <= share, (diff > 0).mean()


@pytest.fixture(scope="module")
def kernels(pinned_device: Device) -> Kernels:
    return Kernels(pinned_device)


def run_composite_kernel(
    dev: Device, kernels: Kernels, frame: np.ndarray, frame_format: str, out_format: str
) -> np.ndarray:
    """The composite kernel with no effect: a pure format conversion (and copy)."""
    height, width = frame.shape[:2]
    out_shape = (height, width, 2 if out_format == "YUYV" else 3)
    with dev.active():
        source = DeviceBuffer(dev, frame.shape, np.uint8)
        out = DeviceBuffer(dev, out_shape, np.uint8)
        try:
            source.upload(frame)
            params = composite_params()
            params["frame"], params["frame_pitch"] = source.ptr, width * frame.shape[2]
            params["frame_format"] = FORMATS[frame_format]
            params["width"], params["height"] = width, height
            params["out"], params["out_pitch"] = out.ptr, width * out_shape[2]
            params["out_format"] = FORMATS[out_format]
            kernels.composite(params)
            return out.download()
        finally:
            source.free()
            out.free()


def test_yuyv_decode_matches_opencv(pinned_device: Device, kernels: Kernels) -> None:
    """Every Y with a grid of U, V (full range, footroom included): OpenCV's
    COLOR_YUV2BGR_YUYV clamps Y - 16 at 0; without that clamp 2.9 % of values are off."""
    y = np.arange(256, dtype=np.uint8)
    uv = np.arange(0, 256, 5, dtype=np.uint8)
    u, v = np.meshgrid(uv, uv)
    rows = u.size
    frame = np.empty((rows, 256, 2), np.uint8)
    frame[:, :, 0] = y[None, :]
    frame[:, 0::2, 1] = u.reshape(-1, 1)
    frame[:, 1::2, 1] = v.reshape(-1, 1)
    got = run_composite_kernel(pinned_device, kernels, frame, "YUYV", "BGR")
    expected = cv2.cvtColor(frame, cv2.COLOR_YUV2BGR_YUYV)
    # Float matrix vs OpenCV's fixed point: one level apart at most, rarely.
    assert_u8(got, expected, level=1, share=0.02)


def test_yuyv_encode_matches_opencv(
    pinned_device: Device, kernels: Kernels, photo: np.ndarray
) -> None:
    got = run_composite_kernel(pinned_device, kernels, photo, "BGR", "YUYV")
    assert_u8(got, to_yuyv(photo), level=1, share=0.04)
    same = run_composite_kernel(pinned_device, kernels, photo, "BGR", "BGR")
    np.testing.assert_array_equal(same, photo)


def test_upsample_sigmoid_reads_fp16_logits(pinned_device: Device, kernels: Kernels) -> None:
    geometry = frame_geometry(192, 256, "medium", 16)
    logits = np.random.default_rng(3).normal(0, 4, (*geometry.logits_size, 2)).astype(np.float16)
    rows, cols = tables_from_sampling(geometry.logits_upsampling())
    input_h, input_w = geometry.input_size
    dev = pinned_device
    with dev.active():
        source = DeviceBuffer(dev, logits.shape, np.float16)
        row_table, col_table = (
            DeviceBuffer(dev, rows.shape, rows.dtype),
            DeviceBuffer(dev, cols.shape, cols.dtype),
        )
        out = DeviceBuffer(dev, (input_h, input_w, 2), np.float32)
        try:
            source.upload(logits)
            row_table.upload(rows)
            col_table.upload(cols)
            kernels.upsample_sigmoid(
                source.ptr, True, logits.shape[1], 2, row_table.ptr, col_table.ptr,
                input_h, input_w, out.ptr,
            )  # fmt: skip
            got = out.download()
        finally:
            for buffer in (source, row_table, col_table, out):
                buffer.free()
    expected = sigmoid(apply_tables(logits.astype(np.float32), rows, cols))
    np.testing.assert_allclose(got, expected, rtol=0, atol=2e-6)


def test_filter_axis_applies_the_measured_operator(pinned_device: Device, kernels: Kernels) -> None:
    """A shrink + Gaussian pass pair of css_blur on a 3-channel float image, against the
    dense operators."""
    filters = css_blur_filters(96, 130, 7)
    assert filters.shrink is not None
    rows, cols = filters.shrink
    image = np.random.default_rng(5).uniform(0, 255, (96, 130, 3)).astype(np.float32)
    dev = pinned_device
    out_h, out_w = rows.out_size, cols.out_size
    with dev.active():
        buffers = [
            DeviceBuffer(dev, image.shape, np.float32),
            DeviceBuffer(dev, (96, out_w, 3), np.float32),
            DeviceBuffer(dev, (out_h, out_w, 3), np.float32),
        ]
        tables = {}
        try:
            for name, array in {
                "rows_start": rows.start, "rows_weights": rows.weights,
                "cols_start": cols.start, "cols_weights": cols.weights,
            }.items():  # fmt: skip
                tables[name] = DeviceBuffer(dev, array.shape, array.dtype)
                tables[name].upload(array)
            buffers[0].upload(image)
            kernels.filter_axis(
                buffers[0].ptr, 96, 130, 3, tables["cols_start"].ptr,
                tables["cols_weights"].ptr, cols.taps, out_w, 1, buffers[1].ptr,
            )  # fmt: skip
            kernels.filter_axis(
                buffers[1].ptr, 96, out_w, 3, tables["rows_start"].ptr,
                tables["rows_weights"].ptr, rows.taps, out_h, 0, buffers[2].ptr,
            )  # fmt: skip
            got = buffers[2].download()
        finally:
            for buffer in [*buffers, *tables.values()]:
                buffer.free()
    expected = np.stack(
        [rows.matrix() @ image[:, :, c].astype(np.float64) @ cols.matrix().T for c in range(3)],
        axis=-1,
    )
    np.testing.assert_allclose(got, expected, rtol=0, atol=2e-3)


def test_smooth_mask_and_part_keep(pinned_device: Device, kernels: Kernels) -> None:
    rng = np.random.default_rng(7)
    mask = rng.uniform(0, 1, 1000).astype(np.float32)
    state = rng.uniform(0, 1, 1000).astype(np.float32)
    # Face-like blobs (rims inside and outside) plus noise ids, border pixels included.
    ids = rng.integers(2, 24, (25, 40)).astype(np.int8)
    ids[rng.uniform(size=ids.shape) < 0.2] = -1
    ids[3:15, 5:20] = 0
    ids[8:25, 12:30] = 1
    ids[0:4, 30:40] = 0
    dev = pinned_device
    with dev.active():
        buffers = {
            "mask": DeviceBuffer(dev, mask.shape, np.float32),
            "state": DeviceBuffer(dev, state.shape, np.float32),
            "ids": DeviceBuffer(dev, ids.shape, np.int8),
            "keep": DeviceBuffer(dev, ids.shape, np.float32),
        }
        try:
            buffers["mask"].upload(mask)
            buffers["state"].upload(state)
            buffers["ids"].upload(ids)
            kernels.smooth_mask(buffers["mask"].ptr, 1000, 0.7, True, buffers["state"].ptr)
            kernels.part_keep(buffers["ids"].ptr, 25, 40, FACE_PARTS, buffers["keep"].ptr)
            smoothed, keep = buffers["state"].download(), buffers["keep"].download()
            kernels.smooth_mask(buffers["mask"].ptr, 1000, 0.7, False, buffers["state"].ptr)
            restarted = buffers["state"].download()
        finally:
            for buffer in buffers.values():
                buffer.free()
    expected = np.float32(0.7) * state + np.float32(1 - 0.7) * mask
    np.testing.assert_allclose(smoothed, expected, rtol=0, atol=1e-6)
    # body-pix's toMask(drawContour=true) rim, as runtime/effects/parts.py draws it.
    expected_keep = body_part_keep(ids, FACE_PARTS)
    assert (contour_rim(np.isin(ids, FACE_PARTS)) & np.isin(ids, FACE_PARTS)).sum() > 20
    np.testing.assert_array_equal(keep, expected_keep)
    np.testing.assert_array_equal(restarted, mask)


# --- the processor against the CPU processor ----------------------------------------------


@pytest.mark.parametrize("fmt", ["BGR", "YUYV"])
@pytest.mark.parametrize("fp16", [False, True], ids=["fp32", "fp16"])
def test_preprocess_matches_cpu(
    processors: list[Any],
    pinned_device: Device,
    backend: Any,
    photo: np.ndarray,
    fmt: str,
    fp16: bool,
) -> None:
    proc = open_processor(processors, settings(), backend, pinned_device, frame_format=fmt)
    frame = to_yuyv(photo) if fmt == "YUYV" else photo
    # The CPU path of a YUYV camera: OpenCV's decode, then the reference pre-process.
    bgr = np.asarray(cv2.cvtColor(frame, cv2.COLOR_YUV2BGR_YUYV) if fmt == "YUYV" else photo)
    expected = preprocess(bgr, proc.geometry(*photo.shape[:2]))
    got = proc.model_input(frame, fp16=fp16).astype(np.float32)
    # fp32: float rounding; fp16: half precision of 0..255 (step 0.125 near 255);
    # YUYV: the decode may round a channel one level apart from OpenCV's fixed point.
    atol = 3e-3 + (0.13 if fp16 else 0.0) + (1.0 if fmt == "YUYV" else 0.0)
    np.testing.assert_allclose(got, expected, rtol=0, atol=atol)


@pytest.mark.parametrize("method", ["motion", "ema"])
@pytest.mark.parametrize("feather", [0, 5])
def test_mask_matches_cpu_over_two_frames(
    processors: list[Any],
    device: Device,
    backend: Any,
    photo: np.ndarray,
    feather: int,
    method: str,
) -> None:
    options = settings(
        feather=feather, smoothing=0.6, smoothing_method=method, segmentation_threshold=0.7
    )
    cpu = FrameProcessor(options, backend=backend)
    gpu = open_processor(processors, options, backend, device)
    # Two frames, so the temporal smoothing (state kept on the GPU) is compared too.
    for frame in (photo, np.ascontiguousarray(np.roll(photo, 24, axis=1))):
        expected = cpu.segment(frame).mask
        gpu.segment(frame)
        got = gpu.download_mask()
        # Identical up to pixels whose score is within float rounding of the threshold.
        assert (np.abs(got - expected) > 1e-5).mean() < 2e-3
    assert 0.05 < (got > 0.5).mean() < 0.95


def test_part_ids_match_cpu(
    processors: list[Any], pinned_device: Device, backend: Any, photo: np.ndarray
) -> None:
    options = settings(effect="parts")
    expected = FrameProcessor(options, backend=backend).segment(photo, parts=True).part_ids
    gpu = open_processor(processors, options, backend, pinned_device)
    gpu.segment(photo, parts=True)
    got = gpu.download_part_ids()
    assert expected is not None
    person = expected >= 0
    assert person.any()
    assert (got != expected).mean() < 2e-3


@pytest.fixture(scope="module")
def background_files(
    tmp_path_factory: pytest.TempPathFactory, cameraman: np.ndarray
) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("backgrounds")
    picture = folder / "background.png"
    cv2.imwrite(str(picture), cv2.resize(cameraman, (300, 400)))  # scaled to cover
    video = folder / "background.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter.fourcc(*"MJPG"), 10.0, (160, 120))
    for i in range(3):
        writer.write(np.ascontiguousarray(np.roll(cv2.resize(cameraman, (160, 120)), 20 * i, 1)))
    writer.release()
    return {"picture": picture, "video": video}


# (options, level, share): the largest difference and the share of values that may differ.
# Exact where both paths compute the same numbers; blurs of the frame round once on the GPU
# and after every OpenCV pass on the CPU.
EFFECTS: list[tuple[dict[str, Any], int, float]] = [
    ({"effect": "none"}, 0, 0.0),
    ({"effect": "none", "flip_horizontal": True}, 0, 0.0),
    ({"effect": "blur", "background_blur_amount": 2, "edge_blur_amount": 0}, 2, 0.2),
    ({"effect": "blur", "background_blur_amount": 12, "edge_blur_amount": 3}, 2, 0.2),
    ({"effect": "blur", "background_blur_amount": 20, "edge_blur_amount": 8, "flip_horizontal": True}, 2, 0.2),
    ({"effect": "replace", "background": "picture", "edge_blur_amount": 3}, 1, 1e-3),
    ({"effect": "replace", "background": "video", "edge_blur_amount": 0}, 0, 0.0),
    ({"effect": "mask", "mask": {"opacity": 0.5, "mask_blur_amount": 0}}, 0, 0.0),
    ({"effect": "mask", "mask": {"foreground_color": (255, 0, 0, 128), "background_color": (0, 0, 255, 255), "opacity": 0.7, "mask_blur_amount": 6}}, 1, 1e-3),
    ({"effect": "parts", "parts": {"opacity": 0.7}}, 0, 0.0),
    ({"effect": "parts", "parts": {"opacity": 0.7, "no_part_color": (0, 0, 0, 0)}}, 0, 0.0),
    ({"effect": "parts", "parts": {"opacity": 0.6, "face_blur": True, "face_blur_amount": 6}}, 1, 0.01),
]  # fmt: skip


def effect_id(entry: tuple[dict[str, Any], int, float]) -> str:
    options = entry[0]
    return (
        "-".join(str(v) for k, v in options.items() if k != "mask" and k != "parts")
        + ("-face" if options.get("parts", {}).get("face_blur") else "")
        + ("-transparent" if options.get("parts", {}).get("no_part_color") else "")
        + ("-blurred" if options.get("mask", {}).get("mask_blur_amount") else "")
    )


def resolve(options: dict[str, Any], files: dict[str, Path]) -> dict[str, Any]:
    if "background" in options:
        return {**options, "background": str(files[options["background"]])}
    return options


@pytest.mark.parametrize("in_format", ["BGR", "YUYV"])
@pytest.mark.parametrize("out_format", ["BGR", "YUYV"])
@pytest.mark.parametrize("entry", EFFECTS, ids=effect_id)
def test_composite_matches_cpu(
    processors: list[Any],
    pinned_device: Device,
    backend: Any,
    photo: np.ndarray,
    background_files: dict[str, Path],
    entry: tuple[dict[str, Any], int, float],
    in_format: str,
    out_format: str,
) -> None:
    """The compositing alone: the CPU effects on the GPU's own mask and part ids."""
    options, level, share = entry
    chosen = settings(**resolve(options, background_files))
    gpu = open_processor(
        processors, chosen, backend, pinned_device, frame_format=in_format, output_format=out_format
    )
    frame = to_yuyv(photo) if in_format == "YUYV" else photo
    # The CPU path of a YUYV camera decodes with OpenCV first.
    bgr = (
        np.asarray(cv2.cvtColor(frame, cv2.COLOR_YUV2BGR_YUYV), np.uint8)
        if in_format == "YUYV"
        else photo
    )
    cpu = Compositor(chosen)
    for _ in range(2):  # a video background advances per frame on both paths
        result = gpu.segment(frame)
        got = gpu.composite(frame, result)
        mask = gpu.download_mask()
        ids = gpu.download_part_ids() if result.parts else None
        expected = cpu.composite(bgr, mask, ids)
        if out_format == "YUYV":
            expected = to_yuyv(expected)
        # The GPU decodes YUYV with a float matrix, OpenCV in fixed point (one level, rarely);
        # a YUYV output is converted from the rounded BGR pixels on both paths.
        extra_level = (in_format == "YUYV") + (out_format == "YUYV")
        extra_share = 0.03 * (in_format == "YUYV") + 0.04 * (out_format == "YUYV")
        assert_u8(got, expected, level + extra_level, share + extra_share)
    cpu.close()


def test_mask_overlay_rounds_half_up_like_the_cpu(
    processors: list[Any], pinned_device: Device, backend: Any, photo: np.ndarray
) -> None:
    """At opacity 0.5 with whole-number colours many values end in exactly .5: the CPU
    (effects/common.py `overlay`) rounds them up; half-to-even made 14.8 % one level lower."""
    chosen = settings(
        effect="mask",
        mask={
            "foreground_color": (255, 255, 255, 255),
            "background_color": (1, 3, 5, 255),
            "opacity": 0.5,
            "mask_blur_amount": 0,
        },
    )
    gpu = open_processor(processors, chosen, backend, pinned_device)
    got = gpu.process(photo)
    expected = Compositor(chosen).composite(photo, gpu.download_mask(), None)
    np.testing.assert_array_equal(got, expected)


PROCESS_EFFECTS = [
    {"effect": "blur"},
    {"effect": "replace", "background": "picture"},
    {"effect": "replace", "background": "video"},
    {"effect": "mask"},
    {"effect": "parts"},
    {"effect": "parts", "parts": {"face_blur": True}},
    {"effect": "none", "flip_horizontal": True},
]


@pytest.mark.parametrize(
    "options", PROCESS_EFFECTS, ids=lambda o: "-".join(str(v) for v in o.values())
)
def test_process_matches_the_cpu_processor_over_two_frames(
    processors: list[Any],
    device: Device,
    backend: Any,
    photo: np.ndarray,
    background_files: dict[str, Path],
    options: dict[str, Any],
) -> None:
    """The whole frame path (segment + composite, smoothing state included) against
    `FrameProcessor.process` on the same backend, in both memory modes."""
    chosen = settings(smoothing=0.5, feather=2, **resolve(options, background_files))
    cpu = FrameProcessor(chosen, backend=backend)
    gpu = open_processor(processors, chosen, backend, device)
    for frame in (photo, np.ascontiguousarray(np.roll(photo, 16, axis=1))):
        expected = cpu.process(frame).image
        got = gpu.process(frame)
        diff = diff_u8(got, expected)
        # Masks may differ on pixels within float rounding of the threshold; everything else
        # as in test_composite_matches_cpu.
        assert diff.mean() < 0.25, diff.mean()
        assert (diff > 2).mean() < 2e-3, (diff > 2).mean()
    cpu.close()


@pytest.mark.parametrize("size", [(150, 201), (255, 144)], ids=["odd-width", "portrait"])
@pytest.mark.parametrize(
    "options",
    [{"effect": "blur", "flip_horizontal": True}, {"effect": "mask"}, {"effect": "parts"}],
)
def test_odd_and_portrait_frames(
    processors: list[Any],
    pinned_device: Device,
    backend: Any,
    astronaut: np.ndarray,
    size: tuple[int, int],
    options: dict[str, Any],
) -> None:
    height, width = size
    frame = np.ascontiguousarray(cv2.resize(astronaut, (width, height))[:, :, ::-1], np.uint8)
    chosen = settings(**options)
    gpu = open_processor(processors, chosen, backend, pinned_device)
    result = gpu.segment(frame)
    got = gpu.composite(frame, result)
    ids = gpu.download_part_ids() if result.parts else None
    expected = Compositor(chosen).composite(frame, gpu.download_mask(), ids)
    assert_u8(got, expected, *((2, 0.2) if options["effect"] == "blur" else (1, 1e-3)))


def test_a_frame_size_change_reallocates_once(
    processors: list[Any], pinned_device: Device, backend: Any, photo: np.ndarray
) -> None:
    gpu = open_processor(processors, settings(effect="blur"), backend, pinned_device)
    gpu.process(photo)
    first = gpu.buffers(*photo.shape[:2])
    gpu.process(photo)
    assert gpu.buffers(*photo.shape[:2]) is first  # allocated once per resolution
    small = np.ascontiguousarray(photo[:128, :160])
    out = gpu.process(small)
    assert out.shape == small.shape
    assert gpu.buffers(128, 160) is not first


def test_outputs_are_never_written_again(
    processors: list[Any], device: Device, backend: Any, photo: np.ndarray
) -> None:
    """An output keeps the composited frame: later frames go elsewhere; a frame nobody
    holds any more is reused."""
    gpu = open_processor(processors, settings(effect="blur"), backend, device)
    first = gpu.process(photo)
    kept = first.copy()
    held = [first]
    for shift in range(1, 12):  # more than the pool holds: copies are handed out then
        held.append(gpu.process(np.ascontiguousarray(np.roll(photo, 8 * shift, axis=1))))
    np.testing.assert_array_equal(first, kept)
    assert len({int(a.ctypes.data) for a in held}) == len(held)
    pooled = {int(a.ctypes.data) for a in held[:8]}
    assert len(pooled) == 8  # the pool grew to its limit, then copies were handed out
    del held, first
    reused = [int(gpu.process(photo).ctypes.data) for _ in range(3)]
    # The same pooled frame each time once nobody holds it.
    assert len(set(reused)) == 1 and reused[0] in pooled


def test_capture_frames_are_read_in_place(
    processors: list[Any], device: Device, backend: Any, photo: np.ndarray
) -> None:
    """Capture decodes into the ring; segment/composite read it without a host copy, and the
    result equals that of a plain array."""
    gpu = open_processor(processors, settings(effect="mask"), backend, device)
    expected = gpu.process(photo).copy()
    height, width = photo.shape[:2]
    ring = gpu.capture_frames(height, width, 3)
    assert len(ring) == 3 and all(f.shape == photo.shape for f in ring)
    staging = gpu.buffers(*photo.shape[:2]).frame.host
    staging[...] = 7  # a host copy would overwrite this
    ring[1][...] = photo
    result = gpu.segment(ring[1])
    got = gpu.composite(ring[1], result)
    np.testing.assert_array_equal(got, expected)
    assert (staging == 7).all()
