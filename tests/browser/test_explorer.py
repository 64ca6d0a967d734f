"""The explorer end to end in headless Chromium: pages, sliders, typed values, shared URLs,
Back/Forward, teacher mode, the phone width, presentation mode, export, console errors.

The tests wait on conditions (a graph's data or its next draw, the URL, the request gate at
rest); the only fixed waits are the pauses that Back/Forward's history is about (see there)."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest
import torch

import lossviz
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from tests.browser.conftest import ARTIFACTS

pytestmark = pytest.mark.browser

# Plotly receives numpy arrays base64-encoded ({dtype, bdata}); decode them the way plotly.js does.
# The graph is marked as seen (its data, and a count of its draws) so CHANGED_JS can wait for news.
JS_TRACES = """(sel) => {
  const el = document.querySelector(sel + ' .js-plotly-plot');
  if (el && el.on && !el.__lvCounting) {
    el.__lvCounting = true; el.__lvDrawn = 0;
    for (const ev of ['plotly_afterplot', 'plotly_animated', 'plotly_restyle', 'plotly_relayout']) el.on(ev, () => { el.__lvDrawn++; });
  }
  if (el) el.__lvSeen = [el.data, el.__lvDrawn];
  if (!el || !el.data || !el.data.length) return null;
  const types = {f8: Float64Array, f4: Float32Array, i4: Int32Array, i1: Int8Array, u1: Uint8Array, i8: BigInt64Array};
  const arr = (v) => {
    if (v && v.bdata !== undefined) {
      const bin = atob(v.bdata); const buf = new Uint8Array(bin.length);
      for (let i = 0; i < bin.length; i++) buf[i] = bin.charCodeAt(i);
      return Array.from(new types[v.dtype](buf.buffer), Number);
    }
    return Array.from(v || [], Number);
  };
  return el.data.map(t => ({name: t.name, meta: t.meta, x: arr(t.x), y: arr(t.y), line: t.line || null}));
}"""
# The graph changed since JS_TRACES saw it: new data, another draw, or a new graph element.
CHANGED_JS = """(sel) => { const el = document.querySelector(sel + ' .js-plotly-plot');
  if (!el || !el.data) return false;
  return !el.__lvSeen || el.data !== el.__lvSeen[0] || el.__lvDrawn !== el.__lvSeen[1]; }"""
# The page's request gate holds nothing back and waits for no answer, and the graph is drawn.
IDLE_JS = """([page, sel]) => { const g = window.__lvGates && window.__lvGates[page];
  const el = document.querySelector(sel + ' .js-plotly-plot');
  return !!(g && !g.busy && g.pending === null && el && el._fullLayout && !(el._promises || []).length); }"""

# A mouse drag inside the page: a move every animation frame, as Chrome delivers a real mouse's.
DRAG_JS = """async ({sel, ms, to}) => {
  const root = document.querySelector(sel);
  const thumb = root.querySelector('.mantine-Slider-thumb');
  const r = root.getBoundingClientRect(), th = thumb.getBoundingClientRect();
  const y = th.top + th.height / 2;
  const fire = (type, x, target) => target.dispatchEvent(new MouseEvent(type, {bubbles: true, cancelable: true, clientX: x, clientY: y, buttons: 1, view: window}));
  const x0 = th.left + th.width / 2, x1 = r.left + to * r.width;
  fire('mousedown', x0, thumb);
  const t0 = performance.now();
  await new Promise(done => { const step = () => { const f = Math.min(1, (performance.now() - t0) / ms);
    fire('mousemove', x0 + f * (x1 - x0), document); if (f < 1) requestAnimationFrame(step); else done(); }; step(); });
  fire('mouseup', x1, document);
}"""


def traces(page, graph_id: str, predicate=lambda t: True, timeout_ms=20000):
    """The graph's data once it satisfies ``predicate``: checked now and after each change of
    the graph (the element exists before its data)."""
    deadline = time.monotonic() + timeout_ms / 1000
    while True:
        data = page.evaluate(JS_TRACES, f"#{graph_id}")
        if data and predicate(data):
            return data
        left = deadline - time.monotonic()
        try:
            if left <= 0:
                raise PlaywrightTimeout("")
            page.wait_for_function(CHANGED_JS, arg=f"#{graph_id}", timeout=left * 1000)
        except PlaywrightTimeout:
            raise AssertionError(f"{graph_id}: expected data never arrived; last: {json.dumps(data)[:300] if data else data}") from None


def wait_idle(page, name: str, graph_id: str):
    """The page's first answers are in and drawn: the gate is at rest, the graph not drawing."""
    page.wait_for_function(IDLE_JS, arg=[name, f"#{graph_id}"], timeout=20000)
    page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")


