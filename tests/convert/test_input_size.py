from __future__ import annotations

import pytest

from core.catalog import DEFAULT_VARIANT, VARIANTS, get_variant
from core.errors import UserError
from core.input_size import (
    check_input_size,
    default_input_size,
    is_valid_input_size,
    nearest_valid_sizes,
    output_size,
    to_valid_input_resolution,
)


def test_valid_sizes_follow_the_stride_rule() -> None:
    assert is_valid_input_size(353, 641, 16)
    assert is_valid_input_size(361, 641, 8)
    assert not is_valid_input_size(360, 641, 16)
    assert not is_valid_input_size(353, 640, 16)
    assert not is_valid_input_size(0, 1, 16)
    assert output_size(353, 641, 16) == (23, 41)


def test_nearest_valid_sizes_and_bodypix_rounding() -> None:
    assert nearest_valid_sizes(360, 16) == (353, 369)
    assert nearest_valid_sizes(353, 16) == (353, 353)
    assert nearest_valid_sizes(360, 8) == (353, 361)
    # BodyPix's own rounding: floor(value / stride) * stride + 1.
    assert to_valid_input_resolution(360, 16) == 353
    assert to_valid_input_resolution(360, 8) == 361
    assert to_valid_input_resolution(361, 8) == 361


def test_default_size_is_valid_for_every_variant() -> None:
    for v in VARIANTS.values():
        h, w = default_input_size(v.stride)
        assert is_valid_input_size(h, w, v.stride), v.name
    assert default_input_size(get_variant(DEFAULT_VARIANT).stride) == (353, 641)


def test_invalid_size_names_the_nearest_valid_ones() -> None:
    with pytest.raises(UserError, match=r"height 360 -> 353 or 369") as info:
        check_input_size(360, 641, 16, DEFAULT_VARIANT)
    assert "width" not in str(info.value).split("nearest")[1]


def test_unknown_variant_lists_close_names() -> None:
    with pytest.raises(UserError, match="did you mean mobilenet-float-050-stride16"):
        get_variant("mobilenet-float-050-stride-16")
