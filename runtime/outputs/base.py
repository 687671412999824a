"""What every output (virtual camera, preview buffer, video file) implements."""

from __future__ import annotations

from abc import ABC, abstractmethod

from core.arrays import BGRFrame


class FrameOutput(ABC):
    """A sink for composited BGR frames, written from the pipeline's output thread."""

    uri: str = ""

    @property
    @abstractmethod
    def description(self) -> str:
        """One line for the status: what is written where, in which format."""

    @abstractmethod
    def write(self, frame: BGRFrame) -> None:
        """Write one BGR uint8 frame; may raise OSError / UserError on a device problem."""

    def set_rate(self, fps: float | None) -> None:  # noqa: B027 (most outputs need nothing)
        """Frames per second an output that keeps its consumer fed by itself repeats the last
        frame at (None: the output's own fps); the pipeline lowers it while idle."""

    @abstractmethod
    def close(self) -> None:
        """Release the device or finish the file; safe to call twice."""
