"""The panel's service object: settings (validated, applied, persisted), library and login.

The panel's settings name a library background and a discovered camera by id; the pipeline
receives runtime settings with the ids replaced by the stored file's path and the camera's URI,
so no client-supplied path, device or address ever reaches it (see api.boundary).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from pydantic import ValidationError

from api.backgrounds import BackgroundLibrary, UploadLimits
from api.boundary import PanelSettingsBase, redact, source_kind
from api.boundary import runtime_settings as boundary_runtime_settings
from api.cameras import Discover, DiscoveredCamera, discover_cameras
from api.errors import Conflict, NotFound, NotSaved, PanelError
from api.security import LoginRateLimiter, PasswordChecks, PasswordStore, SessionStore
from api.state import StateDir
from core.errors import UserError
from runtime.outputs.mjpeg import MjpegOutput
from runtime.pipeline import PipelineStatus
from runtime.settings import Settings

log = logging.getLogger(__name__)
CAMERAS_TTL_S = 2.0


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
    login_attempts: int = 5  # attempts (failed or being checked) per client address per window
    login_window_s: float = 60.0
    cameras: Discover = discover_cameras


class Panel:
    """Everything the routers act on; thread-safe.

    `settings` is the panel's view (`api.boundary.PanelSettings`: no source, no outputs); the
    pipeline runs `runtime_settings(settings)`: the config's source and outputs (or the URI of
    the discovered camera picked by id), the panel's fields, a library id made a stored path.
    """

    def __init__(self, options: PanelOptions, pipeline: PipelineLike | None = None) -> None:
        self.options = options
        self.state = options.state_dir
        self.base_settings = options.base_settings
        self.library = BackgroundLibrary(self.state.backgrounds, options.upload_limits)
        self.library.ensure_builtins()
        self.passwords = PasswordStore(self.state.password_file)
        self.passwords.set_aside_if_corrupt()  # then `serve` generates one, as when none is set
        self.password_checks = PasswordChecks()
        self.sessions = SessionStore(ttl_s=options.session_ttl_s)
        self.login_limiter = LoginRateLimiter(options.login_attempts, options.login_window_s)
        self.previews = PreviewSlots(options.max_preview_streams)
        self._lock = threading.Lock()
        self._cameras_lock = threading.Lock()
        self._cameras: tuple[float, list[DiscoveredCamera]] | None = None
        self._settings = self._initial_settings()
        self._pipeline = pipeline

    @property
    def settings(self) -> PanelSettingsBase:
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

    def cameras(self) -> list[DiscoveredCamera]:
        """Discovered cameras, asked again at most every CAMERAS_TTL_S (status polls call it)."""
        now = time.monotonic()
        with self._cameras_lock:
            if self._cameras is None or now - self._cameras[0] > CAMERAS_TTL_S:
                try:
                    found = self.options.cameras()
                except OSError as exc:  # /dev unreadable: no choice, the configured camera runs
                    log.warning("camera discovery failed: %s", exc)
                    found = []
                self._cameras = (now, found)
            return list(self._cameras[1])

    def camera(self, camera_id: str) -> DiscoveredCamera:
        for camera in self.cameras():
            if camera.id == camera_id:
                return camera
        raise NotFound(
            f"There is no camera {camera_id!r} (unplugged?); choose one listed by GET /api/cameras."
        )

    def camera_label(self) -> str:
        """What the panel shows for the running source: a discovered camera's name, else the
        kind of the configured source (never its path or address)."""
        if self._settings.camera is not None:
            for camera in self.cameras():
                if camera.id == self._settings.camera:
                    return camera.label
        return self.configured_label()

    def configured_label(self) -> str:
        return f"configured source ({source_kind(self.base_settings.source)})"

    def runtime_settings(self, settings: PanelSettingsBase) -> Settings:
        """What the pipeline runs: base + the panel's fields, the camera picked by id, a
        library id replaced by the path of the stored file."""
        source = None
        if settings.camera is not None:
            try:
                source = self.camera(settings.camera).uri
            except NotFound:
                log.warning("camera %s is gone; using the configured source", settings.camera)
        resolved = boundary_runtime_settings(settings, self.base_settings, source)
        if self.library.is_id(resolved.background):
            try:
                path = self.library.media_path(resolved.background or "")
            except PanelError:
                log.warning("background %s is no longer in the library", resolved.background)
                return resolved.model_copy(update={"background": None})
            return resolved.model_copy(update={"background": str(path)})
        return resolved

    def update_settings(self, new: PanelSettingsBase) -> PanelSettingsBase:
        """Validate against the library and cameras, apply between frames, persist; returns
        what applies."""
        with self._lock:
            self._check(new)
            try:
                resolved = self.runtime_settings(new)
            except ValidationError as exc:  # a rule across panel and config fields
                first = exc.errors()[0]
                field = ".".join(str(p) for p in first["loc"]) or "settings"
                raise PanelError(
                    f"{field}: {first['msg']}; choose another value or ask the admin to change "
                    "the config file."
                ) from None
            if self._pipeline is not None:
                try:
                    self._pipeline.apply_settings(resolved)
                except UserError as exc:
                    raise PanelError(redact(str(exc)) or "") from None
            self._settings = new
            try:
                self.state.save_settings(new, self.base_settings)
            except OSError as exc:
                raise NotSaved(
                    "The settings apply now but could not be saved in the state directory "
                    f"({exc.strerror}); free some space there or they are lost at restart."
                ) from None
            return new

    def reload_base(self, base: Settings) -> PanelSettingsBase:
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

    def _check(self, new: PanelSettingsBase) -> None:
        if new.camera is not None and new.camera != self._settings.camera:
            self.camera(new.camera)  # NotFound unless discovered now
        value = new.background
        if value is not None and value != self._settings.background:
            if not self.library.is_id(value):
                raise PanelError(
                    f"Background {value!r} is not a library id; choose a background from the "
                    "library or upload one."
                )
            self.library.get(value)  # NotFound when it was deleted meanwhile
        if new.effect == "replace" and value is None and not self.base_settings.background:
            raise PanelError(
                "The 'replace' effect needs a background; choose one from the library first."
            )

    def _check_saved(self, saved: PanelSettingsBase) -> None:
        """A saved background must be a library id (the panel never stores anything else)."""
        value = saved.background
        if value is not None and not self.library.is_id(value):
            raise ValueError(f"background {value!r} is not a library id")

    def _initial_settings(self) -> PanelSettingsBase:
        settings = self.state.load_settings(self.base_settings, self._check_saved)
        if self.library.is_id(settings.background):
            try:
                self.library.get(settings.background or "")
            except PanelError:
                log.warning("saved background %s is gone; using blur", settings.background)
                fallback = "blur" if settings.effect == "replace" else settings.effect
                settings = settings.model_copy(update={"background": None, "effect": fallback})
        if settings.camera is not None and all(c.id != settings.camera for c in self.cameras()):
            log.warning(
                "saved camera %s is not connected; using the configured source", settings.camera
            )
        return settings


class PreviewSlots:
    """The preview viewer cap, counted atomically when a stream is accepted (not when its
    first frame is sent), so simultaneous requests cannot all pass the check."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._open = 0
        self._lock = threading.Lock()

    @property
    def open(self) -> int:
        return self._open

    def acquire(self) -> Callable[[], None] | None:
        """A release function (idempotent) for an accepted viewer, None when all are taken."""
        with self._lock:
            if self._open >= self.limit:
                return None
            self._open += 1
        released = threading.Event()

        def release() -> None:
            with self._lock:
                if not released.is_set():
                    released.set()
                    self._open -= 1

        return release
