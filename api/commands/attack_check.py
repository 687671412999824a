"""`bodypix attack-check`: replay issue 12's attack catalogue against a running appliance.

Only against this machine (loopback addresses), with bounded loops, and the settings put back
at the end. Prints per attack: refused / survived / data lost (or silenced, skipped), and
fps_out and capture-to-output latency before, during and after the login flood, the preview
race and the reload storm. A smoke test, not a benchmark: figures depend on the machine's load.

Standard library only (http.client), so it runs wherever `bodypix` does.
"""

from __future__ import annotations

import argparse
import http.client
import ipaddress
import json
import os
import signal
import socket
import statistics
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from convert.errors import UserError

ATTACKER = "127.0.0.5"  # the flood's address; the admin's is another loopback address
ADMIN = "127.0.0.6"
COOKIE = "bodypix_session"


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "attack-check",
        help="replay the panel attack catalogue against a running appliance on this machine",
        description=(
            "Replays issue 12's attacks (trust boundary, login flood, preview race, bounds, bad "
            "uploads, settings storms, SIGHUP storm) against a running `bodypix serve` on a "
            "loopback address, and prints per attack whether it was refused, survived or lost "
            "data, with fps_out and capture-to-output latency around the floods. Bounded loops; "
            "the settings are put back at the end."
        ),
    )
    parser.add_argument("--url", default="http://127.0.0.1:8080", help="the panel (loopback only)")
    password = parser.add_mutually_exclusive_group(required=True)
    password.add_argument(
        "--password", help="panel password (visible to `ps`; see --password-stdin)"
    )
    password.add_argument(
        "--password-stdin", action="store_true", help="read the password from stdin's first line"
    )
    parser.add_argument("--pid", type=int, help="the server's pid: enables the SIGHUP reload storm")
    parser.add_argument(
        "--state-dir",
        type=Path,
        help="the server's state directory: enables the damaged-background attack",
    )
    parser.add_argument("--flood", type=int, default=50, help="parallel wrong logins (default 50)")
    parser.add_argument(
        "--model-changes", type=int, default=100, help="settings changes needing a new model"
    )
    parser.add_argument("--reloads", type=int, default=20, help="SIGHUPs in the storm (default 20)")
    parser.add_argument(
        "--sample-seconds", type=float, default=3.0, help="status sampling before/after (default 3)"
    )
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.set_defaults(func=attack_check)


# --------------------------------------------------------------------------- HTTP


@dataclass
class Answer:
    status: int
    body: bytes
    headers: dict[str, str]

    def json(self) -> Any:
        try:
            return json.loads(self.body)
        except ValueError:
            return None

    def detail(self) -> str:
        data = self.json()
        return (
            str(data.get("detail")) if isinstance(data, dict) else self.body[:120].decode("latin-1")
        )


class Panel:
    """A minimal client of the panel API over http.client, from a chosen loopback address."""

    def __init__(self, url: str, timeout: float = 30.0) -> None:
        parts = urlsplit(url)
        if parts.scheme != "http" or not parts.hostname:
            raise UserError(
                f"--url {url!r} is not an http:// URL; give e.g. http://127.0.0.1:8080."
            )
        self.host = parts.hostname
        self.port = parts.port or 80
        self.timeout = timeout
        self.cookie: str | None = None

    def connection(self, source: str | None = None) -> http.client.HTTPConnection:
        address = (source, 0) if source else None
        return http.client.HTTPConnection(
            self.host, self.port, timeout=self.timeout, source_address=address
        )

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        raw: bytes | None = None,
        headers: dict[str, str] | None = None,
        source: str | None = None,
        session: bool = True,
    ) -> Answer:
        sent = dict(headers or {})
        data = raw
        if body is not None:
            data = json.dumps(body).encode()
            sent.setdefault("Content-Type", "application/json")
        if session and self.cookie:
            sent["Cookie"] = f"{COOKIE}={self.cookie}"
        conn = self.connection(source)
        try:
            conn.request(method, path, body=data, headers=sent)
            response = conn.getresponse()
            return Answer(response.status, response.read(), dict(response.getheaders()))
        finally:
            conn.close()

    def login(self, password: str, source: str | None = None) -> Answer:
        answer = self.request(
            "POST", "/api/login", {"password": password}, source=source, session=False
        )
        if answer.status == 200 and source is None:
            cookie = answer.headers.get("set-cookie", "")
            self.cookie = cookie.split(";", 1)[0].split("=", 1)[1] if "=" in cookie else None
        return answer

    def status(self) -> dict[str, Any]:
        answer = self.request("GET", "/api/status")
        data = answer.json()
        return data if answer.status == 200 and isinstance(data, dict) else {}

    def healthy(self) -> bool:
        try:
            return self.request("GET", "/healthz", session=False).status == 200
        except OSError:
            return False


