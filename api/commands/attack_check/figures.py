"""fps_out and capture-to-output latency, sampled before, during and after a flood."""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from api.commands.attack_check.client import Panel


@dataclass
class Figures:
    fps_out: float | None
    latency_ms: float | None

    def text(self) -> str:
        fps = "-" if self.fps_out is None else f"{self.fps_out:5.1f}"
        lat = "-" if self.latency_ms is None else f"{self.latency_ms:6.1f}"
        return f"fps_out {fps}  capture->output {lat} ms"


def sample(panel: Panel, seconds: float, stop: threading.Event | None = None) -> Figures:
    """Mean fps_out and capture-to-output latency from /api/status over `seconds`."""
    fps: list[float] = []
    latency: list[float] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not (stop and stop.is_set() and fps):
        try:
            status = panel.status()
        except OSError:
            status = {}
        if status:
            fps.append(float(status.get("fps_out", 0.0)))
            value = (status.get("latency_ms") or {}).get("capture_to_output")
            if value is not None:
                latency.append(float(value))
        time.sleep(0.25)
    return Figures(
        statistics.fmean(fps) if fps else None, statistics.fmean(latency) if latency else None
    )


@contextmanager
def during(panel: Panel, seconds: float) -> Iterator[dict[str, Figures]]:
    """Figures sampled in a thread while the body runs (at most `seconds`)."""
    result: dict[str, Figures] = {}
    stop = threading.Event()

    def run() -> None:
        result["during"] = sample(panel, seconds, stop)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield result
    finally:
        stop.set()
        thread.join(seconds + 5)
