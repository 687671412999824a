"""Feedback while TensorRT builds for minutes: its build phases as one updating line (a TTY) or
phase lines (a log) where TensorRT has an IProgressMonitor (10.x), else a heartbeat log line."""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING, TextIO

from core.lazy import lazy_import

if TYPE_CHECKING:
    import tensorrt as trt
else:
    trt = lazy_import("tensorrt")

log = logging.getLogger(__name__)
LINE_CHARS = 150  # the progress line on a terminal


class BuildProgress:
    """TensorRT's build phases as one updating line (a TTY) or phase lines (a log).

    TensorRT calls its progress monitor from its own builder threads, possibly several at
    once, so every entry point holds one lock: the phase tables are never read while another
    thread changes them, and lines are never interleaved.
    """

    def __init__(self, stream: TextIO, tty: bool | None = None) -> None:
        self._stream = stream
        self._tty = stream.isatty() if tty is None else tty
        self._lock = threading.Lock()
        self._parents: dict[str, str | None] = {}
        self._steps: dict[str, tuple[int, int]] = {}  # phase -> (done, total)
        self._started: dict[str, float] = {}

    def phase_start(self, phase_name: str, parent_phase: str | None, num_steps: int) -> None:
        with self._lock:
            self._parents[phase_name] = parent_phase
            self._steps[phase_name] = (0, num_steps)
            self._started[phase_name] = time.monotonic()
            if not self._tty and parent_phase is None:
                self._print(f"TensorRT: {phase_name} ({num_steps} steps)")
            self._draw()

    def step_complete(self, phase_name: str, step: int) -> bool:
        with self._lock:
            total = self._steps.get(phase_name, (0, 0))[1]
            self._steps[phase_name] = (step + 1, total)
            self._draw()
        return True  # False would cancel the build

    def phase_finish(self, phase_name: str) -> None:
        with self._lock:
            parent = self._parents.pop(phase_name, None)
            self._steps.pop(phase_name, None)
            seconds = time.monotonic() - self._started.pop(phase_name, time.monotonic())
            if parent is None:
                end = "\r\x1b[K" if self._tty else ""
                self._print(f"{end}TensorRT: {phase_name} done in {seconds:.0f} s")
            else:
                self._draw()

    def _draw(self) -> None:
        if not self._tty:
            return
        phases = [f"{n} {d}/{t}" for n, (d, t) in self._steps.items()]
        # The outermost phase and as many of the innermost as fit in a line: whole names (a cut
        # one read as garbage when builder threads ran many phases at once).
        while len(phases) > 2 and len(" > ".join(phases)) > LINE_CHARS:
            del phases[1]
        self._print(f"\r\x1b[K{' > '.join(phases)}", end="")

    def _print(self, text: str, end: str = "\n") -> None:
        print(text, end=end, file=self._stream, flush=True)


def progress_monitor(stream: TextIO) -> trt.IProgressMonitor | None:
    """A TensorRT progress monitor reporting to `stream`, None where TensorRT has none."""
    if not hasattr(trt, "IProgressMonitor"):
        return None
    progress = BuildProgress(stream)

    class PhaseMonitor(trt.IProgressMonitor):
        def __init__(self) -> None:
            trt.IProgressMonitor.__init__(self)

        def phase_start(self, phase_name: str, parent_phase: str | None, num_steps: int) -> None:
            progress.phase_start(phase_name, parent_phase, num_steps)

        def step_complete(self, phase_name: str, step: int) -> bool:
            return progress.step_complete(phase_name, step)

        def phase_finish(self, phase_name: str) -> None:
            progress.phase_finish(phase_name)

    return PhaseMonitor()


class Heartbeat:
    """Logs every 30 s while a TensorRT without a progress monitor (8.x) builds."""

    def __init__(self, enabled: bool, every_s: float = 30.0) -> None:
        self._enabled = enabled
        self._every = every_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> Heartbeat:
        if self._enabled:
            self._thread = threading.Thread(target=self._beat, name="trt-build-heartbeat")
            self._thread.daemon = True
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _beat(self) -> None:
        started = time.monotonic()
        while not self._stop.wait(self._every):
            log.info("still building the engine (%.0f s so far)", time.monotonic() - started)
