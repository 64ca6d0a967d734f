"""The playground's speed against issue 16's targets: 4 losses, a 2-8-8 MLP, 60 x 60 maps.

1. Server time of one frame (a tick: check the tab's state, advance ``speed`` steps, compute the
   frame, build the Patch, Dash's JSON encoding), median and p95, per mode.
2. In headless Chromium (when available), per mode: play for PLAY_S seconds and count frames
   shown per second (``plotly_afterplot`` or, for an animated frame, ``plotly_animated`` events of
   the main graph that showed a new answer) and the bytes per frame
   (response bodies of the tick requests, as they arrived, compressed).

    python bench/bench_playground.py            # all of it
    python bench/bench_playground.py --server   # only the server part
    python bench/bench_playground.py --mode classification

Numbers depend on the machine and its load; run it on an idle machine for numbers to quote.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

from dash._utils import to_json

from frames import ANSWERS_JS, drawn_answers, served  # bench/frames.py (it also puts the repository root on the path: tests.browser)

from lossviz.explorer import state
from lossviz.explorer.pages import playground as pg

TARGETS = {"fps": 15.0, "frame_kb": 50.0}
PLAY_S = 5.0
URLS = {"classification": "/playground?mode=classification&dataset=spiral&losses=cross_entropy,hinge,focal,l2&layers=2&units=8&speed=5",
        "regression": "/playground?mode=regression&losses=l2,l1,huber,log_cosh&speed=5",
        # the "wave with outliers (MLP)" preset: a 1-16-16-1 tanh MLP per loss (issue 23 saw ~3 frames/s)
        "regression-wave": "/playground?mode=regression&preset=wave+with+outliers+%28MLP%29&shape=wave&model=mlp&outliers=0.15"
                           "&size=6&noise=0.3&losses=l2,l1,huber&speed=5"}


def mode_of(name: str) -> str:
    return name.split("-")[0]


def server_times(name: str, n: int = 100) -> tuple[float, float, float]:
    """(median ms, p95 ms, mean bytes) of a playing tick, JSON-encoded as Dash sends it."""
    mode = mode_of(name)
    query = state.parse_query(URLS[name].split("?", 1)[1])
    values, _ = state.from_query(pg.schema(mode), query)
    store = pg.tick(mode, "load", dict(values), None, None, [], False)[0]
    times, sizes = [], []
    for _ in range(n):
        t = time.perf_counter()
        out = pg.tick(mode, "tick", dict(values), store, None, [], False)
        body = to_json(list(out[:6]))
        times.append((time.perf_counter() - t) * 1000)
        sizes.append(len(body))
        store = out[0]
    return statistics.median(times), statistics.quantiles(times, n=20)[-1], statistics.mean(sizes)


def browser_runs(base: str, path: str, modes: tuple[str, ...]) -> list[dict]:
    from playwright.sync_api import sync_playwright

    from tests.browser.conftest import CHROMIUM_ARGS

    out = []
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        for name, url in [(m, u) for m, u in URLS.items() if m in modes]:
            mode = mode_of(name)
            p = f"playground-{mode[0]}"
            graph = f"#{p}-main .js-plotly-plot"
            ctx = b.new_context(viewport={"width": 1440, "height": 1000})
            page = ctx.new_page()
            reqs: list = []
            page.on("requestfinished", lambda r, _r=reqs: _r.append(r) if "_dash-update-component" in r.url else None)
            page.goto(base + url)
            page.wait_for_function(f"() => {{ const e = document.querySelector('{graph}'); return e && e._fullLayout && (e.data.length > 0 || (e.layout.images || []).length > 0); }}",
                                   timeout=60000)
            page.wait_for_timeout(1500)
            page.evaluate(f"""() => {{ const e = document.querySelector('{graph}'); window.__draws = []; performance.clearResourceTimings(); performance.setResourceTimingBufferSize(100000);
                e.on('plotly_afterplot', () => window.__draws.push(performance.now())); e.on('plotly_animated', () => window.__draws.push(performance.now())); }}""")
            step0 = int(page.inner_text(f"#{p}-readout").split()[1])
            n_before = len(reqs)
            page.click(f"#{p}-play")
            t0 = page.evaluate("performance.now()")
            page.wait_for_timeout(PLAY_S * 1000)
            t1 = page.evaluate("performance.now()")
            page.click(f"#{p}-pause")
            page.wait_for_timeout(800)
            draws = [d for d in drawn_answers(page.evaluate("window.__draws"), page.evaluate(ANSWERS_JS), t0) if d <= t1]
            step1 = int(page.inner_text(f"#{p}-readout").split()[1])
            sizes = []
            for r in reqs[n_before:]:
                try:
                    sizes.append(r.sizes()["responseBodySize"])
                except Exception:  # noqa: BLE001 (a response gone with a navigation)
                    pass
            out.append({"mode": name, "fps": len(draws) / ((t1 - t0) / 1000), "frame_kb": statistics.mean(sizes) / 1024 if sizes else float("nan"),
                        "frame_kb_max": max(sizes) / 1024 if sizes else float("nan"), "frames": len(sizes),
                        "steps_per_s": (step1 - step0) / ((t1 - t0) / 1000)})
            ctx.close()
        b.close()
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--server", action="store_true", help="only the server-time part (no browser)")
    ap.add_argument("--mode", choices=tuple(URLS), action="append", help="only this mode (repeatable; default: both)")
    args = ap.parse_args()
    from lossviz.explorer import create_app
    from lossviz.explorer.app import warm_compressed_scripts

    app = create_app()  # the server as `lossviz explore` runs it (one torch thread)
    ok = True
    load = os.getloadavg()
    print(f"machine: {os.cpu_count()} CPUs, load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} (1 / 5 / 15 min) at the start")
    print("server time per frame (5 training steps, the frame, the Patch, JSON encoding; uncompressed size):")
    for mode in args.mode or URLS:
        med, p95, size = server_times(mode)
        print(f"  {mode:<16} median {med:5.1f} ms, p95 {p95:5.1f} ms, {size / 1024:5.1f} KB per frame before compression")
    if args.server:
        return 0
    warm_compressed_scripts(app)
    from tests.browser.conftest import _chromium

    path = _chromium()
    if path is None:
        print("(no browser measurement: Chromium not found)")
        return 0
    with served(app) as base:
        rows = browser_runs(base, path, tuple(args.mode or URLS))
    print(f"\nheadless Chromium, 1440 px, playing for {PLAY_S:.0f} s (targets: >= {TARGETS['fps']:.0f} frames/s, "
          f"<= {TARGETS['frame_kb']:.0f} KB/frame):")
    for r in rows:
        checks = (r["fps"] >= TARGETS["fps"], r["frame_kb_max"] <= TARGETS["frame_kb"])
        ok &= all(checks)
        print(f"  {r['mode']:<16} {r['fps']:5.1f} frames/s [{'met' if checks[0] else 'MISSED'}]  {r['frame_kb']:5.1f} KB/frame "
              f"(max {r['frame_kb_max']:.1f}) [{'met' if checks[1] else 'MISSED'}]  {r['steps_per_s']:6.0f} training steps/s "
              f"({r['frames']} frames)")
    load = os.getloadavg()
    print(f"load average at the end: {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
