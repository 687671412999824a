"""The newest-frame mailbox between capture and the inference and output threads."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from runtime.outputs.base import BGRFrame


@dataclass
class CapturedFrame:
    seq: int
    image: BGRFrame
    arrived: float  # monotonic time the frame came out of the source


class LatestFrame:
    """A one-slot mailbox: put() replaces, readers wait for anything newer than what they saw."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._item: CapturedFrame | None = None
        self._seq = 0
        self._taken_seq = 0
        self.overwritten = 0

    def put(self, image: BGRFrame, arrived: float) -> int:
        with self._cond:
            if self._item is not None and self._taken_seq < self._item.seq:
                self.overwritten += 1
            self._seq += 1
            self._item = CapturedFrame(self._seq, image, arrived)
            self._cond.notify_all()
            return self._seq

    def wait_newer(
        self, after_seq: int, timeout: float, consume: bool = False
    ) -> CapturedFrame | None:
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
