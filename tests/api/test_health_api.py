"""Health and notices as the panel and systemd's neighbours see them: live uvicorn, the real
pipeline and model (issue 12 item 3)."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from runtime.pipeline import OUTPUT_STALL_S
from tests.api.helpers import (
    LiveServer,
    jpeg_bytes,
    make_panel,
    solid,
    start_server,
    wait_for_frames,
)

pytestmark = pytest.mark.slow


@pytest.fixture
def servers() -> Iterator[list[LiveServer]]:
    started: list[LiveServer] = []
    yield started
    for server in started:
        server.stop()


def test_damaged_library_background_is_blurred_with_a_notice(
    models_dir: Path, tmp_path: Path, servers: list[LiveServer]
) -> None:
    live = start_server(make_panel(tmp_path / "state"))
    servers.append(live)
    client = live.client()
    wait_for_frames(client)
    entry = client.post(
        "/api/backgrounds",
        files={"file": ("green.jpg", jpeg_bytes(solid((0, 200, 0))), "image/jpeg")},
    ).json()
    stored = live.panel.library.media_path(entry["id"])
    data = stored.read_bytes()
    stored.write_bytes(data[: len(data) // 3])  # damaged on disk after the upload
    settings = client.get("/api/settings").json()
    response = client.put(
        "/api/settings", json={**settings, "effect": "replace", "background": entry["id"]}
    )
    assert response.status_code == 200
    deadline = time.monotonic() + 30
    while not (status := client.get("/api/status").json())["notices"]:
        assert time.monotonic() < deadline, status
        time.sleep(0.3)
    assert entry["id"] in status["notices"][0]
    assert str(tmp_path) not in str(status["notices"])
    before = status["frames_out"]
    time.sleep(1.5)
    status = client.get("/api/status").json()
    assert status["frames_out"] > before and status["fps_out"] > 0
    health = httpx.get(f"{live.url}/healthz")
    assert health.status_code == 200 and health.json()["status"] == "ok"
    metrics = httpx.get(f"{live.url}/metrics").text
    assert re.search(
        r'^bodypix_processor_stage_ms\{frame_path="cpu",stage="inference"\} ', metrics, re.M
    )


def test_healthz_is_503_while_frames_arrive_and_none_goes_out(
    models_dir: Path, tmp_path: Path, servers: list[LiveServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    corrupt = tmp_path / "corrupt.onnx"
    corrupt.write_bytes(b"not a model" * 100)
    monkeypatch.setenv("BODYPIX_ONNX", str(corrupt))  # every backend fails to load
    live = start_server(make_panel(tmp_path / "state"))
    servers.append(live)
    deadline = time.monotonic() + OUTPUT_STALL_S + 60
    while (health := httpx.get(f"{live.url}/healthz")).status_code == 200:
        assert time.monotonic() < deadline, health.json()
        time.sleep(0.3)
    assert health.status_code == 503
    body = health.json()
    assert body["status"] == "unhealthy" and "none has gone out" in body["reason"]
    assert str(tmp_path) not in health.text  # no host path without a login
