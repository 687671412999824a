"""`bodypix attack-check` runs against a live appliance (a smoke test: bounded, no timings)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from api.cli import main
from tests.api.helpers import PASSWORD, LiveServer, make_panel, start_server, wait_for_frames


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory, models_dir: Path) -> Iterator[LiveServer]:
    server = start_server(make_panel(tmp_path_factory.mktemp("attacked-state")))
    yield server
    server.stop()


def test_refuses_anything_but_loopback(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["attack-check", "--url", "http://192.0.2.1:8080", "--password", "x"]) == 2
    assert "only runs against this machine's own appliance" in capsys.readouterr().err
    assert main(["attack-check", "--url", "ftp://127.0.0.1", "--password", "x"]) == 2


@pytest.mark.slow
def test_replays_the_catalogue_against_a_live_appliance(
    target: LiveServer, capsys: pytest.CaptureFixture[str]
) -> None:
    client = target.client()
    wait_for_frames(client)
    before = client.get("/api/settings").json()
    code = main(
        [
            "attack-check",
            "--url",
            target.url,
            "--password",
            PASSWORD,
            "--state-dir",
            str(target.panel.state.root),
            "--flood",
            "12",
            "--model-changes",
            "4",
            "--sample-seconds",
            "0.5",
        ]
    )
    out = capsys.readouterr().out
    # What the panel owns is refused; the frame path's own faults (a damaged background) are
    # reported, whatever they are, and decide the exit status.
    for attack in (
        "outputs file://",
        "source image://",
        "source rtsp://",
        "status echoes",
        "login flood",
        "preview race",
        "hostile uploads",
        "1 MB string",
        "fps 5e-324",
    ):
        line = next((x for x in out.splitlines() if attack in x), "")
        assert line.strip().startswith("refused"), out
    for attack in ("model-change storm", "SIGHUP reload storm", "damaged selected background"):
        assert attack in out, out
    assert "data lost" not in out
    assert code == (1 if "silenced" in out else 0)
    assert "settings restored: yes" in out and "fps_out" in out
    assert client.get("/api/settings").json() == before
