"""The appliance configuration: one TOML file, environment variables and flags over it.

Precedence, lowest first: the settings model's defaults, the TOML file (default
/etc/bodypix-appliance/config.toml, or $BODYPIX_CONFIG, or --config), environment variables
named BODYPIX_<KEY> (nested keys with a double underscore: BODYPIX_MASK__OPACITY; lists
comma-separated: BODYPIX_OUTPUTS=mjpeg://,v4l2loopback:///dev/video10), command-line flags.
Everything is validated by runtime.settings.Settings; a bad value is reported with the key,
where it came from and the allowed values.
"""

from __future__ import annotations

import difflib
import os
import sys
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from convert.errors import UserError
from runtime.settings import Settings

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10 (JetPack 6)
    import tomli as tomllib  # type: ignore[import-not-found]

DEFAULT_CONFIG_PATH = Path("/etc/bodypix-appliance/config.toml")
CONFIG_ENV = "BODYPIX_CONFIG"
ENV_PREFIX = "BODYPIX_"


def config_path(explicit: str | Path | None, environ: Mapping[str, str] | None = None) -> Path:
    """The file to read: --config, else $BODYPIX_CONFIG, else the default."""
    environ = os.environ if environ is None else environ
    if explicit:
        return Path(explicit)
    return Path(environ[CONFIG_ENV]) if environ.get(CONFIG_ENV) else DEFAULT_CONFIG_PATH


def read_config_file(path: Path, required: bool) -> dict[str, Any]:
    """The TOML table in `path`; {} when it is missing and not required."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        if required:
            raise UserError(
                f"Config file {path} does not exist; create it (see README, section pipeline) or drop --config."
            ) from None
        return {}
    except (PermissionError, IsADirectoryError, UnicodeDecodeError) as exc:
        raise UserError(
            f"Config file {path} cannot be read ({exc.__class__.__name__}); make it a UTF-8 text file readable by the service user."
        ) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"Config file {path} is not valid TOML ({exc}); fix that line.") from None


def _field_types(model: type[BaseModel]) -> dict[str, Any]:
    return {name: info.annotation for name, info in model.model_fields.items()}


def _is_sequence(annotation: Any) -> bool:
    origin = typing.get_origin(annotation)
    if origin in (list, tuple):
        return True
    return any(_is_sequence(arg) for arg in typing.get_args(annotation) if arg is not type(None))


def _submodel(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


def env_overrides(environ: Mapping[str, str] | None = None) -> dict[str, tuple[Any, str]]:
    """Settings from BODYPIX_<KEY> variables, as {dotted key: (value, variable name)}.

    Other BODYPIX_ variables (BODYPIX_MODEL_MIRROR, ...) belong to other parts and are skipped.
    """
    environ = os.environ if environ is None else environ
    found: dict[str, tuple[Any, str]] = {}
    fields = _field_types(Settings)
    for var, raw in environ.items():
        if not var.startswith(ENV_PREFIX) or var == CONFIG_ENV:
            continue
        parts = var[len(ENV_PREFIX) :].lower().split("__")
        annotation = fields.get(parts[0])
        if annotation is None:
            continue
        if len(parts) == 2:
            sub = _submodel(annotation)
            if sub is None or parts[1] not in sub.model_fields:
                continue
            annotation = sub.model_fields[parts[1]].annotation
        elif len(parts) != 1 or _submodel(annotation) is not None:
            continue
        value: Any = raw
        if _is_sequence(annotation):
            value = [item.strip() for item in raw.split(",") if item.strip()]
        found[".".join(parts)] = (value, var)
    return found


def _flatten(table: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in table.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(_flatten(value, dotted + "."))
        else:
            flat[dotted] = value
    return flat


def _nest(flat: Mapping[str, Any]) -> dict[str, Any]:
    nested: dict[str, Any] = {}
    for dotted, value in flat.items():
        head, *rest = dotted.split(".")
        target = nested
        for part in rest:
            target = target.setdefault(head, {})
            head = part
        target[head] = value
    return nested


def load_settings(
    path: str | Path | None = None,
    overrides: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Settings from the config file, the environment and `overrides` (flags; None = unset).

    `overrides` keys are field names, dotted for nested ones ("mask.opacity").
    """
    environ = os.environ if environ is None else environ
    file = config_path(path, environ)
    required = bool(path) or bool(environ.get(CONFIG_ENV))
    values: dict[str, Any] = {}
    origin: dict[str, str] = {}
    for key, value in _flatten(read_config_file(file, required)).items():
        values[key], origin[key] = value, f"config file {file}"
    for key, (value, var) in env_overrides(environ).items():
        values[key], origin[key] = value, f"environment variable {var}"
    for key, value in (overrides or {}).items():
        if value is not None:
            values[key], origin[key] = value, f"option --{key.replace('_', '-')}"
    try:
        return Settings.model_validate(_nest(values))
    except ValidationError as exc:
        raise UserError(describe_validation_error(exc, origin, values)) from None


def _error_key(error: Any, values: Mapping[str, Any]) -> list[str]:
    loc = [str(part) for part in error["loc"] if not isinstance(part, int)]
    # A union (internal_resolution) reports one error per member: name the field, not the member.
    while len(loc) > 1 and ".".join(loc) not in values and ".".join(loc[:-1]) in values:
        loc = loc[:-1]
    return loc


def describe_validation_error(
    exc: ValidationError,
    origin: Mapping[str, str] | None = None,
    values: Mapping[str, Any] | None = None,
) -> str:
    """One sentence for the first problem: the key, where it came from, and what is allowed."""
    origin = origin or {}
    values = values or {}
    errors = exc.errors()
    loc = _error_key(errors[0], values)
    key = ".".join(loc)
    where = origin.get(key) or next(
        (o for k, o in origin.items() if k.startswith(key + ".")), "the settings"
    )
    if errors[0]["type"] == "extra_forbidden":
        model: type[BaseModel] = Settings
        for part in loc[:-1]:
            sub = (
                _submodel(model.model_fields[part].annotation)
                if part in model.model_fields
                else None
            )
            if sub is None:
                break
            model = sub
        allowed = sorted(model.model_fields)
        close = difflib.get_close_matches(loc[-1], allowed, n=1)
        hint = f"did you mean '{close[0]}'? " if close else ""
        return f"Unknown key '{key}' in {where}; {hint}allowed keys: {', '.join(allowed)}."
    given = values.get(key, errors[0].get("input"))
    messages: list[str] = []
    for error in errors:
        message = str(error["msg"])
        if _error_key(error, values) == loc and message not in messages:
            messages.append(message)
    return f"Key '{key}' in {where} has the invalid value {given!r}: {' or '.join(messages)}."
