"""Starting and stopping the child processes of a run (servers, workers, the load generator).

Each child gets a session of its own, for two reasons: a Ctrl-C in the terminal reaches bench only
(which then stops the children in order and keeps what was measured), and the child's whole process
tree (a prefork worker's pool processes) can be ended through the process group its PID names.
Only processes started here are ever signalled.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path
from typing import IO, Sequence

import psutil


class ChildProcess:
    """A started child process and its log file; `stop()` ends it and everything in its group."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        log_path: Path,
        env: dict[str, str] | None = None,
        user: str | None = None,
        stdin: int | None = None,
        stdout: int | IO | None = None,
        cwd: str | None = None,
        cpus: str | None = None,
        stop_signal: int = signal.SIGTERM,
    ) -> None:
        self.name = name
        self.stop_signal = stop_signal
        """What `stop()` asks the child to stop with first."""
        self.log_path = log_path
        self._log = open(log_path, "ab")
        if cpus:
            # taskset sets the CPU affinity, then execs the program (same PID); every process it forks
            # later (pool processes, backends) inherits it.
            argv = [TASKSET, "-c", cpus, *argv]
        self.popen = subprocess.Popen(
            list(argv),
            stdin=stdin if stdin is not None else subprocess.DEVNULL,
            stdout=stdout if stdout is not None else self._log,
            stderr=self._log,
            env=env,
            user=user,
            cwd=cwd,
            start_new_session=True,
        )
        self.pid = self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def exit_description(self) -> str | None:
        """None while running; else how it ended: "signal 9" or "exit code 1"."""
        code = self.popen.poll()
        if code is None:
            return None
        return f"signal {-code}" if code < 0 else f"exit code {code}"

    def tree(self) -> list[psutil.Process]:
        """The child and its descendants, as they are now."""
        try:
            root = psutil.Process(self.pid)
            return [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def stop(self, first_signal: int | None = None, grace_s: float = 10.0) -> None:
        """Ask the child to stop (`first_signal`, else its `stop_signal`), wait up to `grace_s`, then kill
        its process group."""
        try:
            if self.popen.poll() is None:
                self.ask_to_stop(first_signal)
                try:
                    self.popen.wait(timeout=grace_s)
                except subprocess.TimeoutExpired:
                    pass
            # Pool processes of a worker may outlive their parent for a moment: end the group.
            self._signal_group(signal.SIGKILL)
            self.popen.wait(timeout=5)
        finally:
            self._log.close()

    def ask_to_stop(self, signum: int | None = None) -> None:
        """Send the group `signum` (else its `stop_signal`) and SIGCONT: a paused group acts on it only
        once it runs."""
        self._signal_group(self.stop_signal if signum is None else signum)
        self.resume()

    def pause(self) -> None:
        """Stop the child and everything in its group where they are (SIGSTOP), connections kept."""
        self._signal_group(signal.SIGSTOP)

    def resume(self) -> None:
        self._signal_group(signal.SIGCONT)

    def _signal_group(self, signum: int) -> None:
        try:
            os.killpg(self.pid, signum)
        except (ProcessLookupError, PermissionError):
            pass


def interrupt_on_signals() -> None:
    """Turn the first SIGINT or SIGTERM into KeyboardInterrupt, so the command unwinds and stops the
    children it started; later ones are ignored so that clean-up can finish."""

    def interrupt(signum, frame) -> None:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, interrupt)
    signal.signal(signal.SIGTERM, interrupt)


def stop_all(children: list[ChildProcess], grace_s: float = 10.0) -> None:
    """Stop several children at once: all are asked first, then each is waited for until one shared
    deadline (and killed if it has to be), so their shutdowns overlap instead of adding up."""
    deadline = time.monotonic() + grace_s
    for child in children:
        if child.alive():
            child.ask_to_stop()
    for child in children:
        child.stop(grace_s=max(0.0, deadline - time.monotonic()))


TASKSET = "taskset"


def parse_cpu_list(text: str) -> set[int]:
    """A CPU list as taskset and the kernel write it ("0", "0-1", "0,2-3") as a set of CPU numbers;
    ValueError if it is malformed or names a CPU this machine lacks."""
    cpus: set[int] = set()
    for part in text.split(","):
        low, _, high = part.strip().partition("-")
        first, last = int(low), int(high or low)
        if first > last:
            raise ValueError(f"{part!r} runs backwards")
        cpus.update(range(first, last + 1))
    missing = cpus - os.sched_getaffinity(0)
    if missing:
        raise ValueError(
            f"CPU {min(missing)} is not one this machine lets bench use ({sorted(os.sched_getaffinity(0))})"
        )
    return cpus


def roles_by_cpu_set(role_cpus: dict[str, str]) -> dict[frozenset[int], list[str]]:
    """Roles grouped by the CPU set they run on ({"db": "0", "workers": "1", "broker": "1"} gives
    {0}: [db], {1}: [workers, broker]): roles on one set share its cores."""
    groups: dict[frozenset[int], list[str]] = {}
    for role, cpus in role_cpus.items():
        groups.setdefault(frozenset(parse_cpu_list(cpus)), []).append(role)
    return groups


def wait_for(predicate, timeout_s: float, interval_s: float = 0.05) -> bool:
    """Poll `predicate` until it is true or `timeout_s` has passed; return its last value."""
    deadline = time.monotonic() + timeout_s
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval_s)
