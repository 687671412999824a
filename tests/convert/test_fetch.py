"""`convert fetch`: mirrors (directory, file:// URL), verification, atomic writes, errors."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from convert.cli import main
from convert.fetch import fetch_variant
from core.errors import UserError

VARIANT = "mobilenet-quant1-050-stride16"  # the smallest files
SHARD = "group1-shard1of1.bin"
JSON = "model-stride16.json"


def _same_files(a: Path, b: Path) -> None:
    for name in (JSON, SHARD):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_fetch_from_mirror_directory_then_cached(tmp_path: Path, mirror: Path) -> None:
    dest = fetch_variant(VARIANT, mirror=mirror, models_dir=tmp_path, progress=False)
    assert dest == tmp_path / VARIANT
    _same_files(dest, mirror / VARIANT)
    assert _leftovers(dest) == [SHARD, JSON]
    stamp = (dest / SHARD).stat().st_mtime_ns
    # A verified copy is not fetched again: an unreachable source is never contacted.
    again = fetch_variant(
        VARIANT, mirror="http://127.0.0.1:9/nowhere", models_dir=tmp_path, progress=False
    )
    assert again == dest and (dest / SHARD).stat().st_mtime_ns == stamp


def test_fetch_from_file_url_via_environment(
    tmp_path: Path, mirror: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BODYPIX_MODEL_MIRROR", mirror.resolve().as_uri())
    dest = fetch_variant(VARIANT, models_dir=tmp_path, progress=False)
    _same_files(dest, mirror / VARIANT)


def test_truncated_shard_is_refused_and_nothing_is_left(
    tmp_path: Path, fake_mirror: Callable[[str], Path]
) -> None:
    bad = fake_mirror(VARIANT)
    shard = bad / VARIANT / SHARD
    full = shard.stat().st_size
    shard.write_bytes(shard.read_bytes()[:1000])
    models = tmp_path / "models"
    with pytest.raises(UserError) as info:
        fetch_variant(VARIANT, mirror=bad, models_dir=models, progress=False)
    message = str(info.value)
    assert SHARD in message and f"expected {full} bytes" in message and "got 1000" in message
    assert _leftovers(models / VARIANT) == []


def test_oversized_shard_is_refused(tmp_path: Path, fake_mirror: Callable[[str], Path]) -> None:
    bad = fake_mirror(VARIANT)
    with (bad / VARIANT / SHARD).open("ab") as f:
        f.write(b"\0" * 7)
    with pytest.raises(UserError, match="truncated or corrupt"):
        fetch_variant(VARIANT, mirror=bad, models_dir=tmp_path, progress=False)
    assert _leftovers(tmp_path / VARIANT) == []


def test_corrupt_cached_shard_is_fetched_again(tmp_path: Path, mirror: Path) -> None:
    dest = fetch_variant(VARIANT, mirror=mirror, models_dir=tmp_path, progress=False)
    (dest / SHARD).write_bytes(b"broken")
    fetch_variant(VARIANT, mirror=mirror, models_dir=tmp_path, progress=False)
    _same_files(dest, mirror / VARIANT)


def test_unreachable_url_names_it_and_suggests_a_mirror(tmp_path: Path) -> None:
    with pytest.raises(UserError) as info:
        fetch_variant(
            VARIANT, mirror="http://127.0.0.1:9/models", models_dir=tmp_path, progress=False
        )
    message = str(info.value)
    assert f"http://127.0.0.1:9/models/{VARIANT}/{JSON}" in message and "--mirror" in message
    assert _leftovers(tmp_path / VARIANT) == []


def test_missing_mirror_directory(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="is not a directory"):
        fetch_variant(VARIANT, mirror=tmp_path / "nope", models_dir=tmp_path, progress=False)


def test_unwritable_models_dir(tmp_path: Path, mirror: Path) -> None:
    # A path below a regular file cannot be created, even by root.
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(UserError, match="--models-dir"):
        fetch_variant(VARIANT, mirror=mirror, models_dir=blocker / "models", progress=False)


def test_cli_fetch_and_list(
    tmp_path: Path, mirror: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["fetch", VARIANT, "--mirror", str(mirror), "--models-dir", str(tmp_path), "-q"])
    assert code == 0
    assert capsys.readouterr().out.strip() == str(tmp_path / VARIANT)
    assert main(["list", "--models-dir", str(tmp_path)]) == 0
    rows = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()[2:]}
    assert len(rows) == 24  # MobileNet 3 multipliers x 2 strides x 3 quant + ResNet50 2 x 3
    assert rows[VARIANT].endswith("model")
    assert rows["mobilenet-float-050-stride16"].rstrip().endswith("- (default)")


def test_cli_errors_exit_non_zero(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["fetch", "mobilenet-float-50-stride16", "--models-dir", str(tmp_path)])
    err = capsys.readouterr().err
    assert code != 0
    assert err.startswith("convert: error: Unknown BodyPix variant")
    assert "mobilenet-float-050-stride16" in err
    assert "Traceback" not in err
