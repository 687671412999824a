"""The array type names every stage uses (one place, so a frame is the same type everywhere)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

U8 = npt.NDArray[np.uint8]  # pictures: BGR frames (H, W, 3), masks (H, W)
I8 = npt.NDArray[np.int8]  # body-part ids, -1 for background
I32 = npt.NDArray[np.int32]
F32 = npt.NDArray[np.float32]  # model outputs, weights, alpha
BGRFrame = U8  # a camera or output frame: (height, width, 3), BGR, uint8
