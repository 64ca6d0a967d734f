"""Explorer responsiveness against issue 14's targets, per curve page.

1. Server time of one slider step (the page's gate request -> answer, plus Dash's JSON
   encoding), for a drag step (a partial update) and a first draw: median and p95 of 200.
2. In headless Chromium (when available), for each curve page:
   - first load: navigation -> the graph holds data (responses compressed), the median of
     LOADS loads in fresh browser contexts (nothing cached);
   - a slider dragged with the mouse for DRAG_S seconds: graph redraws per second
     (``plotly_afterplot`` or ``plotly_animated`` events that showed a new answer),
     release -> last redraw, and bytes per update (response
     bodies of the update requests as they arrived, compressed).

    python bench/bench_explorer.py            # all of it
    python bench/bench_explorer.py --server   # only the server part
    python bench/bench_explorer.py --page losses

Numbers depend on the machine and its load; run it on an idle machine for numbers to quote.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

from dash._utils import to_json

from frames import ANSWERS_JS, drawn_answers, served  # bench/frames.py (the bench folder is on the path of a script run from it)

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # for tests.browser's Chromium finder

from lossviz.explorer import controls, state  # noqa: E402
from lossviz.explorer.pages import activations, losses, softmax  # noqa: E402

TARGETS = {"redraws_per_s": 20.0, "release_ms": 150.0, "update_kb": 60.0, "server_p95_ms": 10.0, "first_load_s": 2.0}
DRAG_S = 3.0
LOADS = 3  # first loads per page (median), each in a fresh browser context

# page module, URL for the browser, the slider dragged, and (for the server part) the key stepped.
CASES = [
    (losses, "/losses?losses=l1,l2,huber", "huber.delta"),
    (activations, "/activations?activations=relu,prelu,sigmoid,tanh&vanish=1", "prelu.alpha"),
    (softmax, "/softmax?classes=10", "scale"),
]


DRAG_JS = """async ({sel, ms}) => {
  const root = document.querySelector(sel);
  const thumb = root.querySelector('.mantine-Slider-thumb');
  const r = root.getBoundingClientRect(), th = thumb.getBoundingClientRect();
  const y = th.top + th.height / 2;
  const fire = (type, x, target) => target.dispatchEvent(new MouseEvent(type, {bubbles: true, cancelable: true, clientX: x, clientY: y, buttons: 1, button: 0, view: window}));
  fire('mousedown', th.left + th.width / 2, thumb);
  const t0 = performance.now();
  let moves = 0;
  await new Promise(done => {
    const step = () => {
      const t = performance.now() - t0;
      if (t > ms) return done();
      const phase = (t / 1500) % 2, f = phase <= 1 ? phase : 2 - phase;
      fire('mousemove', r.left + 4 + f * (r.width - 8), document);
      moves++;
      requestAnimationFrame(step);
    };
    step();
  });
  const release = performance.now();
  fire('mouseup', r.left + 4, document);
  return [t0, release, moves];
}"""


def server_times(page, key: str, n: int = 200) -> tuple[float, float, float, float]:
    """(median ms, p95 ms) of drag steps, and of first draws; JSON-encoded as Dash sends them."""
    schema = page.schema()
    field = next(f for f in schema if f.key == key)
    values = state.defaults(schema)
    outputs = 5 if page is not softmax else 3 + softmax.MAX_CLASSES

    def answer(v, shown):
        out = controls.answer(page.PAGE, schema, page.compute, outputs, {"seq": 1, "values": v, "shown": shown}, [])
        return to_json(list(out)), out[0]

    _, first = answer(dict(values), None)
    steps, firsts = [], []
    shown = first["shown"]
    for i in range(n):
        v = dict(values)
        v[key] = field.lo + (field.hi - field.lo) * ((i * 0.37) % 1.0)
        t = time.perf_counter()
        _, st = answer(v, shown)
        steps.append((time.perf_counter() - t) * 1000)
        shown = st["shown"]
    for _ in range(n // 4):
        t = time.perf_counter()
        answer(dict(values), None)
        firsts.append((time.perf_counter() - t) * 1000)
    p95 = lambda xs: statistics.quantiles(xs, n=20)[-1]  # noqa: E731
    return statistics.median(steps), p95(steps), statistics.median(firsts), p95(firsts)


def mark(ok: bool) -> str:
    return "met" if ok else "MISSED"


def browser_runs(base: str, path: str, cases: list) -> list[dict]:
    from playwright.sync_api import sync_playwright

    from tests.browser.conftest import CHROMIUM_ARGS

    out = []
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        for page_mod, url, key in cases:
            graph = "#" + page_mod.PAGE + ("-overflow" if page_mod is softmax else "-graph") + " .js-plotly-plot"
            loads = []
            for _ in range(LOADS - 1):  # fresh contexts: nothing cached in the browser
                ctx = b.new_context(viewport={"width": 1440, "height": 1000})
                pg = ctx.new_page()
                t0 = time.perf_counter()
                pg.goto(base + url)
                pg.wait_for_function(f"() => {{ const e = document.querySelector('{graph}'); return e && e.data && e.data.length > 0; }}",
                                     timeout=60000, polling="raf")
                loads.append(time.perf_counter() - t0)
                ctx.close()
            ctx = b.new_context(viewport={"width": 1440, "height": 1000})
            pg = ctx.new_page()
            sizes: list = []
            pg.on("requestfinished", lambda req, _sizes=sizes: _sizes.append(req) if "_dash-update-component" in req.url or "/_lossviz/frame/" in req.url else None)
            t0 = time.perf_counter()
            pg.goto(base + url)
            pg.wait_for_function(f"() => {{ const e = document.querySelector('{graph}'); return e && e.data && e.data.length > 0; }}",
                                 timeout=60000, polling="raf")
            loads.append(time.perf_counter() - t0)
            first_load = statistics.median(loads)
            pg.wait_for_timeout(1000)
            pg.evaluate(f"""() => {{ const e = document.querySelector('{graph}'); window.__draws = []; performance.clearResourceTimings(); performance.setResourceTimingBufferSize(100000);
                e.on('plotly_afterplot', () => window.__draws.push(performance.now()));
                e.on('plotly_animated', () => window.__draws.push(performance.now())); }}""")
            sid = controls.safe_id(page_mod.PAGE, key)
            n_before = len(sizes)
            # The drag runs inside the page: a mouse move every animation frame (as Chrome delivers
            # a real mouse's moves), across the track and back, for DRAG_S seconds.
            start_js, release_js, moves = pg.evaluate(DRAG_JS, {"sel": "#" + sid, "ms": DRAG_S * 1000})
            pg.wait_for_timeout(1500)
            raw_draws = pg.evaluate("window.__draws")
            draws = drawn_answers(raw_draws, pg.evaluate(ANSWERS_JS), start_js)
            during = [d for d in draws if start_js <= d <= release_js]
            after = [d for d in raw_draws if d > release_js]  # the answers drawn and the settling redraw
            update_sizes = []
            for req in sizes[n_before:]:
                try:
                    update_sizes.append(req.sizes()["responseBodySize"])
                except Exception:  # noqa: BLE001 (a response gone with a navigation)
                    pass
            out.append({
                "page": page_mod.PAGE, "slider": key, "first_load_s": first_load,
                "redraws_per_s": len(during) / ((release_js - start_js) / 1000),
                "release_ms": (max(after) - release_js) if after else 0.0,
                "update_kb": (statistics.mean(update_sizes) / 1024) if update_sizes else float("nan"),
                "update_kb_max": (max(update_sizes) / 1024) if update_sizes else float("nan"),
                "updates": len(update_sizes), "mouse_moves": moves,
            })
            ctx.close()
        b.close()
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--server", action="store_true", help="only the server-time part (no browser)")
    ap.add_argument("--page", choices=[m.PAGE for m, _, _ in CASES], action="append", help="only this page (repeatable; default: all)")
    args = ap.parse_args()
    cases = [c for c in CASES if not args.page or c[0].PAGE in args.page]
    from lossviz.explorer import create_app

    from lossviz.explorer.app import warm_compressed_scripts

    app = create_app()  # the server as `lossviz explore` runs it (one torch thread)
    ok = True
    load = os.getloadavg()
    print(f"machine: {os.cpu_count()} CPUs, load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} (1 / 5 / 15 min) at the start")
    print(f"server time per update, {TARGETS['server_p95_ms']:.0f} ms p95 target (drag step = partial update; first = whole figure):")
    for page, _, key in cases:
        med, p95, fmed, fp95 = server_times(page, key)
        ok &= p95 <= TARGETS["server_p95_ms"]
        print(f"  {page.PAGE:<12} {key:<12} drag step: median {med:5.1f} ms, p95 {p95:5.1f} ms [{mark(p95 <= TARGETS['server_p95_ms'])}]"
              f"   first draw: median {fmed:5.1f} ms, p95 {fp95:5.1f} ms")
    if args.server:
        return 0 if ok else 1
    warm_compressed_scripts(app)  # as `lossviz explore` does at start, while the browser opens
    from tests.browser.conftest import _chromium

    path = _chromium()
    if path is None:
        print("(no browser measurement: Chromium not found)")
        return 0 if ok else 1
    with served(app) as base:
        rows = browser_runs(base, path, cases)
    t = TARGETS
    print(f"\nheadless Chromium, 1440 px, a {DRAG_S:.0f} s mouse drag per page (targets: >= {t['redraws_per_s']:.0f} redraws/s, "
          f"<= {t['release_ms']:.0f} ms release -> last frame, <= {t['update_kb']:.0f} KB/update, first load <= {t['first_load_s']:.0f} s):")
    for r in rows:
        checks = (r["redraws_per_s"] >= t["redraws_per_s"], r["release_ms"] <= t["release_ms"],
                  r["update_kb_max"] <= t["update_kb"], r["first_load_s"] <= t["first_load_s"])
        ok &= all(checks)
        print(f"  {r['page']:<12} drag {r['slider']:<12} {r['redraws_per_s']:5.1f} redraws/s [{mark(checks[0])}]"
              f"  release -> last frame {r['release_ms']:4.0f} ms [{mark(checks[1])}]"
              f"  {r['update_kb']:5.1f} KB/update (max {r['update_kb_max']:.1f}) [{mark(checks[2])}]"
              f"  first load {r['first_load_s']:4.2f} s (median of {LOADS}) [{mark(checks[3])}]  ({r['updates']} updates, {r['mouse_moves']} mouse moves)")
    load = os.getloadavg()
    print(f"load average at the end: {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
