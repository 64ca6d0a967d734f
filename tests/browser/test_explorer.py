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
from lossviz.explorer.pages.losses import tex_label
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
# No callback of the page is running and the graph is drawn.
IDLE_JS = """([page, sel]) => { const el = document.querySelector(sel + ' .js-plotly-plot');
  return !document.querySelector('[data-dash-is-loading="true"]') && !!(el && el._fullLayout && !(el._promises || []).length); }"""

# A mouse drag inside the page: a move every animation frame, as Chrome delivers a real mouse's.
DRAG_JS = """async ({sel, ms, to}) => {
  const root = document.querySelector(sel);
  const thumb = root.querySelector('[role=slider]');
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
    page.focus("#losses-huber-delta [role=slider]")
    for _ in range(10):
        page.keyboard.press("ArrowLeft")
    data = traces(page, "losses-graph", lambda d: abs(huber_delta(d) - 0.5) < 1e-6)
    assert by_meta(data, "huber", "value")["name"] == tex_label("huber", {"delta": 0.5})
    wait_url(page, "huber.delta=0.5")  # the state is in the URL
    page.wait_for_function("document.querySelector('#losses-huber-delta-num').value === '0.5'")  # and in the box
    page.wait_for_selector("#losses-formula mjx-container")  # formulas typeset (after the first graph)
    assert "Huber" in page.inner_text("#losses-formula")
    page.screenshot(path=str(ARTIFACTS / "explorer-losses.png"), full_page=True)
    assert page.console_errors == []


def hand_drag(page, slider_sel: str, seconds: float = 1.5, to: float = 1.0) -> None:
    """A real mouse drag of a slider's thumb to ``to`` (a share of the track), moving all the way."""
    th = page.locator(f"{slider_sel} [role=slider]").bounding_box()
    tr = page.locator(f"{slider_sel} .dash-slider-root").bounding_box()
    y = th["y"] + th["height"] / 2
    x0 = th["x"] + th["width"] / 2
    page.mouse.move(x0, y)
    page.mouse.down()
    t0 = time.monotonic()
    while (f := min(1.0, (time.monotonic() - t0) / seconds)) < 1:
        page.mouse.move(x0 + f * (tr["x"] + to * tr["width"] - x0), y)
    page.mouse.move(tr["x"] + to * tr["width"], y)
    page.mouse.up()


def count_draws(page, graph_id: str) -> None:
    page.evaluate("""(id) => { const el = document.querySelector('#' + id + ' .js-plotly-plot'); window.__draws = 0; window.__posts = 0;
                     el.on('plotly_afterplot', () => { window.__draws++; });
                     new PerformanceObserver(l => { for (const e of l.getEntries()) if (e.initiatorType === 'fetch') window.__posts++; })
                       .observe({type: 'resource'}); }""", graph_id)


