"""Which processes are another `bench run` (bench/run/neighbours.py)."""

import pytest

from bench.run.neighbours import _is_bench_run


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
