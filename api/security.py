"""Panel login: the argon2 password hash, in-memory sessions and the failed-login rate limit."""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections import deque
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from api.state import write_atomic
from convert.errors import UserError

log = logging.getLogger(__name__)

SESSION_COOKIE = "bodypix_session"
MIN_PASSWORD_LENGTH = 8


class PasswordStore:
    """One admin password, stored as an argon2id hash (file mode 0600) in the state directory."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._hasher = PasswordHasher()

    def is_set(self) -> bool:
        return self.path.is_file() and self.path.stat().st_size > 0

    def set(self, password: str) -> None:
        if len(password) < MIN_PASSWORD_LENGTH:
            raise UserError(
                f"The password is too short ({len(password)} characters); "
                f"use at least {MIN_PASSWORD_LENGTH}."
            )
        write_atomic(self.path, (self._hasher.hash(password) + "\n").encode(), mode=0o600)

    def verify(self, password: str) -> bool:
        try:
            stored = self.path.read_text(encoding="utf-8").strip()
        except OSError:
            return False
        try:
            ok = self._hasher.verify(stored, password)
        except VerifyMismatchError:
            return False
        except (VerificationError, InvalidHashError) as exc:
            log.error(
                "password hash in %s is unusable (%s); run `bodypix set-password`", self.path, exc
            )
            return False
        if ok and self._hasher.check_needs_rehash(stored):
            self.set(password)  # argon2 parameters were raised since it was stored
        return bool(ok)

    def ensure(self) -> str | None:
        """Generate a password when none is set; returns it (to show once) or None."""
        if self.is_set():
            return None
        password = secrets.token_urlsafe(12)
        self.set(password)
        return password


class SessionStore:
    """Random session tokens in memory: a restart logs everybody out, which is acceptable."""

    def __init__(self, ttl_s: float = 12 * 3600, max_sessions: int = 64) -> None:
        self.ttl_s = ttl_s
        self.max_sessions = max_sessions
        self._sessions: dict[str, float] = {}  # token -> expiry (monotonic)
        self._lock = threading.Lock()

    def create(self) -> str:
        token = secrets.token_urlsafe(32)
        now = time.monotonic()
        with self._lock:
            self._expire(now)
            if len(self._sessions) >= self.max_sessions:  # drop the oldest
                oldest = min(self._sessions, key=self._sessions.__getitem__)
                del self._sessions[oldest]
            self._sessions[token] = now + self.ttl_s
        return token

    def valid(self, token: str | None) -> bool:
        if not token:
            return False
        now = time.monotonic()
        with self._lock:
            expiry = self._sessions.get(token)
            if expiry is None:
                return False
            if expiry < now:
                del self._sessions[token]
                return False
            return True

    def revoke(self, token: str | None) -> None:
        with self._lock:
            self._sessions.pop(token or "", None)

    def _expire(self, now: float) -> None:
        for token in [t for t, expiry in self._sessions.items() if expiry < now]:
            del self._sessions[token]


class LoginRateLimiter:
    """At most `attempts` failed logins per client in `window_s`, and a global cap for
    attackers that rotate addresses; a success does not reset the global window."""

    def __init__(
        self, attempts: int = 5, window_s: float = 60.0, global_attempts: int = 30
    ) -> None:
        self.attempts = attempts
        self.window_s = window_s
        self.global_attempts = global_attempts
        self._failures: dict[str, deque[float]] = {}
        self._global: deque[float] = deque()
        self._lock = threading.Lock()

    def retry_after(self, client: str) -> float:
        """Seconds the client must wait before trying again; 0 when it may try now."""
        now = time.monotonic()
        with self._lock:
            self._prune(now)
            waits = [0.0]
            mine = self._failures.get(client)
            if mine is not None and len(mine) >= self.attempts:
                waits.append(mine[0] + self.window_s - now)
            if len(self._global) >= self.global_attempts:
                waits.append(self._global[0] + self.window_s - now)
            return max(waits)

    def failed(self, client: str) -> None:
        now = time.monotonic()
        with self._lock:
            self._failures.setdefault(client, deque()).append(now)
            self._global.append(now)

    def succeeded(self, client: str) -> None:
        with self._lock:
            self._failures.pop(client, None)

    def _prune(self, now: float) -> None:
        horizon = now - self.window_s
        for client in list(self._failures):
            times = self._failures[client]
            while times and times[0] < horizon:
                times.popleft()
            if not times:
                del self._failures[client]
        while self._global and self._global[0] < horizon:
            self._global.popleft()
