"""The one settings model: everything a user can change, validated in one place.

The runtime applies a new version between frames; the panel validates against this model and
persists it; the config file, environment and command line are all read through it.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from core.catalog import DEFAULT_VARIANT, get_variant
from core.errors import UserError

Effect = Literal["blur", "replace", "mask", "parts", "none"]
CpuBackendName = Literal["openvino", "onnxruntime"]
BackendName = Literal["auto", "tensorrt", CpuBackendName]
FramePathName = Literal["auto", "cpu", "cuda"]
InternalResolutionName = Literal["low", "medium", "high", "full"]
SmoothingMethod = Literal["ema", "motion"]
EdgeRefine = Literal["off", "guided"]
Channel = Annotated[int, Field(ge=0, le=255)]
RGBA = tuple[Channel, Channel, Channel, Channel]
# Bounds a path or URI can need (PATH_MAX); anything longer is refused, not stored and echoed.
MAX_TEXT = 4096


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True, frozen=False)


class MaskSettings(_Strict):
    """`toMask` / `drawMask` options."""

    foreground_color: RGBA = (0, 0, 0, 0)
    background_color: RGBA = (0, 0, 0, 255)
    opacity: float = Field(default=0.7, ge=0.0, le=1.0)
    mask_blur_amount: int = Field(default=0, ge=0, le=20)


class PartsSettings(_Strict):
    """Body-part colouring (`toColoredPartMask` / `drawMask`) and face blur (`blurBodyPart`)."""

    opacity: float = Field(default=0.7, ge=0.0, le=1.0)
    face_blur: bool = False
    face_blur_amount: int = Field(default=3, ge=1, le=20)
    no_part_color: RGBA = Field(
        default=(255, 255, 255, 255),
        description="Colour where no part is: body-pix's opaque white; (0,0,0,0) leaves the frame.",
    )


class Settings(_Strict):
    """Everything a user can change. Defaults are BodyPix's own defaults where it has one."""

    # What to do with the background.
    effect: Effect = "blur"
    background_blur_amount: int = Field(default=3, ge=1, le=20)
    edge_blur_amount: int = Field(default=3, ge=0, le=20)
    background: str | None = Field(
        default=None,
        max_length=MAX_TEXT,
        description="Background image or video for 'replace': a path or a library id.",
    )
    mask: MaskSettings = Field(default_factory=MaskSettings)
    parts: PartsSettings = Field(default_factory=PartsSettings)
    flip_horizontal: bool = False

    # Segmentation.
    variant: str = Field(default=DEFAULT_VARIANT, max_length=64)
    internal_resolution: InternalResolutionName | float = "medium"
    segmentation_threshold: float = Field(default=0.7, ge=0.0, le=1.0)
    backend: BackendName = "auto"
    threads: int = Field(
        default=0,
        ge=0,
        le=64,
        description="CPU inference threads; 0 = all cores (the live pipeline: all but one).",
    )
    frame_path: FramePathName = Field(
        default="auto",
        description="Where pre-processing, mask and compositing run: 'cuda' (CUDA kernels), "
        "'cpu' (NumPy/OpenCV), or 'auto' (CUDA when a CUDA device is usable).",
    )

    # Video-only refinements (off for still images).
    smoothing: float = Field(
        default=0.0, ge=0.0, lt=1.0, description="Temporal EMA of the mask: 0 off, 0.9 very smooth."
    )
    feather: int = Field(
        default=0, ge=0, le=50, description="Soft edge width in pixels; 0 = hard cut."
    )
    smoothing_method: SmoothingMethod = Field(
        default="motion",
        description="'motion': average where the frame is still, follow where it moves; 'ema'.",
    )
    edge_refine: EdgeRefine = Field(
        default="off", description="'guided': the mask edge follows the frame's (guided filter)."
    )
    edge_refine_radius: int = Field(default=8, ge=1, le=64, description="Guided filter radius px.")
    edge_refine_eps: float = Field(
        default=1e-4, gt=0.0, le=1.0, description="Guided filter smoothing (guide in 0..1)."
    )

    # Live pipeline.
    # Sizes and rates bounded to what cameras deliver (4K at 120 fps at most): a bigger request
    # would only allocate buffers no source fills.
    source: str = Field(default="demo://", max_length=MAX_TEXT)
    outputs: list[Annotated[str, Field(max_length=MAX_TEXT)]] = Field(
        default_factory=lambda: ["mjpeg://"], max_length=8
    )
    width: int = Field(default=1280, ge=16, le=3840)
    height: int = Field(default=720, ge=16, le=2160)
    fps: float = Field(default=30.0, ge=1, le=120)

    # On demand (runtime/pipeline/demand.py).
    idle_after: float = Field(
        default=10.0,
        ge=0.0,
        le=86400.0,
        description="Seconds without a reader of the virtual camera, a preview viewer or a file "
        "output after which segmentation pauses; 0 = never idle.",
    )
    idle_camera: Literal["keep", "close"] = Field(
        default="keep",
        description="While idle: 'keep' the camera open (waking costs one inference) or "
        "'close' it (frees it for other programs and turns its LED off; waking also costs "
        "the camera's start).",
    )

    @field_validator("variant")
    @classmethod
    def _known_variant(cls, value: str) -> str:
        try:
            get_variant(value)
        except UserError as exc:
            raise ValueError(str(exc)) from None
        return value

    @field_validator("internal_resolution")
    @classmethod
    def _resolution_range(cls, value: str | float) -> str | float:
        if isinstance(value, float | int) and not 0.1 <= float(value) <= 2.0:
            raise ValueError("internal_resolution must be low, medium, high, full or 0.1-2.0")
        return value
