"""End to end: `bench run` as a user runs it, on real servers, real Celery workers and Locust."""

from __future__ import annotations

import csv
import gzip
import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from bench.record.schema import FOREIGN_LIMIT_PERCENT, SCHEMA_VERSION, SIDE_TABLES, STEP_COLUMNS
from bench.services.pgbouncer import ManagedPgBouncer
from bench.urls import redact_url

from tests.conftest import bench_run_in_background, run_bench

SATURATED_QUEUE_WAIT_MS = 1000
"""A step whose tasks waited over a second in the queue (p99) had a backlog: it is past saturation."""


def _wait_for_a_step(results: Path, proc, poll_s: float = 0.2, timeout_s: float = 120) -> None:
    """Until the run in the background has written its first step (or ended, or the time is up)."""
    deadline = time.time() + timeout_s
    while time.time() < deadline and proc.poll() is None:
        steps = list(results.glob("*/steps.csv"))
        if steps and len(steps[0].read_text().splitlines()) >= 2:
            return
        time.sleep(poll_s)


def _only_run(results: Path) -> Path:
    runs = [p for p in results.iterdir() if p.is_dir() and p.name != "plots"]
    assert len(runs) == 1, runs
    return runs[0]


def _steps(run_dir: Path) -> list[dict]:
    with open(run_dir / "steps.csv", newline="") as f:
        return list(csv.DictReader(f))


def _loadgen_processes(run_dir: Path, row: dict) -> dict[str, dict]:
    """loadgen_processes.csv's rows of one step, by process ("0", "1", ..., "master")."""
    with open(run_dir / "loadgen_processes.csv", newline="") as f:
        return {
            r["process"]: r
            for r in csv.DictReader(f)
            if (r["architecture"], r["step"], r["repetition"]) == (row["architecture"], row["step"], row["repetition"])
        }


def _started_pids(run_dir: Path) -> list[int]:
    """Every PID bench says it started (servers, workers, load generators)."""
    text = (run_dir / "bench.log").read_text()
    pids = [int(p) for p in re.findall(r"pid=(\d+)", text)]
    pids += [int(p) for group in re.findall(r"pids=\[([\d, ]+)\]", text) for p in group.split(",")]
    return pids


def _bench_children_started_after(t0: float) -> list[str]:
    """Processes of ours that outlived the run: workers, load generators, servers started by bench."""
    leftovers = []
    for proc in psutil.process_iter(["pid", "cmdline", "create_time", "environ"]):
        if proc.info["create_time"] < t0:
            continue
        cmd = " ".join(proc.info["cmdline"] or [])
        # An Erlang helper of the machine's own RabbitMQ (`-sname epmd-starter-N`) may come and go
        # meanwhile; bench's node and helpers name bench's folder in their command line or environment.
        erlang_of_bench = "bench-rabbitmq-" in cmd + " ".join((proc.info["environ"] or {}).values())
        if erlang_of_bench or re.search(
            r"bench\.loadgen|bench\.architectures|bench-pg-|redis-server|"
            r"delay_proxy|pgbouncer|-m bench worker|-m bench loadgen|bench\.services\.outside_service",
            cmd,
        ):
            leftovers.append(f"{proc.info['pid']} {cmd}")
    return leftovers


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    results = tmp_path_factory.mktemp("results")
    t0 = time.time()
    plots = tmp_path_factory.mktemp("plots")
    done = run_bench("run", "--profile", "smoke", "--results-dir", str(results), "--plots-dir", str(plots))
    return done, _only_run(results) if done.returncode == 0 else None, t0, plots


def test_smoke_run_succeeds_with_a_summary(smoke_run):
    done, run_dir, _, _ = smoke_run
    assert done.returncode == 0, done.stderr[-3000:]
    assert "prefork-nullpool" in done.stdout and "results:" in done.stdout
    assert {"run.json", "steps.csv", "tasks.csv.gz", "samples.csv", "bench.log"} <= {p.name for p in run_dir.iterdir()}


def test_smoke_nullpool_opens_one_session_per_task(smoke_run):
    _, run_dir, _, _ = smoke_run
    steps = _steps(run_dir)
    assert len(steps) == 3
    for row in steps:
        assert float(row["sessions_per_task"]) == pytest.approx(1.0, abs=0.05), row
        # The client-side count (connect events) agrees with the server's (pg_stat_database.sessions).
        assert float(row["connects_per_task"]) == pytest.approx(float(row["sessions_per_task"]), abs=0.05), row
        assert float(row["connect_p50_ms"]) > 0
        assert 0 < float(row["connect_share"]) < 1


