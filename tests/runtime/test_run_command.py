"""`bodypix run` as the service runs it: a real process, real signals."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import pytest

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


class Running:
    """A `bodypix run` child whose log lines are collected as they come."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "runtime", "run", "--stats-interval", "0", *args],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip())

    def wait_for(self, pattern: str, timeout: float, start: int = 0) -> int:
        """Index of the first log line from `start` on that matches."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for index in range(start, len(self.lines)):
                if re.search(pattern, self.lines[index]):
                    return index
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise AssertionError(f"no log line matching {pattern!r}:\n" + "\n".join(self.lines))

    def log(self) -> str:
        return "\n".join(self.lines)


@pytest.fixture
def child_env(models_dir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("BODYPIX_CONFIG", None)
    return env


@pytest.fixture
def processes() -> Iterator[list[Running]]:
    started: list[Running] = []
    yield started
    for running in started:
        if running.proc.poll() is None:
            running.proc.kill()
            running.proc.wait()


def frame_count(path: Path) -> int:
    reader = cv2.VideoCapture(str(path))
    count = int(reader.get(cv2.CAP_PROP_FRAME_COUNT)) if reader.isOpened() else 0
    reader.release()
    return count


def write_config(path: Path, photo: Path, output: Path, effect: str) -> None:
    path.write_text(
        f'source = "image://{photo}"\noutputs = ["file://{output}"]\n'
        f'width = 320\nheight = 240\neffect = "{effect}"\nbackend = "onnxruntime"\n'
    )


def test_sigterm_stops_within_two_seconds(
    child_env: dict[str, str], processes: list[Running], photo_path: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out.avi"
    running = Running(
        [
            "--source",
            f"image://{photo_path}",
            "--output",
            f"file://{out}",
            "--output",
            "mjpeg://",
            "--width",
            "320",
            "--height",
            "240",
            "--backend",
            "onnxruntime",
        ],
        child_env,
    )
    processes.append(running)
    running.wait_for(r"segmentation backend ready", 180)
    running.wait_for(r"output open: video file", 30)
    time.sleep(1.0)  # frames flow
    running.proc.send_signal(signal.SIGTERM)
    assert running.proc.wait(timeout=15) == 0
    stopped = running.wait_for(r"stopped in [0-9.]+ s", 1)
    seconds = float(re.findall(r"stopped in ([0-9.]+) s", running.lines[stopped])[0])
    assert seconds < 2.0, running.log()
    assert "did not stop" not in running.log()
    # The output was closed properly: a complete file, no temporary left.
    assert frame_count(out) > 0
    assert not list(tmp_path.glob(".*partial*"))


def test_sighup_reloads_the_config_file(
    child_env: dict[str, str], processes: list[Running], photo_path: Path, tmp_path: Path
) -> None:
    config = tmp_path / "config.toml"
    first, second = tmp_path / "first.avi", tmp_path / "second.avi"
    write_config(config, photo_path, first, "blur")
    running = Running(["--config", str(config)], child_env)
    processes.append(running)
    running.wait_for(r"output open: video file .*first\.avi", 180)

    # An invalid file is refused with the key named, and the pipeline keeps its settings.
    config.write_text(config.read_text().replace('effect = "blur"', 'effect = "sparkle"'))
    mark = len(running.lines)
    running.proc.send_signal(signal.SIGHUP)
    line = running.wait_for(r"configuration not reloaded", 10, mark)
    assert "Key 'effect'" in running.lines[line] and "'blur'" in running.lines[line]

    write_config(config, photo_path, second, "mask")
    mark = len(running.lines)
    running.proc.send_signal(signal.SIGHUP)
    running.wait_for(r"SIGHUP: configuration reloaded", 10, mark)
    running.wait_for(r"applying settings: effect, outputs changed", 1, mark)
    running.wait_for(r"output open: video file .*second\.avi", 10, mark)
    time.sleep(0.5)
    running.proc.send_signal(signal.SIGTERM)
    assert running.proc.wait(timeout=15) == 0
    assert frame_count(first) > 0 and frame_count(second) > 0


def test_bad_source_is_one_sentence_and_nonzero_exit(child_env: dict[str, str]) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "runtime", "run", "--source", "http://cam/x"],
        cwd=ROOT,
        env=child_env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "bodypix: error: Source 'http://cam/x' has an unknown scheme 'http'" in result.stderr
    assert "Traceback" not in result.stderr
