"""The TensorRT calls that turn an ONNX file into a serialized engine (TensorRT >= 8.5).

Where TensorRT versions differ:
- 8.x needs the EXPLICIT_BATCH network flag; 10.x deprecates it (always explicit batch).
- FP16 from an FP32 ONNX is a weakly typed network plus BuilderFlag.FP16 (8.x, 10.x; deprecated
  in 10.12, removed in 11). 10.x builds FP32 engines, and FP16 ones from an FP16 ONNX, as
  strongly typed networks (the graph's types decide); 11.x only has those.
- The workspace is set with set_memory_pool_limit (8.4+); max_workspace_size is older.
- Build progress comes from an IProgressMonitor (10.x); 8.x gets a heartbeat log line instead.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal, TextIO

from convert.atomic import sha256_file, write_bytes_atomic
from convert.engine.naming import Precision
from convert.engine.sidecar import TensorSpec
from convert.engine.tensorrt_support import major_version, require_tensorrt
from convert.errors import UserError

if TYPE_CHECKING:
    import tensorrt as trt

log = logging.getLogger(__name__)

NetworkTyping = Literal["weak", "strong"]
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
    is_fp16: bool  # the graph computes in FP16 (its float weights are FP16)
    node_labels: tuple[str, ...]  # "Conv 'name'" per node, for parser errors

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
        is_fp16=float_types == {onnx.TensorProto.FLOAT16},
        node_labels=tuple(f"{n.op_type} {n.name!r}" for n in graph.node),
    )


def choose_network_typing(
    trt_major: int, precision: Precision, onnx_is_fp16: bool, has_fp16_flag: bool
) -> NetworkTyping:
    """Weakly typed (builder picks FP16 kernels) or strongly typed (the ONNX types decide)."""
    if trt_major < 10:
        if onnx_is_fp16 and precision == "fp32":
            raise UserError(
                "This ONNX file computes in FP16, so it cannot give an FP32 engine: use "
                "--precision fp16 or export an FP32 ONNX."
            )
        return "weak"  # 8.x has no strongly typed networks
    if precision == "fp32" or onnx_is_fp16:
        if onnx_is_fp16 and precision == "fp32":
            raise UserError(
                "This ONNX file computes in FP16, so it cannot give an FP32 engine: use "
                "--precision fp16 or export an FP32 ONNX."
            )
        return "strong"
    if not has_fp16_flag:
        raise UserError(
            "This TensorRT builds FP16 engines only from an FP16 ONNX file (BuilderFlag.FP16 "
            "is gone), and this ONNX is FP32: use --precision fp32, or TensorRT 10."
        )
    return "weak"


def resolve_precision(requested: Precision | None, fast_fp16: bool) -> Precision:
    """FP16 where the GPU has fast FP16 (Jetsons, Pascal and later), else FP32 with a warning."""
    if requested is not None:
        if requested == "fp16" and not fast_fp16:
            log.warning("this GPU has no fast FP16: the FP16 engine may be slower than FP32")
        return requested
    if fast_fp16:
        return "fp16"
    log.warning("this GPU has no fast FP16, building an FP32 engine (--precision overrides)")
    return "fp32"


def platform_has_fast_fp16() -> bool:
    """Whether TensorRT reports fast native FP16 on this GPU."""
    require_tensorrt(PURPOSE)
    import tensorrt as trt

    builder = trt.Builder(trt.Logger(trt.Logger.ERROR))
    # TensorRT 11 drops the query: every GPU it supports has fast FP16.
    return bool(getattr(builder, "platform_has_fast_fp16", True))


@dataclass(frozen=True)
class BuildRequest:
    onnx: OnnxInfo
    precision: Precision
    timing_cache: Path
    workspace_mib: int | None = None
    dla_core: int | None = None
    # Dynamic ONNX: (H, W) for "min", "opt" and "max" of the optimisation profile.
    profile: dict[str, tuple[int, int]] | None = None
    progress: bool = True


@dataclass(frozen=True)
class BuiltEngine:
    data: bytes
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    seconds: float


def build_serialized_engine(request: BuildRequest) -> BuiltEngine:
    """Parse, configure and build; the timing cache beside the engine is read and updated."""
    version = require_tensorrt(PURPOSE)
    import tensorrt as trt

    started = time.monotonic()
    major = major_version(version)
    verbose = logging.getLogger().isEnabledFor(logging.DEBUG)
    logger = trt.Logger(trt.Logger.INFO if verbose else trt.Logger.WARNING)
    builder = trt.Builder(logger)
    has_fp16_flag = hasattr(trt.BuilderFlag, "FP16")
    typing = choose_network_typing(major, request.precision, request.onnx.is_fp16, has_fp16_flag)

    flags = 0
    if major < 10:
        flags |= 1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH)
    if typing == "strong":
        flags |= 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED)
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(request.onnx.path)):
        raise _parser_error(parser, request.onnx, version)

    config = builder.create_builder_config()
    if typing == "weak" and request.precision == "fp16":
        config.set_flag(trt.BuilderFlag.FP16)
    if request.precision == "fp32" and hasattr(trt.BuilderFlag, "TF32"):
        config.clear_flag(trt.BuilderFlag.TF32)  # really FP32, comparable with ONNX Runtime
    if request.workspace_mib is not None:
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, request.workspace_mib << 20)
    if request.dla_core is not None:
        _use_dla(builder, config, request.dla_core)
    if request.profile is not None:
        _add_profile(builder, config, request.onnx, request.profile)
    cache = _load_timing_cache(config, request.timing_cache)
    config.set_timing_cache(cache, False)

    monitor = _progress_monitor(sys.stderr) if request.progress else None
    if monitor is not None:
        config.progress_monitor = monitor
    log.info(
        "building %s engine from %s with TensorRT %s (%s typed); this takes minutes",
        request.precision,
        request.onnx.path.name,
        version,
        typing,
    )
    with _Heartbeat(enabled=monitor is None and request.progress):
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


def _use_dla(builder: trt.Builder, config: trt.IBuilderConfig, core: int) -> None:
    import tensorrt as trt

    cores = builder.num_DLA_cores
    if core >= cores:
        raise UserError(
            f"DLA core {core} does not exist on this device ({cores} found): drop --dla-core, "
            f"or give one of 0..{cores - 1}."
            if cores
            else f"This device has no DLA, so --dla-core {core} cannot be used: drop --dla-core."
        )
    # Layers the DLA cannot run (and BodyPix has some) fall back to the GPU.
    config.default_device_type = trt.DeviceType.DLA
    config.DLA_core = core
    config.set_flag(trt.BuilderFlag.GPU_FALLBACK)


def _add_profile(
    builder: trt.Builder,
    config: trt.IBuilderConfig,
    onnx: OnnxInfo,
    profile_hw: dict[str, tuple[int, int]],
) -> None:
    import tensorrt as trt

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
        write_bytes_atomic(bytes(config.get_timing_cache().serialize()), path)
    except OSError as exc:  # the engine is still good; the next build is just slower
        log.warning("could not save the timing cache %s (%s)", path, exc)


def _progress_monitor(stream: TextIO) -> trt.IProgressMonitor | None:
    """TensorRT 10's build progress as one updating line (a TTY) or phase lines (a log)."""
    import tensorrt as trt

    if not hasattr(trt, "IProgressMonitor"):
        return None

    class PhaseMonitor(trt.IProgressMonitor):
        def __init__(self) -> None:
            trt.IProgressMonitor.__init__(self)
            self._parents: dict[str, str | None] = {}
            self._steps: dict[str, tuple[int, int]] = {}  # phase -> (done, total)
            self._started: dict[str, float] = {}
            self._tty = stream.isatty()

        def phase_start(self, phase_name: str, parent_phase: str | None, num_steps: int) -> None:
            self._parents[phase_name] = parent_phase
            self._steps[phase_name] = (0, num_steps)
            self._started[phase_name] = time.monotonic()
            if not self._tty and parent_phase is None:
                print(f"TensorRT: {phase_name} ({num_steps} steps)", file=stream, flush=True)
            self._draw()

        def step_complete(self, phase_name: str, step: int) -> bool:
            total = self._steps.get(phase_name, (0, 0))[1]
            self._steps[phase_name] = (step + 1, total)
            self._draw()
            return True  # False would cancel the build

        def phase_finish(self, phase_name: str) -> None:
            parent = self._parents.pop(phase_name, None)
            self._steps.pop(phase_name, None)
            seconds = time.monotonic() - self._started.pop(phase_name, time.monotonic())
            if parent is None:
                end = "\r\x1b[K" if self._tty else ""
                print(
                    f"{end}TensorRT: {phase_name} done in {seconds:.0f} s", file=stream, flush=True
                )
            else:
                self._draw()

        def _draw(self) -> None:
            if not self._tty:
                return
            chain = " > ".join(f"{n} {d}/{t}" for n, (d, t) in self._steps.items())
            print(f"\r\x1b[K{chain[-150:]}", end="", file=stream, flush=True)

    return PhaseMonitor()


class _Heartbeat:
    """Logs every 30 s while TensorRT 8.x builds, which reports no progress of its own."""

    def __init__(self, enabled: bool, every_s: float = 30.0) -> None:
        self._enabled = enabled
        self._every = every_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> _Heartbeat:
        if self._enabled:
            self._thread = threading.Thread(target=self._beat, name="trt-build-heartbeat")
            self._thread.daemon = True
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _beat(self) -> None:
        started = time.monotonic()
        while not self._stop.wait(self._every):
            log.info("still building the engine (%.0f s so far)", time.monotonic() - started)