def test_a_drag_follows_the_hand_from_the_sweep_and_settles_on_release(page, server):
    """Dragging huber's delta: once the page holds the slider's sweep (fetched when the hand
    reaches the slider), each move of the hand is drawn from it with no request, each drawn step
    is the library's Huber at a step of the slider; on release the exact value is drawn, with
    legend, box and URL. The drag goes step by step, waiting for each draw (no rate asserted)."""
    page.goto(server + "/losses?losses=huber&huber.delta=1")
    traces(page, "losses-graph")
    wait_idle(page, "losses", "losses-graph")
    count_draws(page, "losses-graph")
    th = page.locator("#losses-huber-delta [role=slider]").bounding_box()
    tr = page.locator("#losses-huber-delta .dash-slider-root").bounding_box()
    x0, y = th["x"] + th["width"] / 2, th["y"] + th["height"] / 2
    page.mouse.move(x0, y)  # the hand reaches the thumb: the sweep is fetched and held
    page.wait_for_function("(window.lossvizHeld || {}).losses && window.lossvizHeld.losses.key === 'huber.delta'", timeout=20000)
    wait_idle(page, "losses", "losses-graph")
    posts = page.evaluate("window.__posts")
    page.evaluate("window.lossvizDraws = []")
    page.mouse.down()
    seen = []
    for n, f in enumerate((0.25, 0.32, 0.4, 0.47, 0.55), start=1):  # delta below 3: the x-range shows each
        page.mouse.move(tr["x"] + f * tr["width"], y, steps=3)
        page.wait_for_function("(n) => (window.lossvizDraws || []).length >= n", arg=n, timeout=10000)
        data = traces(page, "losses-graph")
        g = by_meta(data, "huber", "grad")
        delta = huber_delta(data)
        want = lossviz.get_loss("huber").grad(torch.tensor(g["x"], dtype=torch.float64), torch.zeros((), dtype=torch.float64), delta=delta)
        np.testing.assert_allclose(g["y"], want.numpy(), rtol=1e-5, atol=1e-6)  # the library's curve, float32
        seen.append(delta)
    assert page.evaluate("window.__posts") == posts  # every step drawn from the sweep held: no request
    assert seen == sorted(seen) and len(set(seen)) == len(seen), seen  # each move drawn a new step, following the hand
    page.mouse.move(tr["x"] + tr["width"], y)
    page.mouse.up()
    page.wait_for_function("document.querySelector('#losses-huber-delta-num').value === '5'")
    data = traces(page, "losses-graph", lambda d: abs(huber_delta(d) - 3.0) < 1e-6)
    assert by_meta(data, "huber", "value")["name"] == tex_label("huber", {"delta": 5.0})
    wait_url(page, "huber.delta=5")
    assert page.console_errors == []


def test_the_sweep_is_fetched_before_the_grab_and_release_redraws_no_curve(page, server):
    """A hand resting on quantile's tau (a sweep that holds every step) fetches its sweep; the grab then draws at once (no request
    between the press and the first step, each step one Plotly.update); the release draws the
    step as the settled view (its datarevision kept: the server patches legend and URL only),
    and the curves are the library's at the released value."""
    page.goto(server + "/losses?losses=quantile,l1&quantile.tau=0.5")
    traces(page, "losses-graph")
    wait_idle(page, "losses", "losses-graph")
    count_draws(page, "losses-graph")
    rev0 = page.evaluate("document.querySelector('#losses-graph .js-plotly-plot').layout.datarevision")
    assert rev0
    th = page.locator("#losses-quantile-tau [role=slider]").bounding_box()
    tr = page.locator("#losses-quantile-tau .dash-slider-root").bounding_box()
    x0, y = th["x"] + th["width"] / 2, th["y"] + th["height"] / 2
    page.mouse.move(x0, y)  # the hand reaches the thumb: the sweep comes now
    page.wait_for_function("(window.lossvizHeld || {}).losses && window.lossvizHeld.losses.key === 'quantile.tau'", timeout=20000)
    wait_idle(page, "losses", "losses-graph")  # the sweep held, nothing in flight
    posts = page.evaluate("window.__posts")
    page.evaluate("window.lossvizDraws = []")
    page.mouse.down()
    x1 = tr["x"] + 0.6 * tr["width"]
    for f in np.linspace(0, 1, 25):
        page.mouse.move(x0 + f * (x1 - x0), y)
    page.wait_for_function("(window.lossvizDraws || []).length >= 3", timeout=5000)
    assert page.evaluate("window.__posts") == posts  # every step drawn from the sweep already here
    page.mouse.up()
    page.wait_for_function("document.querySelector('#losses-quantile-tau-num').value !== '0.5'", timeout=15000)
    tau = float(page.input_value("#losses-quantile-tau-num"))
    wait_url(page, f"quantile.tau={tau:g}")
    data = traces(page, "losses-graph", lambda d: by_meta(d, "quantile", "value")["name"] == tex_label("quantile", {"tau": tau}))
    g = by_meta(data, "quantile", "grad")
    want = lossviz.get_loss("quantile").grad(torch.tensor(g["x"], dtype=torch.float64), torch.zeros((), dtype=torch.float64), tau=tau)
    np.testing.assert_allclose(g["y"], want.numpy(), rtol=1e-5, atol=1e-6)
    wait_idle(page, "losses", "losses-graph")
    assert page.evaluate("document.querySelector('#losses-graph .js-plotly-plot').layout.datarevision") == rev0
    assert page.console_errors == []


