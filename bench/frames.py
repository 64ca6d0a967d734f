"""What the browser benches share (bench_explorer.py, bench_playground.py): serving the
explorer on a loopback port, and what counts as a frame shown."""

from __future__ import annotations

import contextlib
import logging
import socket
import threading

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


@contextlib.contextmanager
def served(app):
    """The explorer on a free loopback port in a background thread; yields its base URL."""
    from werkzeug.serving import make_server

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    srv = make_server("127.0.0.1", port, app.server, threaded=True)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        srv.shutdown()
