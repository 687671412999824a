"""GET/PUT /api/settings: every validation error, persistence, the corrupt-file path."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.panel import Panel
from tests.api.helpers import PASSWORD, LiveServer, fast_settings, make_panel


@pytest.fixture()
def panel(tmp_path: Path) -> Panel:
    return make_panel(tmp_path)


@pytest.fixture()
def app_client(panel: Panel) -> TestClient:
    client = TestClient(create_app(panel))  # no lifespan: validation needs no pipeline
    assert client.post("/api/login", json={"password": PASSWORD}).status_code == 200
    return client


def put(client: TestClient | httpx.Client, **changes: Any) -> httpx.Response:
    current = client.get("/api/settings").json()
    return client.put("/api/settings", json={**current, **changes})


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"effect": "sparkle"},
            "effect: Input should be 'blur', 'replace', 'mask', 'parts' or 'none'",
        ),
        (
            {"segmentation_threshold": 1.5},
            "segmentation_threshold: Input should be less than or equal to 1",
        ),
        (
            {"background_blur_amount": 0},
            "background_blur_amount: Input should be greater than or equal to 1",
        ),
        ({"edge_blur_amount": "lots"}, "edge_blur_amount: Input should be a valid integer"),
        ({"smoothing": 1.0}, "smoothing: Input should be less than 1"),
        ({"feather": -1}, "feather: Input should be greater than or equal to 0"),
        ({"flip_horizontal": "sideways"}, "flip_horizontal: Input should be a valid boolean"),
        ({"variant": "mobilenet-float-050-stride99"}, "variant:"),
        ({"internal_resolution": 5.0}, "internal_resolution"),
        ({"width": 1}, "width: Input should be greater than or equal to 16"),
        ({"fps": 0}, "fps: Input should be greater than or equal to 1"),
        ({"fps": 1e-300}, "fps: Input should be greater than or equal to 1"),
        ({"mask": {"opacity": 2}}, "mask.opacity: Input should be less than or equal to 1"),
        ({"sparkles": True}, "sparkles: is not a known setting"),
    ],
)
def test_invalid_settings_are_422_with_a_sentence(
    app_client: TestClient, changes: dict[str, Any], message: str
) -> None:
    before = app_client.get("/api/settings").json()
    response = put(app_client, **changes)
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert detail.startswith("Invalid request: ") and message in detail and detail.endswith(".")
    assert app_client.get("/api/settings").json() == before  # nothing applied


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"effect": "replace", "background": None}, "needs a background"),
        ({"background": "/etc/passwd"}, "is not a library id"),
        ({"background": "../settings.json"}, "is not a library id"),
        ({"background": "u-000000000000"}, "There is no background 'u-000000000000'"),
    ],
)
def test_settings_the_model_accepts_but_the_panel_refuses(
    app_client: TestClient, panel: Panel, changes: dict[str, Any], message: str
) -> None:
    response = put(app_client, **changes)
    assert response.status_code in (400, 404, 422), response.text
    assert message in response.json()["detail"]
    assert not panel.state.settings_file.exists()  # nothing persisted


def test_body_must_be_a_json_object(app_client: TestClient) -> None:
    bad = app_client.put(
        "/api/settings", content=b"[1, 2", headers={"content-type": "application/json"}
    )
    assert bad.status_code == 422 and "JSON" in bad.json()["detail"]
    assert app_client.put("/api/settings", json=[1, 2]).status_code == 422


def test_valid_settings_are_returned_and_saved_as_changes_only(
    app_client: TestClient, panel: Panel
) -> None:
    response = put(
        app_client, effect="replace", background="builtin-bokeh", segmentation_threshold=0.55
    )
    assert response.status_code == 200
    body = response.json()
    assert body["effect"] == "replace" and body["background"] == "builtin-bokeh"
    assert body["segmentation_threshold"] == 0.55
    saved = json.loads(panel.state.settings_file.read_text())
    assert saved == {
        "effect": "replace",
        "background": "builtin-bokeh",
        "segmentation_threshold": 0.55,
    }
    # A restart (new panel on the same state directory) comes back with them.
    again = make_panel(panel.state.root)
    assert again.settings.model_dump(mode="json") == body


def test_base_settings_still_apply_for_fields_the_panel_never_changed(tmp_path: Path) -> None:
    first = make_panel(tmp_path)
    first.update_settings(first.settings.model_copy(update={"effect": "mask"}))
    panel = make_panel(tmp_path)
    panel.base_settings = fast_settings(width=640)  # e.g. the config file was edited
    reloaded = panel.state.load_settings(panel.base_settings)
    assert reloaded.effect == "mask" and reloaded.width == 640  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "content",
    [
        "{not json",
        '"a string"',
        '{"effect": "sparkle"}',
        "\udcff",
        '{"width": 100000}',
        '{"mask": {"foreground_color": [1e30, 0, 0, -999]}}',
        '{"background": "/etc/passwd"}',
        '{"camera": "/dev/video0"}',
    ],
)
def test_corrupt_settings_file_is_moved_aside_with_a_warning(
    tmp_path: Path, content: str, caplog: pytest.LogCaptureFixture
) -> None:
    make_panel(tmp_path)
    settings_file = tmp_path / "settings.json"
    settings_file.write_bytes(content.encode("utf-8", "surrogateescape"))
    with caplog.at_level(logging.WARNING):
        panel = make_panel(tmp_path)
    assert panel.runtime_settings(panel.settings) == fast_settings()
    assert not settings_file.exists()
    assert len(list(tmp_path.glob("settings.json.corrupt-*"))) == 1
    assert "unreadable" in caplog.text


def test_saved_background_that_disappeared_falls_back_to_blur(tmp_path: Path) -> None:
    (tmp_path / "settings.json").parent.mkdir(exist_ok=True)
    make_panel(tmp_path)
    (tmp_path / "settings.json").write_text('{"effect": "replace", "background": "u-0123456789ab"}')
    panel = make_panel(tmp_path)
    assert panel.settings.effect == "blur" and panel.settings.background is None


@pytest.mark.slow
def test_settings_apply_to_the_running_pipeline(live: LiveServer, client: httpx.Client) -> None:
    try:
        response = put(client, effect="replace", background="builtin-green", flip_horizontal=True)
        assert response.status_code == 200, response.text
        applied = live.panel.pipeline.settings
        assert applied.effect == "replace" and applied.flip_horizontal
        # The pipeline gets the stored file, never the id (or anything the client sent).
        assert applied.background == str(live.panel.state.backgrounds / "builtin-green.jpg")
        assert client.get("/api/settings").json()["background"] == "builtin-green"
        # The selected background cannot be deleted from under the pipeline.
        assert client.delete("/api/backgrounds/builtin-green").status_code == 409
    finally:
        put(client, effect="blur", flip_horizontal=False)
    assert client.get("/healthz").json()["status"] == "ok"
