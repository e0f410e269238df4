"""Every bad value, in bench.toml or on the command line: one line on stderr naming the key, the
value and what is allowed, exit 2, no traceback, before any server starts. In-process: as a unit
test, starting a process or opening a connection fails the test (tests/conftest.py), so a value
that slipped through to the run would show. (A results folder that cannot be made is refused after
the check of the server binaries: tests/test_cli.py.)"""

import os

import pytest

from bench.cli import main

GOOD = {"architectures": '["prefork-nullpool"]', "rates": "[10]"}
BAD_IN_PROFILE = [
    ('step_seconds = "10"', "step_seconds = \"10\" (in profile 'bad'): must be a number of seconds above 0"),
    ("worker_processes = true", "worker_processes = true (in profile 'bad'): must be a whole number of at least 1"),
    ("rates = [true]", "rates = [true] (in profile 'bad'): must be a list of at least one rate"),
    (
        "drain_timeout_seconds = -5",
        "drain_timeout_seconds = -5 (in profile 'bad'): must be a number of seconds above 0",
    ),
    ("rates = []", "rates = [] (in profile 'bad'): must be a list of at least one rate"),
    ("ratez = [10]", "unknown key(s) in profile 'bad': ratez"),
    ("saturation_repeat = 1.5", "saturation_repeat = 1.5 (in profile 'bad'): must be a whole number of at least 1"),
    ("cpus = { db = 0 }", 'cpus = {"db": 0} (in profile \'bad\'): must be a table of role = "CPU list"'),
    ("headroom = 0.5", "headroom = 0.5 (in profile 'bad'): must be a factor of 1 or more"),
    ('target_rate = "fast"', "target_rate = \"fast\" (in profile 'bad'): must be a number of tasks/s above 0"),
    ("target_rate = 2000000", "rate 2e+06/s over 10 s is more than the 1,000,000 tasks a step may hold"),
    (
        'architectures = ["prefork-nullpool-pgbouncer#old"]\nvariants = { old = { pgbouncer_binary = 118 } }',
        "prefork-nullpool-pgbouncer#old: the variant's pgbouncer_binary must be the path of a PgBouncer binary",
    ),
    ('pgbouncer_url = "postgresql://u@127.0.0.1:6432/db"', "pgbouncer_url needs database_url too"),
]
BAD_FLAGS = [
    (["--rates", "-5"], "rates = [-5.0] (from --rates): must be a list of at least one rate"),
    (["--saturation-tasks", "0"], "saturation_tasks = 0 (from --saturation-tasks): must be a whole number from 1"),
    (["--cpus", f"db={os.cpu_count() + 15}"], f"cpus.db = '{os.cpu_count() + 15}' is not a usable CPU list"),
    (["--rtt-ms", "-1"], "rtt_ms = -1.0 (from --rtt-ms): must be a number of ms from 0 to 10000"),
    (["--step-seconds", "ten"], "--step-seconds ten: must be a number of seconds above 0"),
    (["--ssl", "maybe"], "--ssl maybe: must be true or false"),
    (["--target-rate", "0"], "target_rate = 0.0 (from --target-rate): must be a number of tasks/s above 0"),
    (["--target-rate", "-5"], "target_rate = -5.0 (from --target-rate): must be a number of tasks/s above 0"),
    (["--target-rate", "fast"], "--target-rate fast: must be a number of tasks/s above 0"),
    (["--headroom", "0.5"], "headroom = 0.5 (from --headroom): must be a factor of 1 or more"),
]


def _refused(capsys, argv: list[str], expected: str) -> None:
    assert main(argv) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0] == f"bench: error: {lines[0].removeprefix('bench: error: ')}", lines
    assert expected in lines[0], lines[0]


@pytest.fixture
def config(tmp_path, monkeypatch):
    for var in ("BENCH_DATABASE_URL", "BENCH_BROKER_URL", "BENCH_CONTROL_URL"):
        monkeypatch.delenv(var, raising=False)

    def write(line: str = ""):
        path = tmp_path / "bench.toml"
        good = "".join(f"{key} = {value}\n" for key, value in GOOD.items() if not line.startswith(f"{key} "))
        path.write_text(f"[profiles.bad]\n{good}{line}\n")
        return [
            "--config",
            str(path),
            "--profile",
            "bad",
            "--results-dir",
            str(tmp_path / "results"),
            "--plots-dir",
            str(tmp_path / "plots"),
        ]

    return write


@pytest.mark.parametrize("line, expected", BAD_IN_PROFILE, ids=[line for line, _ in BAD_IN_PROFILE])
def test_a_bad_value_in_a_profile_is_one_line_naming_it(line, expected, config, capsys, tmp_path):
    _refused(capsys, ["run", *config(line)], expected)
    assert not (tmp_path / "results").exists()


@pytest.mark.parametrize("flags, expected", BAD_FLAGS, ids=[" ".join(flags) for flags, _ in BAD_FLAGS])
def test_a_bad_flag_is_one_line_naming_it(flags, expected, config, capsys, tmp_path):
    _refused(capsys, ["run", *config(), *flags], expected)
    assert not (tmp_path / "results").exists()
