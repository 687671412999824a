"""Which backend the runtime picks, and what an explicit but impossible TensorRT choice says."""

from __future__ import annotations

from pathlib import Path

import pytest

from convert.engine.tensorrt_support import TensorRTMissingError, tensorrt_available
from core.catalog import MODELS_DIR_ENV
from core.errors import UserError
from runtime.backends import create_backend, default_cpu_backend
from runtime.backends.tensorrt import usable_engine
from runtime.settings import Settings
from tests.convert.engine.helpers import VARIANT, write_engine

no_tensorrt = pytest.mark.skipif(
    tensorrt_available(), reason="TensorRT is installed here: these cases need it absent"
)
SIZE = (353, 641)


def test_detection_agrees_with_the_import() -> None:
    import tensorrt

    # The stubs package makes `import tensorrt` succeed without TensorRT; detection must not.
    assert tensorrt_available() == hasattr(tensorrt, "Builder")


@no_tensorrt
def test_tensorrt_requested_without_tensorrt_is_a_clear_error() -> None:
    with pytest.raises(TensorRTMissingError) as err:
        create_backend(Settings.model_validate({"backend": "tensorrt"}), SIZE)
    message = str(err.value)
    assert message.startswith("The TensorRT backend needs NVIDIA TensorRT")
    assert "JetPack" in message and message.endswith(".")


@no_tensorrt
def test_loading_an_engine_without_tensorrt_is_a_clear_error(tmp_path: Path) -> None:
    from runtime.backends.tensorrt.backend import TensorRTBackend

    engine = write_engine(tmp_path / VARIANT / "engines")
    with pytest.raises(UserError, match="needs NVIDIA TensorRT"):
        TensorRTBackend(engine, VARIANT)


@no_tensorrt
def test_auto_ignores_engines_without_tensorrt(tmp_path: Path) -> None:
    write_engine(tmp_path / VARIANT / "engines")
    assert usable_engine(VARIANT, SIZE, tmp_path) is None
    assert usable_engine(VARIANT, None, tmp_path) is None


@pytest.mark.slow
def test_auto_without_a_matching_engine_runs_the_cpu_backend(
    models_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from convert.onnx_export import ensure_onnx

    onnx = ensure_onnx(VARIANT, dynamic=True, models_dir=models_dir)
    # An engines folder holding only an engine for another GPU/TensorRT: never picked.
    monkeypatch.setenv(MODELS_DIR_ENV, str(tmp_path))
    monkeypatch.setenv("BODYPIX_ONNX", str(onnx))
    write_engine(tmp_path / VARIANT / "engines", trt="0.0.0.0")
    backend = create_backend(Settings.model_validate({"backend": "auto", "variant": VARIANT}), SIZE)
    try:
        assert backend.name == default_cpu_backend()
    finally:
        backend.close()


def test_engine_tensor_types_map_to_numpy() -> None:
    import numpy as np

    from runtime.backends.tensorrt.backend import DeviceTensor, numpy_dtype

    assert numpy_dtype("FLOAT") == np.float32 and numpy_dtype("HALF") == np.float16
    with pytest.raises(UserError, match="FP8"):
        numpy_dtype("FP8")
    tensor = DeviceTensor("segments", 1234, (1, 23, 41, 1), numpy_dtype("FLOAT"))
    assert tensor.nbytes == 23 * 41 * 4
