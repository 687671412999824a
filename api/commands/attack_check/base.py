"""What every attack uses: the results, settings changes and their undoing, the liveness probe."""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass, field
from typing import Any

from api.commands.attack_check.client import Answer, Panel
from api.commands.attack_check.figures import Figures


@dataclass
class Result:
    attack: str
    outcome: str  # refused | survived | data lost | silenced | skipped
    detail: str
    figures: dict[str, Figures] = field(default_factory=dict)


class ReplayBase:
    """The session, the settings to put back and the results; the attacks are mixins."""

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

    def restore(self) -> None:
        if self.original:
            self.panel.request("PUT", "/api/settings", self.original)
