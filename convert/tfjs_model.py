"""Reading a TF.js graph model (model JSON + weight shards) with NumPy only.

Weights are decoded exactly as TensorFlow.js's `decodeWeights` does: quantised values
(uint8/uint16 with scale and min) become `q * scale + min` computed in double precision and
stored as float32, like JavaScript arithmetic written into a Float32Array.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from core.atomic import sha256_file
from core.errors import UserError

_DTYPE_BYTES = {"float32": 4, "int32": 4, "bool": 1, "uint8": 1, "uint16": 2, "float16": 2}


@dataclass(frozen=True)
class WeightSpec:
    """One entry of the weights manifest."""

    name: str
    shape: tuple[int, ...]
    dtype: str
    quantization: dict[str, Any] | None

    @property
    def stored_dtype(self) -> str:
        return str(self.quantization["dtype"]) if self.quantization else self.dtype

    @property
    def nbytes(self) -> int:
        return math.prod(self.shape) * _DTYPE_BYTES[self.stored_dtype]


@dataclass(frozen=True)
class TfjsModel:
    """A parsed model JSON: graph nodes, the weights manifest and the shard files it names."""

    json_path: Path
    nodes: list[dict[str, Any]]
    weights: list[WeightSpec]
    shard_paths: list[str]

    @property
    def directory(self) -> Path:
        return self.json_path.parent

    @property
    def weights_nbytes(self) -> int:
        return sum(w.nbytes for w in self.weights)

    def source_files(self) -> list[Path]:
        return [self.json_path, *(self.directory / p for p in self.shard_paths)]

    def source_sha256(self) -> dict[str, str]:
        """sha256 of the model JSON and every shard, keyed by file name."""
        return {p.name: sha256_file(p) for p in self.source_files()}

    def load_weights(self) -> dict[str, npt.NDArray[Any]]:
        """All weights as NumPy arrays, dequantised the TF.js way (float32)."""
        data = b"".join((self.directory / p).read_bytes() for p in self.shard_paths)
        if len(data) != self.weights_nbytes:
            raise UserError(
                f"The weight shards of {self.json_path} hold {len(data)} bytes but the manifest "
                f"needs {self.weights_nbytes}: fetch the model again with `convert fetch`."
            )
        out: dict[str, npt.NDArray[Any]] = {}
        offset = 0
        for spec in self.weights:
            count = math.prod(spec.shape)
            raw = np.frombuffer(data, dtype=np.dtype(spec.stored_dtype), count=count, offset=offset)
            offset += spec.nbytes
            out[spec.name] = dequantise(raw, spec).reshape(spec.shape)
        return out


def dequantise(raw: npt.NDArray[Any], spec: WeightSpec) -> npt.NDArray[Any]:
    """TF.js `decodeWeights`: double-precision `q * scale + min`, rounded once to float32."""
    q = spec.quantization
    if not q:
        return raw.copy()
    if "scale" not in q or "min" not in q:
        raise UserError(
            f"Weight {spec.name!r} is quantised without scale/min, which BodyPix never "
            "publishes: fetch the model again from the official URL."
        )
    values = raw.astype(np.float64) * float(q["scale"]) + float(q["min"])
    return values.astype(np.dtype(spec.dtype))


def read_model_json(json_path: Path) -> TfjsModel:
    """Parse a TF.js graph-model JSON (no weights are read)."""
    try:
        doc = json.loads(json_path.read_text(encoding="utf-8"))
        if doc.get("format", "graph-model") != "graph-model":
            raise ValueError(f"format {doc.get('format')!r}")
        nodes = list(doc["modelTopology"]["node"])
        specs: list[WeightSpec] = []
        shards: list[str] = []
        for group in doc["weightsManifest"]:
            shards.extend(group["paths"])
            for w in group["weights"]:
                specs.append(
                    WeightSpec(
                        w["name"],
                        tuple(int(d) for d in w["shape"]),
                        w["dtype"],
                        w.get("quantization"),
                    )
                )
        for spec in specs:
            if spec.stored_dtype not in _DTYPE_BYTES:
                raise ValueError(f"weight dtype {spec.stored_dtype!r}")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise UserError(
            f"{json_path} is not a readable TF.js graph model ({exc}): delete it and run "
            "`convert fetch` again."
        ) from None
    return TfjsModel(json_path, nodes, specs, shards)
