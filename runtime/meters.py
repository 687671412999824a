"""Rates and per-stage latencies, shared by the pipeline's status and the processors' stage_ms()."""

from __future__ import annotations

import threading
import time
from collections import deque


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