def test_typed_value_moves_the_slider_and_stays(page, server):
    """Bug 2: a typed value moved graph, legend and URL but not the slider; the next change of
    another control put the old value back."""
    page.goto(server + "/losses?losses=huber&huber.delta=1")
    traces(page, "losses-graph")
    page.fill("#losses-huber-delta-num", "0.5")
    page.keyboard.press("Enter")
    page.wait_for_function("document.querySelector('#losses-huber-delta [role=slider]').getAttribute('aria-valuenow') === '0.5'")
    wait_url(page, "huber.delta=0.5")
    page.focus("#losses-y [role=slider]")
    page.keyboard.press("ArrowRight")
    wait_url(page, "y=0.1")
    data = traces(page, "losses-graph", lambda d: abs(huber_delta(d) - 0.5) < 1e-6)
    assert "huber.delta=0.5" in page.evaluate("location.search")
    assert by_meta(data, "huber", "value")["name"] == tex_label("huber", {"delta": 0.5})
    assert page.console_errors == []


def test_coinciding_curves_each_keep_a_line_style_and_one_short_note(page, server):
    """Bug 3: Huber (delta=1) and smooth L1 (beta=1) coincide and had one dash (Huber invisible),
    and 33 notes followed; bug 7's single legend with another dash than the derivative's."""
    page.goto(server + "/losses")
    data = traces(page, "losses-graph", lambda d: any(t["meta"] == ["smooth_l1", "value"] for t in d))
    for key in ("value", "likelihood", "grad"):
        assert by_meta(data, "huber", key)["line"]["dash"] != by_meta(data, "smooth_l1", key)["line"]["dash"]
    for name in {t["meta"][0] for t in data}:  # one style per curve in every panel (the legend shows panel 0's)
        assert len({(t["line"]["dash"], t["line"]["color"]) for t in data if t["meta"][0] == name}) == 1
    note = page.inner_text("#losses-coincide")
    assert "huber (δ=1) = smooth_l1 (β=1)" in note and note.count("\n") == 0 and len(note) < 200
    page.goto(server + "/activations?activations=relu,prelu,sigmoid,tanh,elu,silu,softplus,leaky_relu&prelu.alpha=0")
    data = traces(page, "activations-graph", lambda d: len(d) == 16)
    for name in {t["meta"][0] for t in data}:
        assert len({t["line"]["dash"] for t in data if t["meta"][0] == name}) == 1
    assert page.inner_text("#activations-coincide").count("\n") == 0
    assert page.console_errors == []


def test_vanishing_bands_stay_apart(page, server):
    """Bug 7: the vanishing-gradient shading of five activations blended into grey."""
    page.goto(server + "/activations?activations=relu,sigmoid,tanh,elu,softplus&vanish=1")
    traces(page, "activations-graph")
    shapes = page.evaluate("document.querySelector('#activations-graph .js-plotly-plot').layout.shapes")
    lanes = {}
    for sh in shapes:
        lanes.setdefault(sh["fillcolor"], set()).add((sh["y0"], sh["y1"]))
    assert len(lanes) >= 4  # one colour per activation with vanishing regions
    spans = [next(iter(v)) for v in lanes.values()]
    for i, a in enumerate(spans):  # each in its own lane: no two bands overlap
        for b in spans[i + 1:]:
            assert a[1] <= b[0] or b[1] <= a[0]
    assert page.console_errors == []


