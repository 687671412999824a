"""Floods: wrong logins from one address, the preview race, model-change and SIGHUP reload storms."""

from __future__ import annotations

import http.client
import os
import signal
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

from api.commands.attack_check.base import ReplayBase
from api.commands.attack_check.client import ADMIN, ATTACKER, COOKIE
from api.commands.attack_check.figures import Figures, during, sample


class FloodAttacks(ReplayBase):
    def login_flood(self) -> None:
        before = sample(self.panel, self.args.sample_seconds)
        statuses: list[int] = []
        admin: list[int] = []
        workers = min(self.args.flood, 64)
        with during(self.panel, 8) as figures, ThreadPoolExecutor(max_workers=workers) as pool:
            futures = [pool.submit(self._wrong_login, i) for i in range(self.args.flood)]
            time.sleep(0.05)
            admin.append(self.panel.login(self.password, source=ADMIN).status)
            statuses = [f.result() for f in futures]
        after = sample(self.panel, self.args.sample_seconds)
        checks = statuses.count(401)
        errors = [s for s in statuses if s not in (401, 429)]
        outcome = "refused" if checks <= 5 and admin == [200] and not errors else "survived"
        if not self.alive():
            outcome = "silenced"
        self.add(
            f"login flood ({self.args.flood} parallel wrong passwords)",
            outcome,
            f"{checks} password checks, {statuses.count(429)} x 429, other {errors}; "
            f"admin from another address: HTTP {admin[0]}",
            before=before,
            during=figures.get("during", Figures(None, None)),
            after=after,
        )

    def _wrong_login(self, i: int) -> int:
        try:
            return self.panel.login(f"wrong-{i}-{uuid.uuid4().hex[:6]}", source=ATTACKER).status
        except OSError:
            return -1

    def preview_race(self) -> None:
        before = sample(self.panel, self.args.sample_seconds)
        count = 30
        barrier = threading.Barrier(count)
        statuses: list[int] = []
        lock = threading.Lock()
        opened: list[http.client.HTTPConnection] = []

        def viewer() -> None:
            conn = self.panel.connection()
            barrier.wait(10)
            try:
                conn.request(
                    "GET", "/api/preview.mjpeg", headers={"Cookie": f"{COOKIE}={self.panel.cookie}"}
                )
                response = conn.getresponse()
                with lock:
                    statuses.append(response.status)
                    opened.append(conn)
                if response.status != 200:
                    response.read()
                else:
                    response.read(1024)  # a frame started: the slot is really in use
            except OSError:
                with lock:
                    statuses.append(-1)

        with during(self.panel, 6) as figures:
            threads = [threading.Thread(target=viewer, daemon=True) for _ in range(count)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(15)
            time.sleep(2.0)  # the accepted streams run meanwhile
            for conn in opened:
                conn.close()
        after = sample(self.panel, self.args.sample_seconds)
        accepted = statuses.count(200)
        self.add(
            "preview race (30 simultaneous viewers)",
            "refused" if accepted <= 4 else "survived",
            f"{accepted} accepted, {statuses.count(503)} x 503, other "
            f"{[s for s in statuses if s not in (200, 503)]}",
            before=before,
            during=figures.get("during", Figures(None, None)),
            after=after,
        )

    def model_storm(self) -> None:
        before = sample(self.panel, self.args.sample_seconds)
        resolutions = ["low", "medium", "high", 0.3, 0.6]
        n = self.args.model_changes

        def change(i: int) -> int:
            try:
                return self.put(internal_resolution=resolutions[i % len(resolutions)]).status
            except OSError:
                return -1

        with during(self.panel, 20) as figures, ThreadPoolExecutor(max_workers=8) as pool:
            statuses = list(pool.map(change, range(n)))
        self.restore()
        alive = self.alive()
        after = sample(self.panel, self.args.sample_seconds)
        self.add(
            f"model-change storm ({n} changes, 8 in parallel)",
            "survived" if alive else "silenced",
            f"{statuses.count(200)} applied, 5xx {sum(s >= 500 for s in statuses)}",
            before=before,
            during=figures.get("during", Figures(None, None)),
            after=after,
        )

    def reload_storm(self) -> None:
        if self.args.pid is None:
            self.add("SIGHUP reload storm", "skipped", "give --pid PID of `bodypix serve`")
            return
        before = sample(self.panel, self.args.sample_seconds)
        with during(self.panel, 8) as figures:
            for _ in range(self.args.reloads):
                os.kill(self.args.pid, signal.SIGHUP)
                time.sleep(0.05)
            time.sleep(3)
        after = sample(self.panel, self.args.sample_seconds)
        self.add(
            f"SIGHUP reload storm ({self.args.reloads} signals)",
            "survived" if self.alive() else "silenced",
            "settings kept"
            if self.panel.request("GET", "/api/settings").json() == self.original
            else "settings changed",
            before=before,
            during=figures.get("during", Figures(None, None)),
            after=after,
        )
