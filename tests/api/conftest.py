"""Panel test fixtures: one live server (real pipeline and model) shared by the API tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.api.helpers import LiveServer, make_panel, start_server


@pytest.fixture(scope="session")
def live(tmp_path_factory: pytest.TempPathFactory, models_dir: Path) -> Iterator[LiveServer]:
    """One panel + pipeline for the API tests (the model loads once)."""
    server = start_server(make_panel(tmp_path_factory.mktemp("panel-state")))
    yield server
    server.stop()


@pytest.fixture()
def client(live: LiveServer) -> Iterator[httpx.Client]:
    c = live.client()
    yield c
    c.close()
