"""The error type for problems a user can cause and fix."""


class UserError(Exception):
    """One clear sentence naming the thing, the cause and the fix.

    Command-line entry points print it without a traceback and exit non-zero.
    """

    exit_code = 2


class MissingExtraError(UserError):
    """An optional dependency group (a pip extra) is not installed."""

    def __init__(self, extra: str, module: str, purpose: str) -> None:
        super().__init__(
            f"{purpose} needs the Python module {module!r}, which is not installed: "
            f"run `pip install 'bodypix-appliance[{extra}]'`."
        )
        self.extra = extra
        self.module = module
