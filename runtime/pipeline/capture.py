"""The capture thread: keeps the newest frame in the mailbox and reopens a lost camera."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from runtime.outputs.base import BGRFrame
from runtime.pipeline.common import log, one_line
from runtime.pipeline.demand import Demand
from runtime.pipeline.mailbox import BufferHold, CaptureBuffers, LatestFrame, allocate_plain
from runtime.pipeline.processor_slot import ProcessorSlot
from runtime.pipeline.status import PipelineCounters, PipelineMeters
from runtime.settings import Settings
from runtime.sources import FrameSource, open_source
from runtime.systemd_notify import SystemdNotifier

RECONNECT_BACKOFF_S = (0.5, 8.0)  # first wait, longest wait


class CaptureWorker:
    """Reads the source into the mailbox; any source failure is shown and retried with backoff."""

    def __init__(
        self,
        frames: LatestFrame,
        buffers: CaptureBuffers,
        slot: ProcessorSlot,
        counters: PipelineCounters,
        meters: PipelineMeters,
        settings: Callable[[], Settings],
        notifier: SystemdNotifier,
        stop: threading.Event,
    ) -> None:
        self._frames = frames
        self._buffers = buffers
        self._slot = slot
        self._counters = counters
        self._meters = meters
        self._settings = settings
        self._notifier = notifier
        self._stop = stop
        self.source_dirty = threading.Event()  # reopen with the current settings
        self.demand: Demand | None = None  # on demand: set by the pipeline

    def run(self) -> None:
        source: FrameSource | None = None
        backoff = RECONNECT_BACKOFF_S[0]
        counters = self._counters
        size = (0, 0)
        try:
            while not self._stop.is_set():
                # On demand (demand.py): idle_camera = "close" frees the camera while idle.
                demand = self.demand
                if demand is not None and not demand.camera_wanted():
                    if source is not None:
                        source.close()
                        source = None
                        log.info("camera closed while idle")
                    counters.camera_state = "idle"
                    demand.wait_for_change(0.25)
                    if demand.camera_wanted():
                        counters.camera_state = "starting"
                    continue
                if self.source_dirty.is_set() and source is not None:
                    source.close()
                    source = None
                    counters.camera_state = "starting"
                if source is None:
                    self.source_dirty.clear()
                    settings = self._settings()
                    try:
                        source = open_source(
                            settings.source, settings.width, settings.height, settings.fps
                        )
                        info = source.open()
                    except Exception as exc:  # any source failure: show it, retry, never die
                        backoff = self._source_failed(source, exc, backoff)
                        source = None
                        continue
                    counters.source_info = info
                    counters.camera_state = "running"
                    backoff = RECONNECT_BACKOFF_S[0]
                    size = (info.height, info.width)
                    log.info("source open: %s", info.summary())
                if demand is not None and not demand.segmenting():
                    # On demand: idle keeps the camera streaming without decoding its frames.
                    try:
                        source.skip()
                    except Exception as exc:  # any source failure: show it, retry, never die
                        backoff = self._source_failed(source, exc, backoff)
                        source = None
                        continue
                    counters.last_frame_in = time.monotonic()
                    counters.frames_in += 1
                    self._meters.fps_in.tick(counters.last_frame_in)
                    continue
                buffer, hold = self._buffer(size)
                try:
                    image = source.read_into(buffer)
                except Exception as exc:  # any source failure: show it, retry, never die
                    if hold is not None:
                        hold.release()
                    backoff = self._source_failed(source, exc, backoff)
                    source = None
                    continue
                if image is not buffer:  # the source delivers another size than it said
                    if hold is not None:
                        hold.release()
                    hold = None
                    size = (image.shape[0], image.shape[1])
                now = time.monotonic()
                self._frames.put(image, now, hold)
                counters.last_frame_in = now
                counters.frames_in += 1
                self._meters.fps_in.tick(now)
        finally:
            if source is not None:
                source.close()

    def _buffer(self, size: tuple[int, int]) -> tuple[BGRFrame, BufferHold | None]:
        """A free capture buffer of the current processor (held for us)."""
        loaded = self._slot.current
        if loaded is None:
            return self._buffers.acquire(0, size, allocate_plain)
        processor = loaded.processor

        def allocate(height: int, width: int, count: int) -> list[BGRFrame]:
            try:
                return processor.capture_frames(height, width, count)
            except Exception as exc:  # capture must go on: plain memory then
                log.warning("capture buffers of the processor unavailable: %s", one_line(exc))
                return allocate_plain(height, width, count)

        return self._buffers.acquire(loaded.generation, size, allocate)

    def _source_failed(self, source: FrameSource | None, exc: Exception, backoff: float) -> float:
        """Close the failed source, show why, wait `backoff`; returns the next backoff."""
        if source is not None:
            source.close()
        self._camera_lost(one_line(exc), backoff)
        self._sleep_before_retry(backoff)
        return min(backoff * 2, RECONNECT_BACKOFF_S[1])

    def _sleep_before_retry(self, seconds: float) -> None:
        """Backoff that ends early on stop() or when the source setting changes."""
        deadline = time.monotonic() + seconds
        while not self._stop.is_set() and not self.source_dirty.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            self._stop.wait(min(remaining, 0.05))

    def _camera_lost(self, reason: str, retry_in: float) -> None:
        counters = self._counters
        if counters.camera_state != "unavailable":
            log.warning("camera unavailable (reconnecting): %s", reason)
        counters.camera_state = "unavailable"
        self._frames.clear()  # its buffer belongs to a processor that may be replaced meanwhile
        counters.last_error = f"camera unavailable: {reason}"
        self._notifier.status(f"camera unavailable, retrying in {retry_in:g} s")
