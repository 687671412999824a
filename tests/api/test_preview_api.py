"""Live preview, snapshot, status, health and metrics against a running pipeline and model."""

from __future__ import annotations

import re
import time

import httpx
import numpy as np
import pytest

from tests.api.helpers import LiveServer, decode, jpeg_bytes, solid, wait_for_frames

pytestmark = pytest.mark.slow
MAGENTA = (255, 0, 255)  # BGR


def magenta_share(image: np.ndarray) -> float:
    b, g, r = (image[..., i].astype(int) for i in range(3))
    return float(((b > 200) & (r > 200) & (g < 60)).mean())


def snapshot_after_change(client: httpx.Client, seconds: float = 1.5) -> np.ndarray:
    """A snapshot of a frame composited after the last settings change."""
    first = int(client.get("/api/snapshot.jpg").headers["x-frame-seq"])
    deadline = time.monotonic() + 30
    while True:
        time.sleep(seconds)
        response = client.get("/api/snapshot.jpg")
        if int(response.headers["x-frame-seq"]) > first + 3 or time.monotonic() > deadline:
            return decode(response.content)


def test_snapshot_and_mjpeg_stream(live: LiveServer, client: httpx.Client) -> None:
    wait_for_frames(client)
    snap = client.get("/api/snapshot.jpg")
    assert snap.status_code == 200 and snap.headers["content-type"] == "image/jpeg"
    assert snap.headers["cache-control"] == "no-store"
    assert decode(snap.content).shape == (240, 320, 3)
    with client.stream("GET", "/api/preview.mjpeg") as stream:
        assert stream.status_code == 200
        assert stream.headers["content-type"] == "multipart/x-mixed-replace; boundary=frame"
        buffer = b""
        for chunk in stream.iter_bytes():
            buffer += chunk
            if buffer.count(b"--frame\r\n") >= 3:
                break
    parts = buffer.split(b"--frame\r\n")[1:3]
    for part in parts:
        head, _, body = part.partition(b"\r\n\r\n")
        length = int(re.search(rb"Content-Length: (\d+)", head).group(1))  # type: ignore[union-attr]
        assert decode(body[:length]).shape == (240, 320, 3)


def test_effects_change_what_the_snapshot_shows(live: LiveServer, client: httpx.Client) -> None:
    wait_for_frames(client)
    entry = client.post(
        "/api/backgrounds",
        files={"file": ("magenta.jpg", jpeg_bytes(solid(MAGENTA)), "image/jpeg")},
    ).json()
    settings = client.get("/api/settings").json()
    try:
        assert client.put("/api/settings", json={**settings, "effect": "none"}).status_code == 200
        plain = snapshot_after_change(client)
        assert magenta_share(plain) < 0.01
        replaced = {**settings, "effect": "replace", "background": entry["id"]}
        assert client.put("/api/settings", json=replaced).status_code == 200
        swapped = snapshot_after_change(client)
        # The background became magenta; the person (a real photo) did not.
        assert 0.2 < magenta_share(swapped) < 0.95
    finally:
        client.put("/api/settings", json={**settings, "effect": "blur", "background": None})
        client.delete(f"/api/backgrounds/{entry['id']}")


def test_status_health_and_metrics(live: LiveServer, client: httpx.Client) -> None:
    wait_for_frames(client, count=5)
    status = client.get("/api/status").json()
    assert status["state"] == "running" and status["camera_state"] == "running"
    assert status["backend"] == "onnxruntime" and status["processor_state"] == "ready"
    assert status["fps_out"] > 0 and "segment" in status["latency_ms"]
    assert {"dropped_frames", "glass_to_glass_ms", "camera", "source_kind"} <= status.keys()
    anonymous = httpx.get(f"{live.url}/healthz")
    assert anonymous.status_code == 200 and anonymous.json()["status"] == "ok"
    metrics = httpx.get(f"{live.url}/metrics")
    assert metrics.status_code == 200 and metrics.headers["content-type"].startswith("text/plain")
    fps = re.search(r'^bodypix_fps\{stream="out"\} ([0-9.e+-]+)$', metrics.text, re.M)
    assert fps and float(fps.group(1)) > 0
    assert re.search(r'^bodypix_stage_latency_ms\{stage="segment"\} ', metrics.text, re.M)
    assert "bodypix_camera_up 1.0" in metrics.text
    assert 'bodypix_frames_total{kind="dropped"}' in metrics.text