def check_loopback(url: str) -> None:
    """Refuse anything but this machine: the command sends attacks."""
    host = urlsplit(url).hostname or ""
    try:
        infos = socket.getaddrinfo(host, None)
    except socket.gaierror:
        raise UserError(f"Cannot resolve {host!r}; give --url http://127.0.0.1:PORT.") from None
    addresses = {str(info[4][0]) for info in infos}
    if not addresses or not all(
        ipaddress.ip_address(a.split("%")[0]).is_loopback for a in addresses
    ):
        raise UserError(
            f"attack-check only runs against this machine's own appliance; {host!r} is not a "
            "loopback address (use 127.0.0.1 or ::1)."
        )


# --------------------------------------------------------------------------- figures


@dataclass
class Figures:
    fps_out: float | None
    latency_ms: float | None

    def text(self) -> str:
        fps = "-" if self.fps_out is None else f"{self.fps_out:5.1f}"
        lat = "-" if self.latency_ms is None else f"{self.latency_ms:6.1f}"
        return f"fps_out {fps}  capture->output {lat} ms"


def sample(panel: Panel, seconds: float, stop: threading.Event | None = None) -> Figures:
    """Mean fps_out and capture-to-output latency from /api/status over `seconds`."""
    fps: list[float] = []
    latency: list[float] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not (stop and stop.is_set() and fps):
        try:
            status = panel.status()
        except OSError:
            status = {}
        if status:
            fps.append(float(status.get("fps_out", 0.0)))
            value = (status.get("latency_ms") or {}).get("capture_to_output")
            if value is not None:
                latency.append(float(value))
        time.sleep(0.25)
    return Figures(
        statistics.fmean(fps) if fps else None, statistics.fmean(latency) if latency else None
    )


@contextmanager
def during(panel: Panel, seconds: float) -> Iterator[dict[str, Figures]]:
    """Figures sampled in a thread while the body runs (at most `seconds`)."""
    result: dict[str, Figures] = {}
    stop = threading.Event()

    def run() -> None:
        result["during"] = sample(panel, seconds, stop)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield result
    finally:
        stop.set()
        thread.join(seconds + 5)


# --------------------------------------------------------------------------- attacks


@dataclass
class Result:
    attack: str
    outcome: str  # refused | survived | data lost | silenced | skipped
    detail: str
    figures: dict[str, Figures] = field(default_factory=dict)


