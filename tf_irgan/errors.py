"""The one exception type that the CLI turns into a one-line message (exit code 2)."""


class UserError(Exception):
    """Bad input or a refused action: the message names the file and the fix."""