def by_meta(data, name, key):
    return next(t for t in data if t["meta"] == [name, key])


def wait_url(page, fragment: str, timeout_ms=15000):
    page.wait_for_function("(f) => window.location.search.includes(f)", arg=fragment, timeout=timeout_ms)


def huber_delta(data) -> float:
    """Huber's gradient saturates at +-delta (x-range wider than delta)."""
    return max(by_meta(data, "huber", "grad")["y"])


def test_losses_page_matches_library_and_slider_moves(page, server):
    page.goto(server + "/losses?losses=l2,huber&huber.delta=1")
    data = traces(page, "losses-graph", lambda d: any(t["meta"] == ["huber", "grad"] for t in d))
    g = by_meta(data, "huber", "grad")
    x = torch.tensor(g["x"], dtype=torch.float64)
    want = lossviz.get_loss("huber").grad(x, torch.zeros((), dtype=torch.float64), delta=1.0)
    np.testing.assert_allclose(g["y"], want.numpy(), rtol=1e-6, atol=1e-7)
    lik = by_meta(data, "l2", "likelihood")
    np.testing.assert_allclose(lik["y"], np.exp(-0.5 * np.array(lik["x"]) ** 2), rtol=1e-6)
    # Move the delta slider down with the keyboard: the gradient's plateau follows.
    page.focus("#losses-huber-delta .mantine-Slider-thumb")
    for _ in range(10):
        page.keyboard.press("ArrowLeft")
    data = traces(page, "losses-graph", lambda d: abs(huber_delta(d) - 0.5) < 1e-6)
    assert by_meta(data, "huber", "value")["name"] == "huber (delta=0.5)"
    wait_url(page, "huber.delta=0.5")  # the state is in the URL
    page.wait_for_function("document.querySelector('#losses-huber-delta-num').value === '0.5'")  # and in the box
    page.wait_for_selector("#losses-formula mjx-container")  # formulas typeset (after the first graph)
    assert "Huber" in page.inner_text("#losses-formula")
    page.screenshot(path=str(ARTIFACTS / "explorer-losses.png"), full_page=True)
    assert page.console_errors == []


def test_mouse_drag_redraws_and_ends_on_the_release_value(page, server):
    page.goto(server + "/losses?losses=huber&huber.delta=1")
    traces(page, "losses-graph")
    wait_idle(page, "losses", "losses-graph")  # the first draws are done: only the drag's draws are counted
    page.evaluate("""() => { const el = document.querySelector('#losses-graph .js-plotly-plot'); window.__draws = 0;
                     for (const ev of ['plotly_afterplot', 'plotly_animated']) el.on(ev, () => { window.__draws++; });
                     window.__dash = 0; window.__frames = 0;
                     new PerformanceObserver(l => { for (const e of l.getEntries()) { if (e.name.includes('_dash-update-component')) window.__dash++;
                       if (e.name.includes('/_lossviz/frame/')) window.__frames++; } }).observe({type: 'resource', buffered: false}); }""")
    page.evaluate(DRAG_JS, {"sel": "#losses-huber-delta", "ms": 1500, "to": 0.98})
    page.wait_for_function("document.querySelector('#losses-huber-delta-num').value === '5'")
    data = traces(page, "losses-graph", lambda d: abs(huber_delta(d) - 3.0) < 1e-6)  # delta 5 > x-range 3: pure L2 slope
    assert page.evaluate("window.__draws") >= 3  # it redrew during the drag, not only at the end
    # The drag's steps went through the frame route, not Dash (whose handling cost more than drawing).
    assert page.evaluate("window.__frames") >= 3 and page.evaluate("window.__lvGates.losses.frames") >= 3
    assert by_meta(data, "huber", "value")["name"] == "huber (delta=5)"
    page.wait_for_function("Array.from(document.querySelectorAll('#losses-graph .legendtext')).some(e => e.textContent === 'huber (delta=5)')")
    wait_url(page, "huber.delta=5")
    # Dash's copy of the figure is older than the screen after drag frames: a typed value (through
    # Dash) must still draw the right curves, legend and URL.
    page.fill("#losses-huber-delta-num", "2")
    page.press("#losses-huber-delta-num", "Enter")
    data = traces(page, "losses-graph", lambda d: abs(huber_delta(d) - 2.0) < 1e-6)
    assert by_meta(data, "huber", "value")["name"] == "huber (delta=2)"
    page.wait_for_function("Array.from(document.querySelectorAll('#losses-graph .legendtext')).some(e => e.textContent === 'huber (delta=2)')")
    wait_url(page, "huber.delta=2")
    assert page.evaluate("window.__dash") >= 1
    assert page.console_errors == []


