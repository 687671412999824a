"""The Pipeline: starts the capture, inference and output threads and composes each frame.

Length (over 400 lines): one class, because it owns the state the threads share (settings,
processor slot, outputs, health); the workers themselves live beside it (capture.py,
mask_worker.py, outputs.py, demand.py, status.py).
"""

from __future__ import annotations

import threading
import time
from pathlib import PurePath
from typing import Literal

import numpy as np

from runtime.outputs import FrameOutput, MjpegOutput
from runtime.outputs.base import BGRFrame
from runtime.outputs.status_card import status_card
from runtime.pipeline.capture import CaptureWorker
from runtime.pipeline.common import close_quietly, log, one_line
from runtime.pipeline.demand import IDLE_FPS, Demand
from runtime.pipeline.mailbox import CaptureBuffers, CapturedFrame, LatestFrame
from runtime.pipeline.mask_worker import MaskWorker
from runtime.pipeline.outputs import OutputSet
from runtime.pipeline.processor_slot import (
    PROCESSOR_FIELDS,
    LoadedProcessor,
    ProcessorFactory,
    ProcessorSlot,
    default_processor_factory,
)
from runtime.pipeline.status import PipelineCounters, PipelineMeters, PipelineStatus
from runtime.settings import Settings
from runtime.sources.uri import parse_output_uri, parse_source_uri
from runtime.systemd_notify import SystemdNotifier

