"""Panel test helpers: a live uvicorn server on 127.0.0.1 with the real pipeline, test media."""

from __future__ import annotations

import atexit
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import httpx
import numpy as np
import pytest
import uvicorn

from api.app import create_app
from api.backgrounds import BackgroundLibrary, UploadLimits
from api.commands.serve import bind_socket
from api.panel import Panel, PanelOptions
from api.state import StateDir
from runtime.settings import Settings

PASSWORD = "correct horse battery"
# Small frames, low internal resolution, one thread: the pipeline must not swamp a 2-core CI box.
FAST = {
    "source": "demo://",
    "width": 320,
    "height": 240,
    "fps": 8.0,
    "internal_resolution": "medium",
    "backend": "onnxruntime",
    "threads": 1,
    "idle_after": 0.0,  # these tests read the status, not the preview: never idle (issue 17)
}


def fast_settings(**changes: object) -> Settings:
    return Settings.model_validate({**FAST, **changes})


_BUILTINS: list[Path] = []


def _copy_builtins(state_dir: Path) -> None:
    """Copy the built-in backgrounds drawn once per test session (drawing costs CPU time)."""
    if not _BUILTINS:
        template = Path(tempfile.mkdtemp(prefix="bodypix-builtins-"))
        atexit.register(shutil.rmtree, template, ignore_errors=True)
        BackgroundLibrary(template).ensure_builtins()
        _BUILTINS.append(template)
    target = state_dir / "backgrounds"
    if not target.exists():
        shutil.copytree(_BUILTINS[0], target)


def make_panel(state_dir: Path, limits: UploadLimits | None = None, **options: object) -> Panel:
    _copy_builtins(state_dir)
    panel = Panel(
        PanelOptions(
            state_dir=StateDir(state_dir),
            base_settings=fast_settings(),
            upload_limits=limits or UploadLimits(),
            **options,  # type: ignore[arg-type]
        )
    )
    if not panel.passwords.is_set():
        panel.passwords.set(PASSWORD)
    return panel


@dataclass
class LiveServer:
    url: str
    panel: Panel
    server: uvicorn.Server
    thread: threading.Thread

    def client(self, login: bool = True) -> httpx.Client:
        client = httpx.Client(base_url=self.url, timeout=30.0)
        if login:
            response = client.post("/api/login", json={"password": PASSWORD})
            assert response.status_code == 200, response.text
        return client

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(15)


def start_server(panel: Panel) -> LiveServer:
    sock = bind_socket("127.0.0.1", 0)
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        create_app(panel), log_level="warning", timeout_graceful_shutdown=1, lifespan="on"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the panel server did not start")
        time.sleep(0.05)
    return LiveServer(f"http://127.0.0.1:{port}", panel, server, thread)


def wait_for_frames(client: httpx.Client, count: int = 1, timeout: float = 120.0) -> None:
    """Until the pipeline wrote `count` processed frames (model export/load can take a while)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = client.get("/api/status").json()
        if status["frames_out"] >= count:
            return
        if status["processor_state"] == "failed":
            pytest.fail(f"segmentation failed to load: {status['last_error']}")
        time.sleep(0.3)
    pytest.fail(f"no processed frame within {timeout} s: {client.get('/api/status').json()}")


def jpeg_bytes(image_bgr: np.ndarray, quality: int = 90) -> bytes:
    ok, buf = cv2.imencode(".jpg", image_bgr, [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return buf.tobytes()


def png_bytes(image_bgr: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", image_bgr)
    assert ok
    return buf.tobytes()


def solid(color_bgr: tuple[int, int, int], width: int = 320, height: int = 180) -> np.ndarray:
    return np.full((height, width, 3), color_bgr, np.uint8)


def decode(jpeg: bytes) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None, "not a decodable image"
    return image
