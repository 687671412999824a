"""On demand: the pipeline idles while nobody watches and wakes when someone does.

Watching means any of: a process has the virtual camera open (`runtime.outputs.readers`), the
panel's preview was read in the last VIEWER_LINGER_S (a streaming viewer reads at least every
0.5 s), or a file output records (always watched). `idle_after` seconds without any of these
while frames are being processed: idle. Idle stops segmentation and compositing, writes the
"Paused" card to the outputs at IDLE_FPS (consumers that probe the virtual camera still get a
valid YUYV stream; the loopback writer's repeater slows to that rate), keeps the watchdog fed,
and with `idle_camera = "close"` closes the camera (frees it, turns its LED off).

A reader or viewer arriving: waking. Until a mask made after the wake exists the outputs show a
card, never the room: the newest mask from before the idle is stale (the person moved), and
compositing a new frame with it would show the background where the person used to be. The
first processed frame ends the wake (`last_wake_ms` measures it: one inference with the camera
kept open, plus the camera's start with it closed).

The state machine lives here, above the processor protocol, so both frame paths behave alike;
the pipeline's threads ask it through the small calls marked "on demand" in their loops.
"""

from __future__ import annotations

import threading
import time
from typing import Literal

from pydantic import BaseModel, Field

from runtime.outputs.base import BGRFrame
from runtime.outputs.mjpeg import MjpegOutput
from runtime.outputs.readers import DeviceReaders
from runtime.outputs.status_card import status_card
from runtime.pipeline.common import log, one_line
from runtime.settings import Settings
from runtime.sources.uri import parse_output_uri

DemandState = Literal["active", "idle", "waking"]
IDLE_FPS = 2.0  # the paused card's rate while idle
VIEWER_LINGER_S = 2.0  # a preview read counts as a viewer for this long
POLL_S = 0.25  # reader events wake the poll at once; this bounds the idle timer's lag
FRESH_S = 0.1  # a mask of a frame this much older than the wake still shows the person now
PAUSED_CARD = ("Paused", "Nobody is watching. Opening this camera resumes it.")
WAKING_CARD = ("Resuming", "")


class Readers(BaseModel):
    """Who watches the outputs now."""

    virtual_camera: int = Field(0, description="Processes with the virtual camera open.")
    preview: int = Field(0, description="Panel preview viewers (streams now, or a recent read).")
    recording: int = Field(0, description="File outputs (always watched while recording).")

    @property
    def total(self) -> int:
        return self.virtual_camera + self.preview + self.recording


