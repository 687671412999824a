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
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from api.commands.attack_check.boundary import TrustAttacks
from api.commands.attack_check.client import Panel, check_loopback
from api.commands.attack_check.figures import sample
from api.commands.attack_check.floods import FloodAttacks
from api.commands.attack_check.inputs import InputAttacks
from core.errors import UserError


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


class Replay(TrustAttacks, FloodAttacks, InputAttacks):
    """Every attack of the catalogue, run in the order `attack_check` gives."""


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
