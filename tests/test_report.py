"""report.html from a recorded run: self-contained, every chart embedded, the summary and environment."""

from __future__ import annotations

import base64
import re
from pathlib import Path

from bench.report import write_report
from bench.results import load_run

ALL = Path(__file__).parent / "data" / "all-architectures"


def test_report_is_self_contained_with_charts_table_and_environment(tmp_path):
    run = load_run(ALL)
    page = write_report(run, tmp_path).read_text()
    images = re.findall(r"src='data:image/png;base64,([A-Za-z0-9+/=]+)'", page)
    assert len(images) == 5
    assert all(base64.b64decode(data)[:8] == b"\x89PNG\r\n\x1a\n" for data in images)
    assert not re.search(r"(src|href)=['\"](?!data:)", page)  # nothing fetched from disk or network
    for arch in run.architectures:  # a summary row per step (then its broker), whatever other tables name it
        assert page.count(f">{arch}</td><td class='text'>redis<") == sum(1 for r in run.steps if r["architecture"] == arch)
    assert "What could distort these figures" in page and run.meta["caveats"][0][:40] in page
    assert run.meta["versions"]["sqlalchemy"] in page and run.run_id in page
