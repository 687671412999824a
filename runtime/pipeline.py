"""The live pipeline: capture, inference and output threads around one FrameProcessor.

- Capture keeps only the newest frame (a slow consumer drops frames, never queues them) and
  reopens a lost camera with backoff while the outputs show a "camera unavailable" frame.
- Inference segments the newest frame; the output thread composites every new frame with the
  newest mask, waiting for the frame's own mask only while inference is working on that very
  frame, so the output stays at camera rate when inference is slower.
- Settings apply between frames; a change that needs another model (variant, internal
  resolution, backend, threads) builds the new processor in the background and swaps it in
  without stopping the outputs. A backend that fails falls back to the next one.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import numpy as np
from pydantic import BaseModel, Field

from runtime.images import scale_to_cover
from runtime.outputs import FrameOutput, MjpegOutput, open_output
from runtime.outputs.base import BGRFrame
from runtime.outputs.status_card import status_card
from runtime.settings import Settings
from runtime.sources import FrameSource, SourceInfo, open_source
from runtime.sources.uri import parse_output_uri, parse_source_uri
from runtime.systemd_notify import SystemdNotifier

log = logging.getLogger(__name__)

# Settings that need a new processor (another model file or engine); the rest apply in place.
PROCESSOR_FIELDS = frozenset({"variant", "internal_resolution", "backend", "threads"})
SOURCE_FIELDS = frozenset({"source", "width", "height", "fps"})
OUTPUT_FIELDS = frozenset({"outputs", "width", "height", "fps"})
# Consecutive segment() failures after which the backend is given up for the next one.
MAX_SEGMENT_FAILURES = 3
RECONNECT_BACKOFF_S = (0.5, 8.0)  # first wait, longest wait
OUTPUT_RETRY_S = 5.0
INFERENCE_STALL_S = 10.0  # no mask for this long while frames arrive: withhold the watchdog


class ProcessorLike(Protocol):
    """What the pipeline needs from runtime.processor.FrameProcessor."""

    def segment(self, frame_bgr: BGRFrame) -> Any: ...
    def composite(self, frame_bgr: BGRFrame, result: Any) -> BGRFrame: ...
    def update_settings(self, settings: Settings) -> None: ...
    def close(self) -> None: ...


ProcessorFactory = Callable[[Settings], ProcessorLike]
CameraState = Literal["starting", "running", "unavailable", "stopped"]


def default_processor_factory(settings: Settings) -> ProcessorLike:
    from runtime.processor import FrameProcessor

    processor: ProcessorLike = FrameProcessor(settings)
    return processor


def backend_chain(backend: str) -> list[str]:
    """Backends to try in order: the configured one, then the CPU fallback."""
    return [backend] if backend == "onnxruntime" else [backend, "onnxruntime"]


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
    processor_state: Literal["loading", "ready", "failed"] = "loading"
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


class RateMeter:
    """Events per second over a moving window."""

    def __init__(self, window_s: float = 2.0) -> None:
        self.window_s = window_s
        self._times: deque[float] = deque()
        self._lock = threading.Lock()

    def tick(self, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        with self._lock:
            self._times.append(now)
            while self._times and now - self._times[0] > self.window_s:
                self._times.popleft()

    def rate(self) -> float:
        now = time.monotonic()
        with self._lock:
            while self._times and now - self._times[0] > self.window_s:
                self._times.popleft()
            if len(self._times) < 2:
                return 0.0
            span = max(now - self._times[0], 1e-6)
            return (
                (len(self._times) - 1) / span if span < self.window_s else len(self._times) / span
            )


class LatencyMeter:
    """Mean of the last N samples per stage, in milliseconds."""

    def __init__(self, samples: int = 60) -> None:
        self._samples = samples
        self._stages: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def add(self, stage: str, seconds: float) -> None:
        with self._lock:
            self._stages.setdefault(stage, deque(maxlen=self._samples)).append(seconds * 1000.0)

    def means(self) -> dict[str, float]:
        with self._lock:
            return {k: round(sum(v) / len(v), 2) for k, v in self._stages.items() if v}


@dataclass
class _Frame:
    seq: int
    image: BGRFrame
    arrived: float  # monotonic time the frame came out of the source


class LatestFrame:
    """A one-slot mailbox: put() replaces, readers wait for anything newer than what they saw."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._item: _Frame | None = None
        self._seq = 0
        self._taken_seq = 0
        self.overwritten = 0

    def put(self, image: BGRFrame, arrived: float) -> int:
        with self._cond:
            if self._item is not None and self._taken_seq < self._item.seq:
                self.overwritten += 1
            self._seq += 1
            self._item = _Frame(self._seq, image, arrived)
            self._cond.notify_all()
            return self._seq

    def wait_newer(self, after_seq: int, timeout: float, consume: bool = False) -> _Frame | None:
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._item is None or self._item.seq <= after_seq:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                self._cond.wait(remaining)
            if consume:
                self._taken_seq = self._item.seq
            return self._item

    def wake(self) -> None:
        with self._cond:
            self._cond.notify_all()


