"""What moving off the recipe asks of a team's code, set beside what each way out measured: the best
arm of each adoption class (bench/architectures/base.py, ADOPTION_CLASSES) that kept up, with its
rate and the connections it held, so a team that cannot rewrite its task body sees its best option
first, not only the fastest one."""

from __future__ import annotations

from typing import Any

from bench.analysis.rules import RECIPE, trap_labels
from bench.analysis.ways_out import (
    ABOUT_EQUAL,
    SPREAD_UNKNOWN,
    Leaders,
    and_words,
    ceiling_words,
    held_leaders,
    leaders,
)
from bench.settings.arms import architecture_of
from bench.record.results import RunData


def adoption_of(label: str) -> str:
    """The arm's adoption class, with its note where it has one ("keeps the async code: PgBouncer in front")."""
    from bench.architectures import get_architecture

    cls = get_architecture(label)
    return f"{cls.adoption}: {cls.adoption_note}" if cls.adoption_note else cls.adoption


def best_by_class(run: RunData, results: dict) -> dict[str, dict]:
    """For each adoption class the run measured a way out of (the recipe and the traps are not ways
    out): its best arm that held a rate (the highest rate held, then the ceiling: ways_out.held_leaders),
    that rate and the peak of connections it held at it; `architecture` None where none of the class held
    a tested rate. Where others of the class held the same rate and their ceilings' ranges overlap the
    best's (or none has a ceiling), they are `about_equal` with it, never ranked by a median or by name."""
    from bench.architectures import get_architecture
    from bench.architectures.base import ADOPTION_CLASSES

    ways_out = [s for label, s in results.items() if architecture_of(label) != RECIPE and label not in trap_labels(run)]
    best: dict[str, dict[str, Any]] = {}
    for kind in ADOPTION_CLASSES:
        measured = [s for s in ways_out if get_architecture(s.architecture).adoption == kind]
        if not measured:
            continue
        entry: dict[str, Any] = {
            "architecture": None,
            "rate_per_s": None,
            "every_rate": False,
            "connections_held": None,
            "measured": [s.architecture for s in measured],
            "about_equal": [],
            "ceilings": [],
            "single_drains_beside": [],
        }
        best[kind] = entry
        found = held_leaders(measured)
        if found.top:
            top, equal = _best_and_equals(found)
            entry.update(
                **_held(run, top),
                rate_per_s=top.rate_per_s,
                about_equal=[_held(run, s) for s in equal],
                ceilings=[ceiling_words(s) for s in found.top] if equal and top.drain else [],
                # Single drains: the higher named, and beside it those of the class that held as much.
                single_drains_beside=[
                    s.architecture for s in measured if s is not top and s.rate_per_s == top.rate_per_s
                ]
                if found.how == SPREAD_UNKNOWN
                else [],
            )
        elif all(s.failed_at_per_s is None for s in measured):
            # No rate steps (a profile of saturation and burst steps): the best ceiling instead.
            found = leaders([s for s in measured if s.drain])
            if found.top:
                top, equal = _best_and_equals(found)
                entry.update(
                    architecture=top.architecture,
                    drain_per_s=top.saturation_throughput_per_s,
                    about_equal=[{"architecture": s.architecture} for s in equal],
                    ceilings=[ceiling_words(s) for s in found.top] if equal else [],
                )
    return best


def _best_and_equals(found: Leaders) -> tuple[Any, list]:
    """The leader named first, and those about equal with it (none unless their ranges overlap)."""
    return found.top[0], found.top[1:] if found.how == ABOUT_EQUAL else []


def _held(run: RunData, s) -> dict[str, Any]:
    """An arm that held a rate: its name, whether it held every rate run, the connections it held there."""
    return {
        "architecture": s.architecture,
        "every_rate": not s.bound_by,
        "connections_held": _connections_held(run, s.architecture, s.rate_per_s),
    }


def _connections_held(run: RunData, label: str, rate: float) -> int | None:
    peaks = [
        r["connections_peak"]
        for r in run.steps
        if r["architecture"] == label
        and not r.get("saturation")
        and r["offered_rate_per_s"] == rate
        and r.get("connections_peak") is not None
    ]
    return int(max(peaks)) if peaks else None


