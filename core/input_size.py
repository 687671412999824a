"""Which model input sizes a BodyPix graph accepts: the one place that knows the rule.

A BodyPix network maps an input of H rows to (H - 1) / stride + 1 output rows only when
(H - 1) % stride == 0; other sizes make SAME padding asymmetric and shift the output grid, so
static exports refuse them. The runtime's geometry module imports these helpers.
"""

from __future__ import annotations

from core.errors import UserError

# BodyPix's `internalResolution: 'medium'` (x0.5) applied to the default 1280x720 camera frame of
# runtime settings, made valid: 360x640 -> 353x641 at stride 16/32, 361x641 at stride 8.
DEFAULT_FRAME_SIZE = (360, 640)


def is_valid_input_size(height: int, width: int, stride: int) -> bool:
    """True when both sides satisfy (side - 1) % stride == 0 (and are positive)."""
    return height >= 1 and width >= 1 and (height - 1) % stride == 0 and (width - 1) % stride == 0


def to_valid_input_resolution(value: float, stride: int) -> int:
    """BodyPix's `toValidInputResolution`: `value` when valid, else floor(value/stride)*stride+1."""
    side = int(value)
    if side >= 1 and (side - 1) % stride == 0:
        return side
    return max(1, (side // stride) * stride + 1)


def nearest_valid_sizes(value: int, stride: int) -> tuple[int, int]:
    """The valid sides at or just below and just above `value` (equal when `value` is valid)."""
    below = max(1, ((value - 1) // stride) * stride + 1)
    above = below if below == value else below + stride
    return below, above


def output_size(height: int, width: int, stride: int) -> tuple[int, int]:
    """Spatial size of the network's outputs for a valid input size."""
    return (height - 1) // stride + 1, (width - 1) // stride + 1


def default_input_size(stride: int) -> tuple[int, int]:
    """The input size used when none is given (see DEFAULT_FRAME_SIZE)."""
    h, w = DEFAULT_FRAME_SIZE
    return to_valid_input_resolution(h, stride), to_valid_input_resolution(w, stride)


def check_input_size(height: int, width: int, stride: int, variant: str) -> None:
    """Raise a UserError naming the nearest valid sizes when (height, width) is not valid."""
    if is_valid_input_size(height, width, stride):
        return
    hints = []
    for label, side in (("height", height), ("width", width)):
        if side < 1 or (side - 1) % stride:
            lo, hi = nearest_valid_sizes(max(side, 1), stride)
            hints.append(f"{label} {side} -> {lo} or {hi}")
    raise UserError(
        f"Input size {height}x{width} does not fit {variant} (output stride {stride} needs "
        f"(side - 1) % {stride} == 0): use the nearest valid sizes ({'; '.join(hints)})."
    )
