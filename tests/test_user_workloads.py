"""A team's own workload, from outside bench (`--workload path/to/file.py:Class` or `module:Class`):
loaded the same way in bench and in every worker, its task body run by the arms whose engine takes
it, the others skipped at the start with one line each; bad references refused in one line."""

from __future__ import annotations

import json
import textwrap

import pytest

from bench.architectures import architecture_classes
from bench.cli import main
from bench.workload import ASYNC, SYNC, Workload
from bench.workload_loader import absolute_ref, workload_class
from tests.test_run import _only_run, _steps

ASYNC_ONLY = '''
    """A team's task, outside bench: the ORM, an async body only."""
    import random

    from sqlalchemy import Integer, String, func, select
    from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

    from bench.workload import Workload


    class Base(DeclarativeBase):
        pass


    class Order(Base):
        __tablename__ = "user_orders"
        id: Mapped[int] = mapped_column(Integer, primary_key=True)
        status: Mapped[str] = mapped_column(String(16))


    class Orders(Workload):
        def setup(self, connection):
            Base.metadata.drop_all(connection)
            Base.metadata.create_all(connection)
            connection.execute(Order.__table__.insert(),
                               [{"id": i, "status": "open" if i % 3 else "paid"} for i in range(1, self.table_rows + 1)])

        async def run_async(self, session, rng: random.Random) -> None:
            order = await session.get(Order, rng.randint(1, self.table_rows))
            open_orders = await session.scalar(select(func.count()).select_from(Order).where(Order.status == "open"))
            if order is None or not open_orders:
                raise LookupError("the seeded orders are not there")


    class NotOne:
        pass


    class NoBody(Workload):
        pass
'''


@pytest.fixture
def orders_file(tmp_path):
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    path = folder / "orders.py"
    path.write_text(textwrap.dedent(ASYNC_ONLY))
    return path


def test_a_workload_class_says_which_bodies_it_gives(orders_file):
    orders = workload_class(f"{orders_file}:Orders")
    assert orders.bodies() == {ASYNC} and orders.name == "Orders"
    assert workload_class("point_select").bodies() == {ASYNC, SYNC}  # statements(): both
    assert workload_class(f"{orders_file}:Orders") is orders  # loaded once, however often it is named

    class SyncOnly(Workload):
        def run_sync(self, session, rng):
            pass

    assert SyncOnly.bodies() == {SYNC}


def test_a_relative_file_reference_is_made_absolute_for_the_workers(orders_file, monkeypatch):
    monkeypatch.chdir(orders_file.parent.parent)
    assert absolute_ref("elsewhere/orders.py:Orders") == f"{orders_file}:Orders"
    assert absolute_ref("point_select") == "point_select" and absolute_ref("a.b:C") == "a.b:C"


BAD_REFS = [
    ("{dir}/nosuch.py:Orders", "no such file"),
    ("no_such_module_here:Orders", "no module named 'no_such_module_here'"),
    ("{file}:Missing", "has no Missing"),
    ("{file}:NotOne", "NotOne is not a Workload"),
    ("{file}:NoBody", "NoBody has no task body"),
    ("{raises}:Orders", "raised ZeroDivisionError"),
    ("nosuch_shipped", "unknown workload 'nosuch_shipped'"),
    ("{file}:", "write it as module:Class or path/to/file.py:Class"),
]


@pytest.mark.parametrize("ref, expected", BAD_REFS, ids=[ref for ref, _ in BAD_REFS])
def test_a_bad_workload_reference_is_one_line_and_exit_2(ref, expected, orders_file, tmp_path, capsys):
    raises = tmp_path / "raises.py"
    raises.write_text("1 / 0\n")
    ref = ref.format(dir=tmp_path, file=orders_file, raises=raises)
    code = main(
        [
            "run",
            "--profile",
            "smoke",
            "--workload",
            ref,
            "--results-dir",
            str(tmp_path / "r"),
            "--plots-dir",
            str(tmp_path / "p"),
        ]
    )
    lines = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("bench: error: "), lines
    assert expected in lines[0], lines[0]
    assert not (tmp_path / "r").exists()


def test_a_run_with_no_arm_for_the_workload_is_refused(orders_file, tmp_path, capsys):
    code = main(
        [
            "run",
            "--profile",
            "smoke",
            "--architectures",
            "prefork-sync-pool",
            "--workload",
            f"{orders_file}:Orders",
            "--results-dir",
            str(tmp_path / "r"),
        ]
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "no architecture of the run can run" in err[0], err


def test_an_async_only_workload_from_elsewhere_runs_in_every_async_worker_and_the_sync_arms_are_skipped(
    orders_file, tmp_path, bench_run
):
    names = architecture_classes()
    # The PgBouncer arms run the recipe's own workers (its module, its task) against PgBouncer's URL:
    # the recipe's arm runs their body. Each of the others has workers of its own.
    async_arms = sorted(n for n, cls in names.items() if cls.body == ASYNC and not cls.pgbouncer)
    sync_arms = sorted(n for n, cls in names.items() if cls.body == SYNC)
    assert len(async_arms) >= 5 and len(sync_arms) >= 3
    done = bench_run(
        "run",
        "--profile",
        "smoke",
        "--architectures",
        ",".join(async_arms + sync_arms),
        "--rates",
        "20",
        "--workload",
        f"{orders_file}:Orders",
        "--results-dir",
        str(tmp_path / "r"),
        "--plots-dir",
        str(tmp_path / "p"),
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    skipped_lines = [line for line in done.stderr.splitlines() if ": skipped: " in line]
    assert sorted(skipped_lines) == sorted(f"{arm}: skipped: Orders has no run_sync" for arm in sync_arms)
    run_dir = _only_run(tmp_path / "r")
    rows = _steps(run_dir)
    assert sorted(r["architecture"] for r in rows) == async_arms
    for row in rows:  # the body ran, through the ORM, in each: no task went missing, and none failed
        # but in the trap (asyncio.run with a pool), whose failures are what it is there to show
        assert int(row["completed"]) + int(row["failed"]) == int(row["scheduled"]) > 0 and int(row["lost"]) == 0, row
        if not names[row["architecture"]].trap:
            assert int(row["failed"]) == 0, row
    skipped = json.loads((run_dir / "run.json").read_text())["skipped"]
    assert sorted(s["arm"] for s in skipped) == sync_arms
    advice = json.loads((run_dir / "advice.json").read_text())["text"]
    assert [line for line in advice if line.startswith("Not run: ")] == [
        f"Not run: {', '.join(sorted(sync_arms))} (Orders has no run_sync)."
    ]
