"""The appliance configuration: one TOML file, environment variables and flags over it.

Precedence, lowest first: the settings model's defaults, the TOML file (default
/etc/bodypix-appliance/config.toml, or $BODYPIX_CONFIG, or --config), environment variables
named BODYPIX_<KEY> (nested keys with a double underscore: BODYPIX_MASK__OPACITY; lists
comma-separated: BODYPIX_OUTPUTS=mjpeg://,v4l2loopback:///dev/video10, or a JSON array),
command-line flags. Everything is validated by runtime.settings.Settings; a bad value is
reported with the key, where it came from and the allowed values.

The layering is pydantic-settings': a TOML source, an environment source (prefix, nested
delimiter) and the flags as init values, in the priority order `settings_customise_sources`
gives. `Settings` itself stays a plain model (the panel validates requests and settings.json
with it, and those must never pick up the environment): the settings class that reads the
sources exists only inside `load_settings`.
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
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from core.errors import UserError
from runtime.settings import Settings

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10 (JetPack 6)
    import tomli as tomllib  # type: ignore[import-not-found]

DEFAULT_CONFIG_PATH = Path("/etc/bodypix-appliance/config.toml")
CONFIG_ENV = "BODYPIX_CONFIG"
ENV_PREFIX = "BODYPIX_"
NESTED_DELIMITER = "__"


def config_path(explicit: str | Path | None, environ: Mapping[str, str] | None = None) -> Path:
    """The file to read: --config, else $BODYPIX_CONFIG, else the default."""
    environ = os.environ if environ is None else environ
    if explicit:
        return Path(explicit)
    return Path(environ[CONFIG_ENV]) if environ.get(CONFIG_ENV) else DEFAULT_CONFIG_PATH


def _is_sequence(annotation: Any) -> bool:
    origin = typing.get_origin(annotation)
    if origin in (list, tuple):
        return True
    return any(_is_sequence(arg) for arg in typing.get_args(annotation) if arg is not type(None))


def _submodel(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


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


# --- the sources; each also says where a dotted key came from, for error messages ------------


class _ConfigFile(TomlConfigSettingsSource):
    """The TOML file; a missing one is an error only when it was asked for by name."""

    def __init__(self, settings_cls: type[BaseSettings], path: Path, required: bool) -> None:
        self.path = path
        if not path.exists():
            if required:
                raise UserError(
                    f"Config file {path} does not exist; create it (see README, section pipeline) or drop --config."
                )
        elif not path.is_file():
            # pydantic-settings would skip it silently: a folder where the file should be is a mistake.
            raise UserError(
                f"Config file {path} cannot be read (IsADirectoryError); make it a UTF-8 text file readable by the service user."
            )
        super().__init__(settings_cls, toml_file=path)

    def _read_file(self, file_path: Any) -> dict[str, Any]:
        try:
            return super()._read_file(file_path)
        except (PermissionError, UnicodeDecodeError) as exc:
            raise UserError(
                f"Config file {self.path} cannot be read ({exc.__class__.__name__}); make it a UTF-8 text file readable by the service user."
            ) from None
        except tomllib.TOMLDecodeError as exc:
            raise UserError(
                f"Config file {self.path} is not valid TOML ({exc}); fix that line."
            ) from None

    def origin(self, key: str) -> str:
        return f"config file {self.path}"


class _Environment(EnvSettingsSource):
    """BODYPIX_<KEY> variables from `environ`; lists comma-separated (or a JSON array).

    Other BODYPIX_ variables (BODYPIX_MODEL_MIRROR, ...) belong to other parts and are skipped:
    only the settings' own names are looked up. Names match case-insensitively.
    """

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]) -> None:
        self._environ = environ
        super().__init__(
            settings_cls,
            case_sensitive=False,
            env_prefix=ENV_PREFIX,
            env_nested_delimiter=NESTED_DELIMITER,
        )

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return {name.lower(): value for name, value in self._environ.items()}

    def decode_complex_value(self, field_name: str, field: FieldInfo, value: Any) -> Any:
        # pydantic-settings reads lists as JSON only; URIs never start with '[', so a value that
        # does not is the documented comma-separated form.
        if (
            field is not None
            and _is_sequence(field.annotation)
            and isinstance(value, str)
            and not value.lstrip().startswith("[")
        ):
            return [item.strip() for item in value.split(",") if item.strip()]
        return super().decode_complex_value(field_name, field, value)

    def prepare_field_value(
        self, field_name: str, field: FieldInfo, value: Any, value_is_complex: bool
    ) -> Any:
        try:
            return super().prepare_field_value(field_name, field, value, value_is_complex)
        except ValueError as exc:  # json.JSONDecodeError of a list or a nested table
            name = ENV_PREFIX + field_name.upper()
            given = [v for v in self._environ if v.upper().startswith(name)]
            raise UserError(
                f"Environment variable {' or '.join(sorted(given)) or name} cannot be read ({exc}); write lists comma-separated (a,b) or as a JSON array, and nested keys one by one ({name}{NESTED_DELIMITER}KEY=value)."
            ) from None

    def origin(self, key: str) -> str:
        # mask.opacity came from BODYPIX_MASK__OPACITY, or from a JSON BODYPIX_MASK.
        parts = key.upper().split(".")
        by_upper = {name.upper(): name for name in self._environ}
        for end in range(len(parts), 0, -1):
            name = ENV_PREFIX + NESTED_DELIMITER.join(parts[:end])
            if name in by_upper:
                return f"environment variable {by_upper[name]}"
        return "the environment"


def _flag_origin(key: str) -> str:
    return f"option --{key.replace('_', '-')}"


def _origins(
    sources: tuple[PydanticBaseSettingsSource, ...],
) -> tuple[dict[str, Any], dict[str, str]]:
    """The merged values by dotted key and the source each came from (highest priority wins)."""
    values: dict[str, Any] = {}
    origin: dict[str, str] = {}
    for source in reversed(sources):
        # The init values (pydantic-settings' own InitSettingsSource) are the flags.
        describe = getattr(source, "origin", _flag_origin)
        for key, value in _flatten(source()).items():
            values[key], origin[key] = value, describe(key)
    return values, origin


def load_settings(
    path: str | Path | None = None,
    overrides: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Settings from the config file, the environment and `overrides` (flags; None = unset).

    `overrides` keys are field names, dotted for nested ones ("mask.opacity").
    """
    env: Mapping[str, str] = os.environ if environ is None else environ
    file = config_path(path, env)
    required = bool(path) or bool(env.get(CONFIG_ENV))
    flags = _nest({key: value for key, value in (overrides or {}).items() if value is not None})
    used: list[tuple[PydanticBaseSettingsSource, ...]] = []

    # Built per call: the file and the environment are this call's, and nothing is cached.
    class Layered(BaseSettings, Settings):
        # Keys in the file and flags are exact; environment names match case-insensitively.
        model_config = SettingsConfigDict(case_sensitive=True)

        @classmethod
        def settings_customise_sources(
            cls,
            settings_cls: type[BaseSettings],
            init_settings: PydanticBaseSettingsSource,
            env_settings: PydanticBaseSettingsSource,
            dotenv_settings: PydanticBaseSettingsSource,
            file_secret_settings: PydanticBaseSettingsSource,
        ) -> tuple[PydanticBaseSettingsSource, ...]:
            # Highest priority first: flags (the init values), then the environment, the file.
            sources = (
                init_settings,
                _Environment(settings_cls, env),
                _ConfigFile(settings_cls, file, required),
            )
            used.append(sources)
            return sources

    try:
        loaded = Layered(**flags)
    except ValidationError as exc:
        values, origin = _origins(used[-1]) if used else ({}, {})
        raise UserError(describe_validation_error(exc, origin, values)) from None
    # A plain Settings, as everywhere else (the panel compares and persists it).
    return Settings.model_validate(loaded.model_dump(exclude_unset=True))


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