def test_drag_falls_back_to_dash_when_the_frame_route_is_refused(page, server):
    """A proxy that refuses the frame route: the drag still ends on the released value, via Dash."""
    page.route("**/_lossviz/frame/**", lambda route: route.fulfill(status=403, body="refused"))
    page.goto(server + "/losses?losses=huber&huber.delta=1")
    traces(page, "losses-graph")
    wait_idle(page, "losses", "losses-graph")
    page.evaluate(DRAG_JS, {"sel": "#losses-huber-delta", "ms": 800, "to": 0.98})
    page.wait_for_function("document.querySelector('#losses-huber-delta-num').value === '5'")
    data = traces(page, "losses-graph", lambda d: abs(huber_delta(d) - 3.0) < 1e-6)
    assert by_meta(data, "huber", "value")["name"] == "huber (delta=5)"
    wait_url(page, "huber.delta=5")
    assert page.evaluate("window.__lvGates.losses.noDirect") is True


def test_classification_sliders_redraw_through_dash(page, server):
    """A page without animated drag frames (Classification) sends its slider moves through Dash:
    no request to the frame route (which has none for it), the graph and URL follow."""
    page.goto(server + "/classification?losses=focal&focal.gamma=2")
    traces(page, "classification-graph")
    page.evaluate("""() => { window.__frames = 0; new PerformanceObserver(l => { for (const e of l.getEntries())
                     if (e.name.includes('/_lossviz/frame/')) window.__frames++; }).observe({type: 'resource'}); }""")
    page.focus("#classification-focal-gamma .mantine-Slider-thumb")
    for _ in range(4):
        page.keyboard.press("ArrowRight")
    page.wait_for_function("document.querySelector('#classification-focal-gamma-num').value === '2.2'")  # 4 steps of 0.05
    wait_url(page, "focal.gamma=2.2")
    traces(page, "classification-graph", lambda d: any(t["name"] == "focal (gamma=2.2)" for t in d))
    assert page.evaluate("window.__frames") == 0
    assert page.console_errors == []


def test_typed_value_out_of_range_is_clamped_everywhere(page, server):
    page.goto(server + "/losses?losses=huber&huber.delta=1")
    traces(page, "losses-graph")
    page.fill("#losses-huber-delta-num", "100")
    page.keyboard.press("Enter")
    page.wait_for_selector("#losses-message .message")
    msg = page.inner_text("#losses-message")
    assert "100" in msg and "above the range" in msg and "using 5" in msg
    data = traces(page, "losses-graph", lambda d: by_meta(d, "huber", "value")["name"] == "huber (delta=5)")  # legend
    assert huber_delta(data) == pytest.approx(3.0)  # graph (x up to 3 < delta)
    wait_url(page, "huber.delta=5")  # URL
    page.wait_for_function("document.querySelector('#losses-huber-delta-num').value === '5'")  # box
    assert page.get_attribute("#losses-huber-delta .mantine-Slider-thumb", "aria-valuenow") == "5"  # slider
    # Not a number: refused, the previous value stays everywhere. (The box keeps 5 and nothing is
    # sent, so there is no change to wait for: the box reads 5 and the gate is at rest.)
    page.fill("#losses-huber-delta-num", "abc")
    page.keyboard.press("Enter")
    page.wait_for_function("document.querySelector('#losses-huber-delta-num').value === '5'")
    wait_idle(page, "losses", "losses-graph")
    assert "huber.delta=5" in page.url and huber_delta(traces(page, "losses-graph")) == pytest.approx(3.0)
    assert page.console_errors == []


def test_bad_url_value_is_named_and_replaced(page, server):
    page.goto(server + "/losses?losses=l1,nope,huber&huber.delta=-1")
    traces(page, "losses-graph", lambda d: any(t["meta"] == ["huber", "grad"] for t in d))
    note = page.inner_text("#losses-url-message")
    assert "huber.delta=-1" in note and "using 0.05" in note and "nope" in note
    wait_url(page, "huber.delta=0.05")
    assert "nope" not in page.url and "losses=l1,huber" in page.url
    assert page.input_value("#losses-huber-delta-num") == "0.05"
    assert page.console_errors == []


