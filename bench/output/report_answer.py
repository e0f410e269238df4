"""The answer, first: one sentence, the chart of how far each way goes, and the ways-out table, as HTML
for report.html and as Markdown for `bench report RUN --format markdown` (a CI job summary or a
pull-request comment)."""

from __future__ import annotations

import html

from bench.analysis.adoption import ways_out_rows
from bench.output.console import NARROW_COLUMNS, cell_text
from bench.record.results import RunData

WAYS_COLUMNS = ["arm", "what it asks of the code", "sustains/s", "ceiling/s (min–max)", "connections held"]


def headline(advice: dict) -> str:
    """One sentence: with a target, the verdict and the least-effort way out; else how far the recipe
    goes and which way out goes furthest."""
    text = advice["text"]
    if advice.get("target"):
        return " ".join(advice["target"]["lines"])
    first = text[0] if text else "The run measured nothing to advise on."
    beyond = next((line for line in text if line.startswith("Beyond that")), "")
    return f"{first} {beyond}".strip()


def ways_cells(row: dict) -> list[str]:
    """A ways-out table row's cells, as text."""
    rate = row["rate_per_s"]
    sustains = "none tested" if rate is None else f"{'at least ' if row['every_rate'] else ''}{rate:g}"
    if row["ceiling_per_s"] is None:
        ceiling = "not measured"
    elif row["ceiling_runs"] > 1:
        ceiling = f"{row['ceiling_per_s']:.0f} ({row['ceiling_low_per_s']:.0f}–{row['ceiling_high_per_s']:.0f})"
    else:
        ceiling = f"{row['ceiling_per_s']:.0f} (one drain)"
    asks = "the recipe itself" if row["recipe"] else f"{row['adoption']}: {row['asks']}"
    held = "" if row["connections_held"] is None else str(row["connections_held"])
    return [row["architecture"], asks, sustains, ceiling, held]


def answer_sections(run: RunData, advice: dict, chart_html: str) -> list[str]:
    verdict = advice.get("verdict")
    verdict_html = (
        f"<p class='answer verdict-{verdict['status']}'><b>Verdict:</b> {html.escape(verdict['line'])}</p>"
        if verdict
        else ""
    )
    head = "".join(f"<th class='text'>{html.escape(c)}</th>" for c in WAYS_COLUMNS)
    body = "".join(
        "<tr>" + "".join(f"<td class='text'>{html.escape(c)}</td>" for c in ways_cells(r)) + "</tr>"
        for r in ways_out_rows(run, advice)
    )
    return [
        f"<p class='answer'>{html.escape(headline(advice))}</p>",
        verdict_html,
        chart_html,
        f"<table class='ways'><tr>{head}</tr>{body}</table>",
    ]


def markdown(run: RunData, advice: dict) -> str:
    """The answer, the ways out, the rest of the advice and the summary table, as Markdown."""
    lines = [
        f"# bench run `{run.run_id}`",
        "",
        f"Profile {run.setting('name') if run.meta.get('profile') else ''} "
        f"· workload `{run.setting('workload')}` · status {run.meta.get('status')}",
        "",
    ]
    if advice.get("verdict"):
        lines += [f"**Verdict:** {advice['verdict']['line']}", ""]
    lines += [
        headline(advice),
        "",
        "## Ways out",
        "",
        *_table(WAYS_COLUMNS, [ways_cells(r) for r in ways_out_rows(run, advice)]),
        "",
        "## Advice",
        "",
        *(f"- {_escape(line)}" for line in advice["text"]),
        "",
        "## Summary",
        "",
        *_table(
            [h for h, _, _ in NARROW_COLUMNS],
            [[cell_text(row, key, fmt) for _, key, fmt in NARROW_COLUMNS] for row in run.steps],
        ),
    ]
    return "\n".join(lines) + "\n"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(_escape(h) for h in header) + " |", "|" + "---|" * len(header)] + [
        "| " + " | ".join(_escape(c) for c in row) + " |" for row in rows
    ]


def _escape(text: str) -> str:
    """Text safe in a Markdown table cell or list item: pipes escaped, no line breaks."""
    return str(text).replace("|", "\\|").replace("\n", " ")
