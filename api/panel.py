"""The panel's service object: settings (validated, applied, persisted), library and login.

The panel's settings name a library background by id; the pipeline receives the same settings
with that id replaced by the stored file's path, so no client-supplied path ever reaches it.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import Protocol

from api.backgrounds import BackgroundLibrary, UploadLimits
from api.errors import Conflict, NotSaved, PanelError
from api.security import LoginRateLimiter, PasswordStore, SessionStore
from api.state import StateDir
from convert.errors import UserError
from runtime.outputs.mjpeg import MjpegOutput
from runtime.pipeline import PipelineStatus
from runtime.settings import Settings
from runtime.sources.uri import parse_output_uri, parse_source_uri

log = logging.getLogger(__name__)


class PipelineLike(Protocol):
    """What the panel uses of runtime.pipeline.Pipeline."""

    mjpeg: MjpegOutput

    @property
    def settings(self) -> Settings: ...
    def start(self) -> None: ...
    def stop(self, timeout: float = 2.0) -> None: ...
    def apply_settings(self, settings: Settings) -> None: ...
    def status(self) -> PipelineStatus: ...


@dataclass
class PanelOptions:
    state_dir: StateDir
    base_settings: Settings = field(default_factory=lambda: Settings.model_validate({}))
    upload_limits: UploadLimits = field(default_factory=UploadLimits)
    session_ttl_s: float = 12 * 3600
    max_preview_streams: int = 4
    login_attempts: int = 5  # failed logins per client address per window
    login_window_s: float = 60.0


class Panel:
    """Everything the routers act on; thread-safe."""

    def __init__(self, options: PanelOptions, pipeline: PipelineLike | None = None) -> None:
        self.options = options
        self.state = options.state_dir
        self.base_settings = options.base_settings
        self.library = BackgroundLibrary(self.state.backgrounds, options.upload_limits)
        self.library.ensure_builtins()
        self.passwords = PasswordStore(self.state.password_file)
        self.sessions = SessionStore(ttl_s=options.session_ttl_s)
        self.login_limiter = LoginRateLimiter(options.login_attempts, options.login_window_s)
        self._lock = threading.Lock()
        self._settings = self._initial_settings()
        self._pipeline = pipeline
        self.preview_streams = 0

    @property
    def settings(self) -> Settings:
        return self._settings

    @property
    def pipeline(self) -> PipelineLike:
        if self._pipeline is None:
            raise RuntimeError("the pipeline is created when the app starts")
        return self._pipeline

    def create_pipeline(self) -> PipelineLike:
        """The live pipeline for the current settings (systemd READY comes from the pipeline)."""
        if self._pipeline is None:
            from runtime.pipeline import Pipeline
            from runtime.systemd_notify import SystemdNotifier

            self._pipeline = Pipeline(
                self.runtime_settings(self._settings), notifier=SystemdNotifier()
            )
        return self._pipeline

    def runtime_settings(self, settings: Settings) -> Settings:
        """`settings` with a library id replaced by the path of the stored file."""
        if self.library.is_id(settings.background):
            try:
                path = self.library.media_path(settings.background or "")
            except PanelError:
                log.warning("background %s is no longer in the library", settings.background)
                return settings.model_copy(update={"background": None})
            return settings.model_copy(update={"background": str(path)})
        return settings

    def update_settings(self, new: Settings) -> Settings:
        """Validate against the library, apply between frames, persist; returns what applies."""
        with self._lock:
            self._check(new)
            resolved = self.runtime_settings(new)
            if self._pipeline is not None:
                try:
                    self._pipeline.apply_settings(resolved)
                except UserError as exc:
                    raise PanelError(str(exc)) from None
            self._settings = new
            try:
                self.state.save_settings(new, self.base_settings)
            except OSError as exc:
                raise NotSaved(
                    f"The settings apply now but could not be saved in {self.state.root} "
                    f"({exc.strerror}); free some space there or they are lost at restart."
                ) from None
            return new

    def reload_base(self, base: Settings) -> Settings:
        """New base settings (config file re-read on SIGHUP), the panel's changes on top."""
        with self._lock:
            self.base_settings = base
            settings = self._initial_settings()
            if self._pipeline is not None:
                try:
                    self._pipeline.apply_settings(self.runtime_settings(settings))
                except UserError as exc:
                    raise PanelError(str(exc)) from None
            self._settings = settings
            return settings

    def delete_background(self, background_id: str) -> None:
        with self._lock:
            entry = self.library.get(background_id)
            if self._settings.background == entry.id:
                raise Conflict(
                    f"{entry.name!r} is the selected background; select another one before deleting it."
                )
            self.library.delete(entry.id)

    def _check(self, new: Settings) -> None:
        try:  # also checked by the pipeline; here so a bad URI is refused before anything else
            parse_source_uri(new.source)
            for uri in new.outputs:
                parse_output_uri(uri)
        except UserError as exc:
            raise PanelError(str(exc)) from None
        value = new.background
        if value is not None and value != self._settings.background:
            if not self.library.is_id(value):
                raise PanelError(
                    f"Background {value!r} is not a library id; choose a background from the "
                    "library or upload one."
                )
            self.library.get(value)  # NotFound when it was deleted meanwhile
        if new.effect == "replace" and value is None:
            raise PanelError(
                "The 'replace' effect needs a background; choose one from the library first."
            )

    def _initial_settings(self) -> Settings:
        settings = self.state.load_settings(self.base_settings)
        if self.library.is_id(settings.background):
            try:
                self.library.get(settings.background or "")
            except PanelError:
                log.warning("saved background %s is gone; using blur", settings.background)
                fallback = "blur" if settings.effect == "replace" else settings.effect
                settings = settings.model_copy(update={"background": None, "effect": fallback})
        return settings
