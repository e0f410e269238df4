"""What a person sees during and after a run: a progress bar per step and a summary table."""

from __future__ import annotations

import contextlib
import sys
from typing import Callable, Iterator

from rich import box
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from bench.observer import RunObserver
from bench.record.schema import FOREIGN_LIMIT_PERCENT

# Piped output (CI logs, files) would otherwise be cut to 80 columns; the summary fits 100, --wide 240.
PIPED_WIDTH = 240
stderr = Console(stderr=True, width=None if sys.stderr.isatty() else PIPED_WIDTH)
stdout = Console(width=None if sys.stdout.isatty() else PIPED_WIDTH)

SUMMARY_COLUMNS = [
    ("architecture", "architecture", None),
    ("broker", "broker", None),
    ("step", "step", None),
    ("offered/s", "offered_rate_per_s", "{:g}"),
    ("run", "repetition", None),
    ("achieved/s", "achieved_rate_per_s", "{:.1f}"),
    ("tput/s (min–max)", "throughput_spread", None),
    ("ok", "completed", None),
    ("failed", "failed", None),
    ("lost", "lost", None),
    ("p50 ms", "latency_p50_ms", "{:.1f}"),
    ("p99 ms", "latency_p99_ms", "{:.1f}"),
    ("conn p50 ms", "connect_p50_ms", "{:.2f}"),
    ("conn share", "connect_share", "{:.0%}"),
    ("sess/task", "sessions_per_task", "{:.2f}"),
    ("peak conns", "connections_peak", None),
    ("late p99 ms", "send_late_p99_ms", "{:.1f}"),
    ("worker cpu %", "cpu_percent", "{:.0f}"),
    ("broker ms/task", "broker_cpu_ms_per_task", "{:.2f}"),
    ("machine cpu %", "machine_cpu_percent", "{:.0f}"),
    ("foreign cpu %", "foreign_cpu_percent", "{:.0f}"),
    ("errors", "errors", None),
]
"""Every column, for `--wide` and the report."""
NARROW_COLUMNS = [
    ("architecture", "architecture", None),
    ("rate/s", "offered_rate_per_s", "{:g}"),
    ("done/s", "done_rate", None),
    ("p50 ms", "latency_p50_ms", "{:.1f}"),
    ("p99 ms", "latency_p99_ms", "{:.1f}"),
    ("conn %", "connect_share", "{:.0%}"),
    ("sess/task", "sessions_per_task", "{:.2f}"),
    ("failed", "failed", None),
]
"""The columns that answer the question, in 100 terminal columns: the rate offered, the rate done
(achieved; for a saturation step the drain, median and range of its runs), latency, the share of
task time spent connecting, sessions per task, failures. The rest: steps.csv, the report, --wide."""


TAG_STYLES = {"done": "green"}
"""Colour of a notice's tag; any other tag is a warning (yellow)."""


class TerminalObserver(RunObserver):
    """A run as `bench run` shows it on stderr: notices, a spinner for warm-ups, a transient bar of
    tasks processed / tasks scheduled per step."""

    def notice(self, text: str, tag: str | None = None) -> None:
        head = f"[{TAG_STYLES.get(tag, 'yellow')}]{tag}[/] " if tag else ""
        stderr.print(head + text)

    @contextlib.contextmanager
    def status(self, text: str) -> Iterator[None]:
        with stderr.status(text):
            yield

    @contextlib.contextmanager
    def progress(self, label: str) -> Iterator[Callable[[int, int], None]]:
        with Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=stderr,
            transient=True,
            refresh_per_second=2,
        ) as bar:
            task = bar.add_task(label, total=None)

            def update(done: int, total: int) -> None:
                bar.update(task, completed=done, total=total)

            yield update


def summary_table(rows: list[dict], title: str, wide: bool = False) -> Table:
    """The end-of-run table: NARROW_COLUMNS, or with `wide` every column of SUMMARY_COLUMNS. Only
    text (architecture names, errors) wraps; headers and numbers never do."""
    columns = SUMMARY_COLUMNS if wide else NARROW_COLUMNS
    table = Table(title=title, box=box.SIMPLE_HEAD, padding=(0, 1), title_justify="left")
    for header, _, _ in columns:
        text = header in ("architecture", "broker", "errors")
        table.add_column(
            header,
            justify="left" if text else "right",
            no_wrap=not text,
            overflow="fold" if text else "ellipsis",
            min_width=12 if header == "architecture" else len(header),
        )
    for row in rows:
        table.add_row(*(cell_text(row, key, fmt) for _, key, fmt in columns))
    if any(is_disturbed(row) for row in rows):
        table.caption, table.caption_justify = DISTURBED_NOTE, "left"
    return table


DISTURBED_NOTE = (
    f"* disturbed: processes not bench's used more than {FOREIGN_LIMIT_PERCENT:g} % of a core during the step "
    "(foreign cpu %), or another bench run was active; the advice leaves it out"
)


def is_disturbed(row: dict) -> bool:
    return row.get("disturbed") in (True, "True")


def cell_text(row: dict, key: str, fmt: str | None) -> str:
    """A steps.csv row's value as the summary shows it: "max" for a saturation step's rate (and "@ 5 ms"
    after it where the step ran at a distance), and
    throughput as the median and range of the step's repetitions where it has several."""
    if key == "offered_rate_per_s":
        rate = "max" if row.get("saturation") in (True, "True") else format_cell(row.get(key), fmt)
        rate += "*" if is_disturbed(row) else ""
        rtt = row.get("rtt_ms")
        return rate if rtt in ("", None) else f"{rate} @ {float(rtt):g} ms"  # the distance, where the run had one
    if key == "done_rate":  # a saturation step's is its drain, the median and range of its runs
        if row.get("saturation") in (True, "True"):
            return _spread(row, "{:.0f}")
        return format_cell(row.get("achieved_rate_per_s"), "{:.1f}")
    if key == "throughput_spread":
        return _spread(row, "{:.1f}")
    return format_cell(row.get(key), fmt)


def _spread(row: dict, fmt: str) -> str:
    """Throughput as the median and range of the step's repetitions where it has several."""
    if int(float(row.get("repeats") or 1)) > 1 and row.get("throughput_median_per_s") not in ("", None):
        low, high = (fmt.format(float(row[k])) for k in ("throughput_min_per_s", "throughput_max_per_s"))
        return f"{fmt.format(float(row['throughput_median_per_s']))} ({low}–{high})"
    return format_cell(row.get("throughput_per_s"), fmt)


def format_cell(value, fmt: str | None) -> str:
    if value in ("", None):
        return "-"
    if fmt is None:
        return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)
    try:
        return fmt.format(float(value))
    except (TypeError, ValueError):
        return str(value)
