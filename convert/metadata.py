"""The metadata every exported ONNX file carries (onnx `metadata_props`, all string values).

The runtime and the TensorRT builder read it to detect stale or foreign files; only `onnx` is
imported, so reading it never loads TensorFlow.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from core.errors import UserError

# What the graph computes in. Input and outputs stay float32 either way (an FP16 file casts at
# its edges), so the runtime feeds and reads both alike.
Precision = Literal["fp16", "fp32"]
PRECISIONS: tuple[Precision, ...] = ("fp16", "fp32")

FORMAT_VERSION = "1"
VARIANT = "bodypix.variant"
ARCHITECTURE = "bodypix.architecture"
STRIDE = "bodypix.stride"
MULTIPLIER = "bodypix.multiplier"
QUANT_BYTES = "bodypix.quant_bytes"
INPUT_HEIGHT = "bodypix.input_height"
INPUT_WIDTH = "bodypix.input_width"
INPUT_FORMAT = "bodypix.input_format"
PREPROCESSING = "bodypix.preprocessing"
OUTPUTS = "bodypix.outputs"
SOURCE_SHA256 = "bodypix.source_sha256"
TOOLS = "bodypix.tools"
FORMAT = "bodypix.format_version"
PRECISION = "bodypix.precision"  # "fp32" or "fp16"

DYNAMIC = "dynamic"
INPUT_FORMAT_VALUE = "NHWC float32 RGB 0-255"
INPUT_NAME = "image"
SEGMENTS = "segments"
PART_HEATMAPS = "part_heatmaps"
OUTPUTS_VALUE = f"{SEGMENTS},{PART_HEATMAPS}"


def read_onnx_metadata(path: str | Path) -> dict[str, str]:
    """All metadata_props of an ONNX file (weights are not loaded)."""
    import onnx

    path = Path(path)
    try:
        model = onnx.load(str(path), load_external_data=False)
    except (OSError, ValueError) as exc:
        raise UserError(
            f"Cannot read ONNX file {path} ({exc}): export it again with "
            "`python -m convert export-onnx`."
        ) from None
    except Exception as exc:  # protobuf DecodeError has no public base class to name here
        raise UserError(
            f"{path} is not a valid ONNX file ({type(exc).__name__}): export it again with "
            "`python -m convert export-onnx`."
        ) from None
    return {p.key: p.value for p in model.metadata_props}


def onnx_precision(meta: dict[str, str]) -> Precision:
    """The precision an ONNX file's metadata records; a UserError when it names none we know."""
    value = meta.get(PRECISION)
    if value not in PRECISIONS:
        raise UserError(
            f"The ONNX file's metadata records no known precision ({PRECISION}={value!r}): "
            "export it again with `python -m convert export-onnx`."
        )
    return value