SOURCE_FIELDS = frozenset({"source", "width", "height", "fps"})
OUTPUT_FIELDS = frozenset({"outputs", "width", "height", "fps"})
INFERENCE_STALL_S = 10.0  # no mask for this long while frames arrive: withhold the watchdog
# Frames arrive but no processed frame went out for this long: not healthy (/healthz 503, no
# watchdog), so a silent appliance is noticed and systemd restarts it.
OUTPUT_STALL_S = 5.0


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
        self._settings_lock = threading.Lock()
        self._notifier = notifier or SystemdNotifier()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._counters = PipelineCounters()
        self._meters = PipelineMeters()
        self._frames = LatestFrame()
        self._buffers = CaptureBuffers()
        self._slot = ProcessorSlot(
            processor_factory or default_processor_factory, self._counters, self._stop
        )
        self._retiring: list[LoadedProcessor] = []  # replaced, closed once no buffer is held
        self._masks = MaskWorker(
            self._frames, self._slot, self._counters, self._meters, self._get_settings, self._stop
        )
        self._capture = CaptureWorker(
            self._frames,
            self._buffers,
            self._slot,
            self._counters,
            self._meters,
            self._get_settings,
            self._notifier,
            self._stop,
        )
        self._outputs = OutputSet(settings, self._counters, self._meters)
        self.mjpeg: MjpegOutput = self._outputs.mjpeg  # the panel's preview buffer
        # On demand (demand.py): idle while nobody watches; the threads ask it in their loops.
        self._demand = Demand(settings, self.mjpeg, self._stop)
        self._masks.demand = self._capture.demand = self._demand
        self._started_at: float | None = None
        self._unreadable_background: str | None = None  # replaced by blur until changed
        self._state: Literal["starting", "running", "stopped"] = "stopped"

    # ----------------------------------------------------------------- public API

    @property
    def settings(self) -> Settings:
        return self._settings

    def _get_settings(self) -> Settings:
        return self._settings

    def start(self) -> None:
        """Start the threads; returns at once (the model loads in the background)."""
        if self._threads:
            return
        self._stop.clear()
        self.mjpeg.reopen()
        self._started_at = time.monotonic()
        self._counters.last_frame_out = self._started_at
        self._state = "starting"
        self._counters.camera_state = "starting"
        self._slot.request_build(self._settings)
        self._demand.start()
        for name, target in (
            ("capture", self._capture.run),
            ("inference", self._masks.run),
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
        self._masks.wake()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
            if thread.is_alive():
                log.warning("%s thread did not stop within %.1f s", thread.name, timeout)
        self._threads = []
        self._demand.stop()
        # The output and capture threads close what they opened; this covers a thread that
        # never got that far.
        self._outputs.close()
        self._frames.clear()
        for loaded in self._retiring:
            close_quietly(loaded.processor)
        self._retiring = []
        self._slot.close()
        self.mjpeg.close()
        self._state = "stopped"
        self._counters.camera_state = "stopped"

    def attach_output(self, output: FrameOutput) -> None:
        """Write every frame to `output` too (embedding applications, tests); the caller
        closes it. Like every output it may keep the frames it is given."""
        self._outputs.attach(output)

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
                self._capture.source_dirty.set()
            if changed & OUTPUT_FIELDS:
                self._outputs.dirty = True
            if changed & {"effect", "background"}:
                # Another background (or the same one re-chosen) is tried again.
                self._unreadable_background = None
                self._counters.notices.pop("background", None)
            self._outputs.configure_mjpeg(settings)
            self._demand.configure(settings)
            self._slot.request_update(settings)  # the output thread applies it between frames
            rebuild = bool(changed & PROCESSOR_FIELDS) and bool(self._threads)
        if rebuild:
            self._slot.request_build(settings)

    def status(self) -> PipelineStatus:
        counters = self._counters
        info = counters.source_info
        loaded = self._slot.current
        glass = list(counters.glass_ms)
        meters = self._meters
        demand = self._demand
        readers = demand.readers()
        healthy, health = self._health()
        return PipelineStatus(
            state=self._state,
            backend=loaded.description.backend if loaded else None,
            model_file=loaded.description.model_file if loaded else None,
            frame_path=loaded.description.frame_path if loaded else None,
            frame_path_setting=self._settings.frame_path,
            stage_ms=_stage_ms(loaded),
            processor_state=self._slot.state,
            camera_state=counters.camera_state,
            source=self._settings.source,
            source_description=info.summary() if info else None,
            source_width=info.width if info else None,
            source_height=info.height if info else None,
            source_fps=info.fps if info else None,
            source_format=info.pixel_format if info else None,
            outputs=self._outputs.statuses(),
            fps_in=round(meters.fps_in.rate(), 2),
            fps_out=round(meters.fps_out.rate(), 2),
            fps_inference=round(meters.fps_inference.rate(), 2),
            latency_ms=meters.latency.means(),
            glass_to_glass_ms=round(sum(glass) / len(glass), 1) if glass else None,
            dropped_frames=self._frames.overwritten,
            masks_reused=counters.masks_reused,
            frames_in=counters.frames_in,
            frames_out=counters.frames_out,
            frames_segmented=counters.frames_segmented,
            uptime_s=round(time.monotonic() - self._started_at, 1) if self._started_at else 0.0,
            last_error=counters.last_error or demand.error,
            healthy=healthy,
            health=health,
            notices=list(counters.notices.values()),
            demand_state=demand.state,
            idle_seconds_total=demand.idle_seconds_total(),
            readers=readers.total,
            readers_detail=readers.model_dump(),
            wakes=demand.wakes,
            last_wake_ms=demand.last_wake_ms,
        )

    # ----------------------------------------------------------------- output thread

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
            self._outputs.close()

    def _output_step(
        self, settings: Settings, interval: float, last_seq: int, last_card_at: float
    ) -> tuple[int, float]:
        """One new frame out (or a status card while there is no camera).

        When nothing new comes, the virtual camera repeats its last frame by itself
        (outputs.repeater), so a stall here never starves the meeting app.
        """
        self._outputs.reopen_if_needed(settings)
        replaced = self._slot.swap_between_frames(self._effective(self._settings))
        if replaced is not None:
            self._retiring.append(replaced)
        self._close_retired()
        if self._health()[0] and not self._inference_stalled():
            self._notifier.watchdog()
        counters = self._counters
        # On demand (demand.py): while idle, only the paused card, at a low rate.
        demand = self._demand
        demand.eligible(counters.frames_out > 0 and counters.camera_state == "running")
        idle = demand.state == "idle"
        if (self._outputs.rate is not None) != idle:  # the loopback repeats at the idle rate
            self._outputs.set_rate(IDLE_FPS if idle else None)
        if idle:
            card = demand.hold_frame(settings.width, settings.height)
            if card is not None:
                self._outputs.write(card, settings)
            demand.wait_for_change(min(0.5, demand.seconds_to_next_hold()))
            return last_seq, last_card_at
        taken = self._frames.wait_newer(last_seq, timeout=interval, consume=True)
        now = time.monotonic()
        if taken is not None:
            item = taken.frame
            try:
                out, processed = self._compose(item, settings)
                if np.may_share_memory(out, item.image):
                    # Outputs may keep what they are given (the preview does) and capture
                    # reuses its buffers: they get a frame of their own.
                    out = out.copy()
            finally:
                taken.done()
            self._outputs.write(out, settings)
            done = time.monotonic()
            if processed:
                self._state = "running"
                counters.frames_out += 1
                counters.last_frame_out = done
                self._meters.fps_out.tick(done)
                info = counters.source_info
                camera_s = 1.0 / info.fps if info and info.fps > 0 else interval
                counters.glass_ms.append((done - item.arrived + camera_s) * 1000.0)
                self._meters.latency.add("capture_to_output", done - item.arrived)
                self._notifier.ready()
                demand.processed_frame_out(done)
            return item.seq, last_card_at
        if counters.camera_state in ("unavailable", "starting") and (
            now - last_card_at >= interval
        ):
            self._outputs.write(self._card(settings), settings)
            if counters.camera_state == "unavailable":
                # Booted without a camera: the service is up (the virtual camera shows the
                # card), so systemd must not time the start out.
                self._notifier.ready("camera unavailable, reconnecting")
            return last_seq, now
        return last_seq, last_card_at

    def _close_retired(self) -> None:
        """Close replaced processors once no capture buffer of theirs is held."""
        for loaded in list(self._retiring):
            if self._buffers.release_generation(loaded.generation):
                self._retiring.remove(loaded)
                close_quietly(loaded.processor)

    def _health(self) -> tuple[bool, str]:
        """(healthy, why): healthy means frames go out, or there is a reason none can."""
        if self._state == "stopped":
            return False, "the pipeline is stopped"
        counters = self._counters
        if self._demand.state == "idle":  # on demand: no processed frames on purpose
            return True, "idle: nobody watching"
        if counters.camera_state != "running":
            # No frames to send: the outputs show the "camera unavailable" card meanwhile.
            return True, f"camera {counters.camera_state}"
        now = time.monotonic()
        if now - counters.last_frame_in > OUTPUT_STALL_S:
            return True, "no frames from the camera"
        if self._slot.current is None and self._slot.state == "loading":
            return True, "preparing the model"
        size = self._slot.frame_size
        if size is not None and self._slot.adapting_to(size):
            # A TensorRT engine for a new camera size takes minutes: a restart would not help.
            return True, "building the model for the new camera size"
        silent = now - max(counters.last_frame_out, self._slot.swapped_at, self._demand.woke_at)
        if silent > OUTPUT_STALL_S:
            # No error text: /healthz answers without a login and errors may name host files.
            return False, (
                f"frames arrive but none has gone out for {silent:.0f} s "
                f"(segmentation {self._slot.state}; the panel status has the last error)"
            )
        return True, "ok"

    def _effective(self, settings: Settings) -> Settings:
        """What the processor applies: blur instead of a background that cannot be read."""
        if settings.effect == "replace" and settings.background == self._unreadable_background:
            return settings.model_copy(update={"effect": "blur"})
        return settings

    def _background_unreadable(self, settings: Settings, exc: Exception) -> None:
        """Once per background: log, tell the panel, and blur instead from now on."""
        background = settings.background or ""
        self._unreadable_background = background
        # Named by its library id (the file's stem), never by its path on the host.
        label = PurePath(background).stem or "the background"
        self._counters.notices["background"] = (
            f"Background {label!r} cannot be read (damaged or not a picture or video), so the "
            "background is blurred instead; choose another background or upload it again."
        )
        log.warning("background %s cannot be read, blurring instead: %s", background, exc)
        self._slot.request_update(self._effective(settings))
        replaced = self._slot.swap_between_frames(self._effective(settings))
        if replaced is not None:
            self._retiring.append(replaced)

    def _inference_stalled(self) -> bool:
        """A hung backend (frames arrive, no mask for long): stop the watchdog so systemd
        restarts the service, which a frozen GPU call would otherwise block forever."""
        # Idle (on demand) makes no masks on purpose: that is no stall.
        idle = self._demand.state == "idle"
        if idle or self._slot.current is None or self._counters.camera_state != "running":
            self._masks.last_progress = time.monotonic()
            return False
        return time.monotonic() - self._masks.last_progress > INFERENCE_STALL_S

    def _compose(self, item: CapturedFrame, settings: Settings) -> tuple[BGRFrame, bool]:
        """The frame to show and whether it is a processed camera frame (not a status card)."""
        width, height = settings.width, settings.height
        loaded = self._slot.current
        state = self._slot.state
        if loaded is None or state == "failed":
            if state == "failed":
                # Never the raw camera: the user asked for the background to be hidden.
                detail = self._counters.last_error or ""
                return status_card(width, height, "Segmentation unavailable", detail), False
            return status_card(width, height, "Preparing the model", ""), False
        info = self._counters.source_info
        fps = info.fps if info and info.fps > 0 else settings.fps
        mask = self._masks.mask_for(item, loaded.generation, budget=1.0 / fps)
        if mask is None:
            return status_card(width, height, "Preparing the model", ""), False
        if not self._demand.fresh(mask.arrived):  # on demand: never a stale mask after a wake
            return self._demand.waking_card(width, height), False
        started = time.monotonic()
        try:
            try:
                out = loaded.processor.composite(item.image, mask.segmentation)
            except Exception as exc:
                if self._effective(settings).effect != "replace":
                    raise
                self._background_unreadable(settings, exc)
                if self._slot.current is not loaded:  # a new processor came in meanwhile
                    return status_card(width, height, "Preparing the model", ""), False
                out = loaded.processor.composite(item.image, mask.segmentation)
        except Exception as exc:
            message = f"compositing failed: {one_line(exc)}"
            if self._counters.last_error != message:  # once, not at the frame rate
                log.warning("%s", message)
            self._counters.last_error = message
            return status_card(width, height, "Processing error", one_line(exc)), False
        done = time.monotonic()
        self._meters.latency.add("composite", done - started)
        # Time between the frame and the frame its mask came from (0 when it is its own).
        self._meters.latency.add("mask_age", abs(item.arrived - mask.arrived))
        return out, True

    def _card(self, settings: Settings) -> BGRFrame:
        if self._counters.camera_state == "starting":
            return status_card(settings.width, settings.height, "Starting the camera", "")
        detail = (self._counters.last_error or "").removeprefix("camera unavailable: ")
        return status_card(
            settings.width, settings.height, "Camera unavailable", detail + " - reconnecting"
        )


def _stage_ms(loaded: LoadedProcessor | None) -> dict[str, float]:
    if loaded is None:
        return {}
    try:
        return {name: round(float(ms), 3) for name, ms in loaded.processor.stage_ms().items()}
    except Exception as exc:  # the status must not fail because of a processor bug
        log.debug("stage_ms failed: %s", exc)
        return {}


def _validate_uris(settings: Settings) -> None:
    parse_source_uri(settings.source)
    for uri in settings.outputs:
        parse_output_uri(uri)
