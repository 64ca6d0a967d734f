"""Checks of values from outside the program: numbers, integers, choices, text and paths.

One module for the command line, the run config, the toy playground, the studies, the explorer
and the specs' parameters, so every face refuses a bad value the same way: a ``ValueError``
naming the value, what was expected, and (briefly) what came. Imports nothing heavy.
"""

from __future__ import annotations

import math
import numbers
from pathlib import Path

ECHO = 40  # characters of a refused value repeated in a message (a 20 MB value is not echoed)


def shown(value: object, limit: int = ECHO) -> str:
    """``repr(value)`` cut to ``limit`` characters, for error messages."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def interval(low: float, high: float, *, low_open: bool = False, high_open: bool = False) -> str:
    """``[0, inf)``-style text of a range."""
    return f"{'(' if low_open else '['}{_g(low)}, {_g(high)}{')' if high_open else ']'}"


def _g(x: float) -> str:
    if isinstance(x, float) and math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return f"{x:g}"


def _real(value: object) -> float | None:
    """``value`` as a float when it is a real number (Python, numpy, or a one-element tensor),
    else None. Booleans, strings and containers are not numbers."""
    if isinstance(value, bool) or type(value).__name__ == "bool_":
        return None
    if isinstance(value, numbers.Real):
        return float(value)  # may raise OverflowError for a huge int: the caller words it
    if type(value).__module__.startswith("torch") and hasattr(value, "numel"):  # a tensor, without importing torch
        if value.numel() == 1 and not value.is_complex() and str(value.dtype) != "torch.bool":
            return float(value.item())
    return None


def number(value: object, name: str, low: float = -math.inf, high: float = math.inf, *,
           low_open: bool = False, high_open: bool = False, finite: bool = True) -> float:
    """``value`` as a float in the range, or ``ValueError`` naming ``name`` and the range.

    Infinite values pass only with ``finite=False`` and a range that includes them; NaN never.
    """
    span = interval(low, high, low_open=low_open, high_open=high_open)
    try:
        x = _real(value)
    except OverflowError:  # e.g. 10**400: a Python int beyond every float
        raise ValueError(f"{name} must be a number in {span} and fit in a float, got an integer with "
                         f"{len(str(abs(int(value))))} digits") from None
    if x is None:
        raise ValueError(f"{name} must be a number in {span}, got {shown(value)}")
    too_low = x <= low if low_open else x < low
    too_high = x >= high if high_open else x > high
    if math.isnan(x) or too_low or too_high or (finite and math.isinf(x)):
        raise ValueError(f"{name} must be {'a finite number' if finite else 'a number'} in {span}, got {x!r}")
    return x


def integer(value: object, name: str, low: int, high: int) -> int:
    """``value`` as an int in [low, high]; a float that is a whole number (2.0) is accepted."""
    x = _real(value) if not isinstance(value, int) or isinstance(value, bool) else value
    if isinstance(x, float) and math.isfinite(x) and x == int(x):
        x = int(x)
    if not isinstance(x, int) or isinstance(x, bool) or not low <= x <= high:
        raise ValueError(f"{name} must be an integer in [{low}, {high}], got {shown(value)}")
    return x


def choice(value: object, name: str, options) -> str:
    """``value`` when it is one of ``options``, else ``ValueError`` listing them."""
    options = list(options)
    if isinstance(value, str) and value in options:
        return value
    raise ValueError(f"unknown {name} {shown(value)}; valid: {', '.join(map(str, options))}")


def text(value: object, name: str, max_length: int = 200) -> str:
    """A non-empty string of at most ``max_length`` characters with no control characters."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{name} must be a non-empty text, got {shown(value)}")
    if len(value) > max_length:
        raise ValueError(f"{name} must be at most {max_length} characters, got {len(value)}")
    if any(ord(c) < 32 for c in value):
        raise ValueError(f"{name} must not contain control characters, got {shown(value)}")
    return value


def path(value: object, name: str, max_length: int = 4096) -> Path:
    """A file-system path from a non-empty string (no NUL byte, not absurdly long)."""
    if isinstance(value, Path):
        value = str(value)
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{name} must name a file or folder, got {shown(value)}")
    if "\0" in value or len(value) > max_length:
        raise ValueError(f"{name} is not a usable path: {shown(value)}")
    return Path(value)