def test_normalized_density_below_alpha_zero_keeps_the_other_panels(page, server):
    """Bug 6: normalized likelihood with general.alpha=-2 in a link blanked all three panels."""
    page.goto(server + "/losses?losses=l1,general&normalized=1&general.alpha=-2")
    data = traces(page, "losses-graph", lambda d: any(t["meta"] == ["general", "value"] for t in d))
    for key in ("value", "likelihood", "grad"):
        assert np.isfinite(by_meta(data, "l1", key)["y"]).any()
    assert np.isfinite(by_meta(data, "general", "value")["y"]).any()
    assert "no density" in page.inner_text("#losses-message")
    assert "exp(-4/2)" not in page.inner_text("body")
    assert page.console_errors == []


def test_axis_titles_are_typeset_and_classification_colours_stay_apart(page, server):
    """Bug 8: raw LaTeX in axis titles; cross-entropy, hinge and GCE three similar pinks."""
    page.goto(server + "/classification?losses=cross_entropy,hinge,gce")
    data = traces(page, "classification-graph", lambda d: any(t["meta"] == ["gce", "grad"] for t in d))
    page.wait_for_selector("#classification-graph .xtitle-math-group, #classification-graph g[class*='math-group']", timeout=20000)
    rgb = lambda h: np.array([int(h[i:i + 2], 16) for i in (1, 3, 5)], dtype=float)  # noqa: E731
    colours = [rgb(by_meta(data, n, "value")["line"]["color"]) for n in ("cross_entropy", "hinge", "gce")]
    for i in range(3):
        for j in range(i + 1, 3):
            assert np.linalg.norm(colours[i] - colours[j]) > 120
    assert by_meta(data, "gce", "value")["line"]["dash"] == by_meta(data, "gce", "grad")["line"]["dash"]
    assert page.console_errors == []


def test_softmax_demo_keeps_its_curves_while_s_is_dragged(page, server):
    """Bug 4: from /softmax?o0=-9, dragging the 10^s slider made the stable and naive curves disappear."""
    page.goto(server + "/softmax?o0=-9")
    traces(page, "softmax-overflow")
    wait_idle(page, "softmax", "softmax-overflow")
    hand_drag(page, "#softmax-scale", 1.5, to=0.6)
    page.wait_for_function("document.querySelector('#softmax-scale-num').value !== '0'")
    demo = traces(page, "softmax-overflow")
    for meta in ("stable", "naive"):
        t = next(t for t in demo if t["meta"] == meta)
        assert np.isfinite(t["y"]).sum() > 50, meta
    assert page.console_errors == []


def test_one_drag_is_one_history_entry(page, server):
    """Bug 8: one temperature drag made two history entries."""
    page.goto(server + "/softmax")
    traces(page, "softmax-graph")
    wait_idle(page, "softmax", "softmax-graph")
    page.wait_for_timeout(1000)  # the next URL change is a new entry (changes closer than 0.8 s are one)
    before = page.evaluate("history.length")
    hand_drag(page, "#softmax-temperature", 1.5, to=0.5)
    page.wait_for_function("!location.search.includes('temperature=1&')")
    page.wait_for_timeout(1000)
    assert page.evaluate("history.length") == before + 1
    assert page.console_errors == []


def test_only_the_sliders_that_act_are_shown(page, server):
    """Item 3: parameter sliders of losses / activations not chosen are hidden; choosing one shows its slider."""
    page.goto(server + "/activations?activations=relu,sigmoid")
    traces(page, "activations-graph")
    for key in ("prelu-alpha", "leaky_relu-negative_slope", "elu-alpha", "silu-beta", "softplus-beta"):
        assert not page.is_visible(f"#activations-wrap-{key}"), key
    page.goto(server + "/classification?losses=cross_entropy,hinge")
    traces(page, "classification-graph")
    assert not page.is_visible("#classification-wrap-hinge_ww-margin")
    assert page.is_visible("#classification-wrap-hinge-margin")
    assert page.console_errors == []


