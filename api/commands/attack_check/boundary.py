"""Trust boundary: panel settings that would reach host files, devices or other hosts; no session; another origin."""

from __future__ import annotations

import json
import socket
import time
import uuid
from pathlib import Path

from api.commands.attack_check.base import ReplayBase


class TrustAttacks(ReplayBase):
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
