"""Bad input: one line on stderr, exit 2, no traceback, and nothing started."""

import os

import pytest

from tests.conftest import run_bench


def _one_line_error(done, contains: str) -> None:
    assert done.returncode == 2, (done.stdout, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert contains in lines[0] and "Traceback" not in done.stderr


def test_unknown_profile(tmp_path, bench_cli):
    _one_line_error(run_bench("run", "--profile", "nosuch", "--results-dir", str(tmp_path)), "unknown profile 'nosuch'")
    assert not any(tmp_path.iterdir())


def test_malformed_bench_toml(tmp_path, bench_cli):
    (tmp_path / "bench.toml").write_text("[profiles.quick\nrates = [1,2\n")
    _one_line_error(run_bench("run", cwd=tmp_path), "is not valid TOML")
    assert not (tmp_path / "results").exists() and not (tmp_path / "plots").exists()


@pytest.mark.parametrize("rates", ["0", "-5", "abc", "nan"])
def test_impossible_rate(rates, tmp_path, bench_cli):
    _one_line_error(run_bench("run", "--rates", rates, "--results-dir", str(tmp_path)), "rate")


def test_unreachable_database(tmp_path, bench_cli):
    done = run_bench(
        "run",
        "--profile",
        "smoke",
        "--results-dir",
        str(tmp_path),
        env={"BENCH_DATABASE_URL": "postgresql://bench:hunter2@127.0.0.1:1/bench"},
    )
    _one_line_error(done, "cannot reach the database at postgresql://bench:***@127.0.0.1:1/bench")
    assert "hunter2" not in done.stderr


def test_unreachable_pgbouncer_of_the_users(tmp_path, bench_cli):
    done = run_bench(
        "run",
        "--profile",
        "smoke",
        "--architectures",
        "prefork-nullpool-pgbouncer",
        "--results-dir",
        str(tmp_path),
        env={
            "BENCH_DATABASE_URL": "postgresql://bench:hunter2@127.0.0.1:1/bench",
            "BENCH_PGBOUNCER_URL": "postgresql://bench:hunter2@127.0.0.1:2/bench",
        },
    )
    _one_line_error(done, "cannot reach the PgBouncer at postgresql://bench:***@127.0.0.1:2/bench")
    assert "hunter2" not in done.stderr


def test_unknown_architecture(tmp_path, bench_cli):
    _one_line_error(
        run_bench("run", "--architectures", "nosuch", "--results-dir", str(tmp_path)), "unknown architecture"
    )
    _one_line_error(
        run_bench("run", "--broker", "rabbitmq", "--architectures", "async-queue", "--results-dir", str(tmp_path)),
        "async-queue runs on redis only",
    )
    _one_line_error(
        run_bench("run", "--architectures", "async-queue@rabbitmq", "--results-dir", str(tmp_path)),
        "async-queue runs on redis only",
    )


def test_every_command_has_help(bench_cli):
    for command in ("run", "list-profiles"):
        done = run_bench(command, "--help")
        assert done.returncode == 0 and "usage:" in done.stdout


def test_list_profiles_shows_the_defaults(bench_cli):
    done = run_bench("list-profiles")
    assert done.returncode == 0
    for name in ("quick (default)", "smoke", "full", "compare"):
        assert name in done.stdout


def test_missing_server_binary_names_the_package_and_leaves_nothing(tmp_path, bench_cli):
    # Without PATH, redis-server cannot be found (PostgreSQL still is, under /usr/lib/postgresql).
    done = run_bench("run", "--profile", "smoke", "--results-dir", str(tmp_path), env={"PATH": "/nonexistent"})
    _one_line_error(done, "redis-server not found; install redis-server (apt-get install redis-server)")
    assert not any(tmp_path.iterdir())  # found out before anything was started or written


def test_bad_worker_and_listen_input_is_one_line(tmp_path, bench_cli):
    _one_line_error(run_bench("worker", "--control", "redis://127.0.0.1:1/0"), "Connection refused")
    _one_line_error(
        run_bench("worker", "--control", "redis://127.0.0.1:1/0", "--processes", "0"), "--processes must be at least 1"
    )
    _one_line_error(run_bench("run", "--listen", "127.0.0.1", "--results-dir", str(tmp_path)), "is loopback")
    _one_line_error(
        run_bench("run", "--listen", "no-such-address", "--results-dir", str(tmp_path)), "listen must be an IP address"
    )


@pytest.mark.parametrize(
    "flag, folder, message",
    [
        (
            "--results-dir",
            "/proc/bench-cannot-make-this",
            "cannot make the results folder /proc/bench-cannot-make-this",
        ),
        ("--plots-dir", "/etc/hostname/plots", "cannot make the plots folder /etc/hostname/plots: Not a directory"),
    ],
)
def test_a_folder_the_run_cannot_make_is_one_line_before_anything_starts(flag, folder, message, tmp_path, bench_cli):
    other = "--plots-dir" if flag == "--results-dir" else "--results-dir"
    done = run_bench("run", "--profile", "smoke", flag, folder, other, str(tmp_path / "other"))
    _one_line_error(done, message)
    assert not list((tmp_path / "other").glob("*"))  # no run folder: it ended before the run began


@pytest.mark.skipif(not os.access("/usr/sbin/pgbouncer", os.X_OK), reason="Debian's pgbouncer package is not installed")
def test_a_variant_named_by_a_version_its_pgbouncer_is_not_is_refused(tmp_path, bench_cli):
    config = tmp_path / "bench.toml"
    config.write_text(
        "[profiles.mislabelled]\n"
        'architectures = ["prefork-nullpool-pgbouncer#1.24"]\n'
        'variants = { "1.24" = { pgbouncer_binary = "system" } }\n'
        "rates = [10]\n"
    )
    results = tmp_path / "results"
    done = run_bench("run", "--config", str(config), "--profile", "mislabelled", "--results-dir", str(results))
    _one_line_error(
        done, "prefork-nullpool-pgbouncer#1.24: its PgBouncer /usr/sbin/pgbouncer is version 1.18.0, not 1.24"
    )
    assert not results.exists()


@pytest.mark.parametrize(
    "binary, message",
    [
        ("/nonexistent/pgbouncer", "pgbouncer_binary /nonexistent/pgbouncer: no such file"),
        ("/bin/ls", "pgbouncer_binary /bin/ls: not PgBouncer (--version said 'ls (GNU coreutils)"),
        ("{text}", "pgbouncer_binary {text}: does not run (Exec format error)"),
    ],
)
def test_a_pgbouncer_binary_that_is_not_pgbouncer_is_one_line_before_anything_starts(
    binary, message, tmp_path, bench_cli
):
    text = tmp_path / "pgbouncer.txt"  # executable, but text without a #! line
    text.write_text("PgBouncer 1.24.1\n")
    text.chmod(0o755)
    binary, message = binary.format(text=text), message.format(text=text)
    tmp_path = tmp_path / "results"
    tmp_path.mkdir()
    # Refused whether or not an arm of the run needs PgBouncer (the smoke profile's recipe does not).
    done = run_bench("run", "--profile", "smoke", "--pgbouncer-binary", binary, "--results-dir", str(tmp_path))
    _one_line_error(done, message)
    assert not any(tmp_path.iterdir())
    if binary == "/bin/ls":  # the environment variable's value is checked the same way: once shows it
        done = run_bench(
            "run", "--profile", "smoke", "--results-dir", str(tmp_path), env={"BENCH_PGBOUNCER_BINARY": binary}
        )
        _one_line_error(done, message)
