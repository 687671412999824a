"""GET /api/status: backend, camera, fps, per-stage latency, dropped frames: without the paths,
URIs and probe results of what only the config file sets (see api.boundary)."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field, create_model

from api.boundary import redact, source_kind
from api.dependencies import PanelDep, SessionDep
from api.errors import error_responses
from api.panel import Panel
from runtime.pipeline import PipelineStatus

router = APIRouter(tags=["status"])

# PipelineStatus fields that name files, devices or addresses, or echo what probing them gave.
HIDDEN_FIELDS = frozenset({"source", "source_description", "model_file", "outputs"})


class OutputState(BaseModel):
    kind: str = Field(description="v4l2loopback (virtual camera), mjpeg (preview) or file.")
    state: Literal["running", "error", "closed"]
    frames: int
    error: str | None = Field(None, description="The reason, without paths.")


PanelStatus: type[BaseModel] = create_model(  # type: ignore[call-overload]
    "PanelStatus",
    __doc__="The pipeline's status as the panel sees it: no paths, URIs or probe results.",
    camera=(str, Field(description="The camera's name, or the kind of the configured source.")),
    source_kind=(str, Field(description="v4l2, csi, rtsp, file, image or demo.")),
    outputs=(list[OutputState], Field(default_factory=list)),
    **{
        name: (info.annotation, info)
        for name, info in PipelineStatus.model_fields.items()
        if name not in HIDDEN_FIELDS
    },
)


def panel_status(panel: Panel, status: PipelineStatus) -> BaseModel:
    values: dict[str, Any] = {}
    for name in PanelStatus.model_fields:
        if name in PipelineStatus.model_fields:
            value = getattr(status, name)
            values[name] = redact(value) if isinstance(value, str) else value
    values["camera"] = panel.camera_label()
    values["source_kind"] = source_kind(status.source or panel.base_settings.source)
    values["outputs"] = [
        OutputState(kind=source_kind(o.uri), state=o.state, frames=o.frames, error=redact(o.error))
        for o in status.outputs
    ]
    return PanelStatus.model_validate(values)


@router.get("/status", response_model=PanelStatus, responses=error_responses(401))
def get_status(panel: PanelDep, _session: SessionDep) -> BaseModel:
    return panel_status(panel, panel.pipeline.status())
