"""GET/PUT /api/settings (what the panel may set) and GET /api/cameras (what it may pick)."""

from __future__ import annotations

import json

from fastapi import APIRouter, Depends, HTTPException, Request, status
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from api.boundary import PanelSettings, PanelSettingsBase, refusal
from api.cameras import Camera
from api.dependencies import PanelDep, SessionDep
from api.errors import error_responses

router = APIRouter(tags=["settings"])


async def refuse_config_only_fields(request: Request, _session: SessionDep) -> None:
    """403 naming the field when a request tries to set what only the config file may set
    (before validation, so the answer says why rather than 'not a known setting')."""
    try:
        body = json.loads(await request.body())
    except ValueError:
        return  # the body validation answers 422 for it
    if isinstance(body, dict):
        message = refusal(body.keys())
        if message:
            raise HTTPException(status.HTTP_403_FORBIDDEN, message)


class CameraList(BaseModel):
    cameras: list[Camera] = Field(description="Capture devices the appliance found itself.")
    selected: str | None = Field(description="The id in use; null: the config file's source.")
    configured: str = Field(description="What the config file's source is, by kind only.")


@router.get("/settings", response_model=PanelSettings, responses=error_responses(401))
def get_settings(panel: PanelDep, _session: SessionDep) -> PanelSettingsBase:
    return panel.settings


@router.put(
    "/settings",
    response_model=PanelSettings,
    responses=error_responses(400, 401, 403, 404, 422, 507),
    dependencies=[Depends(refuse_config_only_fields)],
)
async def put_settings(
    new: PanelSettings,  # type: ignore[valid-type]
    panel: PanelDep,
    _session: SessionDep,
) -> PanelSettingsBase:
    """Replace the panel's settings (fields left out get the config's values); returns what now
    applies. `source` and `outputs` are refused (403): edit the config file for those."""
    return await run_in_threadpool(panel.update_settings, new)


@router.get("/cameras", response_model=CameraList, responses=error_responses(401))
def list_cameras(panel: PanelDep, _session: SessionDep) -> CameraList:
    """Cameras found on this appliance; pick one with PUT /api/settings {"camera": id}."""
    return CameraList(
        cameras=[c.public() for c in panel.cameras()],
        selected=panel.settings.camera,
        configured=panel.configured_label(),
    )
