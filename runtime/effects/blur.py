"""Background blur: body-pix's `drawBokehEffect`."""

from __future__ import annotations

from runtime.effects.common import F32, U8, blend_blurred_mask, css_blur


def person_alpha(mask: F32, edge_blur_amount: int) -> F32:
    """body-pix's `createPersonMask`: the person mask, its edge blurred by `edge_blur_amount` px."""
    blurred: F32 = css_blur(mask, edge_blur_amount)
    return blurred


def bokeh(frame: U8, mask: F32, background_blur_amount: int, edge_blur_amount: int) -> U8:
    """The person sharp over the frame blurred by `background_blur_amount` px (1-20)."""
    blurred: U8 = css_blur(frame, background_blur_amount)
    # css_blur returns a new image (the frame itself only for a zero blur, not allowed here).
    scratch = blurred is not frame
    # = blend(frame, blurred, person_alpha(mask, edge_blur_amount)), the same pixels.
    return blend_blurred_mask(frame, blurred, mask, edge_blur_amount, reuse_background=scratch)
