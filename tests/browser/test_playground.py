"""The playground end to end in headless Chromium: both modes load, play, pause, step, reset; a
click adds a point and a click on a point removes it; teacher mode; both widths; no console error.

The tests wait on conditions (the step readout, the graph's data, the URL), never for a fixed
time; images go to test-artifacts/ only (docs/screenshots/take.py takes the docs' pictures)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.browser.conftest import ARTIFACTS

pytestmark = pytest.mark.browser

STEP_JS = """([p, op, n]) => { const r = document.querySelector('#' + p + '-readout'); if (!r) return false;
  const s = parseInt(r.innerText.split(' ')[1]); return op === '==' ? s === n : s >= n; }"""
# True once the readout has not changed for ``ms``: the training stopped and its last answer is drawn.
QUIET_JS = """([p, ms]) => { const r = document.querySelector('#' + p + '-readout'); const q = window.__lvQuiet;
  if (!q || q.text !== r.innerText) { window.__lvQuiet = {text: r.innerText, at: performance.now()}; return false; }
  return performance.now() - q.at >= ms; }"""


def step_of(page, p: str) -> int:
    text = page.inner_text(f"#{p}-readout")
    return int(text.split()[1])


def wait_step(page, p: str, op: str, n: int, timeout_ms=20000) -> int:
    """Wait until the step readout is ``== n`` or ``>= n``; the step then."""
    page.wait_for_function(STEP_JS, arg=[p, op, n], timeout=timeout_ms)
    return step_of(page, p)


def wait_quiet(page, p: str, ms: int = 1000, timeout_ms=15000) -> int:
    """Wait until the step readout stays the same for ``ms`` (it never does while playing)."""
    page.evaluate("() => { window.__lvQuiet = null; }")
    page.wait_for_function(QUIET_JS, arg=[p, ms], timeout=timeout_ms, polling=50)
    return step_of(page, p)


def wait_first_answer(page, p: str):
    """The first answer of the page's tick callback has come back: it writes the canonical URL
    (every field, e.g. speed=), which the link the page was opened with did not carry."""
    page.wait_for_function("() => window.location.search.includes('speed=') && window.location.search.includes('losses=')",
                           timeout=20000)


def n_points(page) -> int:
    return page.evaluate("""() => { const el = document.querySelector('#playground-r-main .js-plotly-plot');
      const t = el.data.find(t => t.meta === 'points'); const x = t.x;
      return x.bdata !== undefined ? atob(x.bdata).length / 4 : x.length; }""")


def wait_graph(page, gid: str):
    page.wait_for_function("(g) => { const el = document.querySelector('#' + g + ' .js-plotly-plot'); return el && el._fullLayout && (el.data.length > 0 || (el.layout.images || []).length > 0); }",
                           arg=gid, timeout=20000)


@pytest.mark.parametrize("mode", ["regression", "classification"])
def test_play_pause_step_reset(page, server, mode):
    p = f"playground-{mode[0]}"
    page.goto(server + f"/playground?mode={mode}&speed=5")
    wait_graph(page, f"{p}-main")
    assert step_of(page, p) == 0
    page.click(f"#{p}-step")
    wait_step(page, p, "==", 5)
    page.click(f"#{p}-play")
    wait_step(page, p, ">=", 50)
    page.click(f"#{p}-pause")
    paused = wait_quiet(page, p)  # paused: the steps stop (while playing a frame lands every ~100 ms)
    assert paused >= 50 and paused % 5 == 0
    page.click(f"#{p}-reset")
    wait_step(page, p, "==", 0)
    page.wait_for_function("window.location.search.includes('mode=" + mode + "')")
    if mode == "classification":
        n = page.evaluate("document.querySelectorAll('#playground-c-main .imagelayer image').length")
        assert n == 4
    assert page.console_errors == []


def test_click_adds_and_removes_a_point(page, server):
    page.goto(server + "/playground?mode=regression")
    wait_graph(page, "playground-r-main")
    n = n_points(page)
    # Empty space inside the fits panel: the top-left corner of the plot area.
    box = page.evaluate("""() => { const r = document.querySelector('#playground-r-main .nsewdrag').getBoundingClientRect();
                           return {x: r.left + 0.1 * r.width, y: r.top + 0.08 * r.height}; }""")
    page.mouse.click(box["x"], box["y"])
    page.wait_for_function(f"() => {{ const el = document.querySelector('#playground-r-main .js-plotly-plot');"
                           f" const t = el.data.find(t => t.meta === 'points'); return atob(t.x.bdata).length / 4 === {n + 1}; }}", timeout=15000)
    # Now click a point: it goes away. An outlier, moved 6 below the line, sits apart from the fit
    # lines and from the new point (a point on a fit line may get the line's label instead).
    outliers = """() => { const el = document.querySelector('#playground-r-main .js-plotly-plot');
       const t = el.data.find(t => t.meta === 'outliers'); return t.x.bdata !== undefined ? atob(t.x.bdata).length / 4 : t.x.length; }"""
    k = page.evaluate(outliers)
    assert k > 0
    page.wait_for_function("""(k) => { const el = document.querySelector('#playground-r-main .js-plotly-plot');
       const i = el.data.findIndex(t => t.meta === 'outliers'); const tr = el.querySelectorAll('.scatterlayer .trace')[i - 1];
       return tr && tr.querySelectorAll('.point').length === k; }""", arg=k, timeout=15000)
    pos = page.evaluate("""() => { const el = document.querySelector('#playground-r-main .js-plotly-plot');
       const i = el.data.findIndex(t => t.meta === 'outliers');
       const pts = el.querySelectorAll('.scatterlayer .trace')[i - 1].querySelectorAll('.point');
       const r = pts[0].getBoundingClientRect(); return {x: r.left + r.width / 2, y: r.top + r.height / 2}; }""")
    page.mouse.move(pos["x"], pos["y"])
    page.wait_for_function("() => Array.from(document.querySelectorAll('#playground-r-main .hoverlayer .hovertext'))"
                           ".some(h => h.textContent.includes('click to remove'))", timeout=10000)
    page.mouse.click(pos["x"], pos["y"])
    page.wait_for_function(f"() => ({outliers})() === {k - 1}", timeout=15000)
    assert n_points(page) == n + 1
    assert page.console_errors == []


def test_teacher_mode_and_bad_state(page, server):
    page.goto(server + "/playground?mode=classification&_hide=lr,mode,nav,export&dataset=xor")
    wait_graph(page, "playground-c-main")
    assert not page.is_visible("#playground-c-wrap-lr")
    assert page.is_visible("#playground-c-wrap-dataset")
    assert not page.is_visible("#playground-c-export-row")
    # A tab whose state went bad (a crafted store): the next step starts again with a message.
    from lossviz.explorer import state
    from lossviz.explorer.pages import playground as pg

    values, _ = state.from_query(pg.schema("classification"), {"mode": "classification", "dataset": "xor"})
    key = repr(pg.training_key(values))
    wait_first_answer(page, "playground-c")  # a later first answer would overwrite the crafted store
    page.evaluate("(k) => window.dash_clientside.set_props('playground-c-store', {data: {key: k, state: {step: 'no'}}})", key)
    page.click("#playground-c-step")
    page.wait_for_selector("#playground-c-message .message", timeout=15000)
    assert wait_step(page, "playground-c", "==", 5) == 5
    assert page.console_errors == []


@pytest.mark.parametrize("width", [1440, 390])
def test_both_modes_play_at_desktop_and_phone_widths(browser, server, width):
    """Played for a few hundred steps and paused, at both widths, with no console error (the
    docs' pictures of these views are taken by docs/screenshots/take.py; these go to test-artifacts/)."""
    ctx = browser.new_context(viewport={"width": width, "height": 900})
    page = ctx.new_page()
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    ARTIFACTS.mkdir(exist_ok=True)
    for mode, steps in (("regression", 200), ("classification", 300)):
        p = f"playground-{mode[0]}"
        page.goto(server + f"/playground?mode={mode}&speed=20")
        wait_graph(page, f"{p}-main")
        page.click(f"#{p}-play")
        wait_step(page, p, ">=", steps, timeout_ms=40000)
        page.click(f"#{p}-pause")
        assert wait_quiet(page, p) >= steps
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        page.screenshot(path=str(ARTIFACTS / f"playground-{mode}-{width}.png"), full_page=True)
    ctx.close()
    assert errors == []


def test_export_and_leaving_while_playing(page, server):
    page.goto(server + "/playground?mode=classification&dataset=moons")
    wait_graph(page, "playground-c-main")
    page.click("#playground-c-step")
    wait_step(page, "playground-c", "==", 5)
    with page.expect_download(timeout=30000) as dl:
        page.click("#playground-c-export")
    path = dl.value.path()
    assert dl.value.suggested_filename == "lossviz-playground-classification.svg"
    assert b"<svg" in Path(path).read_bytes()[:2000]
    # Leave for another page while playing: the chain stops without an error.
    inflight = set()
    page.on("request", lambda r: inflight.add(r) if "_dash-update-component" in r.url else None)
    page.on("requestfinished", lambda r: inflight.discard(r))
    page.on("requestfailed", lambda r: inflight.discard(r))
    page.click("#playground-c-play")
    wait_step(page, "playground-c", ">=", 30)
    page.click("#nav-losses")
    page.wait_for_function("() => { const el = document.querySelector('#losses-graph .js-plotly-plot'); return el && el.data && el.data.length; }",
                           timeout=20000)
    # Every answer still on its way when the page changed has landed (and been handled) before the check.
    for _ in range(50):
        if not inflight:
            break
        page.wait_for_event("requestfinished", timeout=20000)
    assert not inflight
    page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
    assert page.console_errors == []


def test_a_tick_answer_landing_after_the_page_was_left_is_dropped(page, server):
    """Leaving while playing, made certain: a tick's answer (dash.Patch outputs) is held back
    until the Losses page is shown, then delivered: no console error, the Losses page keeps its
    graph, and the Playground's query is not written onto the Losses address."""
    page.goto(server + "/playground?mode=classification&dataset=moons")
    wait_graph(page, "playground-c-main")
    page.click("#playground-c-play")
    wait_step(page, "playground-c", ">=", 15)
    held = []

    def hold(route):
        body = route.request.post_data or ""
        if '"output":"..playground-c-store.data' in body.replace(" ", ""):
            held.append(route)
        else:
            route.continue_()

    page.route("**/_dash-update-component*", hold)
    for _ in range(400):  # the next tick of the chain (one every answer) is held
        if held:
            break
        page.wait_for_timeout(25)
    assert held, "no tick was sent while playing"
    page.click("#nav-losses")
    page.wait_for_function("() => { const el = document.querySelector('#losses-graph .js-plotly-plot'); return el && el.data && el.data.length; }",
                           timeout=20000)
    for route in held:
        with page.expect_event("requestfinished", timeout=20000):
            route.fulfill(response=route.fetch())
    page.unroute("**/_dash-update-component*", hold)
    page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
    assert page.console_errors == []
    assert page.evaluate("document.querySelector('#losses-graph .js-plotly-plot').data.length") > 0
    assert "dataset=" not in page.url and "/playground" not in page.url


def test_gif_export_spins_the_button_and_downloads_an_animation(page, server, monkeypatch):
    from lossviz import export

    monkeypatch.setattr(export, "GIF_FRAMES", 4)  # the server runs in this process; 24 frames take seconds
    page.goto(server + "/playground?mode=regression")
    wait_graph(page, "playground-r-main")
    page.click("#playground-r-export-format >> text=gif")
    with page.expect_download(timeout=60000) as dl:
        page.click("#playground-r-export")
        page.wait_for_selector("#playground-r-export[data-loading]", timeout=5000)  # busy while the GIF is drawn
    assert dl.value.suggested_filename == "lossviz-playground-regression.gif"
    assert Path(dl.value.path()).read_bytes()[:6] == b"GIF89a"
    page.wait_for_selector("#playground-r-export:not([data-loading])", timeout=5000)
    assert page.console_errors == []


def test_presentation_switch_redraws(page, server):
    page.goto(server + "/playground?mode=regression")
    wait_graph(page, "playground-r-main")
    wait_first_answer(page, "playground-r")  # the switch's own answer must not race the page's first one
    page.click("#present-wrap .mantine-Switch-track")
    page.wait_for_function("""() => { const el = document.querySelector('#playground-r-main .js-plotly-plot');
        return el && el.layout && el.layout.font && el.layout.font.size === 18; }""", timeout=15000)
    page.click("#playground-r-step")
    wait_step(page, "playground-r", "==", 5)
    assert page.console_errors == []


POINTS_JS = """() => { const el = document.querySelector('#playground-r-main .js-plotly-plot');
  return el.data.filter(t => t.meta === 'points' || t.meta === 'outliers')
    .reduce((n, t) => n + (t.x.bdata !== undefined ? atob(t.x.bdata).length / 4 : t.x.length), 0); }"""


def test_a_click_on_the_pull_panel_adds_no_point(page, server):
    """Issue 23, bug 5: a click on a marker in the pull panel added a data point there."""
    page.goto(server + "/playground?mode=regression")
    wait_graph(page, "playground-r-main")
    wait_first_answer(page, "playground-r")
    n = page.evaluate(POINTS_JS)
    pos = page.evaluate("""() => { const el = document.querySelector('#playground-r-main .js-plotly-plot');
       const i = el.data.findIndex(t => t.meta === 'pull-l2');
       const pts = el.querySelectorAll('.scatterlayer .trace')[i - 1].querySelectorAll('.point');
       const r = pts[0].getBoundingClientRect(); return {x: r.left + r.width / 2, y: r.top + r.height / 2}; }""")
    page.mouse.move(pos["x"], pos["y"])
    page.wait_for_selector("#playground-r-main .hoverlayer .hovertext", timeout=10000)
    page.mouse.click(pos["x"], pos["y"])
    page.wait_for_selector("#playground-r-message >> text=pull panel", timeout=15000)
    assert page.evaluate(POINTS_JS) == n
    assert "add=" not in page.evaluate("window.location.search")
    assert page.console_errors == []


def test_legend_model_label_and_wave_error(page, server):
    """Issue 23, bug 10: the legend names the data points and the outliers; the model's choice
    says what the model is; for the wave the error is against the clean curve."""
    page.goto(server + "/playground?mode=regression&shape=wave&model=mlp")
    wait_graph(page, "playground-r-main")
    legend = page.evaluate("document.querySelector('#playground-r-main .legend').textContent")
    assert "data points" in legend and "outliers (moved 6 below)" in legend, legend
    note = page.evaluate("""() => [...document.querySelectorAll('#playground-r-main .annotation-text')].map(t => t.textContent).join(' | ')""")
    assert "clean curve" in note and "clean line" not in note, note
    assert page.input_value("#playground-r-model") == "an MLP: 1-16-16-1, tanh"
    assert "mlp: 1-16-16-1" not in page.inner_text("#playground-r-wrap-model")
    assert page.console_errors == []


def test_clicked_points_are_in_the_url_and_a_link_brings_them_back(page, server):
    """Issue 23, bug 10: an added point goes into the URL; opening that URL shows it again."""
    page.goto(server + "/playground?mode=regression")
    wait_graph(page, "playground-r-main")
    wait_first_answer(page, "playground-r")
    n = page.evaluate(POINTS_JS)
    box = page.evaluate("""() => { const r = document.querySelector('#playground-r-main .nsewdrag').getBoundingClientRect();
                           return {x: r.left + 0.1 * r.width, y: r.top + 0.08 * r.height}; }""")
    page.mouse.click(box["x"], box["y"])
    page.wait_for_function("() => window.location.search.includes('add=')", timeout=15000)
    link = page.evaluate("window.location.href")
    page.goto("about:blank")
    page.goto(link)
    wait_graph(page, "playground-r-main")
    assert page.evaluate(POINTS_JS) == n + 1
    assert page.console_errors == []


def test_a_settings_change_is_one_history_step(page, server):
    """Issue 23, bug 10: a change of a setting is a step Back undoes; playing adds none."""
    page.goto(server + "/playground?mode=regression&lr=0.05")
    wait_graph(page, "playground-r-main")
    wait_first_answer(page, "playground-r")
    length = page.evaluate("history.length")
    page.focus("#playground-r-lr [role=slider]")
    page.keyboard.press("ArrowRight")
    page.wait_for_function("() => window.location.search.includes('lr=0.051')", timeout=15000)
    assert page.evaluate("history.length") == length + 1
    page.click("#playground-r-step")
    wait_step(page, "playground-r", "==", 5)
    assert page.evaluate("history.length") == length + 1
    page.go_back()
    page.wait_for_function("() => window.location.search.includes('lr=0.05&') || window.location.search.endsWith('lr=0.05')")
    page.wait_for_function("() => document.querySelector('#playground-r-lr-show').innerText === '0.05'", timeout=15000)
    assert page.console_errors == []


def test_spiral_hint_sets_settings_that_learn(page, server):
    """Issue 23, bug 10: the spiral does not learn at the defaults: a hint links settings that do."""
    page.goto(server + "/playground?mode=classification&dataset=spiral")
    wait_graph(page, "playground-c-main")
    page.click("#playground-c-spiral-link")
    page.wait_for_selector("#playground-c-hint >> text=These settings learn the spiral", timeout=20000)
    assert "layers=3" in page.evaluate("window.location.search")
    assert page.console_errors == []


GRADS_JS = """() => { const el = document.querySelector('#playground-c-grads .js-plotly-plot');
  if (!(el && el.data && el.data.length)) return null;
  return {metas: el.data.map(t => t.meta), y: el.data.map(t => Array.from(t.y)), type: el.layout.yaxis.type,
          title: el.layout.title.text}; }"""


def test_gradient_norms_live_per_layer_per_loss(page, server):
    """Classification with a deep sigmoid MLP: each loss's weight-gradient norm per layer, log
    scale, the input layer's far below the output layer's; the bars move while playing."""
    page.goto(server + "/playground?mode=classification&layers=3&activation=sigmoid&speed=5")
    wait_graph(page, "playground-c-grads")
    first = page.wait_for_function(GRADS_JS).json_value()
    assert first["type"] == "log"
    assert first["metas"] == ["grad-cross_entropy", "grad-hinge", "grad-focal", "grad-l2"]
    assert all(len(y) == 4 and y[0] < y[-1] / 10 for y in first["y"])
    page.click("#playground-c-play")
    wait_step(page, "playground-c", ">=", 60)
    page.click("#playground-c-pause")
    wait_quiet(page, "playground-c")
    later = page.evaluate(GRADS_JS)
    assert later["y"] != first["y"] and "step 0" not in later["title"]
    page.screenshot(path=str(ARTIFACTS / "playground-gradients.png"), full_page=True)
    assert page.console_errors == []


CAP_JS = """(meta) => { const el = document.querySelector('#playground-cap-ucurve .js-plotly-plot');
  if (!(el && el.data)) return null; const t = el.data.find(t => t.meta === meta); return t ? Array.from(t.x) : null; }"""


def test_capacity_mode_degree_slider_moves_the_fit_and_the_u_curve_mark(page, server):
    page.goto(server + "/playground?mode=capacity&n_train=20&degree=3")
    wait_graph(page, "playground-cap-fit")
    wait_graph(page, "playground-cap-ucurve")
    assert page.evaluate(CAP_JS, "u-now") == [3, 3]
    assert page.evaluate("document.querySelector('#playground-cap-fit .js-plotly-plot').layout.yaxis2.type") == "log"
    page.focus("#playground-cap-degree [role=slider]")
    for _ in range(4):
        page.keyboard.press("ArrowRight")
    page.wait_for_function(f"() => {{ const v = ({CAP_JS})('u-now'); return v && v[0] === 7; }}", timeout=60_000)
    assert "degree 7" in page.inner_text("#playground-cap-readout")
    page.wait_for_function("window.location.search.includes('degree=7') && window.location.search.includes('mode=capacity')")
    # weight decay by decade: one click on 0.01 refits (the readout and the link say so)
    page.get_by_text("0.01", exact=True).click()
    page.wait_for_function("document.querySelector('#playground-cap-readout').innerText.includes('λ = 0.01')", timeout=60_000)
    page.wait_for_function("window.location.search.includes('wd=0.01')")
    page.screenshot(path=str(ARTIFACTS / "playground-capacity.png"), full_page=True)
    assert page.console_errors == []


def test_capacity_mode_stacks_its_panels_on_a_phone(browser, server):
    """At 390 px the capacity panels redraw one above the other (the server draws the first view
    for a wide window; the phone says so once), the fit panel above the loss panel."""
    ctx = browser.new_context(viewport={"width": 390, "height": 900})
    page = ctx.new_page()
    page.goto(server + "/playground?mode=capacity&degree=20")
    stacked = """() => { const el = document.querySelector('#playground-cap-fit .js-plotly-plot');
      const l = el && el.layout; return !!(l && l.yaxis2 && l.yaxis2.domain && l.yaxis2.domain[1] < l.yaxis.domain[0]); }"""
    page.wait_for_function(stacked, timeout=30_000)
    lay = page.evaluate("document.querySelector('#playground-cap-ucurve .js-plotly-plot').layout")
    assert lay["yaxis2"]["domain"][1] < lay["yaxis"]["domain"][0]
    ctx.close()
