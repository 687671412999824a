"""Write the before/after edge-refinement crops the README shows (docs/images/edge_*.png).

`python tools/edge_refine_crops.py` (needs scikit-image for the photo and the model mirror):
the astronaut with the background replaced by grey, BodyPix's mask on the left, the guided
refinement on the right, default edge blur (3 px) in both.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from skimage import data

from runtime.processor import FrameProcessor
from runtime.settings import Settings

OUT = Path(__file__).resolve().parents[1] / "docs" / "images"
REGIONS = {"hair": (0, 150, 140, 330), "shoulder": (130, 330, 230, 410)}  # y0, y1, x0, x1


def main() -> None:
    frame = np.ascontiguousarray(data.astronaut()[:, :, ::-1])
    rendered = {}
    for refine in ("off", "guided"):
        processor = FrameProcessor(
            Settings(effect="replace", backend="onnxruntime", edge_refine=refine)
        )
        try:
            rendered[refine] = processor.process(frame).image
        finally:
            processor.close()
    OUT.mkdir(parents=True, exist_ok=True)
    for name, (y0, y1, x0, x1) in REGIONS.items():
        gap = np.full((y1 - y0, 4, 3), 255, np.uint8)
        strip = np.hstack([rendered["off"][y0:y1, x0:x1], gap, rendered["guided"][y0:y1, x0:x1]])
        path = OUT / f"edge_{name}.png"
        cv2.imwrite(str(path), strip, [cv2.IMWRITE_PNG_COMPRESSION, 9])
        print(f"{path}: {path.stat().st_size // 1024} KB")


if __name__ == "__main__":
    main()
