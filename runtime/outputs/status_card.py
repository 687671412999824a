"""The frame the outputs show instead of video: "Camera unavailable", "Preparing model", ..."""

from __future__ import annotations

import functools

import cv2
import numpy as np

from runtime.outputs.base import BGRFrame


@functools.lru_cache(maxsize=8)
def status_card(width: int, height: int, title: str, detail: str = "") -> BGRFrame:
    """A dark frame with a centred title and a smaller detail line; cached (read-only)."""
    frame = np.full((height, width, 3), (48, 40, 36), np.uint8)
    font = cv2.FONT_HERSHEY_SIMPLEX
    scale = max(0.4, width / 900)
    thick = max(1, round(scale * 2))
    lines = [(title, scale, thick)] + [
        (part, scale * 0.5, max(1, thick // 2)) for part in _wrap(detail, 70)
    ]
    total = sum(cv2.getTextSize(t, font, s, th)[0][1] * 2 for t, s, th in lines)
    y = (height - total) // 2
    for text, s, th in lines:
        (tw, tht), _ = cv2.getTextSize(text, font, s, th)
        y += tht * 2
        cv2.putText(frame, text, ((width - tw) // 2, y), font, s, (235, 235, 235), th, cv2.LINE_AA)
    frame.setflags(write=False)
    return frame


def _wrap(text: str, width: int) -> list[str]:
    lines: list[str] = []
    current = ""
    for word in text.split():
        if current and len(current) + 1 + len(word) > width:
            lines.append(current)
            current = word
        else:
            current = f"{current} {word}".strip()
    if current:
        lines.append(current)
    return lines[:4]