def test_smoke_nothing_is_lost_and_unsaturated_steps_keep_the_offered_rate(smoke_run):
    _, run_dir, _, _ = smoke_run
    steps = _steps(run_dir)
    unsaturated = [r for r in steps if float(r["queue_wait_p99_ms"]) < SATURATED_QUEUE_WAIT_MS]
    assert steps[0] in unsaturated  # the lowest rate must be below saturation, or the test says nothing
    for row in steps:
        assert int(row["completed"]) + int(row["failed"]) == int(row["enqueued"]) == int(row["scheduled"]), row
    for row in unsaturated:
        assert float(row["achieved_rate_per_s"]) == pytest.approx(float(row["offered_rate_per_s"]), rel=0.03), row
        # Kept up: the broker's queue, sampled at 10 Hz, held at most a few messages at a time.
        assert float(row["queue_depth_mean"]) < 1 and int(float(row["queue_depth_peak"])) <= 3, row


def test_smoke_steps_are_measured_after_a_warm_up_that_settled(smoke_run):
    _, run_dir, _, _ = smoke_run
    for row in _steps(run_dir):
        # At least the profile's warmup_seconds (1), ended by the workers settling, not by the 30 s limit.
        assert 1.0 <= float(row["warmup_s"]) < 30 and row["warmup_end"] == "settled", row
        assert row["unsteady"] == "False", row
    log = (run_dir / "bench.log").read_text()
    assert len(re.findall(r"warm-up [\d.]+ s \(settled\), \d+ tasks on \d+ worker processes \(2 of 2 warm\)", log)) == 3


def test_smoke_tasks_and_samples_files_hold_every_arrival(smoke_run):
    _, run_dir, _, _ = smoke_run
    with gzip.open(run_dir / "tasks.csv.gz", "rt", newline="") as f:
        tasks = list(csv.DictReader(f))
    steps = _steps(run_dir)
    measured = [t for t in tasks if t["warmup"] == "False"]
    assert len(measured) == sum(int(r["scheduled"]) for r in steps)
    assert all(t["status"] == "completed" and float(t["latency_ms"]) > 0 for t in measured)
    with open(run_dir / "samples.csv", newline="") as f:
        samples = list(csv.DictReader(f))
    duration_s = float(samples[-1]["elapsed_s"]) - float(samples[0]["elapsed_s"])
    assert len(samples) >= 10 * duration_s * 0.8  # at least 10 Hz, allowing for a busy machine


def test_smoke_run_draws_its_charts_and_report(smoke_run):
    done, run_dir, _, plots = smoke_run
    out = plots / run_dir.name
    for name in ("throughput", "latency", "connections", "handshake", "errors"):
        assert (out / f"{name}.png").stat().st_size > 1000 and (out / f"{name}.svg").exists()
    assert "prefork-nullpool" in (out / "report.html").read_text()
    assert f"report: {out / 'report.html'}" in done.stdout


def test_smoke_run_json_records_the_environment(smoke_run):
    _, run_dir, _, _ = smoke_run
    meta = json.loads((run_dir / "run.json").read_text())
    assert meta["status"] == "complete" and meta["schema_version"] == SCHEMA_VERSION
    # The files are the schema's (bench/record/schema.py): steps.csv's columns, and its side tables.
    with open(run_dir / "steps.csv", newline="") as f:
        assert next(csv.reader(f)) == STEP_COLUMNS
    for table, columns in SIDE_TABLES.items():
        with open(run_dir / f"{table}.csv", newline="") as f:
            assert next(csv.reader(f)) == list(columns), table
    for package in ("python", "celery", "sqlalchemy", "asyncpg", "psycopg", "asgiref", "locust", "postgresql", "redis"):
        assert meta["versions"][package], package
    assert meta["host"]["cpu_count"] >= 1 and meta["profile"]["name"] == "smoke"
    assert meta["caveats"]


def test_smoke_run_leaves_no_process_behind(smoke_run):
    _, run_dir, t0, _ = smoke_run
    pids = _started_pids(run_dir)
    assert len(pids) >= 5  # postgres, redis, the worker and one load generator per step
    assert not [p for p in pids if psutil.pid_exists(p)]
    assert not _bench_children_started_after(t0)


