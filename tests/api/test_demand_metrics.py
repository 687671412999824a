"""/metrics shows the on-demand state, the time spent idle and who watches (issue 17)."""

from __future__ import annotations

from prometheus_client import generate_latest

from api.metrics import PanelMetrics
from runtime.pipeline import PipelineStatus


def test_idle_state_time_and_readers_are_exported() -> None:
    status = PipelineStatus.model_validate(
        {
            "state": "running",
            "demand_state": "idle",
            "idle_seconds_total": 42.5,
            "readers": 0,
            "readers_detail": {"virtual_camera": 0, "preview": 0, "recording": 0},
        }
    )
    text = generate_latest(PanelMetrics(lambda: status).registry).decode()
    assert 'bodypix_demand_state{state="idle"} 1.0' in text
    assert 'bodypix_demand_state{state="active"} 0.0' in text
    assert "bodypix_idle_seconds_total 42.5" in text
    assert 'bodypix_readers{kind="virtual_camera"} 0.0' in text
