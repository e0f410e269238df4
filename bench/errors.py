"""Errors a user can act on: the CLI prints them as one line and exits 2, with no traceback."""


class BenchError(Exception):
    """Bad input or an environment bench cannot work with; the message is shown to the user as is."""


class BenchInterrupted(Exception):
    """The run was stopped by SIGINT or SIGTERM; what was measured so far is kept."""
