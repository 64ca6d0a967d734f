"""Explorer latency: server time of a slider move (callback + Dash's JSON encoding), 2,000-point curves.

Baseline in the same run: the same callback answered with Python lists instead of numpy arrays
(what a hand-written Dash app usually sends). Then, when Chromium is available, one end-to-end
measurement in a real headless browser: key press on a slider -> the graph holds the new data.

    python bench/bench_explorer.py
"""

from __future__ import annotations

import socket
import statistics
import sys
import threading
import time
from pathlib import Path

from dash._utils import to_json

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # for tests.browser's Chromium finder

from lossviz.explorer.pages import activations, losses, softmax

TARGET_MS = 100.0


def timed(fn, repeat=30) -> float:
    fn()
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def main() -> int:
    loss_params = [p.default for _, p in losses.params()]
    act_params = [p.default for _, p in activations.params()]
    cases = {
        "losses (l1, l2, huber; 9 traces x 2,000 pts)": lambda: to_json(losses.update(["l1", "l2", "huber"], 0.3, [-3, 3], ["on"], *loss_params)),
        "activations (4 activations, shading; 8 x 2,000)": lambda: to_json(activations.update(activations.names(), [-6, 6], ["on"], *act_params)),
        "softmax (10 classes + overflow curve)": lambda: to_json(softmax.update(10, 1.3, 2, 1, *softmax.DEFAULT_LOGITS)),
    }

    def as_lists():
        fig = losses.update(["l1", "l2", "huber"], 0.3, [-3, 3], ["on"], *loss_params)[0]
        for t in fig.data:
            t.x, t.y = list(map(float, t.x)), list(map(float, t.y))
        return to_json(fig)

    ok = True
    print(f"server time per slider move (median of 30; target < {TARGET_MS:.0f} ms):")
    for name, fn in cases.items():
        ms = timed(fn)
        ok &= ms < TARGET_MS
        print(f"  {name:<50} {ms:7.1f} ms")
    base = timed(as_lists, repeat=10)
    ours = timed(cases["losses (l1, l2, huber; 9 traces x 2,000 pts)"])
    print(f"baseline, same losses callback sent as Python lists: {base:.1f} ms -> numpy arrays are {base / ours:.1f}x faster")
    e2e = browser_round_trip()
    if e2e is not None:
        print(f"end to end in headless Chromium (ArrowRight on huber delta -> new curve drawn), median of 10: {e2e:.0f} ms")
    return 0 if ok else 1


def browser_round_trip() -> float | None:
    import logging

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    try:
        from playwright.sync_api import sync_playwright
        from werkzeug.serving import make_server

        from lossviz.explorer import create_app
        from tests.browser.conftest import CHROMIUM_ARGS, _chromium
    except ImportError as e:
        print(f"(no browser measurement: {e})")
        return None
    path = _chromium()
    if path is None:
        print("(no browser measurement: Chromium not found)")
        return None
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    srv = make_server("127.0.0.1", port, create_app().server, threaded=True)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    js = "() => { const el = document.querySelector('#losses-graph .js-plotly-plot'); return el && el.data ? el.data.length + ':' + JSON.stringify(el.layout.legend ? el.data.map(t => t.name) : []) : null; }"
    samples = []
    try:
        with sync_playwright() as pw:
            b = pw.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
            page = b.new_page()
            page.goto(f"http://127.0.0.1:{port}/losses?losses=huber&huber.delta=1")
            page.wait_for_function("() => { const el = document.querySelector('#losses-graph .js-plotly-plot'); return el && el.data && el.data.length > 0; }")
            for _ in range(10):
                before = page.evaluate(js)
                page.focus("#losses-param-huber-delta [role=slider]")
                start = time.perf_counter()
                page.keyboard.press("ArrowRight")
                page.wait_for_function(f"(b) => ({js})() !== b", arg=before, polling="raf")
                samples.append((time.perf_counter() - start) * 1000)
            b.close()
    finally:
        srv.shutdown()
    return statistics.median(samples)


if __name__ == "__main__":
    sys.exit(main())
