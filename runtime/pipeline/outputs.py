"""Output handling: the preview buffer and the configured outputs, reopened after failures."""

from __future__ import annotations

import time
from dataclasses import dataclass

from runtime.images import scale_to_cover
from runtime.outputs import FrameOutput, MjpegOutput, open_output
from runtime.outputs.base import BGRFrame
from runtime.pipeline.common import close_quietly, log, one_line
from runtime.pipeline.status import OutputStatus, PipelineCounters, PipelineMeters
from runtime.settings import Settings
from runtime.sources.uri import parse_output_uri

OUTPUT_RETRY_S = 5.0


@dataclass
class OutputSlot:
    """One configured output: open, or failed and waiting to be reopened."""

    uri: str
    output: FrameOutput | None = None
    error: str | None = None
    retry_at: float = 0.0
    frames: int = 0


class OutputSet:
    """The preview buffer (always there) and the other outputs; written by the output thread."""

    def __init__(
        self, settings: Settings, counters: PipelineCounters, meters: PipelineMeters
    ) -> None:
        self.mjpeg = MjpegOutput()
        self._counters = counters
        self._meters = meters
        self._slots: list[OutputSlot] = []
        self._attached: list[FrameOutput] = []  # given by the caller, which closes them
        self.dirty = True  # reopen from the settings before the next frame
        self.rate: float | None = None  # on demand: the repeat rate while idle (set_rate)
        self.configure_mjpeg(settings)

    def configure_mjpeg(self, settings: Settings) -> None:
        for uri in settings.outputs:
            parsed = parse_output_uri(uri)
            if parsed.scheme == "mjpeg":
                self.mjpeg.configure(
                    int(parsed.number("quality", self.mjpeg.quality)),
                    int(parsed.number("width", 0)),
                )

    def attach(self, output: FrameOutput) -> None:
        """Also write to `output` (an object the caller made and closes)."""
        self._attached = [*self._attached, output]

    def statuses(self) -> list[OutputStatus]:
        return [
            OutputStatus(
                uri=slot.uri,
                description=slot.output.description if slot.output else None,
                state="running" if slot.output else ("error" if slot.error else "closed"),
                error=slot.error,
                frames=slot.frames,
            )
            for slot in list(self._slots)
        ]

    def reopen_if_needed(self, settings: Settings) -> None:
        now = time.monotonic()
        if self.dirty:
            self.dirty = False
            self.close()
            self._slots = [
                OutputSlot(uri)
                for uri in settings.outputs
                if parse_output_uri(uri).scheme != "mjpeg"  # the preview buffer always exists
            ]
        for slot in self._slots:
            if slot.output is None and now >= slot.retry_at:
                try:
                    slot.output = open_output(
                        slot.uri, settings.width, settings.height, settings.fps
                    )
                    slot.error = None
                    slot.output.set_rate(self.rate)
                    log.info("output open: %s", slot.output.description)
                except Exception as exc:
                    if slot.error != one_line(exc):
                        log.error("output %s: %s", slot.uri, exc)
                    slot.error = one_line(exc)
                    slot.retry_at = now + OUTPUT_RETRY_S

    def write(self, frame: BGRFrame, settings: Settings) -> None:
        size = (settings.width, settings.height)
        if (frame.shape[1], frame.shape[0]) != size:
            # A camera that granted another size than asked for.
            frame = scale_to_cover(frame, settings.height, settings.width)
        started = time.monotonic()
        self.mjpeg.write(frame)
        for attached in self._attached:
            try:
                attached.write(frame)
            except Exception as exc:  # the caller's output: its problem, not the others'
                log.warning("attached output %s failed: %s", attached.description, exc)
        for slot in self._slots:
            output = slot.output
            if output is None:
                continue
            try:
                output.write(frame)
                slot.frames += 1
            except Exception as exc:  # a device problem or a bug: that output only
                slot.error = one_line(exc)
                slot.retry_at = time.monotonic() + OUTPUT_RETRY_S
                slot.output = None
                self._counters.last_error = f"output {slot.uri}: {slot.error}"
                log.error("output %s failed: %s (reopening in %g s)", slot.uri, exc, OUTPUT_RETRY_S)
                close_quietly(output)
        self._meters.latency.add("output", time.monotonic() - started)

    def set_rate(self, fps: float | None) -> None:
        """Repeat rate of the outputs that repeat frames by themselves (None: their fps)."""
        self.rate = fps
        for slot in self._slots:
            if slot.output is not None:
                slot.output.set_rate(fps)

    def close(self) -> None:
        """Close the configured outputs (the preview buffer stays: the panel reads it)."""
        for slot in self._slots:
            if slot.output is not None:
                close_quietly(slot.output)
                slot.output = None
