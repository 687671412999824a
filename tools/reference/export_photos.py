"""Write the real test photos as PNGs for make_fixtures.js (skimage astronaut and camera)."""

from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np
from skimage import data


def photos() -> dict[str, np.ndarray]:
    """RGB uint8 photos by name; the crops exercise padding on both axes and odd sizes."""
    astronaut = np.ascontiguousarray(data.astronaut())
    camera = np.ascontiguousarray(np.stack([data.camera()] * 3, axis=-1))
    return {
        "astronaut": astronaut,
        "camera": camera,
        "astronaut_wide": np.ascontiguousarray(astronaut[40:341, :]),
        "astronaut_tall": np.ascontiguousarray(astronaut[:, 60:389]),
        "camera_wide": np.ascontiguousarray(camera[30:407, :]),
    }


def main(out_dir: str) -> None:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for name, rgb in photos().items():
        cv2.imwrite(str(out / f"{name}.png"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))


if __name__ == "__main__":
    main(sys.argv[1])
