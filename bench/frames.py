"""What the browser benches share (bench_explorer.py, bench_playground.py): serving the
explorer on a loopback port, and what counts as a frame shown."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repository root: tests.browser

from tests.browser.conftest import served  # noqa: E402,F401  (serving the explorer: one helper for tests, benches, screenshots)

# The times (page clock) at which the update answers arrived (resource timings of the page).
ANSWERS_JS = "performance.getEntriesByType('resource').filter(e => e.initiatorType === 'fetch').map(e => e.responseEnd)"


def drawn_answers(draws: list[float], answers: list[float], since: float) -> list[float]:
    """The draws that showed a new answer: each draw is paired with the earliest answer that
    arrived before it and no earlier draw showed. A draw with no such answer (a second event of
    one answer, a redraw with nothing new) does not count, and no answer counts twice; an
    answer that arrives while the previous one is still being drawn (the next request goes out
    as an answer lands) still counts for the draw that follows. Only answers and draws from
    ``since`` (page clock) on count."""
    out: list[float] = []
    answers = sorted(a for a in answers if a >= since)
    draws = [d for d in draws if d >= since]
    i = 0
    for d in sorted(draws):
        if i < len(answers) and answers[i] <= d:
            out.append(d)
            i += 1
    return out
