"""Page state <-> URL query string, and server-side validation of every value from the browser.

A shared link (``/losses?losses=l1,huber&huber.delta=0.5&_hide=y``) restores a view; ``_hide``
lists controls to hide (teacher mode, as TensorFlow Playground's ``_hide`` parameters), and may
name ``nav`` and ``export`` to hide the navigation and the export row.

Each page declares its state as a schema (a list of ``Number`` / ``Names`` / ``Flag`` /
``Choice`` fields). The same schema parses a URL (bad values become notes naming the value
and what is used instead) and checks what the browser sends (out of range: clamped and
reported; not a number: refused, the previous value kept), so the graph, the legend, the URL
and the controls always show one state.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from urllib.parse import parse_qs, urlencode

from lossviz import checks

MAX_QUERY = 4096  # characters of a query string we read; the rest is ignored
MAX_LIST = 64  # items of a list from the browser we look at; more is refused
HIDE_SPECIAL = ("nav", "export")  # _hide keys that are not controls


def parse_query(search: str | None) -> dict[str, str]:
    """``?a=1&b=x`` -> {"a": "1", "b": "x"} (last value wins; blank values kept as "")."""
    if not isinstance(search, str) or not search:
        return {}
    try:
        parsed = parse_qs(search[:MAX_QUERY].lstrip("?"), keep_blank_values=True, max_num_fields=200)
    except ValueError:
        return {}
    return {k: v[-1] for k, v in parsed.items()}


def fmt_number(v: float) -> str:
    """A number as the URL and the messages write it (shortest form that reads back the same)."""
    v = float(v)
    if v == int(v) and abs(v) < 1e15:
        return str(int(v))
    return repr(round(v, 10))


def to_query(values: dict, hide: list[str] | None = None) -> str:
    items = {}
    for k, v in values.items():
        if v is None:
            continue
        if isinstance(v, (list, tuple)):
            items[k] = ",".join(map(str, v))
        elif isinstance(v, bool):
            items[k] = "1" if v else "0"
        elif isinstance(v, float):
            items[k] = fmt_number(v)
        else:
            items[k] = str(v)
    if hide:
        items["_hide"] = ",".join(hide)
    return "?" + urlencode(items, safe=",")


def number(raw, default: float, lo: float, hi: float) -> float:
    """A finite float clamped to [lo, hi]; anything unparsable gives the default."""
    try:
        x = float(raw)
    except (TypeError, ValueError, OverflowError):
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
    raw = query.get("_hide", "")
    return {h for h in raw.split(",")[:MAX_LIST] if h} if isinstance(raw, str) else set()


class InputError(ValueError):
    """A control value the server refuses; shown to the user, the last good figure stays."""


def check_number(value, what: str, lo: float = -math.inf, hi: float = math.inf, *, integer: bool = False) -> float | int:
    """A number from a form field (it may be None, text, NaN...), checked by ``lossviz.checks``
    (``integer``: a whole number); a refusal is an ``InputError`` naming ``what`` and the range."""
    if isinstance(value, str):  # a number box may send its text
        try:
            value = float(value.strip()[:40])
        except ValueError:
            pass  # refused below, shown as typed
    try:
        return checks.integer(value, what, int(lo), int(hi)) if integer else checks.number(value, what, lo, hi)
    except ValueError as e:
        raise InputError(str(e)) from None


# --- schemas ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Number:
    """A number with a slider range; ``integer`` rounds to whole numbers."""

    key: str
    label: str
    lo: float
    hi: float
    step: float
    default: float
    integer: bool = False

    def range_text(self) -> str:
        return f"[{fmt_number(self.lo)}, {fmt_number(self.hi)}]"


@dataclass(frozen=True)
class Names:
    """Several names out of ``options`` (deduplicated, in the order given)."""

    key: str
    label: str
    options: tuple[str, ...]
    default: tuple[str, ...]


@dataclass(frozen=True)
class Flag:
    key: str
    label: str
    default: bool = False


@dataclass(frozen=True)
class Choice:
    """One value out of ``options`` (strings or whole numbers); ``aliases`` maps old names
    (from links written before a rename) to options."""

    key: str
    label: str
    options: tuple
    default: object
    aliases: tuple[tuple[str, object], ...] = ()


Field = Number | Names | Flag | Choice


def _as_float(raw) -> float | None:
    """A finite float, or None. Strings are read as numbers; bools, lists, dicts are not numbers."""
    if isinstance(raw, bool) or raw is None or isinstance(raw, (list, dict, tuple)):
        return None
    if isinstance(raw, str):
        raw = raw.strip()[:40]
    try:
        x = float(raw)
    except (TypeError, ValueError, OverflowError):
        return None
    return x if math.isfinite(x) else None


def _show(raw) -> str:
    text = raw if isinstance(raw, str) else repr(raw)
    return text if len(text) <= 40 else text[:37] + "..."


def check_field(field: Field, raw, previous, *, source: str) -> tuple[object, str | None]:
    """One raw value -> (the value used, a note or None).

    ``source`` is "url" (a value read from a link) or "input" (a value from a control); notes
    name the value and what is used instead. ``previous`` is used where a value is refused.
    """
    where = f"{field.key}={_show(raw)}" if source == "url" else f"{field.label}: {_show(raw)}"
    if isinstance(field, Number):
        x = _as_float(raw)
        if x is None:
            return previous, f"{where} is not a finite number; using {fmt_number(previous)}"
        if field.integer and x != round(x):
            y = float(round(x))
            y = min(max(y, field.lo), field.hi)
            return int(y), f"{where} is not a whole number; using {fmt_number(y)}"
        if x < field.lo or x > field.hi:
            y = min(max(x, field.lo), field.hi)
            side = "below" if x < field.lo else "above"
            return (int(y) if field.integer else y), f"{where} is {side} the range {field.range_text()}; using {fmt_number(y)}"
        return (int(x) if field.integer else x), None
    if isinstance(field, Names):
        if isinstance(raw, str):
            items = raw.split(",") if raw else []
        elif isinstance(raw, (list, tuple)):
            items = list(raw)
        elif raw is None:
            items = []
        else:
            return list(previous), f"{field.label}: a list of names is required; keeping {','.join(previous) or 'none'}"
        if len(items) > MAX_LIST:
            return list(previous), f"{field.label}: {len(items)} names is too many (at most {MAX_LIST}); keeping {','.join(previous) or 'none'}"
        out, bad = [], []
        for item in items:
            if isinstance(item, str) and item in field.options:
                if item not in out:
                    out.append(item)
            elif item != "":
                bad.append(_show(item))
        note = None
        if bad:
            note = (f"{field.label}: unknown {', '.join(bad[:5])}{' ...' if len(bad) > 5 else ''} ignored; "
                    f"using {','.join(out) or 'none'} (valid: {', '.join(field.options)})")
        return out, note
    if isinstance(field, Flag):
        if isinstance(raw, bool):
            return raw, None
        if source == "url" and raw in ("1", "0", "true", "false", "on", "off", ""):
            return raw in ("1", "true", "on"), None
        return bool(previous), f"{where} is not on/off; using {'1' if previous else '0'}"
    if isinstance(field, Choice):
        raw = dict(field.aliases).get(raw, raw) if isinstance(raw, str) else raw
        for option in field.options:
            if raw == option or (isinstance(option, int) and not isinstance(raw, bool) and _as_float(raw) == option) \
                    or (isinstance(raw, str) and raw == str(option)):
                return option, None
        return previous, f"{where} is not one of {', '.join(map(str, field.options))}; using {previous}"
    raise TypeError(field)


def defaults(schema: list[Field]) -> dict:
    return {f.key: (list(f.default) if isinstance(f, Names) else f.default) for f in schema}


def from_query(schema: list[Field], query: dict) -> tuple[dict, list[str]]:
    """A URL's values (validated; missing ones default) and the notes on the bad ones."""
    values, notes = defaults(schema), []
    for f in schema:
        if f.key in query:
            values[f.key], note = check_field(f, query[f.key], values[f.key], source="url")
            if note:
                notes.append(note)
    return values, notes


