"""The playground end to end in headless Chromium: both modes load, play, pause, step, reset; a
click adds a point and a click on a point removes it; teacher mode; no console error; screenshots."""

from __future__ import annotations

from pathlib import Path

import pytest


pytestmark = pytest.mark.browser
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


def step_of(page, p: str) -> int:
    text = page.inner_text(f"#{p}-readout")
    return int(text.split()[1])


def wait_step(page, p: str, predicate, timeout_ms=20000):
    deadline = page.evaluate("Date.now()") + timeout_ms
    while True:
        s = step_of(page, p)
        if predicate(s):
            return s
        if page.evaluate("Date.now()") > deadline:
            raise AssertionError(f"{p}: step {s} never satisfied the condition")
        page.wait_for_timeout(50)


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
    wait_step(page, p, lambda s: s == 5)
    page.click(f"#{p}-play")
    wait_step(page, p, lambda s: s >= 50)
    page.click(f"#{p}-pause")
    page.wait_for_timeout(400)
    paused = step_of(page, p)
    page.wait_for_timeout(600)
    assert step_of(page, p) == paused  # paused: no more steps
    page.click(f"#{p}-reset")
    wait_step(page, p, lambda s: s == 0)
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
    # Now click a point: it goes away.
    page.wait_for_timeout(800)  # the SVG is redrawn after the data arrives
    pos = page.evaluate("""() => { const el = document.querySelector('#playground-r-main .js-plotly-plot');
       const i = el.data.findIndex(t => t.meta === 'points');
       const pts = el.querySelectorAll('.scatterlayer .trace')[i - 1].querySelectorAll('.point');
       const r = pts[0].getBoundingClientRect(); return {x: r.left + r.width / 2, y: r.top + r.height / 2}; }""")
    page.mouse.move(pos["x"], pos["y"])
    page.wait_for_timeout(200)
    page.mouse.click(pos["x"], pos["y"])
    page.wait_for_function(f"() => {{ const el = document.querySelector('#playground-r-main .js-plotly-plot');"
                           f" const t = el.data.find(t => t.meta === 'points'); return atob(t.x.bdata).length / 4 === {n}; }}", timeout=15000)
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
    page.wait_for_timeout(1500)  # the first answers (the presentation switch) have come back
    page.evaluate("(k) => window.dash_clientside.set_props('playground-c-store', {data: {key: k, state: {step: 'no'}}})", key)
    page.click("#playground-c-step")
    page.wait_for_selector("#playground-c-message .message", timeout=15000)
    assert step_of(page, "playground-c") == 5
    assert page.console_errors == []


@pytest.mark.parametrize("width", [1440, 390])
def test_screenshots(browser, server, width):
    ctx = browser.new_context(viewport={"width": width, "height": 900})
    page = ctx.new_page()
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.goto(server + "/playground?mode=regression&speed=20")
    wait_graph(page, "playground-r-main")
    page.click("#playground-r-play")
    wait_step(page, "playground-r", lambda s: s >= 200)
    page.click("#playground-r-pause")
    page.wait_for_timeout(500)
    page.screenshot(path=str(SCREENSHOTS / f"playground-{width}.png"), full_page=True)
    page.goto(server + "/playground?mode=classification&speed=20")
    wait_graph(page, "playground-c-main")
    page.click("#playground-c-play")
    wait_step(page, "playground-c", lambda s: s >= 300, timeout_ms=40000)
    page.click("#playground-c-pause")
    page.wait_for_timeout(500)
    page.screenshot(path=str(SCREENSHOTS / f"playground-classification-{width}.png"), full_page=True)
    ctx.close()
    assert errors == []


def test_export_and_leaving_while_playing(page, server):
    page.goto(server + "/playground?mode=classification&dataset=moons")
    wait_graph(page, "playground-c-main")
    page.click("#playground-c-step")
    wait_step(page, "playground-c", lambda s: s == 5)
    with page.expect_download(timeout=30000) as dl:
        page.click("#playground-c-export")
    path = dl.value.path()
    assert dl.value.suggested_filename == "lossviz-playground-classification.svg"
    assert b"<svg" in Path(path).read_bytes()[:2000]
    # Leave for another page while playing: the chain stops without an error.
    page.click("#playground-c-play")
    wait_step(page, "playground-c", lambda s: s >= 30)
    page.click("#nav-losses")
    page.wait_for_selector("#losses-graph .js-plotly-plot", timeout=20000)
    page.wait_for_timeout(1500)
    assert page.console_errors == []


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
    page.wait_for_timeout(800)
    page.click("#present-wrap .mantine-Switch-track")
    page.wait_for_function("""() => { const el = document.querySelector('#playground-r-main .js-plotly-plot');
        return el && el.layout && el.layout.font && el.layout.font.size === 18; }""", timeout=15000)
    page.click("#playground-r-step")
    wait_step(page, "playground-r", lambda s: s == 5)
    assert page.console_errors == []
