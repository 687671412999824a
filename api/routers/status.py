"""GET /api/status: backend, engine, camera, fps, per-stage latency, dropped frames."""

from __future__ import annotations

from fastapi import APIRouter

from api.dependencies import PanelDep, SessionDep
from runtime.pipeline import PipelineStatus

router = APIRouter(prefix="/api", tags=["status"])


@router.get("/status", response_model=PipelineStatus)
def get_status(panel: PanelDep, _session: SessionDep) -> PipelineStatus:
    return panel.pipeline.status()
