"""What the browser benches count as a frame shown (bench_explorer.py, bench_playground.py)."""

from __future__ import annotations

# The times (page clock) at which the update answers arrived (resource timings of the page).
ANSWERS_JS = "performance.getEntriesByType('resource').filter(e => e.name.includes('_dash-update-component')).map(e => e.responseEnd)"


def drawn_answers(draws: list[float], answers: list[float]) -> list[float]:
    """The draws that showed a new answer: a draw counts when an answer arrived since the last
    counted draw (an animated frame and a redraw of one answer, or a redraw with nothing new,
    count once or not at all)."""
    out: list[float] = []
    answers = sorted(answers)
    for d in sorted(draws):
        since = out[-1] if out else float("-inf")
        if any(since < a <= d for a in answers):
            out.append(d)
    return out
