"""The installed TensorRT's version and API, probed once; the builder surface shared by 8.5 to 11.

`typings/tensorrt` describes the 10.13 API. TensorRT 11 removed parts of it that the 10.x
stubs still show (`BuilderFlag.FP16`, `Builder.platform_has_fast_fp16`, ...), so the code
that must run on every version reaches the builder only through `EngineBuilder` below: mypy
then rejects any call that 11.x (or 8.5) lacks. Names that exist only in some versions are
read with `hasattr` in `probe`, and `convert.engine.plan` decides what to do with them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from convert.engine.plan import TensorRTApi
from core.errors import UserError
from core.lazy import lazy_import

if TYPE_CHECKING:
    import tensorrt as trt
else:
    trt = lazy_import("tensorrt")


class EngineBuilder(Protocol):
    """The `trt.Builder` members BodyPix builds use, present from TensorRT 8.5 to 11.x."""

    @property
    def num_DLA_cores(self) -> int: ...

    def create_network(self, flags: int = 0) -> trt.INetworkDefinition: ...

    def create_builder_config(self) -> trt.IBuilderConfig: ...

    def create_optimization_profile(self) -> trt.IOptimizationProfile: ...

    def build_serialized_network(
        self, network: trt.INetworkDefinition, config: trt.IBuilderConfig
    ) -> trt.IHostMemory: ...


def parse_version(version: str) -> tuple[int, int]:
    """(10, 3) for "10.3.0.30"; a UserError for anything that is not a version."""
    parts = version.split(".")
    try:
        return int(parts[0]), int(parts[1]) if len(parts) > 1 else 0
    except ValueError:
        raise UserError(
            f"Cannot read the TensorRT version {version!r}: reinstall TensorRT's Python bindings."
        ) from None


def probe(version: str) -> TensorRTApi:
    """What the imported TensorRT (of `version`) offers; call after `require_tensorrt`."""
    creation = trt.NetworkDefinitionCreationFlag
    return TensorRTApi(
        version=parse_version(version),
        fp16_flag=hasattr(trt.BuilderFlag, "FP16"),
        strongly_typed_flag=hasattr(creation, "STRONGLY_TYPED"),
        explicit_batch_flag=hasattr(creation, "EXPLICIT_BATCH"),
    )
