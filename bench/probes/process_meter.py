"""CPU time and memory of a set of process trees (workers, load generator, database), via psutil."""

from __future__ import annotations

from typing import Callable, Protocol

import psutil


class CpuMeter(Protocol):
    """Anything whose busy CPU time, read twice, gives a role's share of a window."""

    def cpu_seconds(self) -> float: ...


def fixed_pids(pids: list[int]) -> Callable[[], list[int]]:
    """Root PIDs that do not change over the meter's life."""
    return lambda: pids


class ProcessMeter:
    """Sums over the trees of the given root PIDs, read at the moment of each call."""

    def __init__(self, root_pids: Callable[[], list[int]], tree: bool = True) -> None:
        self._root_pids = root_pids
        self._tree = tree
        """False: the roots alone, without their children (bench's own process)."""
        self.rss_peak_bytes = 0

    def _processes(self) -> list[psutil.Process]:
        """The roots (and their trees), each process once where one root lies in another's tree."""
        procs: dict[int, psutil.Process] = {}
        for pid in self._root_pids():
            try:
                root = psutil.Process(pid)
                for proc in [root, *root.children(recursive=True)] if self._tree else [root]:
                    procs.setdefault(proc.pid, proc)
            except psutil.NoSuchProcess:
                continue
        return list(procs.values())

    def cpu_seconds(self) -> float:
        """User + system CPU of the trees, including children that already exited and were reaped
        (PostgreSQL forks a backend per connection: with NullPool most backends are gone by the read)."""
        total = 0.0
        for proc in self._processes():
            try:
                times = proc.cpu_times()
                total += times.user + times.system
                if self._tree:
                    total += times.children_user + times.children_system
            except psutil.NoSuchProcess:
                continue
        return total

    def sample_rss(self) -> int:
        """Current resident memory of the trees (bytes); also tracks the peak since `reset_peak()`."""
        total = 0
        for proc in self._processes():
            try:
                total += proc.memory_info().rss
            except psutil.NoSuchProcess:
                continue
        self.rss_peak_bytes = max(self.rss_peak_bytes, total)
        return total

    def reset_peak(self) -> None:
        self.rss_peak_bytes = 0


class CpuSetMeter:
    """CPU busy on some cores, whoever used it (the kernel's per-CPU counters): how full a role's CPU
    set really was, including what no role's process tree is charged with (interrupts, other processes)."""

    def __init__(self, cpus: frozenset[int]) -> None:
        self.cpus = cpus

    def cpu_seconds(self) -> float:
        per_cpu = psutil.cpu_times(percpu=True)
        return sum(sum(t) - t.idle - getattr(t, "iowait", 0.0) for index, t in enumerate(per_cpu) if index in self.cpus)


class ProcessTimeMeter:
    """CPU that processes used on the whole machine: the kernel's user, nice and system time of every
    core. The machine's busy time less its interrupt work and the time a hypervisor stole, which no
    process is charged with (loopback traffic's softirq work grows with the task rate), so that what
    bench's meters do not count here is other processes' work."""

    def cpu_seconds(self) -> float:
        times = psutil.cpu_times()
        return times.user + times.nice + times.system


class MachineMeter:
    """CPU busy on the whole machine (all processes, every core): the total the per-role meters
    should nearly add up to."""

    def cpu_seconds(self) -> float:
        times = psutil.cpu_times()
        return sum(times) - times.idle - getattr(times, "iowait", 0.0)
