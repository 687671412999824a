"""What the pipeline reports: the status model the panel shows, and the meters behind it."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel, Field

from runtime.meters import LatencyMeter, RateMeter
from runtime.sources import SourceInfo

# "idle": closed while nobody watches (idle_camera = "close", runtime.pipeline.demand).
CameraState = Literal["starting", "running", "unavailable", "idle", "stopped"]
ProcessorState = Literal["loading", "ready", "failed"]


class OutputStatus(BaseModel):
    uri: str
    description: str | None = None
    state: Literal["running", "error", "closed"] = "closed"
    error: str | None = None
    frames: int = 0


class PipelineStatus(BaseModel):
    """Everything the panel shows about the running pipeline."""

    state: Literal["starting", "running", "stopped"] = "stopped"
    backend: str | None = Field(None, description="Segmentation backend in use.")
    model_file: str | None = Field(None, description="Engine or ONNX file the backend runs.")
    frame_path: Literal["cpu", "cuda"] | None = Field(
        None, description="Where pre-processing, mask and compositing run now."
    )
    frame_path_setting: Literal["auto", "cpu", "cuda"] = Field(
        "auto", description="The frame_path setting (auto: CUDA when a CUDA device is usable)."
    )
    processor_state: ProcessorState = "loading"
    camera_state: CameraState = "stopped"
    source: str = Field("", description="Configured source URI.")
    source_description: str | None = Field(None, description="What the source granted.")
    source_width: int | None = None
    source_height: int | None = None
    source_fps: float | None = None
    source_format: str | None = None
    outputs: list[OutputStatus] = Field(default_factory=list)
    fps_in: float = Field(0.0, description="Frames per second from the source (2 s window).")
    fps_out: float = Field(0.0, description="New frames per second written to the outputs.")
    fps_inference: float = 0.0
    latency_ms: dict[str, float] = Field(
        default_factory=dict, description="Mean per-stage milliseconds over the last frames."
    )
    stage_ms: dict[str, float] = Field(
        default_factory=dict,
        description="The processor's mean milliseconds per stage (CPU path) or per kernel "
        "(CUDA path) over the last frames.",
    )
    glass_to_glass_ms: float | None = Field(
        None,
        description="Estimate: frame arrival to outputs written, plus one source frame interval "
        "for exposure, readout and transfer inside the camera.",
    )
    dropped_frames: int = Field(0, description="Captured frames replaced before any output.")
    masks_reused: int = Field(0, description="Frames composited with an older frame's mask.")
    frames_in: int = 0
    frames_out: int = 0
    frames_segmented: int = 0
    uptime_s: float = 0.0
    last_error: str | None = None
    healthy: bool = Field(
        False,
        description="Frames go out: false while stopped, or while frames arrive but none has "
        "gone out for a while (then /healthz answers 503 and the systemd watchdog is withheld).",
    )
    health: str = Field("stopped", description="Why the pipeline is (not) healthy, one line.")
    notices: list[str] = Field(
        default_factory=list,
        description="Warnings for the panel about settings that could not be honoured "
        "(e.g. an unreadable background replaced by blur); no host paths.",
    )
    # On demand (runtime.pipeline.demand).
    demand_state: Literal["active", "idle", "waking"] = Field(
        "active",
        description="active: processing; idle: nobody watches, segmentation paused, the outputs "
        "show a paused card; waking: a reader arrived, the card shows until the first mask.",
    )
    idle_seconds_total: float = Field(0.0, description="Time spent idle since the start.")
    readers: int = Field(
        0, description="Virtual camera readers + preview viewers + file outputs, now."
    )
    readers_detail: dict[str, int] = Field(default_factory=dict)
    wakes: int = Field(0, description="Wake-ups since the start.")
    last_wake_ms: float | None = Field(
        None,
        description="The last wake-up: from the reader's arrival to the first processed frame.",
    )


@dataclass
class PipelineCounters:
    """Counters and states written by the worker threads, read by `Pipeline.status()`.

    Each field has one writer thread; readers tolerate a value one frame old, so no lock.
    """

    frames_in: int = 0
    frames_out: int = 0
    frames_segmented: int = 0
    masks_reused: int = 0
    last_error: str | None = None
    camera_state: CameraState = "stopped"
    source_info: SourceInfo | None = None
    glass_ms: deque[float] = field(default_factory=lambda: deque(maxlen=60))
    last_frame_in: float = 0.0  # monotonic time of the newest captured frame
    last_frame_out: float = 0.0  # monotonic time a processed frame last went out
    notices: dict[str, str] = field(default_factory=dict)  # topic -> message


@dataclass
class PipelineMeters:
    """Rates and per-stage latencies."""

    fps_in: RateMeter = field(default_factory=RateMeter)
    fps_out: RateMeter = field(default_factory=RateMeter)
    fps_inference: RateMeter = field(default_factory=RateMeter)
    latency: LatencyMeter = field(default_factory=LatencyMeter)
