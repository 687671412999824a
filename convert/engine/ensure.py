"""Make sure a current engine exists: resolve what to build, skip a matching one, build, record.

Everything that can be checked without TensorRT (arguments, the ONNX file, sizes) is checked
first, so mistakes are reported at once and on any machine.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from convert.engine import builder, tensorrt_api
from convert.engine.builder import BuiltEngine, OnnxInfo
from convert.engine.gpu import GpuInfo, current_gpu
from convert.engine.naming import Precision, default_engine_dir, engine_file_name, timing_cache_path
from convert.engine.plan import BuildPlan, plan_build
from convert.engine.sidecar import (
    EngineSidecar,
    Expected,
    check_engine_files,
    sidecar_path,
    write_sidecar,
)
from convert.engine.tensorrt_support import require_tensorrt
from core.atomic import sha256_file, write_atomic
from core.catalog import DEFAULT_VARIANT, get_variant
from core.errors import UserError
from core.input_size import check_input_size, default_input_size, to_valid_input_resolution

log = logging.getLogger(__name__)

PURPOSE = "Building a TensorRT engine"


@dataclass(frozen=True)
class EngineTarget:
    """What to build, resolved from the command line (or the runtime) before TensorRT loads."""

    variant: str | None
    onnx: Path | None  # None: export the variant's ONNX first (at input_size)
    model: str  # what the engine file is named after
    stride: int | None
    input_size: tuple[int, int] | None  # fixed size; None for a dynamic ONNX
    profile: dict[str, tuple[int, int]] | None  # dynamic ONNX: (H, W) for min/opt/max
    engine_dir: Path
    models_dir: Path | None


@dataclass(frozen=True)
class EngineResult:
    path: Path
    sidecar: EngineSidecar
    built: bool  # False: a matching engine was already there
    stale_reasons: tuple[str, ...] = ()  # why an existing engine was rebuilt


def dynamic_profile(opt: tuple[int, int], stride: int) -> dict[str, tuple[int, int]]:
    """min = half, max = twice the optimal size (made valid): BodyPix's 'low' to 'full' for a
    frame whose 'medium' size is `opt`."""

    def scaled(factor: float) -> tuple[int, int]:
        return (
            to_valid_input_resolution(opt[0] * factor, stride),
            to_valid_input_resolution(opt[1] * factor, stride),
        )

    return {"min": scaled(0.5), "opt": opt, "max": scaled(2.0)}


def validate_options(
    precision: Precision | None, workspace_mib: int | None, dla_core: int | None
) -> None:
    if workspace_mib is not None and workspace_mib <= 0:
        raise UserError(f"--workspace {workspace_mib} is not a size: give MiB above 0, e.g. 1024.")
    if dla_core is not None and dla_core < 0:
        raise UserError(f"--dla-core {dla_core} is not a DLA core: give 0 or 1.")
    if dla_core is not None and precision == "fp32":
        raise UserError(
            "The DLA runs FP16 (or INT8) only, so --dla-core cannot go with --precision fp32: "
            "drop one of them."
        )


def check_dla_target(target: EngineTarget, dla_core: int | None) -> None:
    """A DLA engine needs a fixed input size: refuse a dynamic-size ONNX for --dla-core."""
    if dla_core is None or target.profile is None:
        return
    source = target.onnx.name if target.onnx else target.model
    raise UserError(
        f"--dla-core {dla_core} needs a fixed input size and {source} has a dynamic one: the "
        "DLA runs no dynamic shapes, so with GPU fallback the whole engine would silently run "
        "on the GPU; export a fixed-size ONNX (`python -m convert export-onnx VARIANT --height "
        "H --width W`) or drop --dla-core."
    )


def resolve_target(
    variant: str | None,
    onnx: Path | None,
    height: int | None,
    width: int | None,
    engine_dir: Path | None = None,
    models_dir: Path | None = None,
) -> EngineTarget:
    """Check the request and work out sizes and file locations (no TensorRT, no export)."""
    if variant and onnx:
        raise UserError(
            f"Both a variant ({variant}) and --onnx {onnx} were given: give one of them."
        )
    if (height is None) != (width is None):
        raise UserError("Only one of --height and --width was given: give both, or neither.")
    size = (height, width) if height is not None and width is not None else None
    if onnx is None:
        v = get_variant(variant or DEFAULT_VARIANT)
        h, w = size or default_input_size(v.stride)
        check_input_size(h, w, v.stride, v.name)
        folder = engine_dir or default_engine_dir(v.name, models_dir, None)
        return EngineTarget(v.name, None, v.name, v.stride, (h, w), None, folder, models_dir)

    info = builder.inspect_onnx(onnx)
    model = info.variant or onnx.stem
    folder = engine_dir or default_engine_dir(info.variant, models_dir, onnx)
    fixed = info.static_size
    if fixed is not None:
        if size is not None and size != fixed:
            raise UserError(
                f"{onnx.name} has the fixed input size {fixed[0]}x{fixed[1]}, not "
                f"{size[0]}x{size[1]}: drop --height/--width, or export the ONNX at that size."
            )
        return EngineTarget(info.variant, onnx, model, info.stride, fixed, None, folder, models_dir)
    stride = info.stride or 16  # BodyPix's default output stride when the ONNX does not say
    opt = size or default_input_size(stride)
    check_input_size(opt[0], opt[1], stride, model)
    profile = dynamic_profile(opt, stride)
    return EngineTarget(info.variant, onnx, model, info.stride, None, profile, folder, models_dir)


def ensure_engine(
    target: EngineTarget,
    precision: Precision | None = None,
    workspace_mib: int | None = None,
    dla_core: int | None = None,
    force: bool = False,
    progress: bool = True,
) -> EngineResult:
    """A current engine for `target` on this GPU and TensorRT: the existing one, or a new build."""
    validate_options(precision, workspace_mib, dla_core)
    check_dla_target(target, dla_core)
    trt_version = require_tensorrt(PURPOSE, with_pycuda=True)
    api = tensorrt_api.probe(trt_version)
    gpu = current_gpu()
    if dla_core is not None:
        builder.check_dla_core(dla_core, builder.count_dla_cores())
    given = builder.inspect_onnx(target.onnx) if target.onnx else None
    given_precision = given.precision if given else None
    chosen = builder.resolve_precision(precision, gpu, given_precision)
    plan = plan_build(api, chosen, given_precision)
    # Checked before the export and the build: neither starts for a request that must fail.
    info = given or builder.inspect_onnx(_export(target, plan.onnx_precision))
    size = target.input_size
    name = engine_file_name(target.model, size, chosen, gpu, trt_version, dla_core)
    engine = target.engine_dir / name
    expected = Expected(
        tensorrt_version=trt_version,
        gpu=gpu,
        precision=chosen,
        onnx_sha256=info.sha256,
        dla_core=dla_core,
        check_dla=True,
        profile=target.profile,
    )
    reasons: tuple[str, ...] = ()
    if engine.exists() and not force:
        try:
            return EngineResult(engine, check_engine_files(engine, expected), built=False)
        except UserError as exc:
            reasons = (str(exc),)
            log.info("rebuilding: %s", exc)

    _check_writable(target.engine_dir)
    built = builder.build_serialized_engine(
        builder.BuildRequest(
            onnx=info,
            plan=plan,
            timing_cache=timing_cache_path(target.engine_dir, gpu, trt_version),
            workspace_mib=workspace_mib,
            dla_core=dla_core,
            profile=target.profile,
            progress=progress,
        )
    )
    sidecar = write_engine_files(
        engine,
        built.data,
        lambda: _sidecar(target, info, built, plan, dla_core, trt_version, gpu, engine),
    )
    return EngineResult(engine, sidecar, built=True, stale_reasons=reasons)


def write_engine_files(
    engine: Path, data: bytes, describe: Callable[[], EngineSidecar]
) -> EngineSidecar:
    """Write the engine, then its sidecar (`describe()` hashes the written engine); both or
    neither: an engine left without its sidecar would be refused at every start."""
    try:
        write_atomic(engine, data)
        sidecar = describe()
        write_sidecar(engine, sidecar)
    except BaseException as exc:
        for path in (engine, sidecar_path(engine)):
            if path.is_file():
                path.unlink()
        if isinstance(exc, OSError):
            raise UserError(
                f"Cannot write the TensorRT engine {engine} ({exc.strerror or exc}): free some "
                "space or give a writable folder with --engine-dir."
            ) from None
        raise
    return sidecar


def _export(target: EngineTarget, precision: Precision) -> Path:
    from convert.onnx_export import ensure_onnx

    assert target.variant is not None and target.input_size is not None  # resolve_target's rule
    height, width = target.input_size
    return ensure_onnx(target.variant, height, width, False, target.models_dir, precision)


def _check_writable(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(
            f"Cannot create the engine folder {folder} ({exc.strerror}): give a writable one "
            "with --engine-dir."
        ) from None


def _sidecar(
    target: EngineTarget,
    info: OnnxInfo,
    built: BuiltEngine,
    plan: BuildPlan,
    dla_core: int | None,
    trt_version: str,
    gpu: GpuInfo,
    engine: Path,
) -> EngineSidecar:
    return EngineSidecar(
        model=target.model,
        variant=target.variant,
        stride=target.stride,
        input_size=target.input_size,
        precision=plan.precision,
        dla_core=dla_core,
        tensorrt_version=trt_version,
        gpu_name=gpu.name,
        compute_capability=gpu.capability_text,
        onnx_path=str(info.path.resolve()),
        onnx_sha256=info.sha256,
        engine_sha256=sha256_file(engine),
        inputs=built.inputs,
        outputs=built.outputs,
        build_seconds=round(built.seconds, 1),
        built_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        profile=target.profile,
        extra={
            "network_typing": plan.typing,
            "onnx_precision": plan.onnx_precision,
            "fp16_builder_flag": plan.fp16_flag,
        },
    )
