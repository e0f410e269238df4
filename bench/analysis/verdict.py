"""A team's peak rate, answered: whether the recipe holds it with room to grow, the least-effort way
out that does, and a verdict a CI job can act on (`bench run` exits EXIT_SHORT_OF_TARGET when the
recipe does not hold target x headroom).

"Holds" is the advice's own judgement of a rate step (steady, within every limit), so a verdict is
only as sure as the steps behind it: the text names the rates and ranges it rests on.
"""

from __future__ import annotations

from typing import Any

from bench.analysis.adoption import adoption_of as adoption_words
from bench.analysis.ways_out import Leaders, ceiling_words, held_leaders, leaders_words, least_effort, recipe_at_target

EXIT_SHORT_OF_TARGET = 4
"""`bench run` and `bench advise --check`: the recipe does not hold target_rate x headroom."""
HOLDS, SHORT, UNKNOWN = "holds", "short", "unknown"


def target_section(results: dict, recipe_label: str, target: float, headroom: float, adoption_of) -> dict:
    """advice.json's `target`: the recipe at the target, the least-effort way out that holds target x
    headroom (or, where none does, the best that held a rate), and the verdict."""
    need = target * headroom
    recipe = results.get(recipe_label)
    ways = [s for label, s in results.items() if label != recipe_label]
    section: dict[str, Any] = {
        "target_rate_per_s": target,
        "headroom": headroom,
        "needed_rate_per_s": round(need, 2),
        "recipe": recipe_at_target(recipe, target, headroom) if recipe else None,
        "way_out": None,
        "best_held": None,
    }
    found = least_effort(ways, need, adoption_of)
    if found:
        kind, top = found
        section["way_out"] = {
            "adoption": kind,
            "architectures": [s.architecture for s in top.top],
            "how": top.how,
            "rate_per_s": min(s.rate_per_s for s in top.top),
        }
    else:
        best = held_leaders(ways)
        if best.top:
            section["best_held"] = {
                "architectures": [s.architecture for s in best.top],
                "how": best.how,
                "rate_per_s": best.top[0].rate_per_s,
            }
    section["verdict"] = _verdict(section)
    section["lines"] = _lines(section, results, recipe_label, adoption_of)
    return section


def _verdict(section: dict) -> dict:
    recipe, need, target = section["recipe"], section["needed_rate_per_s"], section["target_rate_per_s"]
    asked = f"{need:g}/s ({target:g}/s x {section['headroom']:g} headroom)"
    if recipe is None:
        status, line = UNKNOWN, "the run did not measure the recipe, so it cannot say whether it holds the target"
    elif recipe["at_needed"] == "holds":
        status, line = HOLDS, f"the recipe holds {asked}"
    elif recipe["at_needed"] == "short":
        held = recipe["sustainable_rate_per_s"]
        status, line = (
            SHORT,
            (
                f"the recipe does not hold {asked}: "
                f"{'it held ' + format(held, 'g') + '/s at most' if held else 'it held no rate tested'}"
            ),
        )
    else:
        status, line = UNKNOWN, f"the run did not measure the recipe at {asked}: run it with --target-rate {target:g}"
    return {"status": status, "line": line, "exit_code": EXIT_SHORT_OF_TARGET if status == SHORT else 0}


def _lines(section: dict, results: dict, recipe_label: str, adoption_of) -> list[str]:
    target, need = section["target_rate_per_s"], section["needed_rate_per_s"]
    lines = []
    recipe = section["recipe"]
    if recipe is not None:
        lines.append(_recipe_line(recipe_label, recipe, results[recipe_label], target, need))
    way_out, best = section["way_out"], section["best_held"]
    if way_out:
        chosen = [results[a] for a in way_out["architectures"]]
        kind = adoption_words(chosen[0].architecture)
        asked = f"The least-effort way out that holds {need:g}/s ({target:g} x {section['headroom']:g})"
        held = [f"sustains {_at_least(s)}{s.rate_per_s:g}/s, {ceiling_words(s)}" for s in chosen]
        if len(chosen) == 1:
            lines.append(f"{asked}: {chosen[0].architecture} ({kind}); it {held[0]}.")
        else:
            lines.append(
                f"{asked}: {leaders_words(Leaders(chosen, way_out['how']))} ({kind}); "
                + "; ".join(f"{s.architecture} {h}" for s, h in zip(chosen, held))
                + "."
            )
    elif best:
        chosen = [results[a] for a in best["architectures"]]
        named = leaders_words(Leaders(chosen, best["how"]))
        lines.append(
            f"No way out tested holds {need:g}/s ({target:g} x {section['headroom']:g}); the best held "
            f"{best['rate_per_s']:g}/s: {named} ({adoption_words(chosen[0].architecture)}), "
            + "; ".join(ceiling_words(s) for s in chosen)
            + "."
        )
    else:
        lines.append(f"No way out tested holds {need:g}/s ({target:g} x {section['headroom']:g}), nor any rate tested.")
    return lines


def _at_least(s) -> str:
    return "at least " if not s.bound_by else ""


def _recipe_line(label: str, recipe: dict, measured, target: float, need: float) -> str:
    ceiling = (
        f"; its {ceiling_words(measured)} is {recipe['ceiling_headroom']:.1f}x the target"
        if recipe["ceiling_per_s"]
        else ""
    )
    held = recipe["sustainable_rate_per_s"]
    broke = (
        f"at {measured.failed_at_per_s:g}/s it broke: {measured.bound_by[0]}"
        if measured.failed_at_per_s is not None
        else ""
    )
    opening = f"At your target of {target:g} tasks/s: {label}"
    if recipe["at_needed"] == "holds":
        top = "" if measured.bound_by else ", the highest rate tested"
        return (
            f"{opening} holds it with {recipe['headroom']:.1f}x headroom (sustains {held:g}/s{top}, at least "
            f"the {need:g}/s asked for){ceiling}."
        )
    if recipe["at_target"] == "holds":
        short = broke or ("its ceiling lies below it" if recipe["at_needed"] == "short" else "not run higher")
        return (
            f"{opening} holds it, but not {need:g}/s: headroom {recipe['headroom']:.1f}x (sustains {held:g}/s; "
            f"{short}){ceiling}."
        )
    if recipe["at_target"] == "short":
        return f"{opening} does not hold it ({broke or 'its ceiling lies below it'}){ceiling}."
    below = f"it sustains {held:g}/s, the highest rate tested" if held else "no rate it held"
    return f"{opening}: not measured at it ({below}){ceiling}."
