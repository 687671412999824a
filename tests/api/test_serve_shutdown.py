"""`bodypix serve` stopped by SIGTERM while previews are open: a clean stop, no tracebacks."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.api.helpers import FAST

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


def test_sigterm_with_previews_open_stops_cleanly(tmp_path: Path, models_dir: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = tmp_path / "config.toml"
    config.write_text("".join(f"{k} = {json.dumps(v)}\n" for k, v in FAST.items()))
    env = {k: v for k, v in os.environ.items() if not k.startswith("BODYPIX_") or "MODEL" in k}
    command = [sys.executable, "-m", "api", "serve", "--host", "127.0.0.1", "--port", str(port)]
    command += ["--state-dir", str(tmp_path / "state"), "--config", str(config)]
    process = subprocess.Popen(command, cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True)
    lines: list[str] = []
    try:
        assert process.stderr is not None
        password = None
        for line in process.stderr:
            lines.append(line)
            match = re.search(r"one was generated: (\S+)", line)
            password = match.group(1) if match else password
            if "Application startup complete" in line:
                break
        assert password, "".join(lines)
        reader = threading.Thread(target=lambda: lines.extend(process.stderr or []), daemon=True)
        reader.start()
        client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30)
        assert client.post("/api/login", json={"password": password}).status_code == 200
        deadline = time.monotonic() + 120
        while client.get("/api/status").json()["frames_out"] < 3:
            assert time.monotonic() < deadline
            time.sleep(0.3)
        received = [0, 0]

        def watch(index: int) -> None:
            try:
                with client.stream("GET", "/api/preview.mjpeg") as stream:
                    for chunk in stream.iter_bytes():
                        received[index] += len(chunk)
            except httpx.HTTPError:
                pass

        viewers = [threading.Thread(target=watch, args=(i,), daemon=True) for i in range(2)]
        for viewer in viewers:
            viewer.start()
        while min(received) == 0:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        stopping = time.monotonic()
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0
        stopped_in = time.monotonic() - stopping
        reader.join(5)
        for viewer in viewers:
            viewer.join(5)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    log = "".join(lines)
    assert "Traceback" not in log and "CancelledError" not in log, log[-3000:]
    assert "timeout graceful shutdown exceeded" not in log
    assert stopped_in < 10, log[-2000:]
