"""The panel's trust boundary, in one place: what a logged-in panel user may set.

The panel is reachable by anyone on the meeting-room network, so a logged-in user is trusted
with the picture (effects, their parameters, a library background, a camera the appliance
found itself) and never with the host: anything that names a file, a device path or a network
address (`source`, `outputs`) comes only from the root-owned config file or the command line.

`PanelSettings` is derived from `runtime.settings.Settings`: the fields in `PANEL_FIELDS`, with
their types, bounds and validators, plus `camera` (an id from `GET /api/cameras`). A field
added to `Settings` is config-only until it is listed here: the safe default.
"""

from __future__ import annotations

import copy
import logging
import re
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, create_model, field_validator
from pydantic.fields import FieldInfo

from runtime.settings import Settings

log = logging.getLogger(__name__)

# What the panel may change: the picture, never the host.
PANEL_FIELDS: tuple[str, ...] = (
    "effect",
    "background_blur_amount",
    "edge_blur_amount",
    "background",  # a library id; Panel checks it (a path is refused)
    "mask",
    "parts",
    "flip_horizontal",
    "variant",  # a catalog name; the model comes from the configured mirror or Google
    "internal_resolution",
    "segmentation_threshold",
    "backend",
    "threads",
    "smoothing",
    "smoothing_method",
    "feather",
    "edge_refine",
    "edge_refine_radius",
    "edge_refine_eps",
    "idle_after",
    "idle_camera",
    "width",
    "height",
    "fps",
)
# Why the fields that name host resources are the config file's alone.
CONFIG_ONLY_REASONS: dict[str, str] = {
    "source": "it names a device, a file or a network address",
    "outputs": "they name devices and files the appliance writes",
}
CONFIG_FILE = "/etc/bodypix-appliance/config.toml"
CAMERA_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
LIBRARY_ID = re.compile(r"^(?:u|builtin)-[a-z0-9-]{1,40}$")  # api.backgrounds' ids


def config_only_fields() -> list[str]:
    """Every Settings field the panel may not set (source, outputs and any new field)."""
    return [name for name in Settings.model_fields if name not in PANEL_FIELDS]


def _copied_validators() -> dict[str, Any]:
    """Settings' field validators (variant, internal_resolution) for the panel model too."""
    validators: dict[str, Any] = {}
    for name, decorator in Settings.__pydantic_decorators__.field_validators.items():
        fields = [f for f in decorator.info.fields if f in PANEL_FIELDS]
        if not fields:
            continue
        check: Callable[[Any], Any] = decorator.func

        def run(cls: type, value: Any, _check: Callable[[Any], Any] = check) -> Any:
            return _check(value)

        validators[name] = field_validator(*fields, mode=decorator.info.mode)(classmethod(run))
    return validators


class PanelSettingsBase(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    camera: str | None = Field(
        default=None,
        max_length=64,
        pattern=CAMERA_ID.pattern,
        description="A camera id from GET /api/cameras; null: the camera of the config file.",
    )

    if TYPE_CHECKING:  # the fields the panel code reads; pydantic adds them all at runtime
        effect: str
        background: str | None


def _panel_field(name: str) -> tuple[Any, FieldInfo]:
    info = copy.copy(Settings.model_fields[name])
    if name == "background":
        info.description = "A library id (GET /api/backgrounds); null: the config's background."
    return info.annotation, info


PanelSettings: type[PanelSettingsBase] = create_model(  # type: ignore[call-overload]
    "PanelSettings",
    __base__=PanelSettingsBase,
    __doc__="What the panel may set: the picture, never the host (no paths, devices, addresses).",
    __validators__=_copied_validators(),
    **{name: _panel_field(name) for name in PANEL_FIELDS},
)


def panel_view(settings: Settings, camera: str | None = None) -> PanelSettingsBase:
    """The panel's part of runtime settings. A background the config file gives as a path is
    shown as null ("the configured background"): the panel sees library ids only."""
    values = settings.model_dump(include=set(PANEL_FIELDS))
    if values.get("background") is not None and not LIBRARY_ID.match(values["background"]):
        values["background"] = None
    return PanelSettings.model_validate({**values, "camera": camera})


def runtime_settings(
    panel: PanelSettingsBase, base: Settings, source: str | None = None
) -> Settings:
    """`base` (config file, environment, command line) with the panel's fields on top;
    `source` is the URI of the camera the panel picked (None: the configured one)."""
    changes = panel.model_dump(include=set(PANEL_FIELDS))
    if changes.get("background") is None:
        changes.pop("background", None)  # null: the config file's background, if it has one
    if source is not None:
        changes["source"] = source
    return Settings.model_validate(base.model_dump() | changes)


def refusal(keys: Iterable[str]) -> str | None:
    """The sentence refusing config-only fields in a panel request, or None when there are none."""
    forbidden = [k for k in keys if k in Settings.model_fields and k not in PANEL_FIELDS]
    if not forbidden:
        return None
    name = forbidden[0]
    why = CONFIG_ONLY_REASONS.get(name, "it is part of the appliance's configuration")
    extra = f" (also {', '.join(forbidden[1:])})" if len(forbidden) > 1 else ""
    camera = " or pick a camera the appliance found with 'camera'" if name == "source" else ""
    return (
        f"'{name}'{extra} cannot be set from the panel because {why}; "
        f"edit {CONFIG_FILE} and reload the service{camera}."
    )


def saved_changes(saved: Mapping[str, Any], path: str) -> dict[str, Any]:
    """Saved panel changes without config-only keys (an old or damaged file), with a warning."""
    kept = dict(saved)
    dropped = sorted(k for k in kept if k in Settings.model_fields and k not in PANEL_FIELDS)
    for key in dropped:
        del kept[key]
    if dropped:
        log.warning(
            "saved settings %s contain %s, which only the config file may set; ignoring %s",
            path,
            ", ".join(dropped),
            "them" if len(dropped) > 1 else "it",
        )
    return kept


# --------------------------------------------------------------------------- status redaction

_URI = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s'\",;()\]]*")
_QUOTED_PATH = re.compile(r"(['\"])[^'\"]*/[^'\"]*\1")
_PATH = re.compile(r"(?<![\w.:/])(?:~|\.{1,2})?/[^\s'\",;()\]]+")
HIDDEN = "(hidden)"


def redact(message: str | None) -> str | None:
    """A pipeline message without the paths and addresses it names: the panel needs the
    reason (camera unavailable, model file missing), the journal keeps the details."""
    if message is None:
        return None
    text = _QUOTED_PATH.sub(HIDDEN, message)
    text = _URI.sub(HIDDEN, text)
    return _PATH.sub(HIDDEN, text)


def source_kind(uri: str) -> str:
    """The scheme of a source or output URI (v4l2, csi, rtsp, file, image, demo, mjpeg, ...)."""
    scheme, sep, rest = uri.partition("://")
    if not sep:
        return "v4l2" if rest.startswith("/dev/video") or uri.startswith("/dev/video") else "file"
    return scheme.lower()
