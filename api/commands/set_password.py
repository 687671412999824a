"""`bodypix set-password`: store the panel password as an argon2 hash in the state directory."""

from __future__ import annotations

import argparse
import getpass
import sys
from pathlib import Path
from typing import Any

from core.errors import UserError


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "set-password",
        help="set the web panel password (asked twice; or read from stdin with --stdin)",
    )
    parser.add_argument("--state-dir", type=Path, help="state directory (default as for `serve`)")
    parser.add_argument(
        "--stdin", action="store_true", help="read the password from the first line of stdin"
    )
    parser.set_defaults(func=set_password)


def set_password(args: argparse.Namespace) -> int:
    from api.security import PasswordStore
    from api.state import StateDir, default_state_dir

    if args.stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = getpass.getpass("New panel password: ")
        if password != getpass.getpass("Repeat it: "):
            raise UserError("The two passwords differ; run the command again.")
    state = StateDir(args.state_dir or default_state_dir())
    PasswordStore(state.password_file).set(password)
    print(
        f"Panel password stored in {state.password_file}; restart `bodypix serve` to log everybody out."
    )
    return 0
