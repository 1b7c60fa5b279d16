"""Value parsers: a raw value (text from a flag or an input, or a YAML scalar) -> a typed value.

Each raises ``ValueError(allowed, *hints)``; :func:`keras_ct.config.fields.parse_field` turns that into
the one ``ConfigError`` wording (``threshold must be a number between 0 and 1, got "abc"``). Pure.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from keras_ct.train.childenv import parse_names


def _text(raw: Any) -> str:
    if isinstance(raw, bool) or raw is None or isinstance(raw, list | dict):
        raise ValueError("a string")
    return str(raw).strip()


def _nonempty(raw: Any) -> str:
    value = _text(raw)
    if not value:
        raise ValueError("a non-empty string")
    return value


def _identifier(raw: Any) -> str:
    value = _text(raw)
    if not value.isidentifier():
        raise ValueError("a Python identifier such as build_model")
    return value


def _model_name(raw: Any) -> str:
    """A model's ``name``: empty (the repository's one model), or a short word that fits a status
    context, a cache key, a commit trailer and an HTML comment alike."""
    value = _text(raw) if raw is not None else ""
    if value and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,39}", value):
        raise ValueError(
            "empty, or up to 40 letters, digits, '.', '_' and '-' starting with a letter or digit"
        )
    return value


def _number(raw: Any, allowed: str) -> float:
    if isinstance(raw, bool):
        raise ValueError(allowed)
    try:
        value = float(str(raw).strip())
    except ValueError:
        raise ValueError(allowed) from None
    if not math.isfinite(value):
        raise ValueError(allowed)
    return value


def _threshold(raw: Any) -> float:
    allowed = "a number between 0 and 1"
    value = _number(raw, allowed)
    if not 0.0 < value <= 1.0:
        if 1.0 < value <= 100.0:
            raise ValueError(allowed, f"a fraction, not a percentage: did you mean {value / 100:g}?")
        raise ValueError(allowed)
    return value


def _optional_regression(raw: Any) -> float | None:
    """``max-regression``: an accuracy difference from 0 to 1; empty turns the comparison off."""
    if raw is None or str(raw).strip() == "":
        return None
    allowed = "a number from 0 to 1 (how far below the base branch's accuracy), or empty for no limit"
    value = _number(raw, allowed)
    if not 0.0 <= value <= 1.0:
        raise ValueError(allowed)
    return value


def _int_in(low: int, high: int | None, what: str = "") -> Callable[[Any], int]:
    allowed = f"a whole number {'from ' + str(low) + ' to ' + str(high) if high is not None else 'of at least ' + str(low)}"
    if what:
        allowed += f" ({what})"

    def parse(raw: Any) -> int:
        if isinstance(raw, bool):
            raise ValueError(allowed)
        text = str(raw).strip()
        if not re.fullmatch(r"[+-]?\d+", text):
            raise ValueError(allowed)
        value = int(text)
        if value < low or (high is not None and value > high):
            raise ValueError(allowed)
        return value

    return parse


def _optional_int(low: int) -> Callable[[Any], int | None]:
    parse = _int_in(low, None)

    def optional(raw: Any) -> int | None:
        return None if raw is None or str(raw).strip() == "" else parse(raw)

    return optional


def _minutes(raw: Any) -> float:
    allowed = "a number of minutes greater than 0"
    value = _number(raw, allowed)
    if value <= 0:
        raise ValueError(allowed)
    return value


def _bool(raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in ("true", "yes", "on", "1"):
        return True
    if text in ("false", "no", "off", "0"):
        return False
    raise ValueError("true or false")


def _choice(*choices: str) -> Callable[[Any], str]:
    def parse(raw: Any) -> str:
        value = _text(raw)
        if value not in choices:
            raise ValueError("one of " + ", ".join(choices))
        return value

    return parse


def _comment_mode(raw: Any) -> str:
    """``comment``: ``always`` or ``off``; YAML reads a bare ``off`` (and ``on``) as a boolean."""
    if isinstance(raw, bool):
        return "always" if raw else "off"
    return _choice("always", "off")(raw)


def _path(raw: Any) -> Path:
    return Path(_nonempty(raw))


def _optional_path(raw: Any) -> Path | None:
    value = _text(raw) if raw is not None else ""
    return Path(value) if value else None


def _shape(raw: Any) -> tuple[int, ...] | None:
    if raw is None:
        return None
    if isinstance(raw, list):
        parts = [str(p) for p in raw]
    else:
        text = _text(raw).strip("()[] ")
        if not text:
            return None
        parts = [p for p in re.split(r"[,\s]+|(?<=\d)x(?=\d)", text) if p]
    allowed = "positive whole numbers separated by commas, such as 28,28,1"
    if not parts or not all(p.isdigit() and int(p) > 0 for p in parts):
        raise ValueError(allowed)
    return tuple(int(p) for p in parts)


def _env_names(raw: Any) -> tuple[str, ...]:
    if raw is None or isinstance(raw, bool | dict):
        raise ValueError("names of environment variables separated by commas or spaces")
    return parse_names(raw if isinstance(raw, list) else str(raw))


def _labels(example: str) -> Callable[[Any], tuple[str, ...]]:
    """A ``runs-on`` label list given as JSON: an array of label strings, or one string."""

    def parse(raw: Any) -> tuple[str, ...]:
        try:
            value = json.loads(_text(raw))
        except json.JSONDecodeError:
            raise ValueError(f"a JSON array of runner labels such as {example}") from None
        if isinstance(value, str):
            value = [value]
        if (
            not isinstance(value, list)
            or not value
            or not all(isinstance(v, str) and v.strip() for v in value)
        ):
            raise ValueError(f"a non-empty JSON array of label strings such as {example}")
        return tuple(v.strip() for v in value)

    return parse