def test_typed_value_out_of_range_is_clamped_everywhere(page, server):
    page.goto(server + "/losses?losses=huber&huber.delta=1")
    traces(page, "losses-graph")
    page.fill("#losses-huber-delta-num", "100")
    page.keyboard.press("Enter")
    page.wait_for_selector("#losses-message .message")
    msg = page.inner_text("#losses-message")
    assert "100" in msg and "above the range" in msg and "using 5" in msg
    data = traces(page, "losses-graph", lambda d: by_meta(d, "huber", "value")["name"] == tex_label("huber", {"delta": 5.0}))  # legend
    assert huber_delta(data) == pytest.approx(3.0)  # graph (x up to 3 < delta)
    wait_url(page, "huber.delta=5")  # URL
    page.wait_for_function("document.querySelector('#losses-huber-delta-num').value === '5'")  # box
    assert page.get_attribute("#losses-huber-delta [role=slider]", "aria-valuenow") == "5"  # slider
    # Not a number: refused, the previous value stays everywhere. (The box keeps 5 and nothing is
    # sent, so there is no change to wait for: the box reads 5 and the gate is at rest.)
    page.fill("#losses-huber-delta-num", "abc")
    page.keyboard.press("Enter")
    page.wait_for_function("document.querySelector('#losses-huber-delta-num').value === '5'")
    wait_idle(page, "losses", "losses-graph")
    assert "huber.delta=5" in page.evaluate("location.href") and huber_delta(traces(page, "losses-graph")) == pytest.approx(3.0)
    assert page.console_errors == []


def test_bad_url_value_is_named_and_replaced(page, server):
    page.goto(server + "/losses?losses=l1,nope,huber&huber.delta=-1")
    traces(page, "losses-graph", lambda d: any(t["meta"] == ["huber", "grad"] for t in d))
    note = page.inner_text("#losses-url-message")
    assert "huber.delta=-1" in note and "using 0.05" in note and "nope" in note
    wait_url(page, "huber.delta=0.05")
    assert "nope" not in page.evaluate("location.href") and "losses=l1,huber" in page.evaluate("location.href")
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
    page.focus("#losses-xmax [role=slider]")
    page.keyboard.press("ArrowRight")
    wait_url(page, "xmax=3.5")
    assert "_hide=export,losses,nav,present,y" in page.evaluate("location.href")  # the link a student gets keeps teacher mode
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
        page.focus("#losses-y [role=slider]")
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
    assert page.get_attribute("#losses-y [role=slider]", "aria-valuenow") == "0.5"
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
    # the band's legend entry, typeset: $|f'| < 0.01\text{: sigmoid}$ in a math group
    page.wait_for_function("""() => { const l = document.querySelector('#activations-graph .legend');
      return l.textContent.includes('0.01\\\\text{: sigmoid}') && l.querySelectorAll('[class*=math-group]').length === 3; }""")  # prelu, sigmoid, sigmoid's band
    page.screenshot(path=str(ARTIFACTS / "explorer-activations.png"), full_page=True)
    assert page.console_errors == []


def test_coincident_curves_say_so(page, server):
    page.goto(server + "/activations?activations=relu,prelu&prelu.alpha=0")
    data = traces(page, "activations-graph", lambda d: len(d) == 4)
    assert by_meta(data, "prelu", "value")["line"]["dash"] != by_meta(data, "relu", "value")["line"]["dash"]
    assert "relu = prelu (α=0)" in page.inner_text("#activations-coincide")
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


SHAPES_JS = """(sel) => { const el = document.querySelector(sel + ' .js-plotly-plot');
  const fl = el && el._fullLayout;
  if (!fl) return null;
  const zero = (ax) => fl[ax]._offset + fl[ax].l2p(0);
  return {shapes: (el.layout.shapes || []).map(s => ({x0: s.x0, x1: s.x1, xref: s.xref, name: s.name})),
          boxes: Array.from(el.querySelectorAll('.shapelayer path')).map(p => { const b = p.getBoundingClientRect(); const r = el.getBoundingClientRect();
                                                                                return {left: b.left - r.left, right: b.right - r.left, width: b.width}; }),
          zero3: fl.xaxis3 ? zero('xaxis3') : null, zero2: fl.xaxis2 ? zero('xaxis2') : null}; }"""


