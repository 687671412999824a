"""The panel's trust boundary (issue 12) against the live app: what a logged-in panel user can
reach on the host (nothing: no file, device or address), what status tells, what is saved."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.boundary import PANEL_FIELDS, PanelSettings, config_only_fields
from api.cameras import DiscoveredCamera, discover_cameras
from tests.api.helpers import PASSWORD, LiveServer, make_panel, start_server, wait_for_frames


def test_every_settings_field_is_the_panels_or_the_configs() -> None:
    assert set(PanelSettings.model_fields) == {*PANEL_FIELDS, "camera"}
    assert {"source", "outputs"} <= set(config_only_fields())
    assert not {"source", "outputs"} & set(PanelSettings.model_fields)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"outputs": ["mjpeg://", "file://{tmp}/written-by-the-panel.mp4"]}, "outputs"),
        ({"source": "image://{tmp}/secret.png"}, "source"),
        ({"source": "rtsp://127.0.0.1:9/x"}, "source"),
        ({"source": "v4l2:///dev/video0"}, "source"),
        ({"source": "x" * 1_000_000}, "source"),
    ],
)
def test_panel_cannot_name_files_devices_or_addresses(
    live: LiveServer, client: httpx.Client, tmp_path: Path, changes: dict[str, object], field: str
) -> None:
    wait_for_frames(client)
    secret = tmp_path / "secret.png"
    secret.write_bytes(b"\x89PNG\r\n\x1a\n")
    changes = json.loads(json.dumps(changes).replace("{tmp}", str(tmp_path)))
    before = live.panel.pipeline.settings
    settings = client.get("/api/settings").json()
    assert "source" not in settings and "outputs" not in settings
    response = client.put("/api/settings", json={**settings, **changes})
    assert response.status_code == 403, response.text
    detail = response.json()["detail"]
    assert detail.startswith(f"'{field}'") and "config.toml" in detail and detail.endswith(".")
    assert len(detail) < 300  # the 1 MB value is not echoed
    assert live.panel.pipeline.settings == before
    assert not (tmp_path / "written-by-the-panel.mp4").exists()
    saved = live.panel.state.settings_file
    assert not saved.exists() or not {"source", "outputs"} & json.loads(saved.read_text()).keys()


@pytest.mark.slow
def test_status_names_no_path_uri_or_probe_result(live: LiveServer, client: httpx.Client) -> None:
    wait_for_frames(client)
    text = client.get("/api/status").text
    status = json.loads(text)
    assert not {"source", "source_description", "model_file"} & status.keys()
    assert status["camera"] == "configured source (demo)" and status["source_kind"] == "demo"
    for output in status["outputs"]:
        assert output.keys() == {"kind", "state", "frames", "error"}
    pipeline_status = live.panel.pipeline.status()
    assert pipeline_status.model_file  # the runtime knows the file; the panel is not told
    for secret in (pipeline_status.model_file, str(Path(pipeline_status.model_file).parent)):
        assert secret not in text
    assert "://" not in text and str(live.panel.state.root) not in text


def test_saved_source_and_outputs_are_ignored_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    make_panel(tmp_path)
    (tmp_path / "settings.json").write_text(
        json.dumps(
            {
                "source": "image:///etc/hostname.png",
                "outputs": ["file:///tmp/panel-wrote-this.mp4"],
                "effect": "mask",
            }
        )
    )
    with caplog.at_level(logging.WARNING):
        panel = make_panel(tmp_path)
    assert "only the config file may set" in caplog.text and "outputs, source" in caplog.text
    runtime = panel.runtime_settings(panel.settings)
    assert runtime.effect == "mask"  # the rest of the file still applies
    assert (runtime.source, runtime.outputs) == (panel.base_settings.source, ["mjpeg://"])
    panel.update_settings(panel.settings.model_copy(update={"flip_horizontal": True}))
    saved = json.loads((tmp_path / "settings.json").read_text())
    assert saved == {"effect": "mask", "flip_horizontal": True}


def test_cameras_are_picked_by_the_id_the_appliance_generated(tmp_path: Path) -> None:
    picture = tmp_path / "room.png"
    picture.write_bytes(b"")  # never opened here: no lifespan, so no pipeline
    found = [DiscoveredCamera("v4l2-2", "Room camera", "v4l2", f"image://{picture}")]
    panel = make_panel(tmp_path / "state", cameras=lambda: found)
    client = TestClient(create_app(panel))
    assert client.post("/api/login", json={"password": PASSWORD}).status_code == 200
    listing = client.get("/api/cameras").json()
    assert listing == {
        "cameras": [{"id": "v4l2-2", "label": "Room camera", "kind": "v4l2"}],
        "selected": None,
        "configured": "configured source (demo)",
    }
    settings = client.get("/api/settings").json()
    path = client.put("/api/settings", json={**settings, "camera": "/dev/video0"})
    assert path.status_code == 422 and "camera" in path.json()["detail"]
    unknown = client.put("/api/settings", json={**settings, "camera": "v4l2-9"})
    assert unknown.status_code == 404 and "GET /api/cameras" in unknown.json()["detail"]
    picked = client.put("/api/settings", json={**settings, "camera": "v4l2-2"})
    assert picked.status_code == 200 and picked.json()["camera"] == "v4l2-2"
    assert panel.runtime_settings(panel.settings).source == f"image://{picture}"
    assert client.get("/api/cameras").json()["selected"] == "v4l2-2"
    assert json.loads(panel.state.settings_file.read_text()) == {"camera": "v4l2-2"}
    found.clear()  # unplugged: the configured source runs again (once discovery re-asks)
    panel._cameras = None
    assert panel.runtime_settings(panel.settings).source == "demo://"


def test_discovery_skips_what_is_not_a_capture_device(tmp_path: Path) -> None:
    (tmp_path / "video0").write_bytes(b"not a device")
    (tmp_path / "video1").mkdir()
    (tmp_path / "video-notes").write_text("x")
    assert discover_cameras(tmp_path) == []
    for camera in discover_cameras():  # the real /dev: none here, the machine's own elsewhere
        assert camera.kind in ("v4l2", "csi") and camera.uri.startswith(("v4l2://", "csi://"))


@pytest.mark.slow
@pytest.mark.parametrize(
    ("saved", "set_aside"),
    [
        ({"source": "ftp://camera", "effect": "mask"}, False),  # was a start-up traceback
        ({"effect": "replace", "background": "/etc/passwd"}, True),  # never saved by the panel
    ],
)
def test_invalid_saved_values_do_not_stop_the_service(
    tmp_path: Path,
    models_dir: Path,
    saved: dict[str, object],
    set_aside: bool,
    caplog: pytest.LogCaptureFixture,
) -> None:
    make_panel(tmp_path)
    (tmp_path / "settings.json").write_text(json.dumps(saved))
    with caplog.at_level(logging.WARNING):
        server = start_server(make_panel(tmp_path))
    try:
        client = server.client()
        wait_for_frames(client)
        assert client.get("/healthz").status_code == 200
        assert server.panel.pipeline.settings.source == "demo://"
        corrupt = list(tmp_path.glob("settings.json.corrupt-*"))
        if set_aside:
            assert "unreadable" in caplog.text and len(corrupt) == 1
            assert client.get("/api/settings").json()["effect"] == "blur"
        else:
            assert "only the config file may set" in caplog.text and not corrupt
            assert client.get("/api/settings").json()["effect"] == "mask"
    finally:
        server.stop()


def test_a_config_background_path_is_never_shown_to_the_panel(tmp_path: Path) -> None:
    picture = tmp_path / "private" / "lobby.png"
    panel = make_panel(tmp_path / "state")
    panel.base_settings = panel.base_settings.model_copy(update={"background": str(picture)})
    panel.reload_base(panel.base_settings)  # as SIGHUP does after a config edit
    client = TestClient(create_app(panel))
    assert client.post("/api/login", json={"password": PASSWORD}).status_code == 200
    settings = client.get("/api/settings").json()
    assert settings["background"] is None  # null: "the configured background"
    assert str(tmp_path) not in client.get("/api/settings").text
    replaced = client.put("/api/settings", json={**settings, "effect": "replace"})
    assert replaced.status_code == 200, replaced.text
    assert panel.runtime_settings(panel.settings).background == str(picture)
    assert json.loads(panel.state.settings_file.read_text()) == {"effect": "replace"}
