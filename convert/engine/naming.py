"""Where engines live and what they are called: the file name says what the engine is for.

`{models_dir}/{variant}/engines/{variant}-{H}x{W}-{precision}[-dla{N}]-{gpu}-{smXY}-trt{version}.engine`
(`dynamic` instead of `{H}x{W}` for a dynamic-size ONNX), so engines for different devices,
sizes or TensorRT versions never overwrite each other. The JSON sidecar sits beside it.
"""

from __future__ import annotations

from pathlib import Path

from convert.engine.gpu import GpuInfo
from convert.metadata import PRECISIONS as PRECISIONS  # re-exported: engines name them too
from convert.metadata import Precision as Precision
from core.catalog import default_models_dir

ENGINE_SUFFIX = ".engine"
SIDECAR_SUFFIX = ".json"


def default_engine_dir(variant: str | None, models_dir: Path | None, onnx: Path | None) -> Path:
    """`{models_dir}/{variant}/engines`; beside the ONNX file when it names no variant."""
    if variant:
        return (models_dir or default_models_dir()) / variant / "engines"
    if onnx is None:
        raise ValueError("an engine needs a variant or an ONNX file to be named after")
    return onnx.parent


def engine_file_name(
    model: str,
    input_size: tuple[int, int] | None,
    precision: Precision,
    gpu: GpuInfo,
    tensorrt_version: str,
    dla_core: int | None = None,
) -> str:
    """The engine's file name; `model` is the variant (or the ONNX file's stem)."""
    size = f"{input_size[0]}x{input_size[1]}" if input_size else "dynamic"
    dla = f"-dla{dla_core}" if dla_core is not None else ""
    return (
        f"{model}-{size}-{precision}{dla}-{gpu.slug}-{gpu.sm}-trt{tensorrt_version}{ENGINE_SUFFIX}"
    )


def sidecar_path(engine: Path) -> Path:
    """`x.engine` -> `x.engine.json`."""
    return engine.with_name(engine.name + SIDECAR_SUFFIX)


def timing_cache_path(engine_dir: Path, gpu: GpuInfo, tensorrt_version: str) -> Path:
    """One timing cache per GPU and TensorRT version, shared by every engine in the folder."""
    return engine_dir / f"timing-{gpu.slug}-{gpu.sm}-trt{tensorrt_version}.cache"