def adoption_lines(best: dict[str, dict]) -> list[str]:
    """One line per adoption class measured: "If you keep the async code: ..."."""
    if not best:
        return []
    lines = ["The best way out by what it asks of your task code:"]
    for kind, b in best.items():
        if b["architecture"] is None:
            lines.append(f"{_capital(kind)}: none held the lowest rate tested ({', '.join(b['measured'])}).")
            continue
        arms = [b, *b["about_equal"]]
        named = and_words([_named(kind, arm["architecture"]) for arm in arms])
        if b.get("drain_per_s") is not None:
            drains = (
                f"about equal ({and_words(b['ceilings'])}: their ranges overlap)"
                if len(arms) > 1
                else f"drains {b['drain_per_s']:.0f} tasks/s at saturation"
            )
            lines.append(f"{_capital(kind)}: {named} {drains} (the run has no rate steps).")
            continue
        at_least = "at least " if all(arm["every_rate"] for arm in arms) else ""
        held = [arm["connections_held"] for arm in arms]
        held_words = (
            f", {and_words([str(n) for n in held])} connection{'s' if held != [1] else ''} held at most"
            if None not in held
            else ""
        )
        if len(arms) == 1:
            beside = b["single_drains_beside"]
            unknown = (
                f"; of it and {and_words(beside)}, which held as much, its single drain is the higher: their "
                "spread is unknown, so it is not shown to be faster"
                if beside
                else ""
            )
            lines.append(f"{_capital(kind)}: {named} sustains {at_least}{b['rate_per_s']:g}/s{held_words}{unknown}.")
            continue
        why = (
            f"{and_words(b['ceilings'])}: their ranges overlap"
            if b["ceilings"]
            else "the same rate held, no ceilings measured to tell them apart"
        )
        lines.append(
            f"{_capital(kind)}: {named}, about equal ({why}), sustain {at_least}{b['rate_per_s']:g}/s{held_words}."
        )
    return lines


def _named(kind: str, architecture: str) -> str:
    """ "prefork-nullpool-pgbouncer (PgBouncer in front)": the arm with what its class's note adds."""
    note = adoption_of(architecture).removeprefix(kind).removeprefix(": ")
    return f"{architecture}{f' ({note})' if note else ''}"


def _capital(words: str) -> str:
    return words[:1].upper() + words[1:]


def probe_lines(run: RunData) -> list[str]:
    """What the probe found and chose, in a run fitted to its task (`probe = true`)."""
    probe = run.meta.get("probe")
    if not probe:
        return []
    shape = probe["shape"]
    kind = "mostly waits" if shape["waits"] else "mostly computes"
    line = (
        f"Fitted to the task: a probe at {probe['rate_per_s']:g}/s found a task takes {shape['task_ms']:.1f} ms in "
        f"{RECIPE} ({shape['connect_ms']:.1f} connecting; {100 * shape['wait_share']:.0f} % of the rest off the "
        f"workers' CPU: it {kind}), so measured one way out per kind ({', '.join(probe['chosen'])})"
    )
    if probe["left_out"]:
        line += (
            f" and left out {', '.join(probe['left_out'])} (its kind is measured by an arm better suited to this task)"
        )
    return [line + "."]


def skipped_lines(run: RunData) -> list[str]:
    """The arms the run left out because the workload lacks their task body."""
    by_reason: dict[str, list[str]] = {}
    for entry in run.meta.get("skipped") or []:
        by_reason.setdefault(entry["reason"], []).append(entry["arm"])
    return [f"Not run: {', '.join(arms)} ({reason})." for reason, arms in by_reason.items()]


ASKS = {
    "keeps the async code": "no change to the task code",
    "keeps the async code, adds a per-process loop": "one event loop per worker process, made at its start",
    "needs a sync body": "the task body written again as sync code",
    "another task queue": "the tasks moved to another queue (taskiq) and its workers",
}
"""What each adoption class asks of a team's code, in a few words (the ways-out table)."""


def ways_out_rows(run: RunData, advice: dict) -> list[dict]:
    """One row per arm the advice judged, the recipe first, then the ways out by what they ask of the
    code (least first) and, within a class, by ceiling: its sustainable rate, its ceiling (median and
    range of its drains), the connections it held at that rate and what it asks of the code. Traps
    (never a way out) are left out."""
    from bench.architectures import get_architecture
    from bench.architectures.base import ADOPTION_CLASSES

    need = (advice.get("target") or {}).get("needed_rate_per_s")
    rows = []
    for label, s in advice["architectures"].items():
        if label in trap_labels(run):
            continue
        cls = get_architecture(label)
        recipe = architecture_of(label) == RECIPE
        rate = s["rate_per_s"]
        rows.append(
            {
                "architecture": label,
                "recipe": recipe,
                "adoption": "the recipe" if recipe else cls.adoption,
                "asks": ""
                if recipe
                else ASKS.get(cls.adoption, "") + (f"; {cls.adoption_note}" if cls.adoption_note else ""),
                "rate_per_s": rate,
                "every_rate": not s["bound_by"],
                "ceiling_per_s": s["saturation_throughput_per_s"],
                "ceiling_low_per_s": s["saturation_min_per_s"],
                "ceiling_high_per_s": s["saturation_max_per_s"],
                "ceiling_runs": s["saturation_runs"],
                "disturbed_steps": s["disturbed_steps"],
                "connections_held": _connections_held(run, label, rate) if rate is not None else None,
                "holds_need": None if need is None else rate is not None and rate >= need,
            }
        )
    order = {kind: i for i, kind in enumerate(ADOPTION_CLASSES)}
    return sorted(
        rows, key=lambda r: (not r["recipe"], order.get(r["adoption"], len(order)), -(r["ceiling_per_s"] or 0))
    )
