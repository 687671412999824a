"""The OpenVINO backend against ONNX Runtime on the same ONNX file and the same model inputs."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from core.errors import UserError
from runtime.backends import create_backend, create_cpu_backend, default_cpu_backend
from runtime.backends.onnxruntime import OnnxRuntimeBackend
from runtime.backends.openvino import OpenVinoBackend, openvino_unavailable_reason
from runtime.demo import DemoClip
from runtime.geometry import frame_geometry
from runtime.models import find_onnx
from runtime.resample import preprocess_planar
from runtime.settings import Settings

VARIANT = "mobilenet-float-050-stride16"
# Two runtimes, two sets of kernels (summation order): logits of magnitude up to about 10
# agree to about 1e-5; a hundred times that still leaves masks the same (the reference tests
# hold both backends to the official library).
LOGIT_TOLERANCE = 1e-3

pytestmark = pytest.mark.skipif(
    openvino_unavailable_reason() is not None,
    reason=f"OpenVINO cannot run here: {openvino_unavailable_reason()}",
)


@pytest.fixture(scope="module")
def onnx_path(models_dir: Path) -> Path:
    return find_onnx(VARIANT)


@pytest.fixture(scope="module")
def onnxruntime(onnx_path: Path) -> Iterator[OnnxRuntimeBackend]:
    backend = OnnxRuntimeBackend(onnx_path, VARIANT, threads=1)
    yield backend
    backend.close()


def _inputs(width: int, height: int, planar: tuple[float, float] | None) -> list[np.ndarray]:
    """Model inputs of real frames (the demo clip: a photo of a person moving)."""
    assert planar is not None
    g = frame_geometry(height, width, "medium", 16)
    clip = DemoClip(width, height)
    return [preprocess_planar(clip.frame(i * 11), g, *planar) for i in range(4)]


@pytest.mark.slow
@pytest.mark.parametrize("size", [(640, 480), (1280, 720), (480, 640)])
def test_logits_agree_with_onnxruntime(
    onnx_path: Path, onnxruntime: OnnxRuntimeBackend, size: tuple[int, int]
) -> None:
    backend = OpenVinoBackend(onnx_path, VARIANT, threads=1)
    try:
        assert backend.planar_input == onnxruntime.planar_input
        for model_input in _inputs(*size, backend.planar_input):
            got = backend.run(model_input, parts=True)
            want = onnxruntime.run(model_input, parts=True)
            assert got.segments.shape == want.segments.shape
            np.testing.assert_allclose(got.segments, want.segments, atol=LOGIT_TOLERANCE)
            assert got.part_heatmaps is not None and want.part_heatmaps is not None
            np.testing.assert_allclose(got.part_heatmaps, want.part_heatmaps, atol=LOGIT_TOLERANCE)
            assert backend.run(model_input).part_heatmaps is None
    finally:
        backend.close()


@pytest.mark.slow
def test_the_nhwc_image_gives_the_same_logits(onnx_path: Path) -> None:
    backend = OpenVinoBackend(onnx_path, VARIANT, threads=1)
    try:
        assert backend.planar_input is not None
        scale, shift = backend.planar_input
        planar = _inputs(640, 480, backend.planar_input)[0]
        nhwc = ((planar[0].transpose(1, 2, 0) - np.float32(shift)) / np.float32(scale)).astype(
            np.float32
        )
        np.testing.assert_allclose(
            backend.run(nhwc).segments, backend.run(planar).segments, atol=LOGIT_TOLERANCE
        )
    finally:
        backend.close()


@pytest.mark.slow
def test_frames_run_at_once_from_threads_equal_one_at_a_time(onnx_path: Path) -> None:
    backend = OpenVinoBackend(onnx_path, VARIANT, threads=1)
    try:
        assert backend.planar_input is not None
        inputs = _inputs(640, 480, backend.planar_input) + _inputs(1280, 720, backend.planar_input)
        want = [backend.run(x).segments for x in inputs]
        got: dict[tuple[int, int], np.ndarray] = {}
        start = threading.Barrier(3)

        def worker(k: int) -> None:
            start.wait()
            for r in range(3):
                for i in range(4):  # each thread keeps to one size, the sizes alternate
                    index = 4 * (k % 2) + i
                    got[(k, r * 4 + i)] = backend.run(inputs[index]).segments
                    assert np.array_equal(got[(k, r * 4 + i)], want[index]), (k, r, i)

        threads = [threading.Thread(target=worker, args=(k,)) for k in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(got) == 36  # every run of every thread finished and matched
    finally:
        backend.close()


@pytest.mark.slow
def test_a_size_change_recompiles_and_gives_a_fresh_backend_s_logits(onnx_path: Path) -> None:
    backend = OpenVinoBackend(onnx_path, VARIANT, threads=1, input_size=None)
    assert backend.input_size is None  # any size, as ONNX Runtime's dynamic file
    try:
        assert backend.planar_input is not None
        small, big = (
            _inputs(320, 240, backend.planar_input),
            _inputs(800, 600, backend.planar_input),
        )
        first = backend.run(small[0]).segments
        backend.run(big[0])
        assert np.array_equal(backend.run(small[0]).segments, first)
    finally:
        backend.close()
    with pytest.raises(RuntimeError, match="closed"):
        backend.run(small[0])


@pytest.mark.slow
def test_processor_masks_match_onnxruntime_on_a_photo(models_dir: Path, astronaut) -> None:
    from runtime.processor import FrameProcessor

    frame = cv2.cvtColor(astronaut, cv2.COLOR_RGB2BGR)
    masks: dict[str, tuple[np.ndarray, np.ndarray | None]] = {}
    for name in ("openvino", "onnxruntime"):
        processor = FrameProcessor(Settings(effect="none", backend=name, threads=1))
        try:
            result = processor.segment(frame, parts=True)
            assert processor.backend is not None and processor.backend.name == name
            masks[name] = (result.mask, result.part_ids)
        finally:
            processor.close()
    assert np.array_equal(masks["openvino"][0], masks["onnxruntime"][0])
    ids, want_ids = masks["openvino"][1], masks["onnxruntime"][1]
    assert ids is not None and want_ids is not None and np.array_equal(ids, want_ids)


@pytest.mark.slow
def test_auto_and_the_cpu_choice_pick_openvino(models_dir: Path) -> None:
    assert default_cpu_backend() == "openvino"
    for settings in (Settings(backend="auto"), Settings(backend="openvino")):
        backend = create_backend(settings, (353, 641))
        try:
            assert backend.name == "openvino"
        finally:
            backend.close()
    explicit = create_cpu_backend(Settings(backend="onnxruntime"))
    assert explicit.name == "onnxruntime"
    explicit.close()


def test_a_file_of_another_variant_is_refused(onnx_path: Path) -> None:
    with pytest.raises(UserError, match="export-onnx mobilenet-float-050-stride8"):
        OpenVinoBackend(onnx_path, "mobilenet-float-050-stride8")


def test_a_damaged_file_is_one_sentence(tmp_path: Path) -> None:
    damaged = tmp_path / "model.onnx"
    damaged.write_bytes(b"\x08\x07garbage" * 100)
    with pytest.raises(UserError) as err:
        OpenVinoBackend(damaged, VARIANT)
    message = str(err.value)
    assert message.startswith(f"ONNX file {damaged} ")
    assert f"export-onnx {VARIANT}" in message and message.endswith(".")


def test_without_openvino_auto_falls_back_and_explicit_says_why(
    models_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # OpenVINO is installed here; a failed import is what a machine without it sees.
    monkeypatch.setitem(sys.modules, "openvino", None)
    openvino_unavailable_reason.cache_clear()
    try:
        reason = openvino_unavailable_reason()
        assert reason is not None and "pip install openvino" in reason
        assert default_cpu_backend() == "onnxruntime"
        backend = create_cpu_backend(Settings(backend="auto"))
        assert backend.name == "onnxruntime"
        backend.close()
        with pytest.raises(UserError, match=r"^The openvino backend cannot run: OpenVINO cannot"):
            create_cpu_backend(Settings(backend="openvino"))
    finally:
        openvino_unavailable_reason.cache_clear()


def test_a_graph_openvino_cannot_read_is_one_sentence(tmp_path: Path) -> None:
    from onnx import TensorProto, helper, save

    # Valid ONNX with our metadata and outputs, but an operator no runtime knows.
    node = helper.make_node("NoSuchOperator", ["image"], ["segments"], domain="example.invalid")
    graph = helper.make_graph(
        [node],
        "g",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, "h", "w", 3])],
        [helper.make_tensor_value_info("segments", TensorProto.FLOAT, None)],
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("example.invalid", 1)],
    )
    helper.set_model_props(model, {"bodypix.variant": VARIANT, "bodypix.stride": "16"})
    path = tmp_path / "odd.onnx"
    save(model, str(path))
    with pytest.raises(UserError) as err:
        OpenVinoBackend(path, VARIANT)
    message = str(err.value)
    # The cause, not OpenVINO's trace of source lines, and no line breaks.
    assert message.startswith(f"OpenVINO cannot read ONNX file {path} (No conversion rule")
    assert "NoSuchOperator" in message and "\n" not in message
    assert "--backend onnxruntime" in message and message.endswith(".")


def test_a_plugin_that_refuses_our_options_is_not_picked(
    models_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import runtime.backends.openvino.backend as openvino_backend

    # The real plugin, asked for an option it does not have (as an older or other-CPU plugin
    # might refuse one of ours): the probe compile fails and auto keeps to ONNX Runtime.
    real = openvino_backend.plugin_config
    monkeypatch.setattr(
        openvino_backend, "plugin_config", lambda threads: {**real(threads), "NO_SUCH_OPTION": "1"}
    )
    openvino_unavailable_reason.cache_clear()
    try:
        reason = openvino_unavailable_reason()
        assert reason is not None and reason.startswith("OpenVINO's CPU plugin does not run here")
        assert "NO_SUCH_OPTION" in reason and "\n" not in reason
        assert default_cpu_backend() == "onnxruntime"
    finally:
        openvino_unavailable_reason.cache_clear()
