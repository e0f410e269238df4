"""Which processes are another `bench run` (bench/run/neighbours.py)."""

import json
import subprocess
import sys

import pytest

from bench.run.neighbours import _is_bench_run
from tests.conftest import REPO


@pytest.mark.parametrize(
    "cmdline, is_run",
    [
        (["/work/x/.venv/bin/python", "/work/x/.venv/bin/bench", "run", "--profile", "smoke"], True),
        ([".venv/bin/bench", "run"], True),
        (["/usr/bin/python3", "-m", "bench", "run", "--rates", "10"], True),
        (["/usr/bin/python3", "-m", "bench", "worker", "--control-url", "redis://x"], False),
        (["/usr/bin/python3", "-m", "bench.loadgen", "run"], False),
        ([".venv/bin/bench", "report", "run"], False),
        (["bash", "-c", "bench run"], False),
        (["/usr/bin/time", "-f", "%e", ".venv/bin/bench", "run"], True),
        (["python", "-m", "pytest", "tests/test_run.py"], False),
        ([], False),
    ],
)
def test_a_bench_run_is_told_from_bench_s_other_commands(cmdline, is_run):
    assert _is_bench_run(cmdline) is is_run


def test_what_started_this_process_is_not_another_run(child_processes):
    # A shell whose command line reads as a bench run (`bash -c ... bench run`, as `time bench run` does)
    # starts the probe: that is this run, not another; the same command line beside it is one.
    probe = f"{sys.executable} -c 'from bench.run.neighbours import other_bench_runs; print(other_bench_runs())'; true"
    beside = subprocess.Popen(["bash", "-c", "sleep 30; true", "bench", "run"])
    try:
        parent = subprocess.Popen(["bash", "-c", probe, "bench", "run"], stdout=subprocess.PIPE, text=True, cwd=REPO)
        out, _ = parent.communicate(timeout=30)
    finally:
        beside.kill()
        beside.wait()
    found = json.loads(out)
    assert beside.pid in found and parent.pid not in found, (found, parent.pid, beside.pid)
