"""Bad input: out-of-range and fuzzed settings, hostile uploads, a damaged selected background."""

from __future__ import annotations

import json
import time
from typing import Any

from api.commands.attack_check.base import ReplayBase
from api.commands.attack_check.figures import sample


class InputAttacks(ReplayBase):
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
            statuses[name] = self.panel.upload("a.jpg", data).status
        ok = all(400 <= s < 500 for s in statuses.values())
        self.add("hostile uploads", "refused" if ok else "data lost", json.dumps(statuses))

    def damaged_background(self) -> None:
        if self.args.state_dir is None:
            self.add("damaged selected background", "skipped", "give --state-dir of the server")
            return
        import cv2
        import numpy as np

        ok, jpeg = cv2.imencode(".jpg", np.full((180, 320, 3), (40, 160, 40), np.uint8))
        assert ok
        entry = self.panel.upload("g.jpg", jpeg.tobytes()).json()
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
