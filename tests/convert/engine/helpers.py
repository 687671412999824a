"""Small real files for the tests around TensorRT: an ONNX file and a described engine file."""

from __future__ import annotations

from pathlib import Path

from convert.engine.gpu import GpuInfo
from convert.engine.naming import Precision, engine_file_name
from convert.engine.sidecar import EngineSidecar, TensorSpec, write_sidecar
from core.atomic import sha256_file

ORIN = GpuInfo("Orin", (8, 7))
RTX = GpuInfo("NVIDIA GeForce RTX 4090", (8, 9))
TRT = "10.3.0.30"
VARIANT = "mobilenet-float-050-stride16"


def write_onnx(
    path: Path, height: int | str = 353, width: int | str = 641, meta: dict[str, str] | None = None
) -> Path:
    """A tiny valid ONNX graph with BodyPix's input and output names (x -> Identity)."""
    import onnx
    from onnx import TensorProto, helper

    image = helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, height, width, 3])
    segments = helper.make_tensor_value_info("segments", TensorProto.FLOAT, [1, height, width, 3])
    graph = helper.make_graph(
        [helper.make_node("Identity", ["image"], ["segments"], name="identity")],
        "tiny",
        [image],
        [segments],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    default = {"bodypix.variant": VARIANT, "bodypix.stride": "16"}
    for key, value in (default if meta is None else meta).items():
        model.metadata_props.add(key=key, value=value)
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def write_engine(
    folder: Path,
    gpu: GpuInfo = ORIN,
    trt: str = TRT,
    precision: Precision = "fp16",
    size: tuple[int, int] | None = (353, 641),
    variant: str = VARIANT,
    profile: dict[str, tuple[int, int]] | None = None,
    dla_core: int | None = None,
    onnx_sha256: str = "0" * 64,
) -> Path:
    """An engine-named file (arbitrary bytes: only names, sidecars and hashes are under test)
    and its sidecar, as `convert build-engine` writes them."""
    folder.mkdir(parents=True, exist_ok=True)
    engine = folder / engine_file_name(variant, size, precision, gpu, trt, dla_core)
    engine.write_bytes(b"serialized engine " + engine.name.encode())
    write_sidecar(
        engine,
        EngineSidecar(
            model=variant,
            variant=variant,
            stride=16,
            input_size=size,
            precision=precision,
            dla_core=dla_core,
            tensorrt_version=trt,
            gpu_name=gpu.name,
            compute_capability=gpu.capability_text,
            onnx_path=str(folder / "model.onnx"),
            onnx_sha256=onnx_sha256,
            engine_sha256=sha256_file(engine),
            inputs=(TensorSpec("image", (1, *(size or (-1, -1)), 3), "FLOAT"),),
            outputs=(TensorSpec("segments", (1, 23, 41, 1), "FLOAT"),),
            build_seconds=12.5,
            built_at="2026-01-01T00:00:00+00:00",
            profile=profile,
        ),
    )
    return engine
