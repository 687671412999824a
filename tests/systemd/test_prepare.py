"""`bodypix prepare-model`, what bodypix-build-engine.service runs: a real export from the mirror,
then a no-op; TensorRT engines where TensorRT exists (skipped here)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from convert.engine.tensorrt_support import tensorrt_available

VARIANT = "mobilenet-float-050-stride16"


def _prepare(
    *args: str, models_dir: Path, env_mirror: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BODYPIX_")}
    if env_mirror is not None:
        env["BODYPIX_MODEL_MIRROR"] = env_mirror
    return subprocess.run(
        [sys.executable, "-m", "api", "prepare-model", "--models-dir", str(models_dir), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("config") / "config.toml"
    path.write_text(
        f'variant = "{VARIANT}"\nwidth = 640\nheight = 480\ninternal_resolution = "medium"\n'
    )
    return path


@pytest.mark.slow
def test_prepares_then_does_nothing(mirror: Path, config: Path, tmp_path: Path) -> None:
    models = tmp_path / "models"
    # The mirror is given on the command line only: the unit can take it from its environment
    # file or the flag.
    first = _prepare("--config", str(config), "--mirror", str(mirror), models_dir=models)
    assert first.returncode == 0, first.stdout + first.stderr
    onnx = models / VARIANT / "onnx" / f"{VARIANT}-dynamic.onnx"
    assert onnx.is_file()
    assert f"{VARIANT}: ONNX exported: {onnx}" in first.stdout
    if not tensorrt_available():
        assert "TensorRT is not installed on this machine" in first.stdout
        assert "CPU backend" in first.stdout

    stamp = onnx.stat().st_mtime_ns
    # No mirror now: a no-op must not need the network or the model files.
    second = _prepare("--config", str(config), models_dir=models, env_mirror="/nonexistent")
    assert second.returncode == 0, second.stdout + second.stderr
    assert f"{VARIANT}: ONNX up to date: {onnx}" in second.stdout
    assert onnx.stat().st_mtime_ns == stamp


@pytest.mark.slow
@pytest.mark.tensorrt
@pytest.mark.skipif(not tensorrt_available(), reason="TensorRT is not installed here")
def test_builds_the_engine_once(mirror: Path, config: Path, tmp_path: Path) -> None:
    models = tmp_path / "models"
    first = _prepare("--config", str(config), "--mirror", str(mirror), models_dir=models)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "TensorRT engine 241x321: built" in first.stdout
    engines = sorted(models.rglob("*.engine"))
    assert engines
    second = _prepare("--config", str(config), models_dir=models)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "TensorRT engine 241x321: up to date" in second.stdout
    assert sorted(models.rglob("*.engine")) == engines


def test_errors_are_one_sentence(tmp_path: Path, config: Path) -> None:
    missing = _prepare("--config", str(tmp_path / "nope.toml"), models_dir=tmp_path)
    assert missing.returncode == 2
    assert missing.stderr.strip().startswith(
        f"bodypix: error: Config file {tmp_path / 'nope.toml'}"
    )
    assert len(missing.stderr.strip().splitlines()) == 1
    unknown = _prepare("--config", str(config), "--variant", "mobilenet-050", models_dir=tmp_path)
    assert unknown.returncode == 2
    assert "Unknown BodyPix variant 'mobilenet-050'" in unknown.stderr
    assert not list(tmp_path.rglob("*.onnx"))
