"""Other `bench run`s on this machine: a run that starts beside one shares the cores with a whole second
benchmark (its load generator, workers and servers), which its figures would otherwise not show. The
steps it overlaps are `disturbed` (steps.csv's neighbour_runs, looked for at each step's start and
end, besides the foreign load they read); this says why at the start, in one line and among run.json's
caveats."""

from __future__ import annotations

import os

import psutil


def other_bench_runs() -> list[int]:
    """PIDs of the `bench run` commands running on this machine besides this one: not this process, nor
    what started it (`time bench run ...` is this run too), nor what it started."""
    me = psutil.Process()
    ours = {os.getpid(), *(p.pid for p in me.parents()), *(p.pid for p in me.children(recursive=True))}
    found = []
    for process in psutil.process_iter(["pid", "cmdline"]):
        if process.info["pid"] not in ours and _is_bench_run(process.info["cmdline"] or []):
            found.append(process.info["pid"])
    return sorted(found)


def _is_bench_run(cmdline: list[str]) -> bool:
    """`bench run ...` as the console script (`.venv/bin/bench run`) or the module (`python -m bench run`)."""
    for index, word in enumerate(cmdline[:-1]):
        script = os.path.basename(word) == "bench" and (index == 0 or cmdline[index - 1] != "-m")
        module = word == "bench" and index > 0 and cmdline[index - 1] == "-m"
        if (script or module) and cmdline[index + 1] == "run":
            return True
    return False


def neighbour_caveat(pids: list[int]) -> str:
    return (
        f"Another bench run was active on this machine when this one started (pid {', '.join(map(str, pids))}): "
        "the two shared its cores, so the steps they overlapped are marked disturbed (neighbour_runs)."
    )
