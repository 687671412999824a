"""The lazy importer: nothing is imported until an attribute is used; a missing module fails there."""

from __future__ import annotations

import sys

import pytest

from core.lazy import lazy_import, load


def test_imports_on_first_attribute_use() -> None:
    sys.modules.pop("colorsys", None)
    colorsys = lazy_import("colorsys")
    assert "colorsys" not in sys.modules
    assert colorsys.rgb_to_hsv(1.0, 0.0, 0.0) == (0.0, 1.0, 1.0)
    assert "colorsys" in sys.modules and "imported" in repr(colorsys)


def test_a_missing_module_fails_at_use_not_at_import() -> None:
    missing = lazy_import("no_such_module_for_bodypix")
    with pytest.raises(ImportError):
        load(missing)
    with pytest.raises(ImportError):
        missing.anything  # noqa: B018


def test_submodules_and_real_modules() -> None:
    path = lazy_import("os.path")
    assert path.join("a", "b") == "a/b"
    load(sys)  # a module imported the ordinary way is left alone
