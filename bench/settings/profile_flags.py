"""`bench run`'s flags for profile values, made from `bench.settings.config.Profile` (its flag, help text,
choices and section), and the text of each turned into the value the profile takes."""

from __future__ import annotations

import argparse
import re
import types
import typing
from typing import Any, Literal

from bench.settings.config import SECTIONS, STEP_KINDS, Profile, field_info, flag_name
from bench.errors import BenchError

TRUE, FALSE = ("on", "true", "yes", "1"), ("off", "false", "no", "0")
METAVARS = {int: "N", float: "NUMBER"}


def add_profile_flags(parser: argparse.ArgumentParser) -> None:
    for section in SECTIONS:
        group = parser.add_argument_group(f"{section} (overrides of the profile's values)")
        for key in Profile.model_fields:
            info = field_info(key)
            if info.get("flag") and info.get("section") == section:
                group.add_argument(flag_name(key), dest=key, help=_help(info), **_shape(key))


def _help(info: dict) -> str:
    first = re.split(r"\.\s+(?=[A-Z(])", info["help"].replace("\n", " "))[0].rstrip(".")
    form = info["flag_form"].partition(": ")[2] or info["allowed"]
    default = info["default"]
    shown = "" if default in (None, [], {}) else f" (built-in default {_text(default)})"
    return f"{first}; {form}{shown}".replace("%", "%%")


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, list):
        return ",".join(_text(v) for v in value)
    return f"{value:g}" if isinstance(value, float) else str(value)


def _shape(key: str) -> dict:
    kind = _kind(key)
    if kind is bool:
        return {"nargs": "?", "const": "on", "metavar": "on|off"}
    if typing.get_origin(kind) is Literal:
        return {"choices": kind.__args__}
    form = field_info(key)["flag_form"]
    return {"metavar": form.partition(": ")[0] if form else METAVARS.get(kind, "TEXT")}


def _kind(key: str):
    """The field's type without None (`int | None` is int)."""
    annotation = Profile.model_fields[key].annotation
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(annotation) if a is not type(None)]
        return options[0] if len(options) == 1 else annotation
    return annotation


def profile_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The profile values given as flags, as the profile takes them."""
    return {
        key: from_flag(key, text)
        for key in Profile.model_fields
        if field_info(key).get("flag") and (text := getattr(args, key, None)) is not None
    }


def from_flag(key: str, text: str) -> Any:
    try:
        return _convert(key, text.strip())
    except ValueError:
        raise BenchError(f"{flag_name(key)} {text}: must be {field_info(key)['allowed']}") from None


def _number(text: str) -> int | float:
    return int(text) if text.strip().isdigit() else float(text)


def _convert(key: str, text: str) -> Any:
    if key == "rates":
        return [part.strip() if part.strip() in STEP_KINDS else _number(part) for part in text.split(",")]
    if key == "architectures":
        return [part.strip() for part in text.split(",") if part.strip()]
    if key == "rtt_ms":
        values = [float(part) for part in text.split(",")]
        return values if len(values) > 1 else values[0]
    if key == "cpus":  # "db=0;workers=1"
        pairs = [part.strip().partition("=") for part in text.split(";") if part.strip()]
        if not pairs or not all(sep and role and cpus for role, sep, cpus in pairs):
            raise ValueError(text)
        return {role.strip(): cpus.strip() for role, _sep, cpus in pairs}
    kind = _kind(key)
    if kind is bool:
        if text.lower() not in TRUE + FALSE:
            raise ValueError(text)
        return text.lower() in TRUE
    if kind is int:
        return int(text)
    if kind is float:
        return float(text)
    return text
