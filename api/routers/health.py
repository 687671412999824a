"""GET /healthz (no login: for load balancers and the installer) and GET /metrics."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from api.dependencies import PanelDep

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz(panel: PanelDep) -> JSONResponse:
    """200 while the pipeline runs (even when the camera is away: it reconnects), else 503."""
    status = panel.pipeline.status()
    healthy = status.state in ("starting", "running")
    body = {
        "status": "ok" if healthy else "stopped",
        "pipeline": status.state,
        "camera": status.camera_state,
        "processor": status.processor_state,
    }
    return JSONResponse(body, status_code=200 if healthy else 503)


@router.get("/metrics", response_class=Response)
def metrics(request: Request) -> Response:
    """Prometheus text format; no login, as scrapers do not log in (no secrets in it)."""
    return Response(
        generate_latest(request.app.state.metrics.registry), media_type=CONTENT_TYPE_LATEST
    )
