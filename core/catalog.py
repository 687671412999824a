"""Catalog of every official BodyPix 2.0 variant: the one place that knows names, URLs and sizes."""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from core.errors import UserError

OFFICIAL_BASE_URL = "https://storage.googleapis.com/tfjs-models/savedmodel/bodypix/"
DEFAULT_VARIANT = "mobilenet-float-050-stride16"
MIRROR_ENV = "BODYPIX_MODEL_MIRROR"
MODELS_DIR_ENV = "BODYPIX_MODELS_DIR"

Architecture = Literal["MobileNetV1", "ResNet50"]
_QUANT_FOLDER = {4: "float", 2: "quant2", 1: "quant1"}
_MULTIPLIER_FOLDER = {0.5: "050", 0.75: "075", 1.0: "100"}


@dataclass(frozen=True)
class Variant:
    """One official model file set: architecture x multiplier x output stride x quantBytes."""

    architecture: Architecture
    multiplier: float  # MobileNet depth multiplier; 1.0 for ResNet50
    stride: int
    quant_bytes: int  # 4 float32, 2 uint16, 1 uint8
    approx_download_bytes: int  # model JSON + shards, as published

    @property
    def quant_folder(self) -> str:
        return _QUANT_FOLDER[self.quant_bytes]

    @property
    def name(self) -> str:
        if self.architecture == "ResNet50":
            return f"resnet50-{self.quant_folder}-stride{self.stride}"
        mult = _MULTIPLIER_FOLDER[self.multiplier]
        return f"mobilenet-{self.quant_folder}-{mult}-stride{self.stride}"

    @property
    def remote_dir(self) -> str:
        """Path of the variant's folder relative to the official base URL."""
        if self.architecture == "ResNet50":
            return f"resnet50/{self.quant_folder}/"
        return f"mobilenet/{self.quant_folder}/{_MULTIPLIER_FOLDER[self.multiplier]}/"

    @property
    def json_name(self) -> str:
        return f"model-stride{self.stride}.json"

    @property
    def url(self) -> str:
        """Official URL of the model JSON; its shards sit beside it."""
        return OFFICIAL_BASE_URL + self.remote_dir + self.json_name


def _build() -> dict[str, Variant]:
    variants: list[Variant] = []
    # Shard sizes of the published MobileNet files (float32); quantised ones scale by bytes.
    mobilenet_float_bytes = {0.5: 2_419_840, 0.75: 5_197_568, 1.0: 13_694_336}
    for mult, float_bytes in mobilenet_float_bytes.items():
        for quant in (4, 2, 1):
            for stride in (8, 16):
                size = float_bytes * quant // 4 + 55_000
                variants.append(Variant("MobileNetV1", mult, stride, quant, size))
    for quant in (4, 2, 1):
        for stride in (16, 32):
            variants.append(Variant("ResNet50", 1.0, stride, quant, 94_800_000 * quant // 4))
    return {v.name: v for v in variants}


VARIANTS: dict[str, Variant] = _build()


def get_variant(name: str) -> Variant:
    """Look a variant up by name; an unknown name lists the closest ones."""
    try:
        return VARIANTS[name]
    except KeyError:
        close = difflib.get_close_matches(name, VARIANTS, n=3, cutoff=0.5)
        hint = f"did you mean {', '.join(close)}?" if close else "run `convert list` to see them."
        raise UserError(f"Unknown BodyPix variant {name!r}: {hint}") from None


def user_cache_dir() -> Path:
    """The appliance's folder in the user's cache (XDG_CACHE_HOME, else ~/.cache)."""
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "bodypix-appliance"


def default_models_dir() -> Path:
    """Where fetched models, exported ONNX files and engines live unless told otherwise."""
    env = os.environ.get(MODELS_DIR_ENV)
    return Path(env) if env else user_cache_dir() / "models"
