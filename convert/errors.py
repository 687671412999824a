"""The error type for problems a user can cause and fix."""


class UserError(Exception):
    """One clear sentence naming the thing, the cause and the fix.

    Command-line entry points print it without a traceback and exit non-zero.
    """

    exit_code = 2
