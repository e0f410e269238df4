"""The results schema: one spec (bench/record/schema.py) for steps.csv, its reading and docs/results.md; one
percentile definition; recorded runs still load and say what they said."""

import csv
import json
from pathlib import Path

import pytest

from bench.analysis.advice import advise, limits_for
from bench.record.results import load_run
from bench.record.schema import DOC, PERCENTILE_METHOD, RETIRED_COLUMNS, STEP_COLUMNS, results_markdown
from bench.record.stats import percentile

DATA = Path(__file__).parent.parent / "data"
RECORDED = sorted(p.name for p in DATA.iterdir() if (p / "run.json").exists())


def test_docs_results_md_is_made_from_the_spec():
    assert DOC.read_text() == results_markdown(), "docs/results.md is stale: run `python -m bench.record.schema`"


@pytest.mark.parametrize("run", RECORDED)
def test_every_recorded_column_is_in_the_spec_or_retired(run):
    with open(DATA / run / "steps.csv", newline="") as f:
        header = next(csv.reader(f))
    assert set(header) <= set(STEP_COLUMNS) | set(RETIRED_COLUMNS), set(header) - set(STEP_COLUMNS)


@pytest.mark.parametrize("run", [r for r in RECORDED if (DATA / r / "tasks.csv.gz").exists()])
def test_steps_csv_and_compare_agree_on_every_percentile(run):
    """steps.csv's percentiles, recomputed from the run's tasks by the definition `bench compare`
    bootstraps with (numpy's PERCENTILE_METHOD), are the same numbers."""
    import numpy as np

    data = load_run(DATA / run)
    checked = 0
    for row in data.steps:
        latencies = data.task_latencies(row)
        if not latencies:
            continue
        for q in (50, 90, 99):
            expected = row[f"latency_p{q}_ms"]
            assert percentile(latencies, q) == pytest.approx(expected, abs=1e-3)
            assert float(np.percentile(latencies, q, method=PERCENTILE_METHOD)) == pytest.approx(expected, abs=1e-3)
            checked += 1
    assert checked >= 3


def _advice_texts() -> dict[str, list[str]]:
    return {run: advise(data := load_run(DATA / run), limits_for(data))["text"] for run in RECORDED}


def test_recorded_runs_give_the_advice_they_gave(tmp_path):
    """The recorded runs' advice (tests/data/advice_texts.json): as the code before the typed profile
    and the side tables wrote it, plus the best way out of each adoption class and the class of the
    arm recommended (issue 19), and the ways out compared by their ceilings' ranges, never by order
    (issue 24); any other change of the advice shows here."""
    assert _advice_texts() == json.loads((DATA / "advice_texts.json").read_text())
