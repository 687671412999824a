"""The TensorRT calls that turn an ONNX file into a serialized engine (TensorRT 8.5 to 11.x).

Which network typing, creation flags and builder flags a version gets is decided in
`convert.engine.plan` (tested without TensorRT); this module only carries a plan out, reaching
the builder through `convert.engine.tensorrt_api.EngineBuilder` (what 8.5 to 11.x share).
Other version differences:
- The workspace is set with set_memory_pool_limit (8.4+); max_workspace_size is older.
- Build progress comes from an IProgressMonitor where TensorRT has one (10.x); otherwise a
  heartbeat log line every 30 s.
"""

from __future__ import annotations

import logging
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from convert.engine.gpu import GpuInfo, has_fast_fp16
from convert.engine.naming import Precision
from convert.engine.plan import BuildPlan
from convert.engine.progress import Heartbeat, progress_monitor
from convert.engine.sidecar import TensorSpec
from convert.engine.tensorrt_api import EngineBuilder
from convert.engine.tensorrt_support import require_tensorrt
from core.atomic import sha256_file, write_atomic
from core.errors import UserError
from core.lazy import lazy_import

if TYPE_CHECKING:
    import tensorrt as trt
else:
    trt = lazy_import("tensorrt")

log = logging.getLogger(__name__)

PURPOSE = "Building a TensorRT engine"


@dataclass(frozen=True)
class OnnxInfo:
    """What the builder needs to know about an ONNX file, read with `onnx` alone."""

    path: Path
    sha256: str
    variant: str | None
    stride: int | None
    input_name: str
    input_shape: tuple[int | None, ...]  # None for a symbolic dimension
    is_fp16: bool  # the graph computes in FP16 (float32 only at its edges)
    node_labels: tuple[str, ...]  # "Conv 'name'" per node, for parser errors

    @property
    def precision(self) -> Precision:
        return "fp16" if self.is_fp16 else "fp32"

    @property
    def is_dynamic(self) -> bool:
        return any(d is None for d in self.input_shape)

    @property
    def static_size(self) -> tuple[int, int] | None:
        """(H, W) of a fixed-size NHWC input, None when dynamic."""
        h, w = self.input_shape[1], self.input_shape[2]
        return (h, w) if h is not None and w is not None else None


def inspect_onnx(path: Path) -> OnnxInfo:
    """Read an ONNX file's input, float types, node names and BodyPix metadata."""
    import onnx

    from convert import metadata as md

    try:
        model = onnx.load(str(path), load_external_data=False)
    except FileNotFoundError:
        raise UserError(
            f"ONNX file {path} does not exist: export one with `python -m convert export-onnx`."
        ) from None
    except Exception as exc:  # protobuf's DecodeError has no public base class to name here
        raise UserError(
            f"{path} is not a readable ONNX file ({type(exc).__name__}): export it again with "
            "`python -m convert export-onnx`."
        ) from None
    graph = model.graph
    initializer_names = {i.name for i in graph.initializer}
    inputs = [i for i in graph.input if i.name not in initializer_names]
    if len(inputs) != 1 or len(inputs[0].type.tensor_type.shape.dim) != 4:
        raise UserError(
            f"{path} is not a BodyPix ONNX file (it needs one NHWC image input, it has "
            f"{len(inputs)} inputs): export it with `python -m convert export-onnx`."
        )
    dims = inputs[0].type.tensor_type.shape.dim
    shape = tuple(d.dim_value if d.HasField("dim_value") else None for d in dims)
    float_types = {i.data_type for i in graph.initializer} & {
        onnx.TensorProto.FLOAT,
        onnx.TensorProto.FLOAT16,
    }
    meta = {p.key: p.value for p in model.metadata_props}
    stride = meta.get(md.STRIDE)
    return OnnxInfo(
        path=path,
        sha256=sha256_file(path),
        variant=meta.get(md.VARIANT) or None,
        stride=int(stride) if stride and stride.isdigit() else None,
        input_name=inputs[0].name,
        input_shape=shape,
        # Our exports record it; a foreign file computes in FP16 when its weights are FP16.
        is_fp16=meta[md.PRECISION] == "fp16"
        if md.PRECISION in meta
        else onnx.TensorProto.FLOAT16 in float_types,
        node_labels=tuple(f"{n.op_type} {n.name!r}" for n in graph.node),
    )


