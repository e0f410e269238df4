"""Errors a user can act on: the CLI prints them as one line, with no traceback, and exits 2
(bad input) or 3 (a server bench started died mid-run)."""


class BenchError(Exception):
    """Bad input or an environment bench cannot work with; the message is shown to the user as is."""


class ServerExited(Exception):
    """A server bench started exited while the run needed it; the run stops, keeping what it measured."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
        """E.g. "postgres exited (signal 9)"."""