def test_servers_given_by_url_are_used_not_stopped_and_their_password_never_written(services, tmp_path, bench_run):
    # The user's PgBouncer too, in front of the user's database: the PgBouncer arm goes through it.
    pgbouncer = ManagedPgBouncer(tmp_path / "users-pgbouncer", services.postgres)
    (tmp_path / "users-pgbouncer").mkdir()
    with pgbouncer:
        env = {
            "BENCH_DATABASE_URL": services.database_url,
            "BENCH_BROKER_URL": services.broker_url,
            "BENCH_PGBOUNCER_URL": pgbouncer.url,
        }
        results = tmp_path / "results"
        done = run_bench(
            "run",
            "--profile",
            "smoke",
            "--architectures",
            "prefork-nullpool,prefork-nullpool-pgbouncer",
            "--rates",
            "20",
            "--step-seconds",
            "1",
            "--warmup-seconds",
            "0.5",
            "--results-dir",
            str(results),
            "--plots-dir",
            str(tmp_path / "plots"),
            env=env,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        assert pgbouncer.pid is not None and psutil.pid_exists(pgbouncer.pid)  # never stopped
    assert psutil.pid_exists(services.postgres.pid) and psutil.pid_exists(services.broker_server.pid)
    run_dir = _only_run(results)
    meta = json.loads((run_dir / "run.json").read_text())
    # What bench found out before the run: SHOW VERSION on its admin console, and that two clients one
    # after the other shared a server connection (transaction pooling).
    assert meta["pgbouncer_given"] == {"url": redact_url(pgbouncer.url), "version": "1.24.1", "pooling": "transaction"}
    assert meta["pgbouncer_arms"] == {
        "prefork-nullpool-pgbouncer": {"version": "1.24.1", "url": redact_url(pgbouncer.url)}
    }
    log = (run_dir / "bench.log").read_text()
    assert "started pgbouncer" not in log and "stopped pgbouncer" not in log
    with open(run_dir / "steps.csv", newline="") as f:
        rows = {r["architecture"]: r for r in csv.DictReader(f)}
    behind = rows["prefork-nullpool-pgbouncer"]
    assert int(behind["completed"]) > 0 and int(behind["failed"]) == int(behind["lost"]) == 0, behind
    assert behind["pgbouncer_version"] == "1.24.1" and rows["prefork-nullpool"]["pgbouncer_version"] == ""
    # Through PgBouncer the database sees almost no new sessions per task; directly, one per task.
    assert float(behind["sessions_per_task"]) * 10 < float(rows["prefork-nullpool"]["sessions_per_task"])
    password = services.postgres.password  # PgBouncer's URL holds it too
    for path in [*run_dir.rglob("*"), *(tmp_path / "plots").rglob("*")]:
        if path.is_file():
            content = gzip.open(path).read() if path.suffix == ".gz" else path.read_bytes()
            assert password.encode() not in content, path
    assert password not in done.stdout + done.stderr
    assert meta["profile"]["database_url"].count("***") == meta["profile"]["pgbouncer_url"].count("***") == 1


def test_a_neighbour_burning_a_core_disturbs_the_steps_it_overlaps_and_the_advice_leaves_them_out(tmp_path, bench_run):
    # A busy process of the test's own beside the run's first step, and an idle one whose command line
    # reads as another `bench run` (it burns nothing: only that it is there disturbs), both stopped once
    # that step is written.
    burner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    other_run = subprocess.Popen(["bash", "-c", "sleep 300; true", "bench", "run"])
    try:
        with bench_run_in_background(tmp_path, "--profile", "smoke", "--rates", "10,20") as proc:
            _wait_for_a_step(tmp_path, proc, poll_s=0.05)  # the neighbours stop as soon as the step is written
            burner.kill()
            other_run.kill()
            _, stderr = proc.communicate(timeout=120)
    finally:
        for neighbour in (burner, other_run):
            neighbour.kill()
            neighbour.wait()
    assert proc.returncode == 0, stderr[-3000:]
    run_dir = _only_run(tmp_path)
    with open(run_dir / "steps.csv", newline="") as f:
        first, second = csv.DictReader(f)
    # The burner had a core to itself (bench at 10/s leaves one free): most of a core is foreign; after
    # it, the run's own processes account for nearly all the machine's CPU.
    assert first["disturbed"] == "True" and float(first["foreign_cpu_percent"]) > 2 * FOREIGN_LIMIT_PERCENT, first
    assert second["disturbed"] == "False" and float(second["foreign_cpu_percent"]) < FOREIGN_LIMIT_PERCENT, second
    assert (first["neighbour_runs"], second["neighbour_runs"]) == ("1", "0")
    meta = json.loads((run_dir / "run.json").read_text())
    assert any(f"(pid {other_run.pid})" in caveat for caveat in meta["caveats"]), meta["caveats"]
    advice = json.loads((run_dir / "advice.json").read_text())
    assert any(
        line.startswith("Disturbed, so left out") and "prefork-nullpool at 10/s" in line and "another bench run" in line
        for line in advice["text"]
    )
    # Judged on the undisturbed step alone.
    assert advice["architectures"]["prefork-nullpool"]["rate_per_s"] == 20


def test_sigint_mid_run_keeps_finished_steps_and_stops_everything(tmp_path, bench_run):
    t0 = time.time()
    # With the delay proxy (rtt 0), a RabbitMQ node (and its epmd) as the broker and send_email's
    # outside service, so they are among what a Ctrl-C must stop.
    with bench_run_in_background(
        tmp_path, "--profile", "smoke", "--rtt-ms", "0", "--broker", "rabbitmq", "--workload", "send_email"
    ) as proc:
        _wait_for_a_step(tmp_path, proc)
        time.sleep(1.0)  # into the next step, with its load generator running
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=90)
    assert proc.returncode == 130, stderr[-2000:]
    assert "Traceback" not in stderr
    run_dir = _only_run(tmp_path)
    assert 1 <= len(_steps(run_dir)) < 3
    assert json.loads((run_dir / "run.json").read_text())["status"] == "interrupted"
    assert not [p for p in _started_pids(run_dir) if psutil.pid_exists(p)]
    assert not _bench_children_started_after(t0)


