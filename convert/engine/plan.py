"""How this TensorRT builds an engine of a precision: the one place that decides it per version.

Pure functions of a `TensorRTApi` (the version and which API names exist, probed from the
installed TensorRT by `convert.engine.tensorrt_api.probe`), so every branch is tested without
TensorRT. The facts they rest on (NVIDIA's release notes and migration guides):

- `NetworkDefinitionCreationFlag.EXPLICIT_BATCH` is required for ONNX on 8.x; 10.0 deprecates it
  ("ignored because networks are always explicit batch in TensorRT 10.0", Python API docs).
- `NetworkDefinitionCreationFlag.STRONGLY_TYPED` does not exist in 8.x (it came with 9.x: ONNX
  Runtime's TensorRT provider guards it with NV_TENSORRT_MAJOR > 8); 11.0 deprecates the flag
  because every network is strongly typed.
- Weak typing (`BuilderFlag.FP16` on an FP32 network) is deprecated from 10.12 ("Weak typing
  APIs deprecated", 10.12.0 release notes) and removed in 11.0 (10.x -> 11.x Python migration
  guide: "BuilderFlag.FP16 -> strong typing"; FP16 engines come from an FP16 ONNX file).
- `Builder.platform_has_fast_fp16` is deprecated in 10.5 ("query data type support from CUDA
  directly") and removed in 11.0, so fast FP16 is read from the compute capability everywhere
  (`convert.engine.gpu.has_fast_fp16`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from convert.metadata import Precision
from core.errors import UserError

NetworkTyping = Literal["weak", "strong"]
# From this version on NVIDIA deprecates weak typing: FP16 engines come from an FP16 ONNX file.
WEAK_TYPING_DEPRECATED = (10, 12)


@dataclass(frozen=True)
class TensorRTApi:
    """What the installed TensorRT offers, as far as building BodyPix engines cares."""

    version: tuple[int, int]  # (major, minor)
    fp16_flag: bool  # trt.BuilderFlag.FP16 exists (8.x to 10.x)
    strongly_typed_flag: bool  # trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED exists (9.x on)
    explicit_batch_flag: bool  # trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH exists

    @property
    def version_text(self) -> str:
        return f"{self.version[0]}.{self.version[1]}"

    @property
    def has_strong_typing(self) -> bool:
        """Strongly typed networks: by the creation flag, or always (11.x and later)."""
        return self.strongly_typed_flag or self.version[0] >= 11

    @property
    def prefers_strong_typing(self) -> bool:
        """FP16 should come from an FP16 network: weak typing is deprecated or gone."""
        return self.has_strong_typing and (
            not self.fp16_flag or self.version >= WEAK_TYPING_DEPRECATED
        )


@dataclass(frozen=True)
class BuildPlan:
    """The network and builder settings for one build."""

    precision: Precision  # of the engine
    onnx_precision: Precision  # of the ONNX file it is built from
    typing: NetworkTyping
    fp16_flag: bool  # set BuilderFlag.FP16 (weakly typed FP16 only)
    strongly_typed_flag: bool  # pass NetworkDefinitionCreationFlag.STRONGLY_TYPED
    explicit_batch_flag: bool  # pass NetworkDefinitionCreationFlag.EXPLICIT_BATCH (8.x)
    deprecated: bool = False  # relies on an API NVIDIA has deprecated in this version

    def describe(self) -> str:
        """For logs: 'weakly typed, FP16 builder flag, FP32 ONNX'."""
        how = "FP16 builder flag" if self.fp16_flag else "types from the ONNX file"
        return f"{self.typing}ly typed, {how}, {self.onnx_precision.upper()} ONNX"


def plan_build(api: TensorRTApi, precision: Precision, onnx: Precision | None) -> BuildPlan:
    """How `api` builds a `precision` engine; `onnx` is the given ONNX file's precision, None
    when the variant's ONNX is exported for the build (then the plan says which one).

    - FP32 engines: FP32 ONNX, strongly typed where TensorRT has it (8.x: weakly typed, which
      without builder flags is FP32 too).
    - FP16 on 8.5/8.6 and 10.0-10.11: FP32 ONNX, weakly typed, BuilderFlag.FP16 (TensorRT picks
      FP16 kernels layer by layer; the proven path on JetPack 5 and 6).
    - FP16 on 10.12+ (weak typing deprecated) and 11.x (removed): FP16 ONNX, strongly typed.
    """
    explicit_batch = api.explicit_batch_flag and api.version[0] < 10
    # 11.x keeps STRONGLY_TYPED only for compatibility and ignores it: not passed there.
    strong_flag = api.strongly_typed_flag and api.version[0] < 11

    def plan(
        onnx_precision: Precision, typing: NetworkTyping, deprecated: bool = False
    ) -> BuildPlan:
        return BuildPlan(
            precision=precision,
            onnx_precision=onnx_precision,
            typing=typing,
            fp16_flag=typing == "weak" and precision == "fp16",
            strongly_typed_flag=typing == "strong" and strong_flag,
            explicit_batch_flag=explicit_batch,
            deprecated=deprecated,
        )

    if precision == "fp32":
        if onnx == "fp16":
            raise UserError(
                "This ONNX file computes in FP16, so it cannot give an FP32 engine: build with "
                "--precision fp16, or export an FP32 ONNX (`python -m convert export-onnx`)."
            )
        return plan("fp32", "strong" if api.has_strong_typing else "weak")

    if api.prefers_strong_typing:
        if onnx != "fp32":
            return plan("fp16", "strong")
        if api.fp16_flag:  # an FP32 file given by hand on 10.12+: the deprecated way still works
            return plan("fp32", "weak", deprecated=True)
        raise UserError(
            f"TensorRT {api.version_text} builds FP16 engines only from an FP16 ONNX file "
            "(its FP16 builder flag is gone) and this ONNX file is FP32: export one with "
            "`python -m convert export-onnx VARIANT --precision fp16`, or build with "
            "--precision fp32."
        )
    if onnx == "fp16":
        if api.has_strong_typing:
            return plan("fp16", "strong")
        raise UserError(
            f"TensorRT {api.version_text} has no strongly typed networks (they came with "
            "TensorRT 9), so it cannot build this FP16 ONNX file: give it the FP32 ONNX "
            "(`python -m convert export-onnx VARIANT`), from which it builds an FP16 engine "
            "with its FP16 builder flag."
        )
    if not api.fp16_flag:
        raise UserError(
            f"TensorRT {api.version_text} offers neither an FP16 builder flag nor strongly typed "
            "networks, so it cannot build FP16 engines: use --precision fp32, or install "
            "TensorRT 8.5 or later."
        )
    return plan("fp32", "weak")
