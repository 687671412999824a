"""The JSON sidecar beside every engine: what it was built from, for and with.

An engine is only valid for the TensorRT version and GPU that built it; the sidecar lets the
builder skip a current engine and the runtime refuse a stale or foreign one with the command
that rebuilds it, instead of failing deep inside TensorRT or producing garbage.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, cast

from convert.engine.gpu import GpuInfo, parse_capability
from convert.engine.naming import ENGINE_SUFFIX, PRECISIONS, Precision, sidecar_path
from core.atomic import sha256_file, write_atomic
from core.errors import UserError

FORMAT_VERSION = 1


@dataclass(frozen=True)
class TensorSpec:
    """One engine input or output; -1 marks a dimension chosen at run time."""

    name: str
    shape: tuple[int, ...]
    dtype: str  # TensorRT DataType name: FLOAT, HALF, ...


@dataclass(frozen=True)
class EngineSidecar:
    model: str  # the variant, or the ONNX file's stem when the ONNX names none
    variant: str | None
    stride: int | None
    input_size: tuple[int, int] | None  # None: dynamic, see profile
    precision: Precision
    dla_core: int | None
    tensorrt_version: str
    gpu_name: str
    compute_capability: str  # "8.7"
    onnx_path: str
    onnx_sha256: str
    engine_sha256: str
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    build_seconds: float
    built_at: str  # ISO 8601, UTC
    # Dynamic ONNX only: the optimisation profile as (H, W) for "min", "opt", "max".
    profile: dict[str, tuple[int, int]] | None = None
    format_version: int = FORMAT_VERSION
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def gpu(self) -> GpuInfo:
        return GpuInfo(self.gpu_name, parse_capability(self.compute_capability))

    def covers(self, input_size: tuple[int, int]) -> bool:
        """True when the engine accepts inputs of `input_size` (H, W)."""
        if self.input_size is not None:
            return self.input_size == input_size
        if not self.profile:
            return False
        (lo_h, lo_w), (hi_h, hi_w) = self.profile["min"], self.profile["max"]
        return lo_h <= input_size[0] <= hi_h and lo_w <= input_size[1] <= hi_w

    def rebuild_command(self) -> str:
        """The command that builds a fresh engine of the same kind on this machine."""
        if self.variant and self.input_size:
            source = f"{self.variant} --height {self.input_size[0]} --width {self.input_size[1]}"
        else:
            source = f"--onnx {self.onnx_path}"
            if self.profile:
                opt = self.profile["opt"]
                source += f" --height {opt[0]} --width {opt[1]}"
        dla = f" --dla-core {self.dla_core}" if self.dla_core is not None else ""
        return f"python -m convert build-engine {source} --precision {self.precision}{dla} --force"

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str) -> EngineSidecar:
        """Parse a sidecar; ValueError (or KeyError/TypeError) when it is not one."""
        data = json.loads(text)
        if not isinstance(data, dict) or data.get("format_version") != FORMAT_VERSION:
            raise ValueError("not a sidecar of this format version")
        if data["precision"] not in PRECISIONS:
            raise ValueError(f"unknown precision {data['precision']!r}")
        size = data["input_size"]
        profile = data.get("profile")
        return cls(
            model=str(data["model"]),
            variant=data["variant"],
            stride=data["stride"],
            input_size=(int(size[0]), int(size[1])) if size else None,
            precision=cast(Precision, data["precision"]),
            dla_core=data["dla_core"],
            tensorrt_version=str(data["tensorrt_version"]),
            gpu_name=str(data["gpu_name"]),
            compute_capability=str(data["compute_capability"]),
            onnx_path=str(data["onnx_path"]),
            onnx_sha256=str(data["onnx_sha256"]),
            engine_sha256=str(data["engine_sha256"]),
            inputs=tuple(_spec(s) for s in data["inputs"]),
            outputs=tuple(_spec(s) for s in data["outputs"]),
            build_seconds=float(data["build_seconds"]),
            built_at=str(data["built_at"]),
            profile={k: (int(v[0]), int(v[1])) for k, v in profile.items()} if profile else None,
            extra=dict(data.get("extra") or {}),
        )


def _spec(data: dict[str, Any]) -> TensorSpec:
    return TensorSpec(str(data["name"]), tuple(int(d) for d in data["shape"]), str(data["dtype"]))


def write_sidecar(engine: Path, sidecar: EngineSidecar) -> Path:
    """Write `engine`'s sidecar atomically; returns its path."""
    path = sidecar_path(engine)
    write_atomic(path, sidecar.to_json().encode())
    return path