def test_teacher_mode_hides_controls_nav_and_export(page, server):
    page.goto(server + "/losses?losses=l1&y=1.5&_hide=losses,y,nav,export,present")
    data = traces(page, "losses-graph", lambda d: any(t["meta"] == ["l1", "value"] for t in d))
    v = by_meta(data, "l1", "value")
    np.testing.assert_allclose(v["y"], np.abs(np.array(v["x"]) - 1.5), rtol=1e-6, atol=1e-7)
    for hidden in ("#losses-wrap-losses", "#losses-wrap-y", "#nav", "#losses-export-row", "#present"):
        assert not page.is_visible(hidden), hidden
    assert page.is_visible("#losses-wrap-xmin") and page.is_visible("#losses-graph")
    page.focus("#losses-xmax .mantine-Slider-thumb")
    page.keyboard.press("ArrowRight")
    wait_url(page, "xmax=3.5")
    assert "_hide=export,losses,nav,present,y" in page.url  # the link a student gets keeps teacher mode
    assert page.console_errors == []


def test_back_and_forward_restore_the_view(page, server):
    page.goto(server + "/losses?losses=l1&y=0")
    traces(page, "losses-graph")
    # A fixed pause is the behaviour under test here: a URL change more than 0.8 s after the
    # last one pushes a history entry, closer ones replace it (a drag is one step of Back).
    page.wait_for_timeout(1200)

    def l1_at(y_true):
        return lambda d: abs(by_meta(d, "l1", "value")["y"][0] - (y_true + 3)) < 1e-6  # l1 at x = -3

    def step(n):
        page.focus("#losses-y .mantine-Slider-thumb")
        for _ in range(n):
            page.keyboard.press("ArrowRight")

    step(5)
    traces(page, "losses-graph", l1_at(0.5))
    wait_url(page, "y=0.5")
    page.wait_for_timeout(1200)  # a pause (behaviour under test): the next change is a new history entry
    step(5)
    traces(page, "losses-graph", l1_at(1.0))
    wait_url(page, "y=1&")
    wait_idle(page, "losses", "losses-graph")
    page.go_back()
    wait_url(page, "y=0.5")
    traces(page, "losses-graph", l1_at(0.5))
    page.wait_for_function("document.querySelector('#losses-y-num').value === '0.5'")
    page.go_back()
    wait_url(page, "y=0&")
    traces(page, "losses-graph", l1_at(0.0))
    page.go_forward()
    traces(page, "losses-graph", l1_at(0.5))
    assert page.get_attribute("#losses-y .mantine-Slider-thumb", "aria-valuenow") == "0.5"
    # Across pages too.
    page.click("#nav-activations")
    traces(page, "activations-graph")
    page.go_back()
    traces(page, "losses-graph", l1_at(0.5))
    assert page.console_errors == []


def test_activations_page_and_shaded_regions_in_the_legend(page, server):
    page.goto(server + "/activations?activations=prelu,sigmoid&prelu.alpha=0.1&vanish=1")
    data = traces(page, "activations-graph", lambda d: any(t["meta"] == ["prelu", "grad"] for t in d))
    g = by_meta(data, "prelu", "grad")
    want = lossviz.get_activation("prelu").grad(torch.tensor(g["x"], dtype=torch.float64), alpha=0.1)
    np.testing.assert_allclose(g["y"], want.numpy(), rtol=1e-6)
    page.wait_for_function("document.querySelector('#activations-graph .legend').textContent.includes('0.01: sigmoid')")
    page.screenshot(path=str(ARTIFACTS / "explorer-activations.png"), full_page=True)
    assert page.console_errors == []


def test_coincident_curves_say_so(page, server):
    page.goto(server + "/activations?activations=relu,prelu&prelu.alpha=0")
    data = traces(page, "activations-graph", lambda d: len(d) == 4)
    assert by_meta(data, "prelu", "value")["line"]["dash"] == "dash"
    assert "relu and prelu coincide" in page.inner_text("#activations-coincide")
    assert page.console_errors == []