class Demand:
    """The active / idle / waking state. Thread-safe; its own thread follows the readers."""

    def __init__(self, settings: Settings, mjpeg: MjpegOutput, stop: threading.Event) -> None:
        self._stop = stop
        self._mjpeg = mjpeg
        self._cond = threading.Condition()
        self._state: DemandState = "active"
        self._idle_after = settings.idle_after
        self._close_camera = settings.idle_camera == "close"
        self._recording = 0
        self._eligible = False  # processing frames: only then is there anything to save
        self._unwatched_since: float | None = None
        self._idle_since = 0.0
        self._idle_total = 0.0
        self._woke_at = 0.0
        self._next_hold = 0.0
        self.last_wake_ms: float | None = None
        self.wakes = 0
        self.error: str | None = None
        self._devices: list[str] = []
        self._readers: DeviceReaders | None = None  # while started
        self._thread: threading.Thread | None = None
        mjpeg.on_read = self._viewer_read
        self.configure(settings)

    # ----------------------------------------------------------------- control

    def configure(self, settings: Settings) -> None:
        """Follow new settings: the loopback devices to watch, file outputs, idle_after."""
        devices, recording = [], 0
        for uri in settings.outputs:
            parsed = parse_output_uri(uri)
            if parsed.scheme == "v4l2loopback":
                devices.append(parsed.location)
            elif parsed.scheme == "file":
                recording += 1
        self._devices = devices
        if self._readers is not None:
            self._readers.watch(devices)
        with self._cond:
            self._idle_after = settings.idle_after
            self._close_camera = settings.idle_camera == "close"
            self._recording = recording
            self._cond.notify_all()
        self._evaluate()

    def start(self) -> None:
        if self._thread is not None:
            return
        self.error = None
        try:
            self._readers = DeviceReaders()
            self._readers.watch(self._devices)
        except OSError as exc:  # e.g. the inotify instance limit: count the camera as watched
            self._readers = None
            self.error = f"virtual camera readers unknown (inotify: {one_line(exc)})"
            log.warning("%s; the virtual camera counts as watched", self.error)
        self._thread = threading.Thread(target=self._run, name="pipeline-demand", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        thread, self._thread = self._thread, None
        with self._cond:
            self._cond.notify_all()
        if thread is not None:
            thread.join(1.0)
        readers, self._readers = self._readers, None
        if readers is not None:
            readers.close()
        with self._cond:  # a restart begins active, as the first start did
            if self._state == "idle":
                self._idle_total += time.monotonic() - self._idle_since
            self._state = "active"
            self._eligible = False
            self._cond.notify_all()

    def _run(self) -> None:
        while not self._stop.is_set() and self._thread is not None:
            readers = self._readers
            if readers is None:
                self._stop.wait(POLL_S)
            else:
                try:
                    readers.poll(POLL_S)
                except OSError as exc:  # never take the pipeline down over a count
                    self.error = f"virtual camera readers: {one_line(exc)}"
                    self._stop.wait(POLL_S)
            self._evaluate()

    def _viewer_read(self) -> None:
        """The preview was read (any thread): wake at once rather than at the next poll."""
        if self._state == "idle":
            self._evaluate()

    # ----------------------------------------------------------------- state

    @property
    def state(self) -> DemandState:
        return self._state

    @property
    def woke_at(self) -> float:
        """When the last wake began (monotonic; 0 before any): no output is due before it."""
        return self._woke_at

    def readers(self) -> Readers:
        mjpeg = self._mjpeg
        preview = mjpeg.viewers or int(mjpeg.seconds_since_read < VIEWER_LINGER_S)
        readers = self._readers
        if readers is not None:
            camera = readers.readers()
        else:  # not started, or no inotify: a configured virtual camera counts as watched
            camera = int(bool(self._devices) and self._thread is not None)
        return Readers(virtual_camera=camera, preview=preview, recording=self._recording)

    def idle_seconds_total(self) -> float:
        with self._cond:
            total = self._idle_total
            if self._state == "idle":
                total += time.monotonic() - self._idle_since
            return round(total, 1)

    def _evaluate(self) -> None:
        watched = self.readers().total > 0
        now = time.monotonic()
        with self._cond:
            if watched or self._idle_after <= 0:
                self._unwatched_since = None
                if self._state == "idle":
                    self._wake(now)
                return
            if not self._eligible or self._state != "active":
                self._unwatched_since = None  # the countdown runs while frames are processed
                return
            if self._unwatched_since is None:
                self._unwatched_since = now
            elif now - self._unwatched_since >= self._idle_after:
                self._state = "idle"
                self._idle_since = now
                self._next_hold = 0.0
                self._cond.notify_all()
                log.info(
                    "idle: nobody watched for %.0f s (camera %s)",
                    self._idle_after,
                    "closed" if self._close_camera else "kept open",
                )

    def _wake(self, now: float) -> None:
        """Idle -> waking (lock held)."""
        self._state = "waking"
        self._woke_at = now
        self._idle_total += now - self._idle_since
        self._unwatched_since = None
        self.wakes += 1
        self._cond.notify_all()
        log.info("waking: a reader or viewer arrived")

    # ----------------------------------------------------------------- hooks for the threads

    def eligible(self, processing: bool) -> None:
        """Whether frames are being processed (camera running, model ready)."""
        self._eligible = processing

    def segmenting(self) -> bool:
        """Inference thread: whether to segment now."""
        return self._state != "idle"

    def camera_wanted(self) -> bool:
        """Capture thread: whether the camera should be open now."""
        return self._state != "idle" or not self._close_camera

    def wait_for_change(self, timeout: float) -> None:
        """Sleep until the state changes (or `timeout` s, or stop)."""
        with self._cond:
            if not self._stop.is_set():
                self._cond.wait(timeout)

    def fresh(self, arrived: float) -> bool:
        """Whether a frame (or the mask made from it) that came out of the source at
        `arrived` shows the room as it is now, so a wake may use it."""
        return self._state != "waking" or arrived >= self._woke_at - FRESH_S

    def processed_frame_out(self, now: float) -> None:
        """Output thread: a processed frame went out; ends a wake."""
        if self._state != "waking":
            return
        with self._cond:
            if self._state == "waking":
                self._state = "active"
                self.last_wake_ms = round((now - self._woke_at) * 1000.0, 1)
                self._unwatched_since = None  # a wake gets idle_after s before the next idle
                log.info("active: first processed frame %.0f ms after the wake", self.last_wake_ms)

    def hold_frame(self, width: int, height: int) -> BGRFrame | None:
        """Output thread while idle: the paused card when one is due (IDLE_FPS), else None."""
        now = time.monotonic()
        with self._cond:
            if self._state != "idle" or now < self._next_hold:
                return None
            self._next_hold = now + 1.0 / IDLE_FPS
        return status_card(width, height, *PAUSED_CARD)

    def seconds_to_next_hold(self) -> float:
        return max(0.0, self._next_hold - time.monotonic())

    @staticmethod
    def waking_card(width: int, height: int) -> BGRFrame:
        return status_card(width, height, *WAKING_CARD)
