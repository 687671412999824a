"""The state directory: saved settings, the password hash and the background library.

Settings are saved as the difference from the base settings (config file, environment,
defaults), so a later edit of the config file still takes effect for every field the panel
never changed. Every write is atomic (core.atomic.write_atomic).
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from api.boundary import PanelSettings, PanelSettingsBase, panel_view, saved_changes
from core.atomic import write_atomic
from core.errors import UserError
from runtime.settings import Settings

log = logging.getLogger(__name__)

SYSTEM_STATE_DIR = Path("/var/lib/bodypix-appliance")
SETTINGS_FILE = "settings.json"
PASSWORD_FILE = "password.argon2"
BACKGROUNDS_DIR = "backgrounds"


def default_state_dir() -> Path:
    """/var/lib/bodypix-appliance when writable (the installed service), else a per-user dir."""
    if SYSTEM_STATE_DIR.is_dir() and os.access(SYSTEM_STATE_DIR, os.W_OK | os.X_OK):
        return SYSTEM_STATE_DIR
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "bodypix-appliance"


class StateDir:
    """Paths inside the state directory, created on first use."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root).expanduser()
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            self.backgrounds.mkdir(exist_ok=True)
        except OSError as exc:
            raise UserError(
                f"State directory {self.root} cannot be created ({exc.strerror}); "
                "pass a writable one with --state-dir."
            ) from None
        if not os.access(self.root, os.W_OK):
            raise UserError(
                f"State directory {self.root} is not writable; pass a writable one with --state-dir."
            )

    @property
    def settings_file(self) -> Path:
        return self.root / SETTINGS_FILE

    @property
    def password_file(self) -> Path:
        return self.root / PASSWORD_FILE

    @property
    def backgrounds(self) -> Path:
        return self.root / BACKGROUNDS_DIR

    def load_settings(
        self, base: Settings, check: Callable[[PanelSettingsBase], None] | None = None
    ) -> PanelSettingsBase:
        """The panel's settings: `base` with the saved panel changes on top. Keys only the config
        file may set are ignored with a warning; an unreadable file, or one with a value that
        does not validate (or that `check` refuses with a ValueError), is moved aside."""
        path = self.settings_file
        view = panel_view(base)
        if not path.exists():
            return view
        try:
            saved = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(saved, dict):
                raise ValueError("not a JSON object")
            saved = saved_changes(saved, str(path))
            settings = PanelSettings.model_validate(view.model_dump() | saved)
            if check is not None:
                check(settings)
            return settings
        except (OSError, UnicodeDecodeError, ValueError, ValidationError, UserError) as exc:
            self._set_aside(path, exc)
            return view

    def save_settings(self, settings: PanelSettingsBase, base: Settings) -> None:
        """Persist the panel fields of `settings` that differ from `base` (never a config-only
        field: the panel model has none)."""
        current: dict[str, Any] = settings.model_dump(mode="json")
        defaults: dict[str, Any] = panel_view(base).model_dump(mode="json")
        changed = {k: v for k, v in current.items() if defaults.get(k) != v}
        text = json.dumps(changed, indent=2, sort_keys=True) + "\n"
        write_atomic(self.settings_file, text.encode("utf-8"))

    def _set_aside(self, path: Path, exc: BaseException) -> Path:
        aside = path.with_name(f"{path.name}.corrupt-{time.strftime('%Y%m%d-%H%M%S')}")
        try:
            os.replace(path, aside)
        except OSError:
            aside = path
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if isinstance(exc, ValidationError):
            reason = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'value'}: {e['msg']}"
                for e in exc.errors()[:3]
            )
        log.warning(
            "saved settings %s are unreadable (%s); moved to %s, using the defaults",
            path,
            reason,
            aside.name,
        )
        return aside
