"""Download a BodyPix variant (model JSON + weight shards), verify it, and cache it.

Sources, in order: the `mirror` argument, the BODYPIX_MODEL_MIRROR environment variable, the
official Google storage URL. A mirror is a directory or a URL (http(s)://, file://) laid out like
../shared/models/bodypix: one folder per variant name holding that variant's files.
Every file is written to a temporary name beside its destination and renamed when complete and
verified, so a failure or Ctrl-C never leaves a partial file; the JSON is placed last, so a
cached JSON means its shards were complete.
"""

from __future__ import annotations

import logging
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import BinaryIO

from convert.tfjs_model import TfjsModel, read_model_json
from core.atomic import atomic_path
from core.catalog import MIRROR_ENV, Variant, default_models_dir, get_variant
from core.errors import UserError

log = logging.getLogger(__name__)

# TF.js converters split a weight group into shards of this size (the last one holds the rest).
TFJS_SHARD_BYTES = 4 * 1024 * 1024
_TIMEOUT_S = 60
_CHUNK = 1 << 16


def variant_dir(name: str, models_dir: Path | None = None) -> Path:
    """Where a variant's model files are cached."""
    return (models_dir or default_models_dir()) / name


def model_json_path(name: str, models_dir: Path | None = None) -> Path:
    return variant_dir(name, models_dir) / get_variant(name).json_name


def source_base_url(variant: Variant, mirror: str | Path | None = None) -> str:
    """URL of the folder holding the variant's JSON and shards (ends with '/')."""
    if mirror is None:
        mirror = os.environ.get(MIRROR_ENV) or None
    if mirror is None:
        return variant.url.rsplit("/", 1)[0] + "/"
    text = str(mirror)
    if "://" in text:
        return text.rstrip("/") + "/" + variant.name + "/"
    path = Path(text).expanduser()
    if not path.is_dir():
        raise UserError(
            f"Model mirror {path} is not a directory: pass --mirror with a folder laid out like "
            "../shared/models/bodypix, or a URL."
        )
    return (path.resolve() / variant.name).as_uri() + "/"


def expected_shard_sizes(model: TfjsModel) -> list[int] | None:
    """Byte size of each shard from the weights manifest, or None when only the total is known."""
    total = model.weights_nbytes
    n = len(model.shard_paths)
    if n == 1:
        return [total]
    if (n - 1) * TFJS_SHARD_BYTES < total <= n * TFJS_SHARD_BYTES:
        return [TFJS_SHARD_BYTES] * (n - 1) + [total - (n - 1) * TFJS_SHARD_BYTES]
    return None


def verify_cached(name: str, models_dir: Path | None = None) -> TfjsModel | None:
    """The parsed model when a complete copy is cached (every shard has its manifest size)."""
    json_path = model_json_path(name, models_dir)
    if not json_path.is_file():
        return None
    try:
        model = read_model_json(json_path)
    except UserError:
        return None
    sizes = expected_shard_sizes(model)
    paths = [model.directory / p for p in model.shard_paths]
    if not all(p.is_file() for p in paths):
        return None
    actual = [p.stat().st_size for p in paths]
    if sizes is None:
        return model if sum(actual) == model.weights_nbytes else None
    return model if actual == sizes else None


def fetch_variant(
    name: str,
    mirror: str | Path | None = None,
    models_dir: Path | None = None,
    progress: bool = True,
) -> Path:
    """Make sure `name` is cached and verified; return the directory holding its files."""
    variant = get_variant(name)
    dest = variant_dir(name, models_dir)
    if verify_cached(name, models_dir) is not None:
        log.debug("%s already cached in %s", name, dest)
        return dest
    base = source_base_url(variant, mirror)
    try:
        dest.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(
            f"Cannot create the models directory {dest} ({exc.strerror}): pass --models-dir "
            "with a writable folder."
        ) from None
    json_url = base + variant.json_name
    # The manifest is published last: a folder with it is complete (verify_cached checks sizes).
    with _download(json_url, dest / variant.json_name, progress, expected=None) as json_tmp:
        model = read_model_json(json_tmp)
        sizes = expected_shard_sizes(model)
        for i, shard in enumerate(model.shard_paths):
            target = dest / shard
            expected = sizes[i] if sizes else None
            if target.is_file() and expected is not None and target.stat().st_size == expected:
                continue  # a previous interrupted fetch already placed this shard
            with _download(base + shard, target, progress, expected):
                pass
        placed = sum((dest / p).stat().st_size for p in model.shard_paths)
        if placed != model.weights_nbytes:
            for p in model.shard_paths:
                (dest / p).unlink(missing_ok=True)
            raise UserError(
                f"The shards of {name} from {base} hold {placed} bytes but the weights manifest "
                f"needs {model.weights_nbytes}; deleted them: fetch again from an intact mirror."
            )
    return dest


def _display(url: str) -> str:
    return urllib.parse.unquote(url[len("file://") :]) if url.startswith("file://") else url


@contextmanager
def _download(url: str, target: Path, progress: bool, expected: int | None) -> Iterator[Path]:
    """Download `url` into a temporary file beside `target`, check its size and yield it; it
    replaces `target` when the block ends normally and is removed otherwise."""
    file_name = url.rsplit("/", 1)[-1]
    with ExitStack() as stack:
        try:
            tmp = stack.enter_context(atomic_path(target))
        except OSError as exc:
            raise UserError(
                f"Cannot write into the models directory {target.parent} ({exc.strerror}): pass "
                "--models-dir with a writable folder."
            ) from None
        with tmp.open("wb") as out:
            actual = _copy_url(url, out, progress, expected)
        if expected is not None and actual != expected:
            raise UserError(
                f"Shard {file_name} from {_display(url)} is truncated or corrupt: expected "
                f"{expected} bytes from the weights manifest, got {actual}; deleted it: fetch "
                "again from an intact source."
            )
        yield tmp


def _copy_url(url: str, out: BinaryIO, progress: bool, expected: int | None) -> int:
    from tqdm import tqdm

    try:
        response = urllib.request.urlopen(url, timeout=_TIMEOUT_S)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise UserError(
            f"Cannot download {_display(url)} ({reason}): check the network, or pass --mirror "
            f"DIR|URL (or set {MIRROR_ENV}) to use a copy of the models."
        ) from None
    total = expected
    length = response.headers.get("Content-Length") if hasattr(response, "headers") else None
    if total is None and length and length.isdigit():
        total = int(length)
    written = 0
    with (
        response,
        tqdm(
            total=total,
            unit="B",
            unit_scale=True,
            desc=url.rsplit("/", 1)[-1],
            file=sys.stderr,
            disable=not progress,
            leave=False,
        ) as bar,
    ):
        try:
            while block := response.read(_CHUNK):
                out.write(block)
                written += len(block)
                bar.update(len(block))
        except OSError as exc:
            raise UserError(
                f"Download of {_display(url)} broke off after {written} bytes ({exc}): run the "
                f"command again, or pass --mirror DIR|URL to use a copy of the models."
            ) from None
    return written
