"""The mask worker: the inference thread segments the newest frame; the output thread asks it
for the mask to composite a frame with."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from runtime.pipeline.common import log, one_line
from runtime.pipeline.demand import Demand
from runtime.pipeline.mailbox import CapturedFrame, LatestFrame
from runtime.pipeline.processor_slot import LoadedProcessor, ProcessorSlot
from runtime.pipeline.status import PipelineCounters, PipelineMeters
from runtime.settings import Settings

# Consecutive segment() failures after which the backend is given up for the next one.
MAX_SEGMENT_FAILURES = 3


@dataclass
class FrameMask:
    """The segmentation of one captured frame, as made by one processor generation."""

    seq: int  # the captured frame it was computed from
    arrived: float  # when that frame came out of the source
    shape: tuple[int, ...]
    segmentation: Any  # opaque: only the processor that made it may composite with it
    generation: int


class MaskWorker:
    """Runs `segment()` on the newest frame, one at a time, in its own thread."""

    def __init__(
        self,
        frames: LatestFrame,
        slot: ProcessorSlot,
        counters: PipelineCounters,
        meters: PipelineMeters,
        settings: Callable[[], Settings],
        stop: threading.Event,
    ) -> None:
        self._frames = frames
        self._slot = slot
        self._counters = counters
        self._meters = meters
        self._settings = settings
        self._stop = stop
        self._cond = threading.Condition()
        self._latest: FrameMask | None = None
        self._inferring_seq = 0
        self.last_progress = time.monotonic()  # last mask, for the watchdog
        self.demand: Demand | None = None  # on demand: set by the pipeline
        self._reset_smoothing = False

    def wake(self) -> None:
        with self._cond:
            self._cond.notify_all()

    def run(self) -> None:
        last_seq = 0
        failures = 0
        slot = self._slot
        while not self._stop.is_set():
            # On demand (demand.py): no segmentation while idle; a wake segments only frames
            # that show the room now, and forgets the smoothing of the masks from before.
            demand = self.demand
            if demand is not None and not demand.segmenting():
                self._reset_smoothing = True
                demand.wait_for_change(0.25)
                continue
            taken = self._frames.wait_newer(last_seq, timeout=0.2)
            if taken is None:
                continue
            item = taken.frame
            last_seq = item.seq
            if demand is not None and not demand.fresh(item.arrived):
                taken.done()
                continue
            try:
                value, loaded, started = self._segment(item)
            finally:
                taken.done()  # capture may reuse the buffer
            if loaded is None:
                continue
            if value is None:
                failures += 1
                if failures >= MAX_SEGMENT_FAILURES:
                    failures = 0
                    described = loaded.description
                    log.warning("falling back from the %s backend", described.backend)
                    slot.request_build(
                        self._settings(), skip=[(described.frame_path, described.backend)]
                    )
                self.wake()
                continue
            failures = 0
            self.last_progress = time.monotonic()
            self._meters.latency.add("segment", time.monotonic() - started)
            self._meters.fps_inference.tick()
            self._counters.frames_segmented += 1
            with self._cond:
                self._latest = FrameMask(
                    item.seq, item.arrived, item.image.shape, value, loaded.generation
                )
                self._cond.notify_all()

    def _segment(self, item: CapturedFrame) -> tuple[Any, LoadedProcessor | None, float]:
        """(segmentation or None on failure, the processor asked, start time); no processor
        when none may segment this frame."""
        slot = self._slot
        size = (item.image.shape[0], item.image.shape[1])
        slot.frame_size = size
        with slot.lock:
            loaded = slot.current
            if loaded is None or slot.state == "failed":
                return None, None, 0.0
            if loaded.frame_size != size and loaded.description.fixed_size:
                # segment() would rebuild the backend (a TensorRT engine: minutes) right
                # here, on the frame path: build a processor for the new size instead,
                # with ONNX Runtime serving meanwhile.
                if not slot.building_for(size):
                    log.info(
                        "frame size %dx%d: building the %s backend for it",
                        size[1],
                        size[0],
                        loaded.description.backend,
                    )
                    slot.request_build(self._settings(), frame_size=size, interim=True)
                return None, None, 0.0
            if self._reset_smoothing:  # on demand: no EMA with a mask from before the idle
                self._reset_smoothing = False
                loaded.processor.reset_smoothing()
            self._inferring_seq = item.seq
            started = time.monotonic()
            try:
                return loaded.processor.segment(item.image), loaded, started
            except Exception as exc:
                reason = f"{loaded.description.backend} segmentation failed: {one_line(exc)}"
                self._counters.last_error = reason
                log.warning("%s", reason)
                return None, loaded, started
            finally:
                self._inferring_seq = 0

    def mask_for(self, frame: CapturedFrame, generation: int, budget: float) -> FrameMask | None:
        """The frame's own mask if inference is on it (waiting up to `budget`), else the newest;
        only a mask made by processor `generation` (another processor's is not its to read)."""
        deadline = time.monotonic() + budget
        with self._cond:
            while not self._stop.is_set():
                mask = self._latest
                if mask is not None and mask.generation == generation and mask.seq >= frame.seq:
                    break
                remaining = deadline - time.monotonic()
                # Wait only while inference works on this very frame (or is about to pick it).
                busy_on_this = self._inferring_seq in (0, frame.seq)
                if remaining <= 0 or not busy_on_this or self._slot.current is None:
                    break
                self._cond.wait(min(remaining, 0.005))
            mask = self._latest
        if mask is None or mask.generation != generation or mask.shape != frame.image.shape:
            return None
        if mask.seq != frame.seq:
            self._counters.masks_reused += 1
        return mask
