"""TOML config < environment < flags, validated by the settings model with clear messages."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import BaseModel

from core.errors import UserError
from runtime.config import DEFAULT_CONFIG_PATH, config_path, load_settings
from runtime.settings import Settings

CONFIG = """
source = "file://clip.mp4"
outputs = ["mjpeg://", "file://out.mp4"]
width = 640
height = 480
effect = "mask"

[mask]
opacity = 0.5
"""


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(CONFIG)
    return path


def test_file_values(config: Path) -> None:
    settings = load_settings(config, environ={})
    assert settings.source == "file://clip.mp4"
    assert settings.outputs == ["mjpeg://", "file://out.mp4"]
    assert (settings.width, settings.height, settings.effect) == (640, 480, "mask")
    assert settings.mask.opacity == 0.5
    assert settings.fps == 30.0  # untouched keys keep the model's defaults


def test_precedence_env_over_file_flags_over_env(config: Path) -> None:
    environ = {
        "BODYPIX_WIDTH": "320",
        "BODYPIX_EFFECT": "blur",
        "BODYPIX_MASK__OPACITY": "0.25",
        "BODYPIX_OUTPUTS": "mjpeg://, v4l2loopback:///dev/video10",
        "BODYPIX_MODEL_MIRROR": "/somewhere",  # another part's variable: ignored
    }
    settings = load_settings(config, {"effect": "none", "height": None}, environ)
    assert settings.width == 320
    assert settings.height == 480  # None = flag not given
    assert settings.effect == "none"
    assert settings.mask.opacity == 0.25
    assert settings.outputs == ["mjpeg://", "v4l2loopback:///dev/video10"]


def test_config_path_resolution(tmp_path: Path) -> None:
    assert config_path(None, {}) == DEFAULT_CONFIG_PATH
    assert config_path(None, {"BODYPIX_CONFIG": str(tmp_path / "a.toml")}) == tmp_path / "a.toml"
    assert config_path(tmp_path / "b.toml", {"BODYPIX_CONFIG": "x"}) == tmp_path / "b.toml"


def test_missing_default_file_means_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No --config and no BODYPIX_CONFIG: the default file may be absent, defaults apply.
    monkeypatch.setattr("runtime.config.DEFAULT_CONFIG_PATH", tmp_path / "absent.toml")
    assert load_settings(None, environ={}) == Settings.model_validate({})


def test_missing_explicit_file(tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"does not exist; create it"):
        load_settings(tmp_path / "nope.toml", environ={})


def test_bad_toml(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text("effect = blur\n")
    with pytest.raises(UserError, match=r"is not valid TOML .*line 1"):
        load_settings(path, environ={})


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            'effect = "blurr"\n',
            r"Key 'effect' in config file .* invalid value 'blurr': Input should be 'blur', 'replace', 'mask', 'parts' or 'none'",
        ),
        ('efect = "blur"\n', r"Unknown key 'efect' .*did you mean 'effect'\? allowed keys: "),
        ("[mask]\nopacity = 3\n", r"Key 'mask.opacity' .* less than or equal to 1"),
        ("[mask]\nopasity = 1\n", r"Unknown key 'mask.opasity' .*did you mean 'opacity'"),
        (
            'internal_resolution = "huge"\n',
            r"Key 'internal_resolution' .* 'low', 'medium', 'high' or 'full' or .*number",
        ),
    ],
)
def test_invalid_file_names_key_and_allowed_values(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "c.toml"
    path.write_text(text)
    with pytest.raises(UserError, match=message):
        load_settings(path, environ={})


def test_invalid_env_names_the_variable(config: Path) -> None:
    with pytest.raises(UserError, match=r"environment variable BODYPIX_FPS"):
        load_settings(config, environ={"BODYPIX_FPS": "fast"})


def test_invalid_flag_names_the_option(config: Path) -> None:
    with pytest.raises(UserError, match=r"option --width"):
        load_settings(config, {"width": 3}, environ={})


def _env_text(value: object) -> str:
    """A default value as a user would write it in a BODYPIX_* variable."""
    if isinstance(value, list | tuple):
        return ",".join(str(item) for item in value)
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, dict):
        return json.dumps(value)
    return str(value)


def test_every_field_is_read_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Generic over the model: a field added to Settings is configurable without touching config.py.
    monkeypatch.setattr("runtime.config.DEFAULT_CONFIG_PATH", tmp_path / "absent.toml")
    defaults = Settings()
    environ: dict[str, str] = {}
    expected: dict[str, set[str]] = {"": set()}
    for name, value in defaults:
        if isinstance(value, BaseModel):
            expected[name] = set()
            for sub, sub_value in value:
                if sub_value is not None:
                    environ[f"BODYPIX_{name.upper()}__{sub.upper()}"] = _env_text(sub_value)
                    expected[name].add(sub)
        elif value is not None:
            environ[f"BODYPIX_{name.upper()}"] = _env_text(value)
            expected[""].add(name)
    settings = load_settings(None, environ=environ)
    assert settings == defaults  # every value parsed back to what it was
    assert expected[""] <= settings.model_fields_set  # and each came from its variable
    for name, subs in expected.items():
        if name:
            assert subs <= getattr(settings, name).model_fields_set


def test_env_lists_as_json_and_nested_tables(config: Path) -> None:
    settings = load_settings(
        config,
        environ={
            "BODYPIX_OUTPUTS": '["mjpeg://", "file://a,b.mp4"]',  # JSON when a comma is in a URI
            "BODYPIX_MASK__FOREGROUND_COLOR": "1, 2, 3, 4",
            "BODYPIX_PARTS": '{"face_blur": true}',
        },
    )
    assert settings.outputs == ["mjpeg://", "file://a,b.mp4"]
    assert settings.mask.foreground_color == (1, 2, 3, 4)
    assert settings.mask.opacity == 0.5  # the file's nested key survives a nested variable
    assert settings.parts.face_blur is True


def test_env_nested_typo_is_named(config: Path) -> None:
    with pytest.raises(
        UserError,
        match=r"Unknown key 'mask.opasity' in environment variable BODYPIX_MASK__OPASITY; did you mean 'opacity'",
    ):
        load_settings(config, environ={"BODYPIX_MASK__OPASITY": "0.5"})


def test_env_bad_json_names_the_variable(config: Path) -> None:
    with pytest.raises(UserError, match=r"Environment variable BODYPIX_MASK cannot be read .*"):
        load_settings(config, environ={"BODYPIX_MASK": "opacity=0.5"})
    with pytest.raises(
        UserError, match=r"Key 'mask.opacity' in environment variable BODYPIX_MASK "
    ):
        load_settings(config, environ={"BODYPIX_MASK": '{"opacity": 2}'})


def test_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"cannot be read \(IsADirectoryError\)"):
        load_settings(tmp_path, environ={})
    path = tmp_path / "latin1.toml"
    path.write_bytes(b'source = "caf\xe9"\n')
    with pytest.raises(UserError, match=r"cannot be read \(UnicodeDecodeError\)"):
        load_settings(path, environ={})


def test_settings_elsewhere_ignore_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    # The panel validates requests and settings.json with Settings: the environment must not leak in.
    monkeypatch.setenv("BODYPIX_EFFECT", "none")
    assert Settings().effect == "blur"
    assert Settings.model_validate({"width": 320}).effect == "blur"


def test_result_is_a_plain_settings(config: Path) -> None:
    assert type(load_settings(config, environ={})) is Settings


def test_nested_flags_win_and_are_named(config: Path) -> None:
    environ = {"BODYPIX_MASK__OPACITY": "0.9"}
    assert load_settings(config, {"mask.opacity": 0.2}, environ).mask.opacity == 0.2
    with pytest.raises(UserError, match=r"Key 'mask.opacity' in option --mask.opacity "):
        load_settings(config, {"mask.opacity": 2}, environ)
