"""The newest-frame mailbox between capture and the inference and output threads, and the
ring of capture buffers frames are decoded into.

Capture decodes into buffers the processor provides (`capture_frames()`: on the CUDA path
pinned memory the GPU reads directly), so a frame is never copied on its way in. A buffer is
reused only when nothing holds it: the mailbox holds its frame until a newer one replaces it,
and the inference and output threads hold the frame they work on until they are done.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from runtime.outputs.base import BGRFrame

RING_SIZE = 4  # the mailbox, inference, output, and the one capture decodes into

Allocate = Callable[[int, int, int], list[BGRFrame]]  # (height, width, count) -> buffers


def allocate_plain(height: int, width: int, count: int) -> list[BGRFrame]:
    """Capture buffers before any processor is loaded (or when its buffers cannot be had)."""
    return [np.empty((height, width, 3), np.uint8) for _ in range(count)]


class FrameRing:
    """Capture buffers from one processor generation, all of one size."""

    def __init__(self, buffers: list[BGRFrame], generation: int) -> None:
        self.buffers = buffers
        self.generation = generation
        self.size = (buffers[0].shape[0], buffers[0].shape[1])
        self.holds = [0] * len(buffers)
        self.retired = False  # no new frames go into it


class BufferHold:
    """One hold on a ring buffer; released exactly once."""

    def __init__(self, owner: CaptureBuffers, ring: FrameRing, index: int) -> None:
        self._owner, self.ring, self.index = owner, ring, index

    def copy(self) -> BufferHold:
        """Another hold on the same buffer (for a second reader)."""
        with self._owner.lock:
            self.ring.holds[self.index] += 1
        return BufferHold(self._owner, self.ring, self.index)

    def release(self) -> None:
        with self._owner.lock:
            self.ring.holds[self.index] -= 1


class CaptureBuffers:
    """The rings capture decodes into: one per processor generation and frame size."""

    def __init__(self, count: int = RING_SIZE) -> None:
        self.lock = threading.Lock()
        self.count = count
        self._rings: list[FrameRing] = []
        self._released: set[int] = set()  # generations whose processor may be closed
        self.overflows = 0  # frames that found every buffer held (then a fresh array is used)

    def acquire(
        self, generation: int, size: tuple[int, int], allocate: Allocate
    ) -> tuple[BGRFrame, BufferHold | None]:
        """A buffer of `size` nobody holds, from the ring of processor `generation`, held for
        the caller; a fresh unheld array when every buffer is in use."""
        for _ in range(2):  # a ring retired between the two steps: make another
            with self.lock:
                ring = next(
                    (
                        r
                        for r in self._rings
                        if r.generation == generation and r.size == size and not r.retired
                    ),
                    None,
                )
                released = generation in self._released
            if released:  # its processor is closing: plain arrays until capture moves on
                return allocate_plain(size[0], size[1], 1)[0], None
            if ring is None:
                ring = FrameRing(allocate(size[0], size[1], self.count), generation)
                with self.lock:
                    if generation in self._released:
                        continue
                    # Rings of older generations or sizes are dropped once nothing holds them.
                    for old in self._rings:
                        old.retired = True
                    self._rings = [r for r in self._rings if any(r.holds)] + [ring]
            with self.lock:
                if ring.retired:
                    continue
                for index, holds in enumerate(ring.holds):
                    if holds == 0:
                        ring.holds[index] = 1
                        return ring.buffers[index], BufferHold(self, ring, index)
                break
        self.overflows += 1
        return allocate_plain(size[0], size[1], 1)[0], None

    def release_generation(self, generation: int) -> bool:
        """Whether no buffer from processor `generation` is held any more; if so its rings are
        retired (capture takes new ones) and that processor may be closed."""
        with self.lock:
            rings = [r for r in self._rings if r.generation == generation]
            if any(any(r.holds) for r in rings):
                return False
            for ring in rings:
                ring.retired = True
            self._rings = [r for r in self._rings if r.generation != generation]
            self._released.add(generation)
            return True


@dataclass
class CapturedFrame:
    seq: int
    image: BGRFrame
    arrived: float  # monotonic time the frame came out of the source
    hold: BufferHold | None = None  # the mailbox's hold on the ring buffer `image` is in


@dataclass
class TakenFrame:
    """A frame a reader works on; `done()` lets capture reuse its buffer."""

    frame: CapturedFrame
    hold: BufferHold | None

    def done(self) -> None:
        if self.hold is not None:
            self.hold.release()
            self.hold = None


class LatestFrame:
    """A one-slot mailbox: put() replaces, readers wait for anything newer than what they saw."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._item: CapturedFrame | None = None
        self._seq = 0
        self._taken_seq = 0
        self.overwritten = 0

    def put(self, image: BGRFrame, arrived: float, hold: BufferHold | None = None) -> int:
        """Newest frame; the mailbox takes over `hold` and releases it when replaced."""
        with self._cond:
            old = self._item
            if old is not None and self._taken_seq < old.seq:
                self.overwritten += 1
            self._seq += 1
            self._item = CapturedFrame(self._seq, image, arrived, hold)
            self._cond.notify_all()
        if old is not None and old.hold is not None:
            old.hold.release()
        return self._seq

    def wait_newer(
        self, after_seq: int, timeout: float, consume: bool = False
    ) -> TakenFrame | None:
        """The newest frame if newer than `after_seq`, held for the caller until `done()`."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._item is None or self._item.seq <= after_seq:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                self._cond.wait(remaining)
            if consume:
                self._taken_seq = self._item.seq
            item = self._item
            return TakenFrame(item, item.hold.copy() if item.hold is not None else None)

    def clear(self) -> None:
        """Drop the held frame (at stop, so the processor that owns its buffer can close)."""
        with self._cond:
            old, self._item = self._item, None
        if old is not None and old.hold is not None:
            old.hold.release()

    def wake(self) -> None:
        with self._cond:
            self._cond.notify_all()
