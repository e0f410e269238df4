"""Which way out, measured: the ways out at the top by ceiling (their saturation drain rates), and for a
team's peak rate the least-effort way out that holds it with room to grow.

A ceiling is a median of repeated drains with its min–max range. One way out is "the fastest" only
where its range lies clear of every other's; where ranges overlap they are "about equal", both ranges
said. Nothing here is ever decided by an architecture's name or the order a profile lists them in.
"""

from __future__ import annotations

from dataclasses import dataclass

from bench.architectures.base import ADOPTION_CLASSES

CLEAR, ABOUT_EQUAL, SPREAD_UNKNOWN, NO_CEILING, ONLY = "clear", "about equal", "spread unknown", "no ceiling", "only"


@dataclass(frozen=True)
class Leaders:
    """The ways out at the top, and how surely: `clear` (one, its range clear of the rest), `about
    equal` (ranges overlap), `spread unknown` (single drains), `no ceiling` (none measured: by rate),
    `only` (a single way out to choose from)."""

    top: list
    how: str

    @property
    def one(self):
        """The single leader, when the measurements name one."""
        return self.top[0] if len(self.top) == 1 and self.how in (CLEAR, NO_CEILING, ONLY) else None


def leaders(ways: list) -> Leaders:
    """Of Sustainable results, those at the top: by ceiling where every one has one, else by the rate
    sustained (the highest rate held; ties there are about equal)."""
    if not ways:
        return Leaders([], NO_CEILING)
    if len(ways) == 1:
        return Leaders(list(ways), ONLY)
    if all(s.drain for s in ways):
        ranked = sorted(ways, key=lambda s: s.drain.median, reverse=True)
        best = ranked[0]
        if best.drain.count < 2 or any(s.drain.count < 2 for s in ranked[1:]):
            return Leaders([best], SPREAD_UNKNOWN)
        tied = [s for s in ranked[1:] if s.drain.overlaps(best.drain)]
        return Leaders([best, *tied], ABOUT_EQUAL if tied else CLEAR)
    rate = max((s.rate_per_s or 0) for s in ways)
    top = [s for s in ways if (s.rate_per_s or 0) == rate]
    return Leaders(top, NO_CEILING if len(top) == 1 else ABOUT_EQUAL)


def held_leaders(ways: list, need: float | None = None) -> Leaders:
    """Of the ways out that held a rate (at least `need`), the highest rate held first, then the ceiling."""
    held = [s for s in ways if s.rate_per_s is not None and (need is None or s.rate_per_s >= need)]
    if not held:
        return Leaders([], NO_CEILING)
    if need is None:  # no rate asked for: those that held the highest rate tested
        top = max(s.rate_per_s for s in held)
        held = [s for s in held if s.rate_per_s == top]
    return leaders(held)


def ceiling_words(s) -> str:
    """ "ceiling 232 (226–234)/s" (median of its drains, min–max), or "no ceiling measured"."""
    if not s.drain:
        return "no ceiling measured"
    runs = "" if s.drain.count > 1 else " (one drain: its spread is unknown)"
    return f"ceiling {s.drain}/s{runs}"


def leaders_words(found: Leaders) -> str:
    """ "X" or "X and Y, about equal (ceilings 610 (513–665)/s and 614 (590–700)/s overlap)"."""
    names = and_words([s.architecture for s in found.top])
    if found.how == ABOUT_EQUAL and found.top[0].drain:
        return f"{names}, about equal ({and_words([ceiling_words(s) for s in found.top])}: their ranges overlap)"
    if found.how == ABOUT_EQUAL:
        return f"{names}, about equal (the same rate held, no ceilings measured to tell them apart)"
    return names


def and_words(items: list[str]) -> str:
    """ "A", "A and B", "A, B and C"."""
    return " and ".join(items) if len(items) < 3 else f"{', '.join(items[:-1])} and {items[-1]}"


def least_effort(ways: list, need: float, adoption_of) -> tuple[str, Leaders] | None:
    """The first adoption class, in the order of what it asks of the code (ADOPTION_CLASSES), with a
    way out that holds `need`; within it the one(s) with the higher ceiling. None: none holds it."""
    for kind in ADOPTION_CLASSES:
        members = [s for s in ways if adoption_of(s.architecture) == kind]
        found = held_leaders(members, need)
        if found.top:
            return kind, found
    return None


def recipe_at_target(recipe, target: float, headroom: float) -> dict:
    """The recipe at the target and at target x headroom: "holds" (sustained it), "short" (broke at or
    below it, or its ceiling's whole range lies below it) or "untested"; its headroom (rate sustained /
    target) and its ceiling's (median drain / target)."""
    rate = recipe.rate_per_s
    ceiling = recipe.drain
    return {
        "sustainable_rate_per_s": rate,
        "at_target": _state(recipe, target),
        "at_needed": _state(recipe, target * headroom),
        "headroom": round(rate / target, 2) if rate else None,
        "ceiling_per_s": ceiling.median if ceiling else None,
        "ceiling_headroom": round(ceiling.median / target, 2) if ceiling else None,
    }


def _state(s, rate: float) -> str:
    if s.rate_per_s is not None and s.rate_per_s >= rate:
        return "holds"
    if s.failed_at_per_s is not None and s.failed_at_per_s <= rate:
        return "short"
    if s.drain and s.drain.below(rate):
        return "short"
    return "untested"
