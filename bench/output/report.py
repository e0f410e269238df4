"""report.html: one self-contained page per run (charts embedded), readable straight from disk."""

from __future__ import annotations

import base64
import html
from pathlib import Path

from bench.output.charts import ANSWER_CHART, chart_names, draw_all
from bench.output.report_answer import answer_sections
from bench.output.console import DISTURBED_NOTE, SUMMARY_COLUMNS, cell_text, is_disturbed
from bench.record.results import RunData

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 1em auto; max-width: 1200px; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.15em; margin-top: 2em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; font-size: 0.85em; }
th, td { padding: 3px 8px; border-bottom: 1px solid #eee; text-align: right; white-space: nowrap; }
th { background: #f4f4f4; } td.text, th.text { text-align: left; }
img { max-width: 100%; border: 1px solid #eee; margin: 0.5em 0; }
.caveats li { margin-bottom: 0.4em; } .muted { color: #777; } .scroll { overflow-x: auto; }
img.answer { max-height: 430px; } p.answer { font-size: 1.05em; margin: 0.4em 0; }
table.ways td, table.ways th { white-space: normal; } table.ways td:first-child { white-space: nowrap; } .verdict-short { color: #b00; } .verdict-holds { color: #070; }
"""


def write_report(run: RunData, out_dir: Path, advice: dict | None = None) -> Path:
    """Draw the charts if needed and write out_dir/report.html; returns its path. `advice`: the run's,
    where the caller has it already."""
    from bench.analysis.advice import advise, limits_for

    advice = advice or advise(run, limits_for(run))
    missing = [n for n in chart_names(run) if not (out_dir / f"{n}.png").exists()]
    if missing:
        draw_all(run, out_dir, advice)
    sections = [
        f"<h1>bench run {html.escape(run.run_id)}</h1>",
        f"<p class='muted'>{html.escape(_subtitle(run))}</p>",
        *answer_sections(run, advice, _embedded_png(out_dir / f"{ANSWER_CHART}.png", ANSWER_CHART, "answer")),
        "<h2>When to leave the NullPool recipe</h2>",
        _advice(advice),
        "<h2>Summary</h2>",
        _summary_table(run),
        "<h2>Charts</h2>",
        *(_embedded_png(out_dir / f"{name}.png", name) for name in chart_names(run) if name != ANSWER_CHART),
        "<h2>What could distort these figures</h2>",
        _caveats(run),
        "<h2>Environment</h2>",
        _environment(run),
    ]
    page = (
        f"<!doctype html><html><head><meta charset='utf-8'><title>bench {html.escape(run.run_id)}</title>"
        f"<style>{_STYLE}</style></head><body>{''.join(sections)}</body></html>\n"
    )
    path = out_dir / "report.html"
    path.write_text(page)
    return path


def _advice(advice: dict) -> str:
    items = "<ul>" + "".join(f"<li>{html.escape(line)}</li>" for line in advice["text"]) + "</ul>"
    return items + _plan_table(advice["plan"])


PLAN_COLUMNS = [
    ("architecture", "architecture", "{}"),
    ("processes", "worker_processes", "{}"),
    ("worker cores", "worker_cores", "{:.2f}"),
    ("db cores", "db_cores", "{:.2f}"),
    ("broker cores", "broker_cores", "{:.2f}"),
    ("connections held", "connections_held", "{:.0f}"),
    ("opened/s", "connections_opened_per_s", "{:.0f}"),
]


def _plan_table(plan: dict) -> str:
    if not plan.get("needs"):
        return ""
    head = "".join(f"<th class='{_align(h)}'>{html.escape(h)}</th>" for h, _, _ in PLAN_COLUMNS)
    rows = "".join(
        "<tr>"
        + "".join(f"<td class='{_align(h)}'>{html.escape(fmt.format(need[key]))}</td>" for h, key, fmt in PLAN_COLUMNS)
        + "</tr>"
        for need in plan["needs"]
    )
    return (
        f"<p>What {plan['rate_per_s']:g} tasks/s would need, from the per-task costs measured here "
        f"(<code>bench plan RUN --rate R</code> for another rate or a budget):</p><table><tr>{head}</tr>{rows}</table>"
    )


def _subtitle(run: RunData) -> str:
    p, host = run.meta.get("profile", {}), run.meta.get("host", {})
    failure = f" ({run.meta['failure']})" if run.meta.get("failure") else ""
    return (
        f"profile {p.get('name')} · workload {p.get('workload')} · status {run.meta.get('status')}{failure} · "
        f"started {run.meta.get('started_at')} · {host.get('cpu_count')} cores, {host.get('memory_gib')} GiB"
    )


def _summary_table(run: RunData) -> str:
    head = "".join(f"<th class='{_align(h)}'>{html.escape(h)}</th>" for h, _, _ in SUMMARY_COLUMNS)
    body = []
    for row in run.steps:
        cells = "".join(
            f"<td class='{_align(h)}'>{html.escape(cell_text(row, key, fmt))}</td>" for h, key, fmt in SUMMARY_COLUMNS
        )
        body.append(f"<tr>{cells}</tr>")
    note = f"<p>{html.escape(DISTURBED_NOTE)}</p>" if any(is_disturbed(row) for row in run.steps) else ""
    return f"<div class='scroll'><table><tr>{head}</tr>{''.join(body)}</table></div>{note}"


def _align(header: str) -> str:
    return "text" if header in ("architecture", "broker", "errors") else ""


def _embedded_png(path: Path, name: str, css_class: str = "") -> str:
    data = base64.b64encode(path.read_bytes()).decode()
    return f"<div><img class='{css_class}' alt='{name} chart' src='data:image/png;base64,{data}'></div>"


def _caveats(run: RunData) -> str:
    items = "".join(f"<li>{html.escape(c)}</li>" for c in run.meta.get("caveats", []))
    return f"<ul class='caveats'>{items}</ul>"


def _environment(run: RunData) -> str:
    rows = []
    # Each PgBouncer arm's version and binary (or the user's PgBouncer's URL): one run may hold two.
    for section in ("versions", "pgbouncer_arms", "pgbouncer_given", "host", "server", "git"):
        for key, value in (run.meta.get(section) or {}).items():
            text = ", ".join(f"{k} {v}" for k, v in value.items()) if isinstance(value, dict) else str(value)
            rows.append(
                f"<tr><td class='text'>{section}</td><td class='text'>{html.escape(str(key))}</td>"
                f"<td class='text'>{html.escape(text)}</td></tr>"
            )
    profile = run.meta.get("profile", {})
    rows += [
        f"<tr><td class='text'>profile</td><td class='text'>{html.escape(k)}</td>"
        f"<td class='text'>{html.escape(str(v))}</td></tr>"
        for k, v in profile.items()
    ]
    return f"<table>{''.join(rows)}</table>"