def from_request(schema: list[Field], raw: object, previous: dict | None) -> tuple[dict, list[str], dict]:
    """The values a page's gate sent -> (values used, notes, corrected numbers for the controls).

    ``previous`` is the state the browser shows (itself from the browser, so it is checked too);
    a refused value keeps the previous one.
    """
    base = defaults(schema)
    if isinstance(previous, dict):
        for f in schema:
            if f.key in previous:
                value, note = check_field(f, previous[f.key], base[f.key], source="input")
                if note is None:
                    base[f.key] = value
    raw = raw if isinstance(raw, dict) else {}
    values, notes, corrected = dict(base), [], {}
    for f in schema:
        if f.key not in raw:
            continue
        values[f.key], note = check_field(f, raw[f.key], base[f.key], source="input")
        if note:
            notes.append(note)
            if isinstance(f, Number):
                corrected[f.key] = values[f.key]
    return values, notes, corrected


def query_of(schema: list[Field], values: dict, hide: list[str] | None = None) -> str:
    """The canonical query string of a page's values (every field, so a link means one thing)."""
    out = {}
    for f in schema:
        v = values.get(f.key)
        if isinstance(f, Number):
            out[f.key] = fmt_number(v)
        elif isinstance(f, Names):
            out[f.key] = list(v)
        elif isinstance(f, Flag):
            out[f.key] = "1" if v else "0"
        else:
            out[f.key] = str(v)
    return to_query(out, hide=sorted(hide) if hide else None)