class Replay:
    def __init__(self, panel: Panel, password: str, args: argparse.Namespace) -> None:
        self.panel = panel
        self.password = password
        self.args = args
        self.results: list[Result] = []
        self.original: dict[str, Any] = {}

    def add(self, attack: str, outcome: str, detail: str, **figures: Figures) -> None:
        self.results.append(Result(attack, outcome, detail, figures))

    def alive(self) -> bool:
        """Healthy and frames going out within a few seconds."""
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.panel.healthy() and self.panel.status().get("fps_out", 0) > 0:
                return True
            time.sleep(0.5)
        return False

    def put(self, **changes: Any) -> Answer:
        current = self.panel.request("GET", "/api/settings").json() or {}
        return self.panel.request("PUT", "/api/settings", {**current, **changes})

    def refused_or_lost(self, attack: str, answer: Answer, lost: bool, expect: int) -> None:
        if lost:
            said = "accepted" if answer.status < 300 else answer.detail()[:100]
            self.add(attack, "data lost", f"HTTP {answer.status}: {said}")
        elif answer.status == expect:
            self.add(attack, "refused", f"HTTP {answer.status}: {answer.detail()[:100]}")
        elif 400 <= answer.status < 500:
            self.add(attack, "refused", f"HTTP {answer.status} (expected {expect})")
        else:
            self.add(
                attack,
                "survived" if self.alive() else "silenced",
                f"accepted (HTTP {answer.status})",
            )

    # Trust boundary -------------------------------------------------------------

    def output_file(self) -> None:
        target = Path(f"/tmp/bodypix-attack-{uuid.uuid4().hex[:8]}.mp4")
        answer = self.put(outputs=["mjpeg://", f"file://{target}"])
        time.sleep(2.0 if answer.status < 300 else 0)
        # Accepted is enough: the writer renames its temporary file over the target on close.
        lost = answer.status < 300 or target.exists()
        target.unlink(missing_ok=True)
        self.restore()
        self.refused_or_lost("outputs file:// writes a host file", answer, lost, 403)

    def source_image(self) -> None:
        answer = self.put(source="image:///etc/hostname.png")
        self.restore()  # accepted: any readable picture would be shown in the snapshot
        self.refused_or_lost(
            "source image:// reads a host picture", answer, answer.status < 300, 403
        )

    def source_rtsp(self) -> None:
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        listener.settimeout(3.0)
        port = listener.getsockname()[1]
        answer = self.put(source=f"rtsp://127.0.0.1:{port}/x")
        reached = False
        if answer.status < 300:
            try:
                conn, _ = listener.accept()
                conn.close()
                reached = True
            except OSError:
                pass
        listener.close()
        self.restore()
        self.refused_or_lost("source rtsp:// connects to another host", answer, reached, 403)

    def status_probe(self) -> None:
        text = self.panel.request("GET", "/api/status").body.decode(errors="replace")
        status = json.loads(text) if text.startswith("{") else {}
        leaks = [k for k in ("source", "model_file", "source_description") if k in status]
        if "://" in text or '"/' in text:
            leaks.append("a path or URI in the text")
        if leaks:
            self.add("status echoes paths / probe results", "data lost", ", ".join(leaks))
        else:
            self.add(
                "status echoes paths / probe results", "refused", "no path, URI or probe result"
            )

    def no_session(self) -> None:
        answers = [
            self.panel.request(m, p, session=False)
            for m, p in (
                ("GET", "/api/settings"),
                ("PUT", "/api/settings"),
                ("GET", "/api/snapshot.jpg"),
            )
        ]
        ok = all(a.status == 401 for a in answers)
        self.add(
            "requests without a session",
            "refused" if ok else "data lost",
            ", ".join(str(a.status) for a in answers),
        )

    def cross_origin(self) -> None:
        current = self.panel.request("GET", "/api/settings").json() or {}
        answer = self.panel.request(
            "PUT",
            "/api/settings",
            {**current, "effect": "none"},
            headers={"Origin": "http://evil.example"},
        )
        self.refused_or_lost("cross-origin settings write", answer, False, 403)

    # Logins ----------------------------------------------------------------------

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

    # Preview race ----------------------------------------------------------------

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

    # Bounds and fuzzing -----------------------------------------------------------

    def bounds(self) -> None:
        for name, changes in (
            ("8K frames at 240 fps", {"width": 7680, "height": 4320, "fps": 240}),
            ("mask colours 1e30 / -999", {"mask": {"foreground_color": [1e30, 0, 0, -999]}}),
            ("1 MB string", {"background": "x" * 1_000_000}),
            ("fps 5e-324", {"fps": 5e-324}),
        ):
            self.refused_or_lost(name, self.put(**changes), False, 422)

    def settings_fuzz(self) -> None:
        import random

        rng = random.Random(12)
        values: list[Any] = [
            None,
            True,
            -1,
            0,
            1e308,
            -1e308,
            "",
            "x" * 5000,
            [],
            {},
            [1, 2],
            "../../etc",
        ]
        fields = [
            "effect",
            "background_blur_amount",
            "background",
            "mask",
            "variant",
            "width",
            "internal_resolution",
            "camera",
            "threads",
            "smoothing",
            "fps",
            "segmentation_threshold",
        ]
        accepted = server_errors = 0
        for _ in range(60):
            changes = {rng.choice(fields): rng.choice(values) for _ in range(rng.randint(1, 3))}
            status = self.put(**changes).status
            accepted += status < 300
            server_errors += status >= 500
        self.restore()
        outcome = "refused" if not server_errors and self.alive() else "silenced"
        self.add(
            "settings fuzzing (60 requests)", outcome, f"{accepted} accepted, {server_errors} x 5xx"
        )

    def bad_uploads(self) -> None:
        import struct
        import zlib

        ihdr = struct.pack(">IIBBBBB", 30000, 30000, 8, 2, 0, 0, 0)
        bomb = (
            b"\x89PNG\r\n\x1a\n"
            + struct.pack(">I", 13)
            + b"IHDR"
            + ihdr
            + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
            + b"\x00\x00\x00\x00IEND\xaeB`\x82"
        )
        cases = {
            "truncated JPEG": b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 64,
            "900 MP PNG header": bomb,
            "HLS playlist": b"#EXTM3U\n#EXTINF:1,\nfile:///etc/passwd\n",
            "SVG with script": b"<svg xmlns='http://www.w3.org/2000/svg'><script>1</script></svg>",
        }
        statuses = {}
        for name, data in cases.items():
            boundary = uuid.uuid4().hex
            body = (
                (
                    f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.jpg"\r\n'
                    f"Content-Type: image/jpeg\r\n\r\n"
                ).encode()
                + data
                + f"\r\n--{boundary}--\r\n".encode()
            )
            answer = self.panel.request(
                "POST",
                "/api/backgrounds",
                raw=body,
                headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
            )
            statuses[name] = answer.status
        ok = all(400 <= s < 500 for s in statuses.values())
        self.add("hostile uploads", "refused" if ok else "data lost", json.dumps(statuses))

    # Storms -----------------------------------------------------------------------

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

    def damaged_background(self) -> None:
        if self.args.state_dir is None:
            self.add("damaged selected background", "skipped", "give --state-dir of the server")
            return
        import cv2
        import numpy as np

        ok, jpeg = cv2.imencode(".jpg", np.full((180, 320, 3), (40, 160, 40), np.uint8))
        assert ok
        boundary = uuid.uuid4().hex
        body = (
            (
                f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="g.jpg"\r\n'
                f"Content-Type: image/jpeg\r\n\r\n"
            ).encode()
            + jpeg.tobytes()
            + f"\r\n--{boundary}--\r\n".encode()
        )
        entry = self.panel.request(
            "POST",
            "/api/backgrounds",
            raw=body,
            headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
        ).json()
        if not isinstance(entry, dict) or "id" not in entry:
            self.add("damaged selected background", "skipped", f"upload failed: {entry}")
            return
        stored = self.args.state_dir / "backgrounds" / f"{entry['id']}.jpg"
        try:
            data = stored.read_bytes()
            stored.write_bytes(data[: len(data) // 3])  # damaged on disk before it is used
            self.put(effect="replace", background=entry["id"])
            time.sleep(2.0)
            figures = sample(self.panel, max(self.args.sample_seconds, 3.0))
            health = self.panel.request("GET", "/healthz", session=False).status
            silent = not figures.fps_out
            self.add(
                "damaged selected background",
                "silenced" if silent else "survived",
                f"healthz {health}",
                during=figures,
            )
        except OSError as exc:
            self.add("damaged selected background", "skipped", f"state dir not writable: {exc}")
        finally:
            self.restore()
            self.panel.request("DELETE", f"/api/backgrounds/{entry['id']}")

    def restore(self) -> None:
        if self.original:
            self.panel.request("PUT", "/api/settings", self.original)


def attack_check(args: argparse.Namespace) -> int:
    check_loopback(args.url)
    password = sys.stdin.readline().rstrip("\r\n") if args.password_stdin else args.password
    panel = Panel(args.url)
    try:
        answer = panel.login(password)
    except OSError as exc:
        raise UserError(
            f"Cannot reach the panel at {args.url} ({exc}); start `bodypix serve` first."
        ) from None
    if answer.status != 200:
        raise UserError(
            f"Login at {args.url} failed (HTTP {answer.status}: {answer.detail()}); check --password."
        )
    replay = Replay(panel, password, args)
    replay.original = panel.request("GET", "/api/settings").json() or {}
    baseline = sample(panel, args.sample_seconds)
    # The floods and storms first (their figures mean most on a healthy appliance), the
    # attacks that can silence an unfixed one last.
    steps: list[Callable[[], None]] = [
        replay.output_file,
        replay.source_image,
        replay.source_rtsp,
        replay.status_probe,
        replay.no_session,
        replay.cross_origin,
        replay.login_flood,
        replay.preview_race,
        replay.model_storm,
        replay.reload_storm,
        replay.bad_uploads,
        replay.settings_fuzz,
        replay.damaged_background,
        replay.bounds,
    ]
    try:
        for step in steps:
            try:
                step()
            except (OSError, http.client.HTTPException) as exc:
                replay.add(
                    step.__name__,
                    "silenced" if not panel.healthy() else "survived",
                    f"error: {exc}",
                )
            print(
                f"  ... {replay.results[-1].attack}: {replay.results[-1].outcome}", file=sys.stderr
            )
    finally:
        replay.restore()
    final = panel.request("GET", "/api/settings").json()
    if args.json:
        print(
            json.dumps(
                {
                    "baseline": baseline.__dict__,
                    "results": [
                        {**r.__dict__, "figures": {k: v.__dict__ for k, v in r.figures.items()}}
                        for r in replay.results
                    ],
                    "settings_restored": final == replay.original,
                },
                indent=2,
            )
        )
    else:
        print(f"baseline: {baseline.text()}")
        for r in replay.results:
            print(f"{r.outcome:>10}  {r.attack}: {r.detail}")
            for when in ("before", "during", "after"):
                if when in r.figures:
                    print(f"{'':12}{when:>6}: {r.figures[when].text()}")
        print(f"settings restored: {'yes' if final == replay.original else 'NO'}")
    bad = [r for r in replay.results if r.outcome in ("data lost", "silenced")]
    return 1 if bad else 0
