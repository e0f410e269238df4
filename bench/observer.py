"""What a run tells the person watching it while it runs: notices, a status while a warm-up lasts, a
progress bar per step.

The run only calls a `RunObserver`; what reaches a screen is the business of whoever started the run
(`bench run` gives it `bench.output.console.TerminalObserver`). The base class tells nobody, which is what
tests and scripts that drive a run want. bench.log is separate: it gets every line, whoever watches.
"""

from __future__ import annotations

import contextlib
from typing import Callable, Iterator


class RunObserver:
    def notice(self, text: str, tag: str | None = None) -> None:
        """A line for the person: `tag` ("done", "unsteady", "waiting", ...) heads it, where given."""

    @contextlib.contextmanager
    def status(self, text: str) -> Iterator[None]:
        """Something that takes a while without a count (a warm-up)."""
        yield

    @contextlib.contextmanager
    def progress(self, label: str) -> Iterator[Callable[[int, int], None]]:
        """A step under way: the block calls the function with (tasks done, tasks scheduled)."""
        yield lambda done, total: None
