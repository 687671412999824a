"""Backgrounds drawn by code, so the project ships no binary pictures.

Each picture is a function of the frame size: listing the ids draws nothing, and a start
after a wipe draws only the pictures that are missing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import cv2
import numpy as np

from core.arrays import F32, U8

WIDTH, HEIGHT = 1280, 720


class BuiltinPicture(NamedTuple):
    name: str
    draw: Callable[[int, int], U8]  # (width, height) -> BGR picture


def _grid(width: int, height: int) -> tuple[F32, F32]:
    """Normalised (u, v) coordinates, 0 at the top left, 1 at the bottom right."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    return xx / (width - 1), yy / (height - 1)


def _blend(a: tuple[int, int, int], b: tuple[int, int, int], t: F32) -> U8:
    ca, cb = np.array(a, np.float32), np.array(b, np.float32)
    return (ca + (cb - ca) * t[..., None]).clip(0, 255).astype(np.uint8)


def _studio(width: int, height: int) -> U8:
    """A photo studio backdrop: light centre fading to a blue-grey edge."""
    u, v = _grid(width, height)
    radius = np.sqrt((u - 0.5) ** 2 + (v - 0.4) ** 2) / 0.75
    return _blend((200, 196, 190), (110, 96, 84), np.clip(radius, 0, 1))


def _sunset(width: int, height: int) -> U8:
    """A sunset: warm horizon, purple sky, a soft sun."""
    _u, v = _grid(width, height)
    sunset = _blend((60, 150, 250), (120, 40, 70), np.clip(1.0 - v * 1.2, 0, 1) ** 1.5)
    cv2.circle(sunset, (int(width * 0.7), int(height * 0.62)), height // 8, (150, 220, 255), -1)
    return np.asarray(cv2.GaussianBlur(sunset, (0, 0), 6), dtype=np.uint8)


def _bokeh(width: int, height: int) -> U8:
    """Out-of-focus lights on a dark blue wall (fixed seed: the same picture every time)."""
    _u, v = _grid(width, height)
    rng = np.random.default_rng(7)
    bokeh = _blend((70, 40, 20), (40, 20, 10), v)
    lights = np.zeros_like(bokeh)
    for _ in range(40):
        centre = (int(rng.integers(0, width)), int(rng.integers(0, height)))
        colour = tuple(int(c) for c in rng.integers(90, 256, 3))
        cv2.circle(lights, centre, int(rng.integers(15, 60)), colour, -1, cv2.LINE_AA)
    return np.asarray(cv2.add(bokeh, cv2.GaussianBlur(lights, (0, 0), 9) // 2), dtype=np.uint8)


def _green_wall(width: int, height: int) -> U8:
    """A green wall with soft vertical panels."""
    u, v = _grid(width, height)
    panels = 0.5 + 0.5 * np.cos(u * np.pi * 12)
    return _blend((60, 110, 50), (90, 150, 80), panels * 0.5 + v * 0.5)


BUILTIN: dict[str, BuiltinPicture] = {
    "builtin-studio": BuiltinPicture("Studio", _studio),
    "builtin-sunset": BuiltinPicture("Sunset", _sunset),
    "builtin-bokeh": BuiltinPicture("Bokeh lights", _bokeh),
    "builtin-green": BuiltinPicture("Green wall", _green_wall),
}