def test_check_the_gradient_shades_only_the_wrong_side(page, plugin_server):
    """A student's plugin whose abs_cubic gradient (r^2) is wrong for r < 0: the switch draws
    autograd's derivative dashed over it and shades the gradient panel left of 0 only; it is in
    the URL; switched off, both go. A right activation (softsign) is shaded nowhere."""
    page.goto(plugin_server + "/losses?losses=abs_cubic")
    traces(page, "losses-graph", lambda d: any(t["meta"] == ["abs_cubic", "grad"] for t in d))
    wait_idle(page, "losses", "losses-graph")
    page.check("#losses-check", force=True)
    data = traces(page, "losses-graph", lambda d: any(t["meta"] == ["abs_cubic", "autograd"] for t in d))
    wait_url(page, "check=1")
    auto = by_meta(data, "abs_cubic", "autograd")
    x = np.array(auto["x"])
    np.testing.assert_allclose(auto["y"], x * np.abs(x), rtol=1e-5, atol=1e-6)  # autograd's, the right one
    assert auto["line"]["dash"] == "dash"
    page.wait_for_function("(s) => (document.querySelector(s + ' .js-plotly-plot').layout.shapes || []).length > 0", arg="#losses-graph")
    got = page.evaluate(SHAPES_JS, "#losses-graph")
    assert got["shapes"] and all(s["xref"] == "x3" and s["x1"] <= 0.01 for s in got["shapes"]), got
    assert got["boxes"] and all(b["width"] > 20 and b["right"] <= got["zero3"] + 2 for b in got["boxes"]), got  # drawn, left of 0
    assert "differs from autograd" in page.inner_text("#losses-message")
    page.uncheck("#losses-check", force=True)
    traces(page, "losses-graph", lambda d: not any(t["meta"][1] == "autograd" for t in d))
    page.wait_for_function("(s) => !(document.querySelector(s + ' .js-plotly-plot').layout.shapes || []).length", arg="#losses-graph")
    page.wait_for_function("() => !window.location.search.includes('check=1')")
    page.goto(plugin_server + "/activations?activations=softsign&check=1")
    data = traces(page, "activations-graph", lambda d: any(t["meta"] == ["softsign", "autograd"] for t in d))
    wait_idle(page, "activations", "activations-graph")
    assert page.evaluate(SHAPES_JS, "#activations-graph")["shapes"] == []
    assert page.console_errors == []


BOXES_JS = """() => {
  const box = (e) => { const r = e.getBoundingClientRect(); return {left: r.left, top: r.top, right: r.right, bottom: r.bottom}; };
  return {
    formulas: Array.from(document.querySelectorAll('.formula, .formulas')).map(f => ({sw: f.scrollWidth, cw: f.clientWidth, text: f.textContent.slice(0, 40)})),
    graphs: Array.from(document.querySelectorAll('.js-plotly-plot')).map(g => ({id: g.parentElement.id, graph: box(g),
      modebar: g.querySelector('.modebar') ? box(g.querySelector('.modebar')) : null, legend: g.querySelector('.legend') ? box(g.querySelector('.legend')) : null})),
    vw: document.documentElement.clientWidth, vh: window.innerHeight, sw: document.documentElement.scrollWidth};
}"""


def intersect(a, b) -> bool:
    return a["left"] < b["right"] and b["left"] < a["right"] and a["top"] < b["bottom"] and b["top"] < a["bottom"]


def settled_page(browser, server, path: str, width: int, height: int, phone: bool):
    """A page at this size, its graphs drawn (stacked on a phone) and its formulas typeset."""
    ctx = browser.new_context(viewport={"width": width, "height": height}, is_mobile=phone, has_touch=phone)
    page = ctx.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(server + path)
    name = path.strip("/").split("?")[0]
    traces(page, f"{name}-graph")
    if phone:
        page.wait_for_function(f"document.querySelector('#{name}-graph .js-plotly-plot').layout.xaxis2.domain[0] === 0")
    wait_idle(page, name, f"{name}-graph")
    page.wait_for_selector(".formula mjx-container, .formulas mjx-container")
    page.wait_for_function("document.fonts.status === 'loaded'")
    page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
    return ctx, page, errors


