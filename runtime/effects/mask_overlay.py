"""Colour mask overlay: body-pix's `toMask` + `drawMask`."""

from __future__ import annotations

import numpy as np

from runtime.effects.common import F32, U8, css_blur, overlay

RGBA = tuple[int, int, int, int]


def mask_layer_numbers(foreground: RGBA, background: RGBA) -> tuple[F32, F32]:
    """toMask's layer as `base + delta * m`: (base, delta) float32 [B, G, R, A], the colour
    premultiplied, A in 0..1. Shared with the CUDA compositing kernel (runtime/cuda)."""
    fg_a, bg_a = foreground[3] / 255.0, background[3] / 255.0
    fg_c = np.array(foreground[2::-1], dtype=np.float32) * fg_a  # premultiplied BGR
    bg_c = np.array(background[2::-1], dtype=np.float32) * bg_a
    base = np.array([*bg_c, bg_a], dtype=np.float32)
    delta = np.array([*(fg_c - bg_c), fg_a - bg_a], dtype=np.float32)
    return base, delta


def draw_mask(
    frame: U8,
    mask: F32,
    foreground: RGBA,
    background: RGBA,
    opacity: float,
    mask_blur_amount: int,
) -> U8:
    """`drawMask(toMask(segmentation, foreground, background), opacity, maskBlurAmount)`.

    The RGBA mask image is affine in the person mask, so blurring the (premultiplied) image is
    blurring the mask; colours are RGB as in body-pix, the frame is BGR.
    """
    m = css_blur(mask, mask_blur_amount)
    base, delta = mask_layer_numbers(foreground, background)
    alpha = (base[3] + delta[3] * m).astype(np.float32)
    color = base[:3] + delta[:3] * m[:, :, None]
    return overlay(frame, color.astype(np.float32), alpha, opacity)