def test_three_load_generator_processes_share_a_step_and_each_reports_its_lag_and_cpu(tmp_path, bench_run):
    t0 = time.time()
    done = run_bench(
        "run",
        "--profile",
        "smoke",
        "--architectures",
        "async-queue",
        "--rates",
        "200",
        "--step-seconds",
        "2",
        "--loadgen-processes",
        "3",
        "--results-dir",
        str(tmp_path),
        "--plots-dir",
        str(tmp_path / "plots"),
    )
    assert done.returncode == 0, done.stderr[-3000:]
    (row,) = _steps(_only_run(tmp_path))
    assert int(row["scheduled"]) == int(row["enqueued"]) == int(row["completed"]) == 400 and int(row["lost"]) == 0
    assert float(row["achieved_rate_per_s"]) == pytest.approx(200, rel=0.03)
    assert float(row["sent_rate_per_s"]) == pytest.approx(200, rel=0.01)  # a uniform schedule, sent on time
    assert int(row["loadgen_processes"]) == 3
    processes = _loadgen_processes(_only_run(tmp_path), row)
    lags = {name: p["send_late_p99_ms"] for name, p in processes.items() if p["send_late_p99_ms"]}
    assert set(lags) == {"0", "1", "2"} and all(float(v) >= 0 for v in lags.values())
    cpu = {name: p["cpu_percent"] for name, p in processes.items()}
    assert set(cpu) == {"master", "0", "1", "2"}
    # The role's CPU is the processes' together: within 10 %, or 5 points of a core, since each meter is
    # read at its own instant of the same polls in 10 ms clock ticks: four meters' two edges can differ
    # from the role's by up to 80 ms, 4 points over a 2 s window (28.1 against 25.5 in one CI run).
    assert sum(map(float, cpu.values())) == pytest.approx(float(row["loadgen_cpu_percent"]), rel=0.1, abs=5)
    assert not _bench_children_started_after(t0)


def test_two_single_smoke_runs_get_no_verdict_on_latency_throughput_or_rates(smoke_run, tmp_path):
    # Two runs of the same settings, back to back: whatever they drifted by, `bench compare` must not
    # call it better or worse (single runs: the drift between runs is unknown).
    _, first, _, _ = smoke_run
    done = run_bench(
        "run", "--profile", "smoke", "--results-dir", str(tmp_path / "results"), "--plots-dir", str(tmp_path / "plots")
    )
    assert done.returncode == 0, done.stderr[-3000:]
    second = _only_run(tmp_path / "results")
    compared = run_bench("compare", str(first), str(second), "--format", "csv", "--plots-dir", str(tmp_path / "plots"))
    assert compared.returncode == 0, compared.stderr
    rows = list(csv.DictReader(compared.stdout.splitlines()))
    drifting = [
        r
        for r in rows
        if r["metric"]
        in ("latency_p50_ms", "latency_p99_ms", "connect_p50_ms", "throughput_per_s", "achieved_rate_per_s")
    ]
    assert len(drifting) == 3 * 5, rows
    verdicts = {(r["step"], r["metric"]): (r["verdict"], r["baseline"], r["contender"]) for r in drifting}
    assert not [k for k, (verdict, *_) in verdicts.items() if verdict in ("better", "worse")], verdicts
