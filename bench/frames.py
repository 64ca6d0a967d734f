"""What the browser benches share (bench_explorer.py, bench_playground.py): serving the
explorer on a loopback port, and what counts as a frame shown."""

from __future__ import annotations

import contextlib
import logging
import socket
import threading

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
