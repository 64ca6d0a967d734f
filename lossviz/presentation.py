"""How the faces show a parameter: its slider (range and step) and the values a sweep draws.

The math's ``Param`` says what a value may be (the allowed range); this table says what a
slider offers, which the explorer, the exporter's sweep figures and the tests read. An entry
not in the table (one registered later, by a user) gets a slider derived from its range.
"""

from __future__ import annotations

import math
from typing import NamedTuple


class Slider(NamedTuple):
    """A slider's finite range and step; ``low`` and ``high`` are allowed values of the parameter."""

    low: float
    high: float
    step: float


# (entry, parameter) -> (slider, values a sweep figure draws), for the built-in entries.
_TABLE: dict[tuple[str, str], tuple[Slider, tuple[float, ...]]] = {
    ("huber", "delta"): (Slider(0.05, 5.0, 0.05), (0.25, 0.5, 1.0, 2.0)),
    ("cross_entropy", "label_smoothing"): (Slider(0.0, 0.5, 0.01), (0.0, 0.1, 0.3)),
    ("smooth_l1", "beta"): (Slider(0.0, 5.0, 0.05), (0.0, 0.5, 1.0, 2.0)),
    ("quantile", "tau"): (Slider(0.05, 0.95, 0.05), (0.1, 0.5, 0.9)),
    ("general", "alpha"): (Slider(-6.0, 4.0, 0.05), (-math.inf, -2.0, 0.0, 1.0, 2.0)),
    ("general", "scale"): (Slider(0.1, 3.0, 0.05), (0.5, 1.0, 2.0)),
    ("hinge", "margin"): (Slider(0.0, 3.0, 0.05), (0.0, 0.5, 1.0, 2.0)),
    ("hinge_ww", "margin"): (Slider(0.0, 3.0, 0.05), (0.0, 0.5, 1.0, 2.0)),
    ("focal", "gamma"): (Slider(0.0, 5.0, 0.05), (0.0, 0.5, 1.0, 2.0, 5.0)),
    ("gce", "q"): (Slider(0.05, 1.0, 0.05), (0.1, 0.4, 0.7, 1.0)),
    ("prelu", "alpha"): (Slider(-0.5, 1.0, 0.01), (0.0, 0.1, 0.25, 0.5)),
    ("softmax", "temperature"): (Slider(0.1, 5.0, 0.05), (0.5, 1.0, 2.0)),
    ("leaky_relu", "negative_slope"): (Slider(0.0, 0.5, 0.01), (0.0, 0.01, 0.1, 0.3)),
    ("elu", "alpha"): (Slider(0.0, 2.0, 0.05), (0.5, 1.0, 2.0)),
    ("silu", "beta"): (Slider(0.0, 5.0, 0.05), (0.5, 1.0, 2.0, 5.0)),
    ("softplus", "beta"): (Slider(0.25, 5.0, 0.05), (0.5, 1.0, 2.0, 5.0)),
}


def _param(entry_name: str, param_name: str):
    # Imported here: the drawing modules import this one without loading torch.
    from lossviz.registry import get

    return get(entry_name).param(param_name)


def slider(entry_name: str, param_name: str) -> Slider:
    """The slider of a parameter of a registered loss or activation.

    From the table for the built-ins; otherwise derived from the parameter's allowed range:
    a finite end is kept (moved in by one step where it is open), an infinite end becomes the
    default plus or minus max(1, 2 |default|); the step is the power of ten nearest below a
    hundredth of the span. ``ValueError`` for an unknown entry or parameter.
    """
    p = _param(entry_name, param_name)
    if (entry_name, param_name) in _TABLE:
        return _TABLE[entry_name, param_name][0]
    centre = p.default if math.isfinite(p.default) else 0.0
    reach = max(1.0, 2 * abs(centre))
    low = p.low if math.isfinite(p.low) else min(centre, p.high) - reach
    high = p.high if math.isfinite(p.high) else max(centre, p.low) + reach
    span = high - low
    step = 10.0 ** math.floor(math.log10(span / 100)) if span > 0 else 0.05
    if p.low_open and math.isfinite(p.low):
        low += step
    if p.high_open and math.isfinite(p.high):
        high -= step
    return Slider(float(low), float(high), step)


def sweep(entry_name: str, param_name: str) -> tuple[float, ...]:
    """The values a parameter-sweep figure draws: the table's, or four evenly spaced values
    across the slider (its two ends included)."""
    _param(entry_name, param_name)  # an unknown name is refused the same way for every entry
    if (entry_name, param_name) in _TABLE:
        return _TABLE[entry_name, param_name][1]
    low, high, _ = slider(entry_name, param_name)
    return tuple(low + (high - low) * i / 3 for i in range(4))
