"""Explorer responsiveness against issue 23's targets: every visible slider of every curve page.

1. Server: for each slider, the sweep a grab asks for (the page's outputs at every step,
   ``controls.sweep_steps``): milliseconds to compute and encode, steps and bytes; and the
   settling callback (a release): milliseconds. Through Dash's update route (test client).
2. Chromium (headless, /usr/bin/chromium): each page at its defaults; each visible slider
   dragged like a hand: the pointer rests on the thumb for HOVER_MS (a hand reaching for it),
   presses, and crosses the track end to end in DRAG_S seconds (~1 s) with a mouse move every
   MOVE_MS (16 ms, a 60 Hz pointer), then releases. A redraw is a ``plotly_afterplot`` (or ``plotly_animated``) of the
   page's busiest graph (one per step drawn on screen, whatever plotly call drew it), counted
   from the press to the release, so the wait for the sweep counts against the rate.
   Release-to-settled: the page's pointerup -> the last draw once the page is quiet (no callback running,
   no draw for QUIET_MS). Grab-to-first-draw: press -> the first draw. A slider with fewer
   than 20 steps per second of drag cannot redraw 20 times a second however fast the page is:
   the output says "bounded by N steps" for it.

Prints one row per slider, then per page the slowest and the median slider. Targets: >= 20
redraws/s for the slowest visible slider, <= 150 ms from release to the settled view.

    python bench/bench_explorer.py                    # everything
    python bench/bench_explorer.py --server           # only the server part
    python bench/bench_explorer.py --page losses --drag-s 1.5

Numbers depend on the machine and its load: quote them from an idle machine, and compare
runs only on the same machine in the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

from frames import served  # bench/frames.py (it also puts the repository root on the path: tests.browser)

from lossviz.explorer import controls, create_app, state
from lossviz.explorer.pages import activations, classification, losses, softmax

TARGETS = {"redraws_per_s": 20.0, "release_ms": 150.0}
PAGES = {p.PAGE: p for p in (losses, activations, classification, softmax)}
DRAG_S = 1.0
MOVE_MS = 16
HOVER_MS = 300
QUIET_MS = 400

# Counts each graph's draws (plotly_afterplot, or plotly_animated for a drag's step) with their page-clock times.
COUNT_JS = """() => { window.__lvDraws = [];
  document.querySelectorAll('.js-plotly-plot').forEach((el, i) => {
    if (!el.__lvBench) { el.__lvBench = true; for (const e of ['plotly_afterplot', 'plotly_animated']) el.on(e, () => window.__lvDraws.push([i, performance.now()])); } }); }"""
# Counts the slider's value changes under the hand (a drag can show no more steps than these).
MOVES_JS = """(id) => { window.__lvMoves = 0; const th = document.querySelector('#' + id + ' [role=slider]');
  new MutationObserver(() => { window.__lvMoves++; }).observe(th, {attributes: true, attributeFilter: ['aria-valuenow']}); }"""
BUSY_JS = "() => !!document.querySelector('[data-dash-is-loading=\"true\"]')"


def visible_sliders(page) -> list:
    """The sliders a page shows at its defaults (parameters of chosen entries; softmax's logits of the classes shown)."""
    schema = page.schema()
    values = state.defaults(schema)
    act = controls.acting(schema, values)
    out = []
    for f in controls.numbers(schema):
        if not act.get(f.key, True):
            continue
        if page is softmax and f.key.startswith("o") and int(f.key[1:]) >= values["classes"]:
            continue
        out.append(f)
    return out


def server_part(names: list[str]) -> None:
    app = create_app()
    client = app.server.test_client()
    client.get("/losses")
    print("server (test client; ms of compute + JSON encoding):")
    print(f"  {'page':<15}{'slider':<32}{'sweep ms':>9}{'steps':>7}{'KB':>7}{'settle ms':>11}")
    for name in names:
        page = PAGES[name]
        schema = page.schema()
        values = state.defaults(schema)
        settle_key = next(k for k, cb in app.callback_map.items() if cb.get("callback") and k.startswith(f"..{name}-state.data"))
        sweep_key = next(k for k, cb in app.callback_map.items() if cb.get("callback") and k == f"{name}-sweep.data")
        cb = app.callback_map[settle_key]
        ids = {("present", "checked"): "present"}
        for f in schema:
            cid = controls.safe_id(name, f.key)
            ids[(cid, "checked" if isinstance(f, state.Flag) else "value")] = f.key
            ids[(cid + "-num", "value")] = f.key
        inputs = [{**d, "value": None if d["id"] == f"{name}-narrow" else values[ids[(d["id"], d["property"])]]} for d in cb["inputs"]]
        outs = [{"id": o.rsplit(".", 1)[0], "property": o.rsplit(".", 1)[1]} for o in settle_key.strip(".").split("...")]
        settle_body = {"output": settle_key, "outputs": outs, "inputs": inputs, "state": [{**d, "value": None} for d in cb["state"]],
                       "changedPropIds": [cb["inputs"][0]["id"] + ".value"]}
        st = client.post("/_dash-update-component", json=settle_body).get_json()["response"][f"{name}-state"]["data"]
        for f in visible_sliders(page):
            t0 = time.perf_counter()
            for _ in range(3):
                client.post("/_dash-update-component", json=settle_body)
            settle_ms = (time.perf_counter() - t0) / 3 * 1000
            body = {"output": sweep_key, "outputs": {"id": f"{name}-sweep", "property": "data"},
                    "inputs": [{"id": f"{name}-sweep-req", "property": "data", "value": {"key": f.key, "sig": "bench"}}],
                    "state": [{"id": f"{name}-state", "property": "data", "value": st}], "changedPropIds": [f"{name}-sweep-req.data"]}
            t0 = time.perf_counter()
            r = client.post("/_dash-update-component", json=body)
            sweep_ms = (time.perf_counter() - t0) * 1000
            data = r.get_json()["response"][f"{name}-sweep"]["data"] if r.status_code == 200 else {"values": []}
            print(f"  {name:<15}{f.key:<32}{sweep_ms:>9.0f}{len(data['values']):>7}{len(r.data) / 1000:>7.0f}{settle_ms:>11.0f}")


def drag(pg, slider_id: str, seconds: float) -> tuple[float, float, float, int]:
    """Drag one slider across its track like a hand; (redraws per second from press to release,
    release -> settled ms, grab -> first draw ms, the slider's value changes under the hand)."""
    root = pg.locator(f"#{slider_id}")
    root.scroll_into_view_if_needed()
    pg.wait_for_function(f"() => !({BUSY_JS})()", timeout=30000)
    pg.wait_for_timeout(QUIET_MS)
    pg.evaluate(COUNT_JS)
    pg.evaluate(MOVES_JS, slider_id)
    th = pg.locator(f"#{slider_id} [role=slider]").bounding_box()
    tr = pg.locator(f"#{slider_id} .dash-slider-root").bounding_box()
    y = th["y"] + th["height"] / 2
    x0 = th["x"] + th["width"] / 2
    x1 = tr["x"] + (0.0 if x0 > tr["x"] + tr["width"] / 2 else 1.0) * tr["width"]
    pg.mouse.move(x0, y)
    pg.wait_for_timeout(HOVER_MS)  # the hand reaches the thumb before it presses
    pg.evaluate("window.__lvDraws = []; window.__lvUp = null; if (!window.__lvUpSeen) { window.__lvUpSeen = true; "
                "document.addEventListener('pointerup', () => { window.__lvUp = performance.now(); }, true); }")
    pg.mouse.down()
    t_down = pg.evaluate("performance.now()")
    t0 = time.monotonic()
    n = 0
    while (f := min(1.0, (time.monotonic() - t0) / seconds)) < 1:
        pg.mouse.move(x0 + f * (x1 - x0), y)
        n += 1  # the next move on the 60 Hz clock, however long this one took to send
        time.sleep(max(0.0, t0 + n * MOVE_MS / 1000 - time.monotonic()))
    pg.mouse.move(x1, y)
    t_up = pg.evaluate("performance.now()")
    moves = pg.evaluate("window.__lvMoves")
    pg.mouse.up()
    # Settled: no callback running and no draw for QUIET_MS.
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        pg.wait_for_timeout(50)
        draws = pg.evaluate("window.__lvDraws")
        now = pg.evaluate("performance.now()")
        last = max((t for _, t in draws), default=t_up)
        if not pg.evaluate(BUSY_JS) and now - max(last, t_up) > QUIET_MS:
            break
    draws = pg.evaluate("window.__lvDraws")
    t_up = pg.evaluate("window.__lvUp") or t_up  # the release as the page saw it (not when it was sent)
    during: dict[int, int] = {}
    for g, t in draws:
        if t_down <= t <= t_up:
            during[g] = during.get(g, 0) + 1
    rate = max(during.values(), default=0) / ((t_up - t_down) / 1000)
    after = [t for _, t in draws if t > t_up]
    release_ms = (max(after) - t_up) if after else 0.0
    first = min((t for _, t in draws if t >= t_down), default=float("nan")) - t_down
    return rate, release_ms, first, moves


def browser_part(names: list[str], seconds: float) -> None:
    from playwright.sync_api import sync_playwright

    from tests.browser.conftest import CHROMIUM_ARGS, _chromium

    path = _chromium()
    if path is None:
        print("browser: no Chromium found (apt-get install chromium); skipped")
        return
    app = create_app()
    summary = []
    with served(app) as base, sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        print(f"\nChromium, {seconds:g} s drags end to end, a move every {MOVE_MS} ms after a {HOVER_MS} ms rest on the thumb "
              f"(redraws/s from press to release; release -> settled; grab -> first draw); load average {os.getloadavg()[0]:.2f}:")
        print(f"  {'page':<15}{'slider':<32}{'steps':>6}{'redraws/s':>10}{'release ms':>12}{'first ms':>10}{'draws/moves':>13}")
        for name in names:
            page = PAGES[name]
            ctx = b.new_context(viewport={"width": 1440, "height": 900})
            pg = ctx.new_page()
            pg.goto(f"{base}{page.PATH}")
            pg.wait_for_function("() => { const el = document.querySelector('.js-plotly-plot'); return el && el.data && el.data.length; }",
                                 timeout=30000)
            rows = []
            for f in visible_sliders(page):
                rate, release, first, moves = drag(pg, controls.safe_id(name, f.key), seconds)
                n = len(controls.steps_of(f, 10_000))
                bound = f"  bounded by its {n} steps" if n < TARGETS["redraws_per_s"] * seconds else ""
                rows.append((f.key + ("*" if bound else ""), rate, release))
                print(f"  {name:<15}{f.key:<32}{n:>6}{rate:>10.1f}{release:>12.0f}{first:>10.0f}{round(rate * seconds):>7}/{moves:<5}{bound}",
                      flush=True)
            ctx.close()
            rates = sorted(r for _, r, _ in rows)
            releases = sorted(r for _, _, r in rows)
            slow = min(rows, key=lambda r: r[1])
            summary.append((name, slow, statistics.median(rates), max(releases), statistics.median(releases)))
        b.close()
    print(f"\nload average now {os.getloadavg()[0]:.2f} (2 cores; a busy shared machine slows every number)")
    print(f"\nper page (targets: slowest >= {TARGETS['redraws_per_s']:g} redraws/s, release <= {TARGETS['release_ms']:g} ms):")
    print(f"  {'page':<15}{'slowest slider':<32}{'redraws/s':>10}{'median r/s':>11}{'worst release':>14}{'median release':>15}")
    print("  (* a slider with fewer than 20 steps per second of drag: bounded by its steps)")
    for name, slow, med, worst, med_rel in summary:
        print(f"  {name:<15}{slow[0]:<32}{slow[1]:>10.1f}{med:>11.1f}{worst:>12.0f}ms{med_rel:>13.0f}ms")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--page", choices=list(PAGES), action="append", help="only this page (repeatable; default: all)")
    ap.add_argument("--server", action="store_true", help="only the server part")
    ap.add_argument("--browser", action="store_true", help="only the browser part")
    ap.add_argument("--drag-s", type=float, default=DRAG_S, help=f"seconds per drag (default: {DRAG_S:g})")
    args = ap.parse_args()
    names = args.page or list(PAGES)
    if not args.browser:
        server_part(names)
    if not args.server:
        browser_part(names, args.drag_s)


if __name__ == "__main__":
    main()
