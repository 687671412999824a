"""GET/PUT /api/settings: the one settings model, validated, applied between frames, persisted."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool

from api.dependencies import PanelDep, SessionDep
from runtime.settings import Settings

router = APIRouter(prefix="/api", tags=["settings"])


@router.get("/settings", response_model=Settings)
def get_settings(panel: PanelDep, _session: SessionDep) -> Settings:
    return panel.settings


@router.put("/settings", response_model=Settings)
async def put_settings(new: Settings, panel: PanelDep, _session: SessionDep) -> Settings:
    """Replace the settings (fields left out get their defaults); returns what now applies."""
    return await run_in_threadpool(panel.update_settings, new)
