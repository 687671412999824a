"""Panel login: the argon2 password hash, in-memory sessions, the login limits."""

from __future__ import annotations

import logging
import os
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path

from argon2 import PasswordHasher, extract_parameters
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from core.atomic import write_atomic
from core.errors import UserError

log = logging.getLogger(__name__)

SESSION_COOKIE = "bodypix_session"
MIN_PASSWORD_LENGTH = 8


# OWASP's argon2id minimum (19 MiB, 2 passes, 1 lane): ~50 ms on a 2-core x86 box, a little
# more on a Jetson, and 19 MiB per check; with PasswordChecks at most two run at once. Hashes
# stored with other parameters still verify and are rehashed on the next successful login.
ARGON2_TIME_COST, ARGON2_MEMORY_KIB, ARGON2_LANES = 2, 19 * 1024, 1


class PasswordStore:
    """One admin password, stored as an argon2id hash (file mode 0600) in the state directory."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._hasher = PasswordHasher(
            time_cost=ARGON2_TIME_COST, memory_cost=ARGON2_MEMORY_KIB, parallelism=ARGON2_LANES
        )

    def is_set(self) -> bool:
        return self.path.is_file() and self.path.stat().st_size > 0

    def set(self, password: str) -> None:
        if len(password) < MIN_PASSWORD_LENGTH:
            raise UserError(
                f"The password is too short ({len(password)} characters); "
                f"use at least {MIN_PASSWORD_LENGTH}."
            )
        write_atomic(self.path, (self._hasher.hash(password) + "\n").encode(), mode=0o600)

    def _stored(self) -> str | None:
        """The stored hash when it is one argon2 can use, else None."""
        try:
            stored = self.path.read_bytes().decode("ascii").strip()
            extract_parameters(stored)
        except (OSError, UnicodeDecodeError, InvalidHashError, ValueError):
            return None
        return stored

    def set_aside_if_corrupt(self) -> Path | None:
        """Move a hash file argon2 cannot use aside (a warning names both files), so the caller
        generates or asks for a password as when none is set; returns where it went."""
        if not self.is_set() or self._stored() is not None:
            return None
        aside = self.path.with_name(f"{self.path.name}.corrupt-{time.strftime('%Y%m%d-%H%M%S')}")
        try:
            os.replace(self.path, aside)
        except OSError as exc:
            log.warning(
                "password hash %s is unusable and cannot be moved aside (%s)", self.path, exc
            )
            return None
        log.warning(
            "password hash %s is not an argon2 hash (damaged file); moved to %s: "
            "set a new password with `bodypix set-password`",
            self.path,
            aside.name,
        )
        return aside

    def verify(self, password: str) -> bool:
        stored = self._stored()
        if stored is None:
            if self.is_set():
                log.error("password hash in %s is unusable; run `bodypix set-password`", self.path)
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
            self.set(password)  # stored with other argon2 parameters: move to the current ones
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
    """Login attempts, counted *before* the slow password check.

    - Per client address: at most `attempts` attempts (failed, or being checked now) in
      `window_s`; a success forgets the client's failures.
    - Overall: once `global_attempts` failures happened in the window (an attacker rotating
      addresses), clients with a failure of their own wait the window out. A client without a
      failure is never locked out by others: it goes through the clean lane of PasswordChecks.
    """

    def __init__(
        self, attempts: int = 5, window_s: float = 60.0, global_attempts: int = 30
    ) -> None:
        self.attempts = attempts
        self.window_s = window_s
        self.global_attempts = global_attempts
        self._attempts: dict[str, deque[float]] = {}
        self._global: deque[float] = deque()
        self._lock = threading.Lock()

    def begin(self, client: str) -> tuple[float, bool]:
        """Count an attempt now: (0, clean) when it may be checked, else (seconds to wait,
        False). `clean`: the client had no attempt in the window (the admin's usual case)."""
        now = time.monotonic()
        with self._lock:
            self._prune(now)
            mine = self._attempts.get(client)
            if mine is not None and len(mine) >= self.attempts:
                return mine[0] + self.window_s - now, False
            if mine and len(self._global) >= self.global_attempts:
                return self._global[0] + self.window_s - now, False
            self._attempts.setdefault(client, deque()).append(now)
            return 0.0, not mine

    def retry_after(self, client: str) -> float:
        """Seconds the client must wait before its next attempt; 0 when it may try now."""
        now = time.monotonic()
        with self._lock:
            self._prune(now)
            mine = self._attempts.get(client)
            waits = [0.0]
            if mine is not None and len(mine) >= self.attempts:
                waits.append(mine[0] + self.window_s - now)
            if mine and len(self._global) >= self.global_attempts:
                waits.append(self._global[0] + self.window_s - now)
            return max(waits)

    def cancel(self, client: str) -> None:
        """Take back an attempt that was never checked (no check slot was free)."""
        with self._lock:
            mine = self._attempts.get(client)
            if mine:
                mine.pop()
                if not mine:
                    del self._attempts[client]

    def failed(self, client: str) -> None:
        """The attempt (already counted for the client) failed: count it overall too."""
        with self._lock:
            self._global.append(time.monotonic())

    def succeeded(self, client: str) -> None:
        with self._lock:
            self._attempts.pop(client, None)

    def _prune(self, now: float) -> None:
        horizon = now - self.window_s
        for client in list(self._attempts):
            times = self._attempts[client]
            while times and times[0] < horizon:
                times.popleft()
            if not times:
                del self._attempts[client]
        while self._global and self._global[0] < horizon:
            self._global.popleft()


class PasswordChecks:
    """At most two argon2 checks at once (CPU and memory stay bounded whatever arrives), in
    two lanes of one: clients that failed recently get the shared lane and are refused at
    once when it is busy; a client without recent attempts gets its own lane and waits a
    little for it, so a flood from elsewhere cannot keep the admin out. At most MAX_WAITING
    requests wait, so addresses rotated by an attacker cannot tie up the server's threads."""

    CLEAN_WAIT_S = 3.0
    MAX_WAITING = 4

    def __init__(self) -> None:
        self._suspect = threading.Semaphore(1)
        self._clean = threading.Semaphore(1)
        self._waiting = 0
        self._lock = threading.Lock()

    def acquire(self, clean: bool) -> Callable[[], None] | None:
        """The lane's release function, or None: refuse the login with 429."""
        if not clean:
            return self._suspect.release if self._suspect.acquire(blocking=False) else None
        with self._lock:
            if self._waiting >= self.MAX_WAITING:
                return None
            self._waiting += 1
        try:
            got = self._clean.acquire(timeout=self.CLEAN_WAIT_S)
        finally:
            with self._lock:
                self._waiting -= 1
        return self._clean.release if got else None