def resolve_precision(
    requested: Precision | None, gpu: GpuInfo, onnx: Precision | None = None
) -> Precision:
    """The engine precision: as asked; else that of a given FP16 ONNX file; else FP16 where
    the GPU has fast FP16 and FP32 where not. FP16 on a GPU without fast FP16 is refused."""
    fast = has_fast_fp16(gpu.compute_capability)
    wanted = requested or ("fp16" if onnx == "fp16" else None)
    if wanted == "fp16" and not fast:
        raise UserError(
            f"The {gpu.name} (compute capability {gpu.capability_text}) has no fast FP16, so an "
            "FP16 engine would run slower than FP32 there: build an FP32 engine "
            "(--precision fp32, from an FP32 ONNX file)."
        )
    if wanted is not None:
        return wanted
    if fast:
        return "fp16"
    log.info("the %s has no fast FP16: building an FP32 engine", gpu.name)
    return "fp32"


@dataclass(frozen=True)
class BuildRequest:
    onnx: OnnxInfo
    plan: BuildPlan
    timing_cache: Path
    workspace_mib: int | None = None
    dla_core: int | None = None
    # Dynamic ONNX: (H, W) for "min", "opt" and "max" of the optimisation profile.
    profile: dict[str, tuple[int, int]] | None = None
    progress: bool = True

    @property
    def precision(self) -> Precision:
        return self.plan.precision


@dataclass(frozen=True)
class BuiltEngine:
    data: bytes
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    seconds: float


def build_serialized_engine(request: BuildRequest) -> BuiltEngine:
    """Parse, configure and build; the timing cache beside the engine is read and updated."""
    version = require_tensorrt(PURPOSE)

    plan = request.plan
    if plan.onnx_precision != request.onnx.precision:  # ensure_engine picks the file by the plan
        raise UserError(
            f"{request.onnx.path.name} is {request.onnx.precision.upper()}, but this TensorRT "
            f"builds {plan.precision} engines from an {plan.onnx_precision.upper()} ONNX file: "
            f"export one with `python -m convert export-onnx --precision {plan.onnx_precision}`."
        )
    started = time.monotonic()
    verbose = logging.getLogger().isEnabledFor(logging.DEBUG)
    logger = trt.Logger(trt.Logger.INFO if verbose else trt.Logger.WARNING)
    builder: EngineBuilder = trt.Builder(logger)
    network = builder.create_network(_network_flags(plan))
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(request.onnx.path)):
        raise _parser_error(parser, request.onnx, version)

    config = builder.create_builder_config()
    if plan.fp16_flag:
        config.set_flag(trt.BuilderFlag.FP16)  # weak typing: 8.5 to 10.x only (plan_build)
    if plan.precision == "fp32" and hasattr(trt.BuilderFlag, "TF32"):
        config.clear_flag(trt.BuilderFlag.TF32)  # really FP32, comparable with ONNX Runtime
    if request.workspace_mib is not None:
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, request.workspace_mib << 20)
    if request.dla_core is not None:
        _use_dla(builder, config, request.dla_core)
    if request.profile is not None:
        _add_profile(builder, config, request.onnx, request.profile)
    cache = _load_timing_cache(config, request.timing_cache)
    config.set_timing_cache(cache, False)

    monitor = progress_monitor(sys.stderr) if request.progress else None
    if monitor is not None:
        config.progress_monitor = monitor
    if plan.deprecated:
        log.warning(
            "TensorRT %s deprecates weak typing (the FP16 builder flag); export an FP16 ONNX "
            "(`python -m convert export-onnx --precision fp16`) to build it strongly typed",
            version,
        )
    log.info(
        "building %s engine from %s with TensorRT %s (%s); this takes minutes",
        plan.precision,
        request.onnx.path.name,
        version,
        plan.describe(),
    )
    with Heartbeat(enabled=monitor is None and request.progress):
        serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise UserError(
            f"TensorRT {version} could not build an engine from {request.onnx.path.name} (see "
            "its messages above): give it more memory with --workspace, or try --precision fp32."
        )
    _save_timing_cache(config, request.timing_cache)
    inputs = tuple(_spec(network.get_input(i)) for i in range(network.num_inputs))
    outputs = tuple(_spec(network.get_output(i)) for i in range(network.num_outputs))
    return BuiltEngine(bytes(serialized), inputs, outputs, time.monotonic() - started)