def read_sidecar(engine: Path) -> EngineSidecar:
    """The sidecar of `engine`; a UserError when it is missing or unreadable."""
    path = sidecar_path(engine)
    try:
        return EngineSidecar.from_json(path.read_text())
    except FileNotFoundError:
        raise UserError(
            f"The TensorRT engine {engine} has no sidecar {path.name}, so it cannot be checked "
            "against this GPU and TensorRT: rebuild it with `python -m convert build-engine` "
            "(with --force)."
        ) from None
    except (OSError, ValueError, KeyError, TypeError, IndexError) as exc:
        raise UserError(
            f"The sidecar {path} of the TensorRT engine is unreadable ({exc}): rebuild the "
            "engine with `python -m convert build-engine` (with --force)."
        ) from None


@dataclass(frozen=True)
class Expected:
    """What a usable engine must match; None fields are not checked."""

    tensorrt_version: str
    gpu: GpuInfo
    precision: Precision | None = None
    onnx_sha256: str | None = None
    dla_core: int | None = None
    check_dla: bool = False  # dla_core=None then means "must not use a DLA"
    profile: dict[str, tuple[int, int]] | None = None


def stale_reasons(sidecar: EngineSidecar, expected: Expected) -> list[str]:
    """Why the engine described by `sidecar` does not fit `expected`; empty when it does."""
    reasons = []
    if sidecar.tensorrt_version != expected.tensorrt_version:
        reasons.append(
            f"built with TensorRT {sidecar.tensorrt_version}, this is {expected.tensorrt_version}"
        )
    gpu = expected.gpu
    if (sidecar.gpu_name, sidecar.compute_capability) != (gpu.name, gpu.capability_text):
        reasons.append(
            f"built for {sidecar.gpu_name} (compute {sidecar.compute_capability}), this is "
            f"{gpu.name} (compute {gpu.capability_text})"
        )
    if expected.precision is not None and sidecar.precision != expected.precision:
        reasons.append(f"built as {sidecar.precision}, {expected.precision} wanted")
    if expected.onnx_sha256 is not None and sidecar.onnx_sha256 != expected.onnx_sha256:
        reasons.append("built from a different ONNX file (sha256 differs)")
    if expected.check_dla and sidecar.dla_core != expected.dla_core:
        reasons.append(f"built for DLA core {sidecar.dla_core}, {expected.dla_core} wanted")
    if expected.profile is not None and sidecar.profile != expected.profile:
        reasons.append(f"built for sizes {sidecar.profile}, {expected.profile} wanted")
    return reasons


def check_engine_files(engine: Path, expected: Expected) -> EngineSidecar:
    """The sidecar of `engine` when engine and sidecar are present, paired and current.

    A UserError otherwise, naming what is wrong and the command that rebuilds the engine.
    """
    if not engine.is_file():
        raise UserError(
            f"TensorRT engine {engine} does not exist: build it with "
            "`python -m convert build-engine`."
        )
    sidecar = read_sidecar(engine)
    reasons = stale_reasons(sidecar, expected)
    if not reasons and sha256_file(engine) != sidecar.engine_sha256:
        reasons.append("the engine file does not match its sidecar (sha256 differs)")
    if reasons:
        raise UserError(
            f"TensorRT engine {engine.name} is stale ({'; '.join(reasons)}): rebuild it with "
            f"`{sidecar.rebuild_command()}`."
        )
    return sidecar


def _preference(sidecar: EngineSidecar) -> tuple[int, int, int]:
    # Lower sorts first: a fixed-size engine (tuned for exactly this size), FP16, GPU only.
    return (
        0 if sidecar.input_size else 1,
        PRECISIONS.index(sidecar.precision),
        0 if sidecar.dla_core is None else 1,
    )


def find_matching_engine(
    engine_dir: Path,
    variant: str,
    input_size: tuple[int, int],
    gpu: GpuInfo,
    tensorrt_version: str,
) -> Path | None:
    """The best engine in `engine_dir` for (variant, size) on this GPU and TensorRT, if any.

    Only the sidecars are read (no hashing), so this is cheap enough for backend selection;
    the backend verifies the chosen engine fully when it loads it.
    """
    if not engine_dir.is_dir():
        return None
    expected = Expected(tensorrt_version=tensorrt_version, gpu=gpu)
    found: list[tuple[tuple[int, int, int], str, Path]] = []
    for engine in engine_dir.glob(f"*{ENGINE_SUFFIX}"):
        try:
            sidecar = read_sidecar(engine)
        except UserError:
            continue
        if sidecar.variant != variant or not sidecar.covers(input_size):
            continue
        if stale_reasons(sidecar, expected):
            continue
        found.append((_preference(sidecar), engine.name, engine))
    return min(found)[2] if found else None
