"""Pieces every effect shares: CSS-like Gaussian blur (fast at reduced size), blending, flipping."""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from core.arrays import F32, U8
from runtime.jit import jit

# Below this sigma the blur is done at full resolution; above, at 1/k size (see css_blur_plan).
_REDUCE_FROM_SIGMA = 3.0


@dataclass(frozen=True)
class CssBlurPlan:
    """How `css_blur` blurs an h x w image (shared with the CUDA kernels, runtime/cuda)."""

    factor: int  # k: the image is shrunk k times (1: blurred at full resolution)
    small_size: tuple[int, int]  # (w, h) of the shrunk image
    small_sigma: float  # Gaussian sigma applied at that size


def css_blur_plan(h: int, w: int, sigma: float) -> CssBlurPlan:
    """The reduction factor, reduced size and reduced sigma `css_blur` uses (sigma > 0)."""
    k = 1 if sigma < _REDUCE_FROM_SIGMA else max(1, int(sigma / 1.5))
    k = min(k, max(1, min(h, w) // 8))
    if k == 1:
        return CssBlurPlan(1, (w, h), float(sigma))
    # Box of k pixels adds (k^2 - 1) / 12, linear enlargement about k^2 / 6 (in px^2).
    rest = sigma * sigma - (k * k - 1) / 12.0 - k * k / 6.0
    small_sigma = math.sqrt(max(rest, 0.25 * k * k)) / k
    return CssBlurPlan(k, (max(1, round(w / k)), max(1, round(h / k))), small_sigma)


def css_blur(image: np.ndarray, sigma: float) -> np.ndarray:
    """A Gaussian blur with standard deviation `sigma` px, as CSS/canvas `filter: blur(Npx)`,
    done as `css_blur_plan` says (at reduced size for large blurs)."""
    if sigma <= 0:
        return image
    h, w = image.shape[:2]
    plan = css_blur_plan(h, w, sigma)
    if plan.factor == 1:
        return cv2.GaussianBlur(
            image, (0, 0), sigmaX=plan.small_sigma, borderType=cv2.BORDER_REFLECT
        )
    small = cv2.resize(image, plan.small_size, interpolation=cv2.INTER_AREA)
    small = cv2.GaussianBlur(small, (0, 0), sigmaX=plan.small_sigma, borderType=cv2.BORDER_REFLECT)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


# Where alpha is at most this, blending gives the background pixel exactly: |fg - bg| / 1024
# plus the 1e-5 in cv2.blendLinear's divisor stay under half a level.
_CLEAR_ALPHA = 1.0 / 1024.0


# Where alpha is this close to 1 (0) the blend gives the foreground (background) pixel exactly:
# the other pixel moves the value by at most 255 * 0.001 and the divisor's 1e-5 by 255 * 1e-5,
# together about 0.26, which rounding to the nearest level undoes.
_SURE = np.float32(0.001)


@jit("void(uint8[:, :, :], uint8[:, :, :], float32[:, :], uint8[:, :, :])")
def _blend_into(foreground: U8, background: U8, alpha: F32, out: U8) -> None:
    """out = cv2.blendLinear(foreground, background, alpha, 1 - alpha), the same bytes:
    (f * a + b * (1 - a)) / (a + (1 - a) + 1e-5) in float32, rounded half to even and
    saturated; computed only where alpha is neither surely 0 nor surely 1 (see _SURE). `out`
    may be `background` itself."""
    one, eps, sure = np.float32(1.0), np.float32(1e-5), _SURE
    top, full = np.float32(0.0), np.float32(255.0)
    for y in range(alpha.shape[0]):
        for x in range(alpha.shape[1]):
            a = alpha[y, x]
            if -sure <= a <= sure:
                for c in range(3):
                    out[y, x, c] = background[y, x, c]
            elif one - sure <= a <= one + sure:
                for c in range(3):
                    out[y, x, c] = foreground[y, x, c]
            else:
                inverse = one - a
                divisor = (a + inverse) + eps
                for c in range(3):
                    value = np.float32(foreground[y, x, c]) * a
                    value = (value + np.float32(background[y, x, c]) * inverse) / divisor
                    out[y, x, c] = np.uint8(min(max(np.rint(value), top), full))


def blend(foreground: U8, background: U8, alpha: F32, reuse_background: bool = False) -> U8:
    """foreground * alpha + background * (1 - alpha), alpha float32 [h, w] in 0..1.

    Blends only the box around the pixels with alpha above 1/1024 (the person and its soft
    edge); elsewhere the result is the background pixel, which the full blend gives there too.
    `reuse_background`: write the result into `background` (a scratch image of the caller).
    """
    x, y, w, h = cv2.boundingRect((alpha > np.float32(_CLEAR_ALPHA)).view(np.uint8))
    out = background if reuse_background else background.copy()
    if w and h:
        box = np.s_[y : y + h, x : x + w]
        _blend_into(foreground[box], background[box], alpha[box], out[box])
    return out


def blend_blurred_mask(
    foreground: U8, background: U8, mask: F32, sigma: float, reuse_background: bool = False
) -> U8:
    """`blend(foreground, background, css_blur(mask, sigma))`, the same pixels, with the
    shrunk and blurred mask enlarged only inside the box around the person.

    Applies where the blur runs at reduced size with an exact factor (k divides the frame);
    elsewhere it is that very expression. The box is found on the shrunk mask (1 px margin:
    the enlargement reads neighbours only), and the enlargement of a shrunk region padded by
    1 px matches the whole image's inside it (same half-pixel weights).
    """
    h, w = mask.shape[:2]
    plan = css_blur_plan(h, w, sigma) if sigma > 0 else None
    k = plan.factor if plan is not None else 1
    if plan is None or k == 1 or plan.small_size != (w // k, h // k) or w % k or h % k:
        return blend(foreground, background, css_blur(mask, sigma), reuse_background)
    small = cv2.resize(mask, plan.small_size, interpolation=cv2.INTER_AREA)
    small = cv2.GaussianBlur(small, (0, 0), sigmaX=plan.small_sigma, borderType=cv2.BORDER_REFLECT)
    # Below this on the shrunk mask (and so around it, after enlarging) the blend gives the
    # background exactly; a hair under _CLEAR_ALPHA to absorb the enlargement's rounding.
    clear = np.float32(_CLEAR_ALPHA * 0.999)
    sx, sy, sw, sh = cv2.boundingRect((np.asarray(small) > clear).view(np.uint8))
    out = background if reuse_background else background.copy()
    if not (sw and sh):
        return out
    sh_, sw_ = small.shape[:2]
    x0, y0 = max(sx - 1, 0), max(sy - 1, 0)
    x1, y1 = min(sx + sw + 1, sw_), min(sy + sh + 1, sh_)
    # The shrunk region with one more pixel each side (where there is one) to enlarge.
    px0, py0 = max(x0 - 1, 0), max(y0 - 1, 0)
    px1, py1 = min(x1 + 1, sw_), min(y1 + 1, sh_)
    region = small[py0:py1, px0:px1]
    big = cv2.resize(region, ((px1 - px0) * k, (py1 - py0) * k), interpolation=cv2.INTER_LINEAR)
    a = np.asarray(big, np.float32)[
        (y0 - py0) * k : (y1 - py0) * k, (x0 - px0) * k : (x1 - px0) * k
    ]
    box = np.s_[y0 * k : y1 * k, x0 * k : x1 * k]
    _blend_into(foreground[box], background[box], a, out[box])
    return out


def overlay(image: U8, color_premultiplied: F32, alpha: F32, opacity: float) -> U8:
    """Canvas `drawImage` of a premultiplied RGBA layer with globalAlpha `opacity` (BGR)."""
    keep = 1.0 - opacity * alpha
    out = image.astype(np.float32)
    out *= keep[:, :, None]
    out += opacity * color_premultiplied
    np.clip(out, 0, 255, out=out)
    result: U8 = (out + 0.5).astype(np.uint8)
    return result


def flip_horizontal(image: U8) -> U8:
    return np.asarray(cv2.flip(image, 1), dtype=np.uint8)