def _network_flags(plan: BuildPlan) -> int:
    """The creation flags as a bit mask; each flag only where this TensorRT has it."""
    creation = trt.NetworkDefinitionCreationFlag
    flags = 0
    if plan.explicit_batch_flag:  # 8.x; deprecated and ignored from 10.0
        flags |= 1 << int(creation.EXPLICIT_BATCH)
    if plan.strongly_typed_flag:  # 9.x/10.x; 11.x is always strongly typed
        flags |= 1 << int(creation.STRONGLY_TYPED)
    return flags


def _spec(tensor: trt.ITensor) -> TensorSpec:
    dims = tensor.shape
    return TensorSpec(tensor.name, tuple(int(dims[i]) for i in range(len(dims))), tensor.dtype.name)


def _parser_error(parser: trt.OnnxParser, onnx: OnnxInfo, version: str) -> UserError:
    messages = []
    for index in range(parser.num_errors):
        error: trt.ParserError = parser.get_error(index)
        node = int(error.node())
        label = onnx.node_labels[node] if 0 <= node < len(onnx.node_labels) else "the graph"
        messages.append(f"node {node} ({label}): {error.desc()}")
        log.error("TensorRT ONNX parser: %s", messages[-1])
    first = messages[0] if messages else "no error reported"
    return UserError(
        f"TensorRT {version} cannot parse {onnx.path.name} at {first}: export the ONNX again "
        "with `python -m convert export-onnx` (opset 17), or use a newer TensorRT."
    )


def check_dla_core(core: int, cores: int) -> None:
    """A UserError unless DLA core `core` exists among the device's `cores`."""
    if cores == 0:
        raise UserError(
            f"This device has no DLA (only Jetson AGX Xavier/Orin and Orin NX have one), so "
            f"--dla-core {core} cannot be used: drop --dla-core."
        )
    if core >= cores:
        raise UserError(
            f"DLA core {core} does not exist on this device ({cores} found): drop --dla-core, "
            f"or give one of 0..{cores - 1}."
        )


def count_dla_cores() -> int:
    """How many DLA cores TensorRT sees on this device (0 on desktop GPUs)."""
    require_tensorrt(PURPOSE)

    builder: EngineBuilder = trt.Builder(trt.Logger(trt.Logger.ERROR))
    return int(builder.num_DLA_cores)


def _use_dla(builder: EngineBuilder, config: trt.IBuilderConfig, core: int) -> None:
    check_dla_core(core, builder.num_DLA_cores)
    # Layers the DLA cannot run (and BodyPix has some) fall back to the GPU. The fallback is
    # silent (TensorRT's "Working with DLA"), which is why a dynamic-size ONNX, which the DLA
    # cannot run at all, is refused before this (ensure.check_dla_target).
    config.default_device_type = trt.DeviceType.DLA
    config.DLA_core = core
    config.set_flag(trt.BuilderFlag.GPU_FALLBACK)


def _add_profile(
    builder: EngineBuilder,
    config: trt.IBuilderConfig,
    onnx: OnnxInfo,
    profile_hw: dict[str, tuple[int, int]],
) -> None:
    def dims(hw: tuple[int, int]) -> trt.Dims:
        batch, _, _, channels = onnx.input_shape
        return trt.Dims([batch or 1, hw[0], hw[1], channels or 3])

    profile = builder.create_optimization_profile()
    profile.set_shape(
        onnx.input_name,
        dims(profile_hw["min"]),
        dims(profile_hw["opt"]),
        dims(profile_hw["max"]),
    )
    config.add_optimization_profile(profile)


def _load_timing_cache(config: trt.IBuilderConfig, path: Path) -> trt.ITimingCache:
    data = b""
    if path.is_file():
        data = path.read_bytes()
        log.info("reusing the timing cache %s (%d kB)", path.name, len(data) // 1024)
    try:
        return config.create_timing_cache(data)
    except Exception as exc:  # a corrupt cache must not stop the build
        log.warning("ignoring the unreadable timing cache %s (%s)", path, exc)
        return config.create_timing_cache(b"")


def _save_timing_cache(config: trt.IBuilderConfig, path: Path) -> None:
    try:
        write_atomic(path, bytes(config.get_timing_cache().serialize()))
    except OSError as exc:  # the engine is still good; the next build is just slower
        log.warning("could not save the timing cache %s (%s)", path, exc)
