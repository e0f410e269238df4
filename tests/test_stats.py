import math
from collections import Counter

import pytest

from bench.record.collect import TaskRecord
from bench.measures import Enqueue
from bench.schedule import StepPlan
from bench.record.schema import FOREIGN_LIMIT_PERCENT, FOREIGN_SLACK_CPU_S
from bench.record.stats import StepMeasurements, format_errors, percentile, summarize, task_rows

MS = 1_000_000


def test_percentile_is_nearest_rank():
    values = list(range(1, 101))
    assert percentile(values, 50) == 50
    assert percentile(values, 99) == 99
    assert percentile(values, 100) == 100
    assert percentile([5.0], 99) == 5.0
    assert math.isnan(percentile([], 50))


def test_format_errors_most_frequent_first():
    assert format_errors(Counter({"TimeoutError": 2, "InterfaceError": 5})) == "InterfaceError:5;TimeoutError:2"
    assert format_errors(Counter()) == ""


def _step(rate=10.0, warmup_s=1.0, measure_s=4.0, service_ms=5, lose=(), fail=()):
    """A step whose tasks each start 1 ms after enqueue and take `service_ms`, one 2 ms connect each."""
    plan = StepPlan(0, rate, warmup_s, measure_s, "uniform", 1)
    start = 10_000 * MS
    enqueues, records = [], {}
    for seq, offset in enumerate(plan.offsets_ns()):
        task_id = plan.task_id(seq)
        scheduled = start + offset
        enqueues.append(Enqueue(task_id, scheduled, scheduled + MS // 10, scheduled + MS // 2, ""))
        if seq in lose:
            continue
        records[task_id] = TaskRecord(
            task_id,
            scheduled,
            scheduled + MS + MS // 2,
            scheduled + MS + MS // 2 + service_ms * MS,
            [2 * MS],
            "InterfaceError" if seq in fail else None,
            42,
        )
    return StepMeasurements("arch", "point_select", plan, start, enqueues, records, sessions_opened=50)


def test_summarize_a_step_that_keeps_up():
    row = summarize(_step())
    assert row["scheduled"] == row["enqueued"] == row["completed"] == 40
    assert row["failed"] == row["lost"] == 0
    assert row["achieved_rate_per_s"] == pytest.approx(10.0, rel=1e-3)
    assert row["throughput_per_s"] == pytest.approx(10.0, rel=0.03)
    assert row["latency_p50_ms"] == pytest.approx(6.5)
    assert row["queue_wait_p50_ms"] == pytest.approx(1.0)
    assert row["exec_p50_ms"] == pytest.approx(5.0)
    assert row["connect_p50_ms"] == pytest.approx(2.0)
    assert row["connect_share"] == pytest.approx(0.4)
    assert row["send_late_p99_ms"] == pytest.approx(0.1)
    assert row["send_p99_ms"] == pytest.approx(0.4)
    assert row["connects_per_task"] == pytest.approx(1.0)
    assert row["sessions_per_task"] == pytest.approx(1.0)  # 50 sessions over 50 tasks, warm-up included


def test_summarize_counts_lost_and_failed_apart_and_names_errors():
    row = summarize(_step(lose={20, 21}, fail={30}))
    assert row["lost"] == 2
    assert row["failed"] == 1
    assert row["completed"] == 37
    assert row["completed"] + row["failed"] + row["lost"] == row["enqueued"]
    assert row["errors"] == "Lost:2;InterfaceError:1"


def test_achieved_rate_falls_when_a_backlog_forms():
    m = _step(rate=20.0)
    # Workers that can only finish one task every 100 ms: 10/s against 20/s offered.
    ordered = sorted(m.records.values(), key=lambda r: r.scheduled_ns)
    for i, r in enumerate(ordered):
        r.finished_ns = ordered[0].started_ns + (i + 1) * 100 * MS
    row = summarize(m)
    assert row["achieved_rate_per_s"] == pytest.approx(10.0, rel=0.01)


def test_task_rows_mark_warmup_and_status():
    rows = task_rows(_step(lose={15}), run_start_ns=0)
    assert len(rows) == 50
    assert sum(r["warmup"] for r in rows) == 10
    assert [r["status"] for r in rows].count("lost") == 1
    assert float(rows[0]["latency_ms"]) == pytest.approx(6.5)


def test_mean_ci95_uses_students_t():
    from bench.record.stats import mean_ci95, t95

    mean, half = mean_ci95([10.0, 12.0, 14.0])
    assert mean == pytest.approx(12.0)
    assert half == pytest.approx(4.303 * 2.0 / 3**0.5, rel=1e-3)  # t(2) * sd / sqrt(n)
    assert math.isnan(mean_ci95([5.0])[1])
    assert t95(100) == pytest.approx(1.984, rel=1e-3) and t95(1) == pytest.approx(12.706, rel=1e-4)


def test_spread_gives_median_and_range():
    from bench.record.stats import Spread

    spread = Spread.of([166.0, 206.0, 190.0])
    assert (spread.median, spread.low, spread.high, spread.count) == (190.0, 166.0, 206.0, 3)
    assert str(spread) == "190 (166–206)" and str(Spread.of([5.0])) == "5"
    assert spread.overlaps(Spread.of([200.0, 300.0])) and not spread.overlaps(Spread.of([943.0, 1101.0]))
    assert Spread.of([]) is None


def test_cpu_per_task_of_each_role_and_connections_opened_per_second():
    m = _step()  # 10 tasks/s, all finished inside the 4 s window; 50 sessions over 50 tasks
    m.cpu_percent = {"cpu_percent": 25.0, "db_cpu_percent": 5.0, "machine_cpu_percent": 40.0}
    row = summarize(m)
    assert row["worker_cpu_ms_per_task"] == pytest.approx(25.0, rel=0.03)  # a quarter core over 10 tasks/s
    assert row["db_cpu_ms_per_task"] == pytest.approx(5.0, rel=0.03)
    assert row["machine_cpu_ms_per_task"] == pytest.approx(40.0, rel=0.03)
    assert row["broker_cpu_ms_per_task"] == ""  # not measured, not made up
    assert row["connections_opened_per_s"] == pytest.approx(10.0, rel=0.03)


def test_foreign_load_is_what_every_process_used_less_what_bench_and_its_servers_used():
    m = _step()
    m.cpu_percent = {
        "cpu_percent": 25.0,
        "machine_cpu_percent": 48.0,  # interrupts included, which no process is charged with
        "processes_cpu_percent": 40.0,
        "bench_tree_cpu_percent": 35.0,  # bench, its children (workers, load generators), its servers
    }
    row = summarize(m)
    assert row["foreign_cpu_percent"] == pytest.approx(5.0) and row["disturbed"] is False
    # The window is 4 s: past the limit by the meters' slack over it, a neighbour; within the slack, not.
    slack_percent = 100 * FOREIGN_SLACK_CPU_S / 4.0
    m.cpu_percent["processes_cpu_percent"] = 35.0 + FOREIGN_LIMIT_PERCENT + slack_percent + 0.1
    row = summarize(m)
    assert row["foreign_cpu_percent"] == pytest.approx(FOREIGN_LIMIT_PERCENT + slack_percent + 0.1)
    assert row["disturbed"] is True
    m.cpu_percent["processes_cpu_percent"] = 35.0 + FOREIGN_LIMIT_PERCENT + slack_percent - 0.1
    assert summarize(m)["disturbed"] is False
    m.cpu_percent["processes_cpu_percent"] = 34.0  # meters read ms apart: a little under bench's own is none
    assert summarize(m)["foreign_cpu_percent"] == 0.0
    del m.cpu_percent["processes_cpu_percent"]  # not metered: unknown, and not disturbed
    row = summarize(m)
    assert row["foreign_cpu_percent"] == "" and row["disturbed"] is False


def test_another_bench_run_beside_a_step_disturbs_it_whatever_its_foreign_load_read():
    m = _step()
    m.cpu_percent = {"processes_cpu_percent": 40.0, "bench_tree_cpu_percent": 35.0}  # 5 %: a light neighbour
    assert summarize(m)["disturbed"] is False and summarize(m)["neighbour_runs"] == 0
    m.neighbour_runs = [4242]
    row = summarize(m)
    assert row["disturbed"] is True and row["neighbour_runs"] == 1 and row["foreign_cpu_percent"] == pytest.approx(5.0)


def test_load_generator_cpu_is_per_task_sent_even_when_the_workers_fall_behind():
    m = _step(rate=20.0)  # 20 tasks/s sent; workers finishing one task every 100 ms (10/s)
    ordered = sorted(m.records.values(), key=lambda r: r.scheduled_ns)
    for i, r in enumerate(ordered):
        r.finished_ns = ordered[0].started_ns + (i + 1) * 100 * MS
    m.cpu_percent = {"cpu_percent": 50.0, "loadgen_cpu_percent": 4.0}
    row = summarize(m)
    assert row["loadgen_cpu_ms_per_task"] == pytest.approx(2.0, rel=0.03)  # 4 % of a core over 20 sends/s
    # The workers' stays per task finished in the window: fewer than 10/s there (the backlog's first
    # finishes fall in the warm-up), so more than half a core over 10/s.
    assert row["worker_cpu_ms_per_task"] > 50.0


def test_bound_role_names_the_role_whose_cpu_set_ran_out():
    from bench.record.stats import bound_role

    pinned = {"db": "0", "workers": "1", "broker": "1", "loadgen": "1"}
    # The database used 95 % of its one core; workers, broker and load generator 70 % of theirs together.
    cpu = {"db_cpu_percent": 95.0, "cpu_percent": 50.0, "broker_cpu_percent": 5.0, "loadgen_cpu_percent": 15.0}
    assert bound_role(cpu, pinned) == "db"
    # The shared core full: its busiest role is named.
    cpu = {"db_cpu_percent": 60.0, "cpu_percent": 75.0, "broker_cpu_percent": 5.0, "loadgen_cpu_percent": 15.0}
    assert bound_role(cpu, pinned) == "workers"
    assert bound_role({"db_cpu_percent": 50.0, "cpu_percent": 50.0}, pinned) == ""
    assert bound_role({"db_cpu_percent": 99.0}, {}) == ""  # nothing pinned, nothing named
    # The core's own busy time, where measured, counts what no role is charged with (interrupts,
    # unpinned processes): the roles add up to 88 %, the core was 93 % busy.
    cpu = {"db_cpu_percent": 70.0, "cpu_percent": 77.0, "broker_cpu_percent": 2.0, "loadgen_cpu_percent": 9.0}
    assert bound_role(cpu, pinned) == ""
    assert bound_role({**cpu, "cpuset 1": 93.0, "cpuset 0": 71.0}, pinned) == "workers"


def test_a_step_whose_latency_falls_across_it_is_unsteady_and_one_whose_latency_rises_is_not():
    from bench.record.collect import TaskRecord
    from bench.record.stats import unsteady

    def tasks(latencies_ms):
        return [
            TaskRecord(f"0.0.{i}", i * 10**7, i * 10**7, i * 10**7 + round(ms * 1e6))
            for i, ms in enumerate(latencies_ms)
        ]

    draining = [500 - 5 * i for i in range(100)]  # a backlog draining in the measured part: 500 down to 5 ms
    assert unsteady(tasks(draining))
    assert not unsteady(tasks(list(reversed(draining))))  # past capacity: latency grows, the step broke
    assert not unsteady(tasks([10 + (i % 7) for i in range(100)]))  # steady, with noise
    assert not unsteady(tasks(draining[:15]))  # too few tasks for tenths of two


def test_a_spread_is_below_a_value_only_when_every_repetition_is_and_there_are_two():
    from bench.record.stats import Spread

    assert Spread.of([100.0, 120.0, 110.0]).below(121.0) and not Spread.of([100.0, 120.0]).below(120.0)
    assert not Spread.of([100.0]).below(300.0)  # one drain says nothing of the spread: not judged short
