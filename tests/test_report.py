"""report.html from a recorded run: self-contained, every chart embedded, the summary and environment."""

from __future__ import annotations

import base64
import re
from pathlib import Path

from bench.output.report import write_report
from bench.record.results import load_run

ALL = Path(__file__).parent / "data" / "all-architectures"


def test_report_is_self_contained_with_charts_table_and_environment(tmp_path):
    run = load_run(ALL)
    page = write_report(run, tmp_path).read_text()
    images = re.findall(r"src='data:image/png;base64,([A-Za-z0-9+/=]+)'", page)
    assert len(images) == 6  # the answer first, then the five charts of every run
    assert all(base64.b64decode(data)[:8] == b"\x89PNG\r\n\x1a\n" for data in images)
    assert not re.search(r"(src|href)=['\"](?!data:)", page)  # nothing fetched from disk or network
    for arch in run.architectures:  # a summary row per step (then its broker), whatever other tables name it
        assert page.count(f">{arch}</td><td class='text'>redis<") == sum(
            1 for r in run.steps if r["architecture"] == arch
        )
    assert "What could distort these figures" in page and run.meta["caveats"][0][:40] in page
    assert run.meta["versions"]["sqlalchemy"] in page and run.run_id in page


QUICK = Path(__file__).parent / "data" / "quick-ceilings"


def test_the_report_opens_with_the_answer_its_chart_and_the_ways_out_table(tmp_path):
    run = load_run(QUICK)
    page = write_report(run, tmp_path).read_text()
    answer, _, rest = page.partition("<h2>When to leave the NullPool recipe</h2>")
    assert answer.count("<img") == 1 and "alt='answer chart'" in answer
    ways = re.search(r"<table class='ways'>(.*?)</table>", answer).group(1)
    assert ways.count("<tr>") == 1 + 5  # a header, the recipe and its four ways out
    assert ">prefork-nullpool-pgbouncer<" in ways and "1109 (1020–1262)" in ways  # async-queue's ceiling, its range
    assert "Beyond that, the fastest way out here is async-queue" in answer  # the one sentence
    assert (tmp_path / "answer.png").exists() and "<img" in rest


def test_the_markdown_report_parses_with_the_summary_as_a_table(tmp_path, bench_cli):
    import shutil

    from markdown_it import MarkdownIt

    from tests.conftest import run_bench

    shutil.copytree(QUICK, tmp_path / "results" / "quick")
    done = run_bench(
        "report",
        "quick",
        "--format",
        "markdown",
        "--results-dir",
        str(tmp_path / "results"),
        "--plots-dir",
        str(tmp_path / "plots"),
    )
    assert done.returncode == 0, done.stderr
    tokens = MarkdownIt("commonmark").enable("table").parse(done.stdout)
    tables, rows, cells = [], None, None
    for token in tokens:
        if token.type == "table_open":
            rows = []
        elif token.type == "tr_open":
            cells = []
        elif token.type == "inline" and cells is not None:
            cells.append(token.content)
        elif token.type == "tr_close":
            rows.append(cells)
            cells = None
        elif token.type == "table_close":
            tables.append(rows)
    ways, summary = tables
    run = load_run(QUICK)
    assert ways[0][:3] == ["arm", "what it asks of the code", "sustains/s"] and len(ways) == 1 + 5
    assert summary[0][:3] == ["architecture", "rate/s", "done/s"] and len(summary) == 1 + len(run.steps)
    assert [r[0] for r in summary[1:]] == [s["architecture"] for s in run.steps]
    headings = [t.content for i, t in enumerate(tokens) if t.type == "inline" and tokens[i - 1].type == "heading_open"]
    assert headings[1:] == ["Ways out", "Advice", "Summary"]
