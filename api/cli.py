"""The `bodypix` console script: the runtime's subcommands plus the panel's (`serve`, ...).

It lives in `api` because `api` is the top layer: it may import `runtime`, never the reverse.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from runtime import cli as runtime_cli

API_COMMAND_MODULES: tuple[str, ...] = (
    "api.commands.serve",
    "api.commands.set_password",
    "api.commands.attack_check",
)


def main(argv: Sequence[str] | None = None) -> int:
    return runtime_cli.main(argv, extra_modules=API_COMMAND_MODULES)


if __name__ == "__main__":
    sys.exit(main())