@dataclass
class _Result:
    seq: int
    arrived: float  # when the frame this mask was computed from came out of the source
    shape: tuple[int, ...]
    value: Any
    generation: int


@dataclass
class _OutputSlot:
    uri: str
    output: FrameOutput | None = None
    error: str | None = None
    retry_at: float = 0.0
    frames: int = 0


@dataclass
class _Processor:
    generation: int
    processor: ProcessorLike
    backend: str | None
    model_file: str | None
    built_for: Settings  # what the factory got (backend = the one tried, not "auto")


@dataclass
class _Shared:
    """Counters written by the worker threads, read by status()."""

    frames_in: int = 0
    frames_out: int = 0
    frames_segmented: int = 0
    masks_reused: int = 0
    last_error: str | None = None
    camera_state: CameraState = "stopped"
    source_info: SourceInfo | None = None
    glass_ms: deque[float] = field(default_factory=lambda: deque(maxlen=60))


class Pipeline:
    """Camera -> segment -> composite -> outputs, in three threads. Thread-safe public API."""

    def __init__(
        self,
        settings: Settings,
        processor_factory: ProcessorFactory | None = None,
        notifier: SystemdNotifier | None = None,
    ) -> None:
        _validate_uris(settings)
        self._settings = settings
        self._factory = processor_factory or default_processor_factory
        self._notifier = notifier or SystemdNotifier()
        self.mjpeg = MjpegOutput()
        self._configure_mjpeg(settings)

        self._frames = LatestFrame()
        self._results_cond = threading.Condition()
        self._result: _Result | None = None
        self._inferring_seq = 0

        self._settings_lock = threading.Lock()
        self._segment_lock = threading.Lock()  # held around segment() and processor swaps
        self._processor: _Processor | None = None
        self._pending_processor: _Processor | None = None
        self._pending_update: Settings | None = None
        self._processor_generation = 0
        self._processor_state: Literal["loading", "ready", "failed"] = "loading"
        self._source_dirty = threading.Event()
        self._outputs_dirty = True
        self._outputs: list[_OutputSlot] = []

        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._shared = _Shared()
        self._rates = {"in": RateMeter(), "out": RateMeter(), "inference": RateMeter()}
        self._latency = LatencyMeter()
        self._started_at: float | None = None
        self._last_progress = time.monotonic()  # last mask, for the watchdog
        self._state: Literal["starting", "running", "stopped"] = "stopped"

    # ----------------------------------------------------------------- public API

    @property
    def settings(self) -> Settings:
        return self._settings

    def start(self) -> None:
        """Start the threads; returns at once (the model loads in the background)."""
        if self._threads:
            return
        self._stop.clear()
        self._started_at = time.monotonic()
        self._state = "starting"
        self._shared.camera_state = "starting"
        self._start_build(self._settings, skip=())
        for name, target in (
            ("capture", self._capture_loop),
            ("inference", self._inference_loop),
            ("output", self._output_loop),
        ):
            thread = threading.Thread(target=target, name=f"pipeline-{name}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout: float = 2.0) -> None:
        """Stop the threads, release the camera, close the outputs and the processor."""
        self._notifier.stopping()
        self._stop.set()
        self._frames.wake()
        with self._results_cond:
            self._results_cond.notify_all()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
            if thread.is_alive():
                log.warning("%s thread did not stop within %.1f s", thread.name, timeout)
        self._threads = []
        # The output and capture threads close what they opened; this covers a thread that
        # never got that far.
        self._close_outputs()
        with self._segment_lock:
            for holder in (self._processor, self._pending_processor):
                if holder is not None:
                    _close_quietly(holder.processor)
            self._processor = self._pending_processor = None
        self.mjpeg.close()
        self._state = "stopped"
        self._shared.camera_state = "stopped"

    def apply_settings(self, settings: Settings) -> None:
        """Apply new settings between frames; raises UserError for an unusable source/output."""
        _validate_uris(settings)
        with self._settings_lock:
            old, self._settings = self._settings, settings
            changed = {
                name
                for name in Settings.model_fields
                if getattr(old, name) != getattr(settings, name)
            }
            if not changed:
                return
            log.info("applying settings: %s changed", ", ".join(sorted(changed)))
            if changed & SOURCE_FIELDS:
                self._source_dirty.set()
            if changed & OUTPUT_FIELDS:
                self._outputs_dirty = True
            self._configure_mjpeg(settings)
            self._pending_update = settings  # the output thread applies it between frames
            rebuild = bool(changed & PROCESSOR_FIELDS) and bool(self._threads)
        if rebuild:
            self._start_build(settings, skip=())

    def status(self) -> PipelineStatus:
        shared = self._shared
        info = shared.source_info
        holder = self._processor
        glass = list(shared.glass_ms)
        return PipelineStatus(
            state=self._state,
            backend=holder.backend if holder else None,
            model_file=holder.model_file if holder else None,
            processor_state=self._processor_state,
            camera_state=shared.camera_state,
            source=self._settings.source,
            source_description=info.summary() if info else None,
            source_width=info.width if info else None,
            source_height=info.height if info else None,
            source_fps=info.fps if info else None,
            source_format=info.pixel_format if info else None,
            outputs=[
                OutputStatus(
                    uri=slot.uri,
                    description=slot.output.description if slot.output else None,
                    state="running" if slot.output else ("error" if slot.error else "closed"),
                    error=slot.error,
                    frames=slot.frames,
                )
                for slot in list(self._outputs)
            ],
            fps_in=round(self._rates["in"].rate(), 2),
            fps_out=round(self._rates["out"].rate(), 2),
            fps_inference=round(self._rates["inference"].rate(), 2),
            latency_ms=self._latency.means(),
            glass_to_glass_ms=round(sum(glass) / len(glass), 1) if glass else None,
            dropped_frames=self._frames.overwritten,
            masks_reused=shared.masks_reused,
            frames_in=shared.frames_in,
            frames_out=shared.frames_out,
            frames_segmented=shared.frames_segmented,
            uptime_s=round(time.monotonic() - self._started_at, 1) if self._started_at else 0.0,
            last_error=shared.last_error,
        )

    # ----------------------------------------------------------------- processor

    def _start_build(self, settings: Settings, skip: tuple[str, ...]) -> None:
        with self._settings_lock:
            self._processor_generation += 1
            generation = self._processor_generation
            self._processor_state = "loading"
        thread = threading.Thread(
            target=self._build_processor,
            args=(settings, generation, skip),
            name="pipeline-processor-build",
            daemon=True,
        )
        thread.start()

    def _build_processor(self, settings: Settings, generation: int, skip: tuple[str, ...]) -> None:
        reasons: list[str] = []
        for backend in backend_chain(settings.backend):
            if backend in skip or self._stop.is_set():
                continue
            attempt = settings.model_copy(update={"backend": backend})
            processor, failure = _load_processor(self._factory, attempt)
            if processor is None:
                reason = f"{backend} backend failed to load: {failure}"
                log.warning("%s; trying the next backend", reason)
                reasons.append(reason)
                continue
            name, model_file = _describe_processor(processor, backend)
            if name in skip:  # "auto" picked the backend that just failed
                _close_quietly(processor)
                continue
            holder = _Processor(generation, processor, name, model_file, attempt)
            with self._settings_lock:
                superseded = generation != self._processor_generation or self._stop.is_set()
                if not superseded:
                    if self._pending_processor is not None:
                        _close_quietly(self._pending_processor.processor)
                    self._pending_processor = holder
            if superseded:
                _close_quietly(processor)
            elif reasons:
                self._shared.last_error = "; ".join(reasons) + f"; now using {name}"
            log.info("segmentation backend ready: %s (%s)", name, model_file or "no file")
            return
        if generation == self._processor_generation and not self._stop.is_set():
            self._processor_state = "failed"
            message = "; ".join(reasons) or "no backend left to try"
            self._shared.last_error = f"segmentation unavailable: {message}"
            log.error("segmentation unavailable: %s", message)

    def _swap_processor_between_frames(self) -> None:
        """Output thread: install a freshly built processor or pending in-place settings."""
        pending = self._pending_processor
        update = self._pending_update
        if pending is None and update is None:
            return
        with self._segment_lock:  # inference is between frames while we hold this
            with self._settings_lock:
                pending, self._pending_processor = self._pending_processor, None
                self._pending_update = None
                current = self._settings
            old = None
            if pending is not None:
                old, self._processor = self._processor, pending
                self._processor_state = "ready"
            holder = self._processor
            # The processor keeps the model it was built with (a new one is being built when
            # those fields changed); everything else follows the current settings.
            wanted = None
            if holder is not None:
                keep = {name: getattr(holder.built_for, name) for name in PROCESSOR_FIELDS}
                wanted = current.model_copy(update=keep)
            if holder is not None and wanted is not None and wanted != holder.built_for:
                try:
                    holder.processor.update_settings(wanted)
                    holder.built_for = wanted
                except Exception as exc:
                    self._shared.last_error = f"settings not applied: {_one_line(exc)}"
                    log.warning("settings not applied: %s", exc)
        if old is not None:
            _close_quietly(old.processor)

    # ----------------------------------------------------------------- threads

    def _capture_loop(self) -> None:
        source: FrameSource | None = None
        backoff = RECONNECT_BACKOFF_S[0]
        shared = self._shared
        try:
            while not self._stop.is_set():
                if self._source_dirty.is_set() and source is not None:
                    source.close()
                    source = None
                    shared.camera_state = "starting"
                if source is None:
                    self._source_dirty.clear()
                    settings = self._settings
                    try:
                        source = open_source(
                            settings.source, settings.width, settings.height, settings.fps
                        )
                        info = source.open()
                    except Exception as exc:  # any source failure: show it, retry, never die
                        if source is not None:
                            source.close()
                        source = None
                        self._camera_lost(_one_line(exc), backoff)
                        self._sleep_before_retry(backoff)
                        backoff = min(backoff * 2, RECONNECT_BACKOFF_S[1])
                        continue
                    shared.source_info = info
                    shared.camera_state = "running"
                    backoff = RECONNECT_BACKOFF_S[0]
                    log.info("source open: %s", info.summary())
                try:
                    image = source.read()
                except Exception as exc:  # any source failure: show it, retry, never die
                    source.close()
                    source = None
                    self._camera_lost(_one_line(exc), backoff)
                    self._sleep_before_retry(backoff)
                    backoff = min(backoff * 2, RECONNECT_BACKOFF_S[1])
                    continue
                now = time.monotonic()
                self._frames.put(image, now)
                shared.frames_in += 1
                self._rates["in"].tick(now)
        finally:
            if source is not None:
                source.close()

    def _sleep_before_retry(self, seconds: float) -> None:
        """Backoff that ends early on stop() or when the source setting changes."""
        deadline = time.monotonic() + seconds
        while not self._stop.is_set() and not self._source_dirty.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            self._stop.wait(min(remaining, 0.05))

    def _camera_lost(self, reason: str, retry_in: float) -> None:
        shared = self._shared
        if shared.camera_state != "unavailable":
            log.warning("camera unavailable (reconnecting): %s", reason)
        shared.camera_state = "unavailable"
        shared.last_error = f"camera unavailable: {reason}"
        self._notifier.status(f"camera unavailable, retrying in {retry_in:g} s")

    def _inference_loop(self) -> None:
        last_seq = 0
        failures = 0
        while not self._stop.is_set():
            item = self._frames.wait_newer(last_seq, timeout=0.2)
            if item is None:
                continue
            last_seq = item.seq
            with self._segment_lock:
                holder = self._processor
                if holder is None or self._processor_state == "failed":
                    continue
                self._inferring_seq = item.seq
                started = time.monotonic()
                try:
                    value = holder.processor.segment(item.image)
                except Exception as exc:
                    value = None
                    failures += 1
                    reason = f"{holder.backend} segmentation failed: {_one_line(exc)}"
                    self._shared.last_error = reason
                    log.warning("%s (%d in a row)", reason, failures)
                finally:
                    self._inferring_seq = 0
            if value is None:
                if failures >= MAX_SEGMENT_FAILURES and holder.backend:
                    failures = 0
                    log.warning("falling back from the %s backend", holder.backend)
                    self._start_build(self._settings, skip=(holder.backend,))
                with self._results_cond:
                    self._results_cond.notify_all()
                continue
            failures = 0
            self._last_progress = time.monotonic()
            self._latency.add("segment", time.monotonic() - started)
            self._rates["inference"].tick()
            self._shared.frames_segmented += 1
            with self._results_cond:
                self._result = _Result(
                    item.seq, item.arrived, item.image.shape, value, holder.generation
                )
                self._results_cond.notify_all()

    def _mask_for(self, frame: _Frame, budget: float) -> _Result | None:
        """The frame's own mask if inference is on it (waiting up to `budget`), else the newest."""
        deadline = time.monotonic() + budget
        with self._results_cond:
            while not self._stop.is_set():
                result = self._result
                if result is not None and result.seq >= frame.seq:
                    break
                remaining = deadline - time.monotonic()
                # Wait only while inference works on this very frame (or is about to pick it).
                busy_on_this = self._inferring_seq in (0, frame.seq)
                if remaining <= 0 or not busy_on_this or self._processor is None:
                    break
                self._results_cond.wait(min(remaining, 0.005))
            result = self._result
        if result is None or result.shape != frame.image.shape:
            return None
        if result.seq != frame.seq:
            self._shared.masks_reused += 1
        return result

    def _output_loop(self) -> None:
        last_seq = 0
        last_card_at = 0.0
        try:
            while not self._stop.is_set():
                settings = self._settings
                interval = 1.0 / settings.fps
                try:
                    last_seq, last_card_at = self._output_step(
                        settings, interval, last_seq, last_card_at
                    )
                except Exception:  # a bug must not take the virtual camera down
                    log.exception("output loop error (continuing)")
                    self._stop.wait(interval)
        finally:
            self._close_outputs()

    def _output_step(
        self, settings: Settings, interval: float, last_seq: int, last_card_at: float
    ) -> tuple[int, float]:
        """One new frame out (or a status card while there is no camera).

        When nothing new comes, the virtual camera repeats its last frame by itself
        (outputs.repeater), so a stall here never starves the meeting app.
        """
        self._reopen_outputs_if_needed(settings)
        self._swap_processor_between_frames()
        if not self._inference_stalled():
            self._notifier.watchdog()
        item = self._frames.wait_newer(last_seq, timeout=interval, consume=True)
        now = time.monotonic()
        if item is not None:
            out, processed = self._compose(item, settings)
            self._write(out, settings)
            done = time.monotonic()
            if processed:
                self._state = "running"
                self._shared.frames_out += 1
                self._rates["out"].tick(done)
                info = self._shared.source_info
                camera_s = 1.0 / info.fps if info and info.fps > 0 else interval
                self._shared.glass_ms.append((done - item.arrived + camera_s) * 1000.0)
                self._latency.add("capture_to_output", done - item.arrived)
                self._notifier.ready()
            return item.seq, last_card_at
        if self._shared.camera_state in ("unavailable", "starting") and (
            now - last_card_at >= interval
        ):
            self._write(self._card(settings), settings)
            if self._shared.camera_state == "unavailable":
                # Booted without a camera: the service is up (the virtual camera shows the
                # card), so systemd must not time the start out.
                self._notifier.ready("camera unavailable, reconnecting")
            return last_seq, now
        return last_seq, last_card_at

    def _inference_stalled(self) -> bool:
        """A hung backend (frames arrive, no mask for long): stop the watchdog so systemd
        restarts the service, which a frozen GPU call would otherwise block forever."""
        if self._processor is None or self._shared.camera_state != "running":
            self._last_progress = time.monotonic()
            return False
        return time.monotonic() - self._last_progress > INFERENCE_STALL_S

    def _compose(self, item: _Frame, settings: Settings) -> tuple[BGRFrame, bool]:
        """The frame to show and whether it is a processed camera frame (not a status card)."""
        width, height = settings.width, settings.height
        holder = self._processor
        if holder is None or self._processor_state == "failed":
            if self._processor_state == "failed":
                # Never the raw camera: the user asked for the background to be hidden.
                detail = self._shared.last_error or ""
                return status_card(width, height, "Segmentation unavailable", detail), False
            return status_card(width, height, "Preparing the model", ""), False
        info = self._shared.source_info
        fps = info.fps if info and info.fps > 0 else settings.fps
        result = self._mask_for(item, budget=1.0 / fps)
        if result is None:
            return status_card(width, height, "Preparing the model", ""), False
        started = time.monotonic()
        try:
            out = holder.processor.composite(item.image, result.value)
        except Exception as exc:
            self._shared.last_error = f"compositing failed: {_one_line(exc)}"
            log.warning("compositing failed: %s", exc)
            return status_card(width, height, "Processing error", _one_line(exc)), False
        done = time.monotonic()
        self._latency.add("composite", done - started)
        # Time between the frame and the frame its mask came from (0 when it is its own).
        self._latency.add("mask_age", abs(item.arrived - result.arrived))
        return out, True

    def _card(self, settings: Settings) -> BGRFrame:
        if self._shared.camera_state == "starting":
            return status_card(settings.width, settings.height, "Starting the camera", "")
        detail = (self._shared.last_error or "").removeprefix("camera unavailable: ")
        return status_card(
            settings.width, settings.height, "Camera unavailable", detail + " - reconnecting"
        )

    # ----------------------------------------------------------------- outputs

    def _configure_mjpeg(self, settings: Settings) -> None:
        for uri in settings.outputs:
            parsed = parse_output_uri(uri)
            if parsed.scheme == "mjpeg":
                self.mjpeg.configure(
                    int(parsed.number("quality", self.mjpeg.quality)),
                    int(parsed.number("width", 0)),
                )

    def _reopen_outputs_if_needed(self, settings: Settings) -> None:
        now = time.monotonic()
        if self._outputs_dirty:
            self._outputs_dirty = False
            self._close_outputs()
            self._outputs = [
                _OutputSlot(uri)
                for uri in settings.outputs
                if parse_output_uri(uri).scheme != "mjpeg"  # the preview buffer always exists
            ]
        for slot in self._outputs:
            if slot.output is None and now >= slot.retry_at:
                try:
                    slot.output = open_output(
                        slot.uri, settings.width, settings.height, settings.fps
                    )
                    slot.error = None
                    log.info("output open: %s", slot.output.description)
                except Exception as exc:
                    if slot.error != _one_line(exc):
                        log.error("output %s: %s", slot.uri, exc)
                    slot.error = _one_line(exc)
                    slot.retry_at = now + OUTPUT_RETRY_S

    def _write(self, frame: BGRFrame, settings: Settings) -> None:
        size = (settings.width, settings.height)
        if (frame.shape[1], frame.shape[0]) != size:
            # A camera that granted another size than asked for.
            frame = scale_to_cover(frame, settings.height, settings.width)
        started = time.monotonic()
        self.mjpeg.write(frame)
        for slot in self._outputs:
            output = slot.output
            if output is None:
                continue
            try:
                output.write(frame)
                slot.frames += 1
            except Exception as exc:  # a device problem or a bug: that output only
                slot.error = _one_line(exc)
                slot.retry_at = time.monotonic() + OUTPUT_RETRY_S
                slot.output = None
                self._shared.last_error = f"output {slot.uri}: {slot.error}"
                log.error("output %s failed: %s (reopening in %g s)", slot.uri, exc, OUTPUT_RETRY_S)
                _close_quietly(output)
        self._latency.add("output", time.monotonic() - started)

    def _close_outputs(self) -> None:
        for slot in self._outputs:
            if slot.output is not None:
                _close_quietly(slot.output)
                slot.output = None


def _validate_uris(settings: Settings) -> None:
    parse_source_uri(settings.source)
    for uri in settings.outputs:
        parse_output_uri(uri)


def _load_processor(
    factory: ProcessorFactory, settings: Settings
) -> tuple[ProcessorLike | None, str]:
    """A processor with its model loaded, or None and the reason in one line.

    The model is loaded here, in the builder thread, by segmenting a blank frame: a lazy
    backend would otherwise fail, or take seconds to load, on the first live frame.
    """
    try:
        processor = factory(settings)
    except Exception as exc:
        return None, _one_line(exc)
    try:
        processor.segment(np.zeros((settings.height, settings.width, 3), np.uint8))
        reset = getattr(processor, "reset_smoothing", None)
        if reset is not None:
            reset()  # the blank frame must not bleed into the first real mask
    except Exception as exc:
        _close_quietly(processor)
        return None, _one_line(exc)
    return processor, ""


def _describe_processor(processor: object, requested: str) -> tuple[str, str | None]:
    """Backend name and model file, from whatever the processor exposes."""
    backend = getattr(processor, "backend", None)
    name = getattr(processor, "backend_name", None) or getattr(backend, "name", None) or requested
    model = None
    for owner in (processor, backend):
        for attr in ("engine_path", "model_path", "model_file", "onnx_path", "path"):
            value = getattr(owner, attr, None)
            if value:
                model = str(value)
                break
        if model:
            break
    return str(name), model


def _close_quietly(thing: object) -> None:
    try:
        close = getattr(thing, "close", None)
        if close is not None:
            close()
    except Exception as exc:
        log.debug("ignoring error on close: %s", exc)


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
