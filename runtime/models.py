"""Finding (or creating) the ONNX file for a variant, without loading TensorFlow when it exists."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from core.catalog import get_variant
from core.errors import UserError

log = logging.getLogger(__name__)
ONNX_PATH_ENV = "BODYPIX_ONNX"


def find_onnx(variant: str, models_dir: Path | None = None) -> Path:
    """The dynamic-size ONNX for `variant`, exported on first use when missing or stale.

    $BODYPIX_ONNX names a ready file explicitly (its metadata is still checked by the backend).
    The exporter module only imports TensorFlow when it actually has to export.
    """
    explicit = os.environ.get(ONNX_PATH_ENV)
    if explicit:
        return Path(explicit)
    name = get_variant(variant).name
    try:
        from convert.onnx_export import default_onnx_path, ensure_onnx, export_onnx
    except ImportError as exc:
        raise UserError(
            f"Cannot load the ONNX exporter for {name} ({exc}): run "
            f"`python -m convert export-onnx {name} --dynamic` where the convert extra is installed."
        ) from None
    path = default_onnx_path(name, None, None, True, models_dir)
    try:
        if not path.is_file():
            log.warning("exporting %s to ONNX on first use (about a minute)...", name)
            return export_onnx(name, dynamic=True, models_dir=models_dir, progress=True)
        return ensure_onnx(name, dynamic=True, models_dir=models_dir)
    except UserError as exc:
        if path.is_file():
            raise
        reason = str(exc).rstrip(".")
        raise UserError(
            f"The ONNX model for {name} is missing and could not be exported ({reason}); "
            f"fix that or run `python -m convert export-onnx {name} --dynamic` where the "
            "model files are."
        ) from None
