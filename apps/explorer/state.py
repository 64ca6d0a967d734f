"""Page state <-> URL query string, and server-side validation of every control value.

A shared link (``/losses?losses=l1,huber&huber.delta=0.5&_hide=y``) restores a view; ``_hide``
lists controls to hide (teacher mode, as TensorFlow Playground's ``_hide`` parameters).
"""

from __future__ import annotations

import math
from urllib.parse import parse_qs, urlencode


def parse_query(search: str | None) -> dict[str, str]:
    """``?a=1&b=x`` -> {"a": "1", "b": "x"} (last value wins; junk ignored)."""
    if not search:
        return {}
    return {k: v[-1] for k, v in parse_qs(search.lstrip("?"), keep_blank_values=False).items()}


def to_query(values: dict, hide: list[str] | None = None) -> str:
    items = {k: (",".join(v) if isinstance(v, (list, tuple)) else (f"{v:g}" if isinstance(v, float) else str(v)))
             for k, v in values.items() if v is not None}
    if hide:
        items["_hide"] = ",".join(hide)
    return "?" + urlencode(items, safe=",")


def number(raw, default: float, lo: float, hi: float) -> float:
    """A finite float clamped to [lo, hi]; anything unparsable gives the default."""
    try:
        x = float(raw)
    except (TypeError, ValueError):
        return default
    if math.isnan(x) or math.isinf(x):
        return default
    return min(max(x, lo), hi)


def names(raw, valid: list[str], default: list[str]) -> list[str]:
    if isinstance(raw, str):
        raw = raw.split(",")
    chosen = [n for n in (raw or []) if n in valid]
    return chosen or list(default)


def hidden(query: dict) -> set[str]:
    return {h for h in query.get("_hide", "").split(",") if h}


class InputError(ValueError):
    """A control value the server refuses; shown to the user, the last good figure stays."""


def check_number(value, what: str, lo: float = -math.inf, hi: float = math.inf) -> float:
    """Validate a value arriving from the browser (it may be None, a string, NaN...)."""
    if value is None or isinstance(value, bool):
        raise InputError(f"{what}: a number is required")
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{what}: {value!r} is not a number") from None
    if math.isnan(x) or not lo <= x <= hi:
        raise InputError(f"{what} must be in [{lo:g}, {hi:g}], got {value!r}")
    return x


def check_range(x_range, lo: float = -20, hi: float = 20, min_width: float = 0.1) -> tuple[float, float]:
    """An x-range from a RangeSlider: two numbers in [lo, hi], at least ``min_width`` apart."""
    if not isinstance(x_range, (list, tuple)) or len(x_range) != 2:
        raise InputError("x-range: two numbers are required")
    a, b = (check_number(v, "x-range", lo, hi) for v in x_range)
    if b - a < min_width:
        raise InputError("x-range is too narrow")
    return a, b


def check_params(declared, values) -> dict[str, dict]:
    """Slider values for [(name, Param), ...] -> {name: {param: value}}, each within its slider range."""
    out: dict[str, dict] = {}
    for (name, p), value in zip(declared, values):
        lo, hi = p.slider_range
        out.setdefault(name, {})[p.name] = check_number(value, f"{name}.{p.name}", lo, hi)
    return out
