"""The effects on the GPU: the twin of runtime/effects (`Compositor.composite`).

One pass of composite.cu per frame writes the output (BGR or YUYV, optionally mirrored) from
the camera frame, the mask and the background; the blurs before it are css_blur's passes
(blur.py). Numbers from the CPU modules: edge and background blur plans (css_blur_plan via
operators.py), the mask layer (effects/mask_overlay.py `mask_layer_numbers`), the part colour
table with the no-part colour (`part_color_table`) and the face parts (effects/parts.py).
"""

from __future__ import annotations

import numpy as np

from core.errors import UserError
from runtime.cuda import kernels as launch
from runtime.cuda.blur import CssBlur
from runtime.cuda.buffers import FrameBuffers
from runtime.cuda.kernels import Kernels
from runtime.effects.mask_overlay import mask_layer_numbers
from runtime.effects.parts import FACE_PARTS, RGBA, part_color_table
from runtime.effects.replace import Background
from runtime.mask import NUM_PARTS
from runtime.settings import Settings

# blurBodyPart's edge blur as runtime.effects.parts.blur_body_parts calls it (its default).
FACE_EDGE_BLUR = 3


def person_alpha(
    kernels: Kernels, buffers: FrameBuffers, source: int, sigma: float, out: int
) -> int:
    """effects/blur.py `person_alpha`: `css_blur(mask, sigma)` into `out` (or `source` itself
    when sigma is 0)."""
    if sigma <= 0:
        return source
    return CssBlur.of(buffers, sigma).blur_mask(kernels, buffers, source, out)


class BackgroundImage:
    """The replace background (runtime.effects.replace.Background scales it to cover), uploaded
    when it changes: once per picture, once per frame of a video."""

    def __init__(self) -> None:
        self._background: Background | None = None
        self._key: str | None = None

    def upload(self, buffers: FrameBuffers, path: str | None) -> None:
        height, width = buffers.geometry.frame_size
        if self._background is None or self._key != path:
            self.close()
            self._background = Background(path)
            self._key = path
        image = self._background.frame(height, width)
        if image is not buffers.image_source:
            buffers.image.upload(image)
            buffers.image_source = image

    def close(self) -> None:
        if self._background is not None:
            self._background.close()
            self._background = None


def parts_layer(buffers: FrameBuffers, no_part: RGBA) -> int:
    """Upload the parts colour table for this no-part colour (when it changed) and return
    the arithmetic composite.cu uses, as `draw_colored_parts` chooses it: opaque no-part colour,
    cv2.addWeighted everywhere; transparent, cv2.addWeighted where there is a part; otherwise
    `overlay`. The weighted rules draw a uint8 layer (the CPU truncates the colours)."""
    alpha_byte = no_part[3]
    rule = (
        launch.PARTS_WEIGHTED_ALL
        if alpha_byte == 255
        else launch.PARTS_WEIGHTED_PARTS
        if alpha_byte == 0
        else launch.PARTS_OVERLAY
    )
    if buffers.palette_key != no_part:
        color, alpha = part_color_table(no_part=no_part)
        if rule != launch.PARTS_OVERLAY:
            color = color.astype(np.uint8).astype(np.float32)
        buffers.palette.upload(np.concatenate([color, alpha[:, None]], axis=1))
        buffers.palette_key = no_part
    return rule


def composite(
    kernels: Kernels,
    buffers: FrameBuffers,
    settings: Settings,
    frame_ptr: int,
    out_ptr: int,
    output_format: str,
    background: BackgroundImage,
) -> None:
    """Enqueue `Compositor.composite(frame, mask, ids)` + flip into `out_ptr`."""
    height, width = buffers.geometry.frame_size
    params = launch.composite_params()
    params["frame"], params["frame_pitch"] = frame_ptr, buffers.frame_pitch
    params["frame_format"] = launch.FORMATS[buffers.format]
    params["width"], params["height"] = width, height
    params["flip"] = int(settings.flip_horizontal)
    blur_amount: float | None = None
    alpha = buffers.alpha.ptr
    if settings.effect in ("blur", "replace"):
        params["blend"] = 1
        params["alpha"] = person_alpha(
            kernels, buffers, buffers.state.ptr, settings.edge_blur_amount, alpha
        )
        if settings.effect == "blur":
            blur_amount = settings.background_blur_amount
        else:
            background.upload(buffers, settings.background)
            params["background_kind"] = launch.BACKGROUND_IMAGE
            params["image"], params["image_pitch"] = buffers.image.ptr, width * 3
    elif settings.effect == "mask":
        mask = settings.mask
        params["overlay"] = launch.OVERLAY_MASK
        params["overlay_alpha"] = person_alpha(
            kernels, buffers, buffers.state.ptr, mask.mask_blur_amount, alpha
        )
        base, delta = mask_layer_numbers(mask.foreground_color, mask.background_color)
        params["mask_base"], params["mask_delta"] = base, delta
        params["opacity"] = mask.opacity
    elif settings.effect == "parts" and buffers.has_ids:
        # Without part ids (a mask from before the switch to 'parts') the frame passes
        # through this once, as the CPU Compositor does.
        if settings.parts.face_blur:
            kernels.part_keep(buffers.ids.ptr, height, width, FACE_PARTS, buffers.mask.ptr)
            params["blend"] = 1
            params["alpha"] = person_alpha(
                kernels, buffers, buffers.mask.ptr, FACE_EDGE_BLUR, alpha
            )
            blur_amount = settings.parts.face_blur_amount
        params["overlay"] = launch.OVERLAY_PARTS
        params["ids"], params["palette"] = buffers.ids.ptr, buffers.palette.ptr
        params["num_parts"] = NUM_PARTS
        params["opacity"] = settings.parts.opacity
        params["parts_rule"] = parts_layer(buffers, settings.parts.no_part_color)
        # cv2.addWeighted's alpha: 1 - opacity in double, then float.
        params["parts_keep"] = 1.0 - settings.parts.opacity
    if blur_amount is not None:
        blur = CssBlur.of(buffers, blur_amount)
        blur.shrink_and_blur(
            kernels, 3, frame_ptr, buffers.blurred.ptr, buffers.scratch_a.ptr,
            buffers.scratch_b.ptr, frame=(frame_ptr, buffers.frame_pitch, buffers.format),
        )  # fmt: skip
        params["background_kind"] = launch.BACKGROUND_BLURRED
        params["blurred"], params["blurred_w"] = buffers.blurred.ptr, blur.small_width
        params["up_rows"], params["up_cols"] = blur.up_rows.ptr, blur.up_cols.ptr
    if output_format == "YUYV" and width % 2:
        raise UserError(f"YUYV output needs an even frame width, not {width}.")
    params["out"] = out_ptr
    params["out_pitch"] = width * (2 if output_format == "YUYV" else 3)
    params["out_format"] = launch.FORMATS[output_format]
    kernels.composite(params)