@pytest.mark.parametrize("path", ["/losses?losses=huber,general,log_cosh", "/activations", "/classification", "/softmax?scale=2"])
def test_on_a_phone_formulas_fit_and_the_toolbar_stays_off_the_legend(browser, server, path):
    ctx, page, errors = settled_page(browser, server, path, 390, 844, True)
    # Every formula box shows its formulas whole (set smaller where wider than the box): no sideways scroll.
    page.wait_for_function("() => Array.from(document.querySelectorAll('.formula, .formulas')).every(f => f.scrollWidth <= f.clientWidth)",
                           timeout=10000)
    got = page.evaluate(BOXES_JS)
    assert got["sw"] <= got["vw"] and all(f["sw"] <= f["cw"] for f in got["formulas"]), got["formulas"]
    for g in got["graphs"]:
        assert g["modebar"] and g["legend"] and not intersect(g["modebar"], g["legend"]), g
    ctx.close()
    assert errors == []


@pytest.mark.parametrize("scale", [0, 1.95, 2.05, 4])
def test_on_a_phone_the_current_s_label_stays_inside_the_demo(browser, server, scale):
    ctx, page, errors = settled_page(browser, server, f"/softmax?scale={scale}", 390, 844, True)
    traces(page, "softmax-overflow", lambda d: any(abs(x - scale) < 1e-6 for t in d if t["meta"] == "current" for x in t["x"]))
    page.wait_for_selector("#softmax-overflow .textpoint text")
    label, graph = page.evaluate("""() => { const t = document.querySelector('#softmax-overflow .textpoint text').getBoundingClientRect();
                                           const g = document.querySelector('#softmax-overflow .js-plotly-plot').getBoundingClientRect();
                                           return [[t.left, t.right, t.width], [g.left, g.right]]; }""")
    assert label[2] > 40 and label[0] >= graph[0] and label[1] <= graph[1], (label, graph)
    ctx.close()
    assert errors == []


@pytest.mark.parametrize("size", [(1280, 720), (1440, 900)])
@pytest.mark.parametrize("path", ["/losses", "/activations", "/classification", "/softmax"])
def test_presentation_mode_shows_the_graph_without_scrolling(browser, server, path, size):
    ctx, page, errors = settled_page(browser, server, path + "?present=1", size[0], size[1], False)
    got = page.evaluate(BOXES_JS)
    first = got["graphs"][0]
    assert first["graph"]["top"] >= 0 and first["graph"]["bottom"] <= got["vh"], (first, got["vh"])  # the whole graph on screen
    assert got["sw"] <= got["vw"]
    for g in got["graphs"]:
        assert not intersect(g["modebar"], g["legend"]), g
    ctx.close()
    assert errors == []


def test_legends_are_typeset_on_every_curve_page(page, server):
    """Each legend entry of the curve pages (and the large-logits demo's formulas) is drawn by
    MathJax: plotly puts a typeset entry in a math group instead of a text line."""
    for path, graph in (("/losses", "losses-graph"), ("/activations", "activations-graph"),
                        ("/classification", "classification-graph"), ("/softmax?o0=-9&scale=3", "softmax-overflow")):
        page.goto(server + path)
        traces(page, graph)
        typeset = """(id) => { const g = document.querySelector('#' + id + ' .js-plotly-plot');
          return [g.querySelectorAll('.legend [class*=math-group]').length,
                  Array.from(g.querySelectorAll('.legend .legendtext')).filter(t => t.textContent.startsWith('$')).length]; }"""
        page.wait_for_function(f"() => ({typeset})('{graph}')[0] >= 2", timeout=20_000)
        math, tex = page.evaluate(typeset, graph)
        assert math == tex and math >= 2, (path, math, tex)
    assert page.console_errors == []
