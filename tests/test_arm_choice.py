"""A run that fits the task: the probe's shape of a task, and the arms and rates chosen from it."""

import pytest

from bench.architectures import architecture_classes
from bench.run.arm_choice import TaskShape, choose_ways_out, rates_for

CANDIDATES = ["prefork-nullpool-pgbouncer", "prefork-loop-pool", "prefork-sync-pool", "gevent-pool", "async-queue"]


def _candidates(names=CANDIDATES):
    classes = architecture_classes()
    return [(name, classes[name]) for name in names]


# Figures of the shipped workloads' probes in the recipe here (exec, connect, CPU of the process per task, ms).
POINT_SELECT = TaskShape(task_ms=16.0, connect_ms=7.0, worker_cpu_ms=7.7, processes=2)
IO_WAIT = TaskShape(task_ms=36.0, connect_ms=7.0, worker_cpu_ms=8.0, processes=2)
SEND_EMAIL = TaskShape(task_ms=140.0, connect_ms=14.0, worker_cpu_ms=20.0, processes=2)


def test_a_task_that_mostly_waits_is_told_from_one_that_computes():
    assert not POINT_SELECT.waits and IO_WAIT.waits and SEND_EMAIL.waits
    assert POINT_SELECT.wait_share == pytest.approx(1 - 7.7 / 9.0)
    assert SEND_EMAIL.drain_per_s == pytest.approx(2 * 1000 / 140)


def test_one_way_out_per_adoption_class_suited_to_the_shape():
    waits = choose_ways_out(IO_WAIT, _candidates())
    computes = choose_ways_out(POINT_SELECT, _candidates())
    # Where tasks wait, the sync class's arm runs many per process; where they compute, one.
    assert set(waits) == {"prefork-nullpool-pgbouncer", "prefork-loop-pool", "gevent-pool", "async-queue"}
    assert set(computes) == {"prefork-nullpool-pgbouncer", "prefork-loop-pool", "prefork-sync-pool", "async-queue"}
    assert "many tasks per process" in waits["gevent-pool"] and "a process per task" in computes["prefork-sync-pool"]
    classes = architecture_classes()
    assert len({classes[label].adoption for label in waits}) == len(waits)  # one per class
    # A class with one candidate keeps it whatever the shape; the trap is never a way out.
    assert "prefork-loop-pool" in choose_ways_out(IO_WAIT, _candidates(["prefork-loop-pool", "prefork-asyncio-run"]))
    assert choose_ways_out(IO_WAIT, _candidates(["prefork-asyncio-run"])) == {}


def test_rates_sit_around_the_recipes_estimated_drain():
    assert rates_for(POINT_SELECT, (0.6, 1.4)) == [75.0, 175.0]  # drain 125/s: to 5/s
    assert rates_for(SEND_EMAIL, (0.5, 1.0, 2.5), above=4.0) == [7.0, 14.0, 36.0]  # drain 14.3/s: to whole tasks/s
    assert rates_for(TaskShape(1000.0, 0.0, 1.0, 1), (0.5, 1.0), above=4.0) == [5.0]  # above the probe's, never twice
