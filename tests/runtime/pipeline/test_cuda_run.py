"""The live pipeline on the CUDA frame path end to end, on the host executor (how CI runs
every kernel): issue 11 part 4."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import pytest

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[3]


def test_run_writes_30_frames_on_the_cuda_path(models_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.mp4"
    env = dict(os.environ, BODYPIX_CUDA_EXECUTOR="host")
    env.pop("BODYPIX_CONFIG", None)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "runtime",
            "run",
            "--source",
            "demo://",
            "--frame-path",
            "cuda",
            "--output",
            f"file://{out}",
            "--frames",
            "30",
            "--report",
            "--stats-interval",
            "0",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout[done.stdout.index("{") :])
    assert report["frame_path"] == "cuda", report.get("last_error")
    assert report["frames_out"] >= 30
    assert report["stage_ms"], "the CUDA path reports per-kernel milliseconds"
    reader = cv2.VideoCapture(str(out))
    frames = int(reader.get(cv2.CAP_PROP_FRAME_COUNT))
    reader.release()
    assert frames >= 30