def test_softmax_page_and_large_logits(page, server):
    page.goto(server + "/softmax?classes=3&o0=2&o1=1&o2=0.1&temperature=1&target=0")
    data = traces(page, "softmax-graph", lambda d: len(d) == 6 and len(d[0]["y"]) == 3)  # 2 panels x (true, other, labels)
    probs = np.nansum([t["y"] for t in data if t["meta"][0] == "probs"], axis=0)
    want = torch.softmax(torch.tensor([2.0, 1.0, 0.1], dtype=torch.float64), -1)
    np.testing.assert_allclose(probs, want.numpy(), rtol=1e-6)
    grad = np.nansum([t["y"] for t in data if t["meta"][0] == "grad"], axis=0)
    np.testing.assert_allclose(grad, (want - torch.tensor([1.0, 0, 0], dtype=torch.float64)).numpy(), rtol=1e-6, atol=1e-7)
    page.wait_for_selector("#softmax-formulas mjx-container")  # formulas typeset on the page
    # Dash's babel polyfill swaps trim, parseInt and parseFloat for script ones that plotly calls
    # thousands of times per frame; the page puts the browser's own back.
    assert page.evaluate("""[String.prototype.trim, parseInt, parseFloat, Number.parseInt, Number.parseFloat]
                            .every(f => String(f).includes('[native code]'))""")
    assert page.evaluate("[' a b \\t'.trim(), parseInt(' 08'), parseFloat('1.5e3x')]") == ["a b", 8, 1500]
    # Large logits: scale by 10^4, the naive form breaks and the stable one does not.
    page.goto(server + "/softmax?classes=3&o0=2&o1=1&o2=0.1&target=1&scale=4")
    demo = traces(page, "softmax-overflow", lambda d: any(t["meta"] in ("inf", "NaN") for t in d))
    stable = next(t for t in demo if t["meta"] == "stable")
    assert stable["x"][0] == 0 and stable["x"][-1] == 4  # s on a linear axis of the exponent
    text = page.inner_text("#softmax-loss")
    assert "stable (log-sum-exp): 10000" in text and ("inf" in text or "NaN" in text)
    assert page.evaluate("document.querySelector('#softmax-overflow .js-plotly-plot').data.some(t => t.name === 'current s' && t.x[0] === 4)")
    page.screenshot(path=str(ARTIFACTS / "explorer-softmax.png"), full_page=True)
    assert page.console_errors == []


def test_export_for_notes_downloads_svg(page, server):
    page.goto(server + "/losses?losses=l1")
    traces(page, "losses-graph")
    wait_idle(page, "losses", "losses-graph")  # the state store the export reads is the drawn one
    with page.expect_download() as info:
        page.click("#losses-export")
    path = info.value.path()
    assert open(path, "rb").read().lstrip().startswith(b"<?xml")
    assert page.console_errors == []


def test_presentation_mode(page, server):
    page.goto(server + "/losses?losses=l1")
    traces(page, "losses-graph")
    page.click("#present-wrap label")
    page.wait_for_function("""() => { const el = document.querySelector('#losses-graph .js-plotly-plot');
        return el && el.layout.xaxis.tickfont.size >= 18 && el.layout.legend.font.size >= 18 && el.data[0].line.width >= 4; }""")
    wait_url(page, "present=1")
    assert page.evaluate("getComputedStyle(document.documentElement).fontSize") == "20px"
    assert page.console_errors == []


def test_every_nav_link_opens_a_page(page, server):
    page.goto(server + "/")
    for link, graph in (("#nav-activations", "activations-graph"), ("#nav-classification", "classification-graph"),
                        ("#nav-softmax", "softmax-graph"), ("#nav-losses", "losses-graph")):
        page.click(link)
        traces(page, graph)
    assert page.console_errors == []


@pytest.mark.parametrize("width", [390, 1024])
@pytest.mark.parametrize("path", ["/losses", "/activations?vanish=1", "/classification", "/softmax?scale=2", "/training"])
def test_phone_and_small_laptop_widths_have_no_sideways_scroll(browser, server, path, width):
    ctx = browser.new_context(viewport={"width": width, "height": 844}, is_mobile=width < 500, has_touch=width < 500)
    page = ctx.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(server + path)
    if path != "/training":
        graph = path.strip("/").split("?")[0] + "-graph"
        traces(page, graph)
        if width < 700:  # on a phone the panels are stacked, each the full width
            page.wait_for_function(f"document.querySelector('#{graph} .js-plotly-plot').layout.xaxis2.domain[0] === 0")
        wait_idle(page, graph.split("-")[0], graph)
    else:
        page.wait_for_selector("#training-curves .js-plotly-plot .main-svg")
    page.wait_for_function("document.fonts.status === 'loaded'")
    page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    ctx.close()
    assert errors == []
