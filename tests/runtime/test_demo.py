"""The built-in demo clip."""

from __future__ import annotations

import numpy as np

from runtime.demo import DemoClip


def test_frames_have_the_size_asked_and_move() -> None:
    for w, h in ((640, 480), (1280, 720), (300, 500)):
        clip = DemoClip(w, h)
        first, later = clip.frame(0), clip.frame(30)
        assert first.shape == (h, w, 3) and first.dtype == np.uint8
        assert not np.array_equal(first, later)
        assert np.array_equal(first, DemoClip(w, h).frame(0))
