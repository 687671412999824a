"""Keeps a consumer fed at a steady rate: re-sends the last payload when no new one came.

A virtual camera that stops delivering frames makes Chrome, Zoom and Teams show a frozen or
black picture, or drop the camera; so while processing stalls the last frame is repeated.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

log = logging.getLogger(__name__)


class IdleRepeater:
    """Calls `send(payload)` for every `submit`, and again with the last payload whenever
    1.5 frame intervals pass without a new one. `send` is never called concurrently."""

    def __init__(self, send: Callable[[bytes], None], fps: float, name: str = "repeater") -> None:
        self._send = send
        self.interval = 1.0 / fps
        self._lock = threading.Lock()  # serialises send()
        self._last: bytes | None = None
        self._last_at = 0.0
        self.repeats = 0
        self.name = name
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def submit(self, payload: bytes) -> None:
        with self._lock:
            self._last, self._last_at = payload, time.monotonic()
            self._send(payload)

    def _run(self) -> None:
        logged: set[str] = set()
        while not self._stop.wait(self.interval / 2):
            try:
                self._repeat_if_due()
            except Exception as exc:  # the thread must outlive any error: it is the fallback
                # Device errors (OSError) reach the writer through the next submit() anyway.
                key = f"{type(exc).__name__}: {exc}"
                if key not in logged and len(logged) < 20:
                    logged.add(key)
                    log.warning(
                        "%s: repeating the last frame failed (%s); continuing", self.name, key
                    )

    def _repeat_if_due(self) -> None:
        with self._lock:
            due = self._last is not None and time.monotonic() - self._last_at >= 1.5 * self.interval
            if due and self._last is not None:
                try:
                    self._send(self._last)
                finally:
                    self._last_at = time.monotonic()  # a failing device is retried a frame later
                self.repeats += 1

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=1.0)
