"""Mean and standard deviation over repeated runs (seeds), in plain Python: the run folder's
tables and the studies' summaries read them without importing torch."""

from __future__ import annotations

import math


def mean_std(values) -> tuple[float | None, float | None]:
    """Mean and population standard deviation of numbers; (None, None) when there are none."""
    values = list(values)
    if not values:
        return None, None
    m = sum(values) / len(values)
    return m, math.sqrt(sum((v - m) ** 2 for v in values) / len(values))
