"""Explorer callbacks through the app's own request handler: inputs -> figure data = the library's values.

Each page's settling callback (every control an input; figure, note, slider, number box, the
state store hence the URL) and its sweep (the curves at every step of one slider, shown by the
browser while the slider is dragged) are asked as the browser asks them, a POST to Dash's
update route. Also: URL and typed values are validated (clamped or refused, with a note naming
the value), junk inputs never raise, and the HTTP layer answers crafted requests with 4xx, never 500.
"""

from __future__ import annotations

import base64
import json
import socket
import subprocess
import sys

import numpy as np
import pytest
import torch

import lossviz
from lossviz import curves
from lossviz.explorer import controls, create_app, figures, state
from lossviz.explorer.pages import activations, classification, losses, softmax
from lossviz.explorer.pages.losses import tex_label

PAGES = (losses, activations, classification, softmax)


@pytest.fixture(scope="module")
def app():
    a = create_app()
    a.server.test_client().get("/losses")  # Dash Pages adds its router callback on the first request
    return a


def _key(app, page, output: str) -> str:
    return next(k for k, cb in app.callback_map.items() if cb.get("callback") is not None and f"..{page.PAGE}-{output}" in f"..{k}")


def _post(app, key: str, inputs: list, states: list, changed: str):
    cb = app.callback_map[key]
    outs = [o.split("@")[0] for o in key.strip(".").split("...")] if key.startswith("..") else [key]
    outputs = [{"id": o.rsplit(".", 1)[0], "property": o.rsplit(".", 1)[1]} for o in outs]
    body = {"output": key, "outputs": outputs if key.startswith("..") else outputs[0],
            "inputs": [{**d, "value": v} for d, v in zip(cb["inputs"], inputs)],
            "state": [{**d, "value": v} for d, v in zip(cb["state"], states)], "changedPropIds": [changed]}
    r = app.server.test_client().post("/_dash-update-component", data=json.dumps(body, allow_nan=True), content_type="application/json")
    return r


def settle(app, page, values: dict | None = None, prev: dict | None = None, typed: dict | None = None, narrow=None, trigger=None):
    """Ask the page's settling callback as the browser does: sliders and boxes at ``values`` (over
    the defaults), ``typed`` values in the number boxes only (the last one the trigger), the state
    store ``prev`` (what is on screen). Returns {(id, property): value} of what it updates, with
    "ids" the control ids of the page's fields."""
    schema = page.schema()
    vals = {**state.defaults(schema), **(values or {})}
    typed = typed or {}
    key = _key(app, page, "state.data")
    cb = app.callback_map[key]
    ids = {("present", "checked"): "present"}
    for f in schema:
        ids[(controls.safe_id(page.PAGE, f.key), "checked" if isinstance(f, state.Flag) else "value")] = f.key
        ids[(controls.safe_id(page.PAGE, f.key) + "-num", "value")] = f.key
    inputs = []
    for d in cb["inputs"]:
        if d["id"] == f"{page.PAGE}-narrow":
            inputs.append(narrow)
            continue
        k = ids[(d["id"], d["property"])]
        inputs.append(typed[k] if d["id"].endswith("-num") and k in typed else vals[k])
    changed = trigger or (controls.safe_id(page.PAGE, list(typed)[-1]) + "-num.value" if typed else cb["inputs"][0]["id"] + ".value")
    r = _post(app, key, inputs, [prev] + [None] * (len(cb["state"]) - 1), changed)
    assert r.status_code == 200, r.data[:300]
    out = {}
    for cid, props in r.get_json()["response"].items():
        for p, v in props.items():
            out[(cid, p)] = v
    return out


def sweep(app, page, key: str, st: dict, sig: str = "s"):
    """The page's sweep for slider ``key`` given the state on screen, as the drag's request asks it."""
    r = _post(app, _key(app, page, "sweep.data"), [{"key": key, "sig": sig}], [st], f"{page.PAGE}-sweep-req.data")
    assert r.status_code in (200, 204), r.data[:300]
    return r.get_json()["response"][f"{page.PAGE}-sweep"]["data"] if r.status_code == 200 else None


def text(v) -> str:
    return json.dumps(v, ensure_ascii=False)


def trace(fig, name, key):
    return next(t for t in fig["data"] if t["meta"] == [name, key])


def xy(t):
    return figures.decode(t["x"]), figures.decode(t["y"])


def test_app_factory_registers_every_page_twice_safely():
    a, b = create_app(), create_app()
    assert len(a.callback_map) == len(b.callback_map) > 0


def test_losses_figure_is_the_library_at_the_points_sent(app):
    out = settle(app, losses, {"losses": ["l1", "huber"], "y": 0.5, "xmin": -4, "xmax": 4, "huber.delta": 0.7, "normalized": True})
    st, fig = out[("losses-state", "data")], out[("losses-graph", "figure")]
    assert out[("losses-message", "children")] is None and st["search"].startswith("?losses=l1,huber&y=0.5&xmin=-4&xmax=4")
    spec = lossviz.get_loss("huber")
    x, y = xy(trace(fig, "huber", "value"))
    xt, target = torch.tensor(x, dtype=torch.float64), torch.tensor(0.5, dtype=torch.float64)
    # x are exact float32 numbers, evaluated in float64 by the library, sent as float32.
    np.testing.assert_allclose(y, spec.value(xt, target, delta=0.7).numpy(), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(xy(trace(fig, "huber", "grad"))[1], spec.grad(xt, target, delta=0.7).numpy(), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(xy(trace(fig, "huber", "likelihood"))[1],
                               spec.likelihood(xt, target, normalized=True, delta=0.7).numpy(), rtol=1e-6, atol=1e-7)
    assert trace(fig, "huber", "value")["name"] == tex_label("huber", {"delta": 0.7})
    assert "clip" in text(out[("losses-formula", "children")])


def test_well_placed_points_draw_the_fine_curve(app):
    """Far fewer points than the fine grid, yet drawn (linearly) they are the curve to 1e-3 of its height."""
    fig = settle(app, losses, {"losses": ["l1", "l2", "huber"], "y": 0.3, "huber.delta": 0.35})[("losses-graph", "figure")]
    fine = figures.fine_grid(-3, 3)
    for name in ("l1", "l2", "huber"):
        c = curves.loss_curve(name, {"delta": 0.35} if name == "huber" else {}, target=0.3, x=fine)
        for key in ("value", "likelihood", "grad"):
            x, y = xy(trace(fig, name, key))
            assert len(x) < 0.2 * len(fine)
            drawn = np.interp(fine, x, y)
            height = np.ptp(c.series[key])
            assert np.max(np.abs(drawn - c.series[key])) < 1e-3 * height, (name, key)


def test_first_figure_is_small_and_a_settled_answer_is_the_whole_view(app):
    out = settle(app, losses, {"losses": ["l1", "l2", "huber"]})
    assert len(json.dumps(out[("losses-graph", "figure")])) < 60_000
    out = settle(app, losses, {"losses": ["l1", "huber"], "y": 1.0}, prev=out[("losses-state", "data")])
    fig = out[("losses-graph", "figure")]
    assert len(fig["data"]) == 6 and out[("losses-state", "data")]["values"]["y"] == 1.0


def test_same_losses_do_not_typeset_the_formulas_again(app):
    st = settle(app, losses, {"losses": ["l1", "huber"]})[("losses-state", "data")]
    out = settle(app, losses, {"losses": ["l1", "huber"], "huber.delta": 0.4}, prev=st)
    assert ("losses-formula", "children") not in out  # no_update: MathJax is not run again
    out = settle(app, losses, {"losses": ["l1"], "huber.delta": 0.4}, prev=out[("losses-state", "data")])
    assert "huber" not in text(out[("losses-formula", "children")])


@pytest.mark.parametrize("typed, used, word", [(100, 5.0, "above"), (-1, 0.05, "below")])
def test_typed_value_out_of_range_is_clamped_visibly(app, typed, used, word):
    st = settle(app, losses, {"losses": ["huber"]})[("losses-state", "data")]
    out = settle(app, losses, {"losses": ["huber"]}, prev=st, typed={"huber.delta": typed})
    # The slider and its box show the value used (bug 2: a typed value moves the slider too).
    assert out[("losses-huber-delta", "value")] == used and out[("losses-huber-delta-num", "value")] == used
    msg = text(out[("losses-message", "children")])
    assert str(typed) in msg and word in msg and state.fmt_number(used) in msg
    fig = out[("losses-graph", "figure")]
    assert trace(fig, "huber", "value")["name"] == tex_label("huber", {"delta": used})  # legend
    assert f"huber.delta={state.fmt_number(used)}" in out[("losses-state", "data")]["search"]  # URL
    assert max(figures.decode(trace(fig, "huber", "grad")["y"])) == pytest.approx(min(used, 3.0), rel=1e-6)  # graph (x up to 3)


def test_typed_value_in_range_moves_the_slider(app):
    st = settle(app, losses, {"losses": ["huber"]})[("losses-state", "data")]
    out = settle(app, losses, {"losses": ["huber"]}, prev=st, typed={"y": 1.3})
    assert out[("losses-y", "value")] == 1.3 and ("losses-y-num", "value") not in out  # the box already shows it
    assert out[("losses-state", "data")]["values"]["y"] == 1.3
    # The next change of another control keeps it (the slider's value is 1.3 now).
    out = settle(app, losses, {"losses": ["huber"], "y": 1.3, "huber.delta": 0.5}, prev=out[("losses-state", "data")],
                 trigger="losses-huber-delta.value")
    assert out[("losses-state", "data")]["values"]["y"] == 1.3


@pytest.mark.parametrize("bad", ["abc", None, float("nan"), float("inf"), [1], {"a": 1}, True, "1e999"])
def test_typed_non_number_is_refused_and_the_previous_value_kept(app, bad):
    st = settle(app, losses, {"losses": ["huber"], "huber.delta": 0.4})[("losses-state", "data")]
    out = settle(app, losses, {"losses": ["huber"], "huber.delta": 0.4}, prev=st, typed={"huber.delta": bad})
    assert out[("losses-huber-delta-num", "value")] == 0.4  # the box is put back
    msg = text(out[("losses-message", "children")])
    assert "not a finite number" in msg and "0.4" in msg
    assert out[("losses-state", "data")]["values"]["huber.delta"] == 0.4


def test_narrow_x_range_is_corrected_at_the_end_that_moved(app):
    st = settle(app, losses, {"losses": ["l1"]})[("losses-state", "data")]
    out = settle(app, losses, {"losses": ["l1"], "xmax": -3}, prev=st, trigger="losses-xmax.value")
    assert out[("losses-xmax", "value")] == -2.5 and "at least" in text(out[("losses-message", "children")])
    x, _ = xy(trace(out[("losses-graph", "figure")], "l1", "value"))
    assert x[0] == -3 and x[-1] == -2.5
    out = settle(app, losses, {"losses": ["l1"], "xmin": 3}, prev=st, trigger="losses-xmin.value")
    assert out[("losses-xmin", "value")] == 2.5


def test_no_loss_chosen_shows_a_message_and_empty_axes(app):
    out = settle(app, losses, {"losses": []})
    assert out[("losses-graph", "figure")]["data"] == [] and "choose at least one loss" in text(out[("losses-message", "children")])
    assert "losses=&" in out[("losses-state", "data")]["search"]


def test_coinciding_curves_keep_their_own_dash_and_one_short_line(app):
    """Bug 3: Huber (δ = 1) and smooth L1 (β = 1) are one curve; each keeps its dash in every
    panel and the legend, and one line says so (not one note per pair and panel)."""
    out = settle(app, losses, {"losses": ["l2", "huber", "smooth_l1"], "huber.delta": 1.0})
    fig, note = out[("losses-graph", "figure")], out[("losses-coincide", "children")]
    for name in ("huber", "smooth_l1", "l2"):
        assert len({t["line"]["dash"] for t in fig["data"] if t["meta"][0] == name}) == 1
    assert trace(fig, "huber", "value")["line"]["dash"] != trace(fig, "smooth_l1", "value")["line"]["dash"]
    assert isinstance(note, str) and note.count("=") == 3 and "huber (δ=1) = smooth_l1 (β=1)" in note and len(note) < 120
    assert settle(app, losses, {"losses": ["l1", "l2"]}).get(("losses-coincide", "children")) is None


def test_presentation_look_is_large(app):
    fig = settle(app, losses, {"losses": ["l1"], "present": True})[("losses-graph", "figure")]
    lay = fig["layout"]
    assert lay["xaxis"]["tickfont"]["size"] >= 18 and lay["legend"]["font"]["size"] >= 18
    assert fig["data"][0]["line"]["width"] >= 4


def test_narrow_look_stacks_the_panels(app):
    fig = settle(app, losses, narrow=True, trigger="losses-narrow.data")[("losses-graph", "figure")]
    assert fig["layout"]["xaxis"]["domain"] == [0, 1] and fig["layout"]["xaxis2"]["domain"] == [0, 1]


def test_activations_values_and_shading_in_the_legend(app):
    out = settle(app, activations, {"activations": ["prelu", "sigmoid"], "xmin": -8, "xmax": 8, "prelu.alpha": 0.1, "vanish": True})
    fig = out[("activations-graph", "figure")]
    x, y = xy(trace(fig, "prelu", "grad"))
    np.testing.assert_allclose(y, lossviz.get_activation("prelu").grad(torch.tensor(x), alpha=0.1).numpy(), rtol=1e-6)
    # Sigmoid's derivative is below 0.01 for |x| > ~4.6: two bands in sigmoid's lane, one legend entry.
    bands = [s for s in fig["layout"]["shapes"] if s["legendgroup"] == "sigmoid-vanish"]
    assert len(bands) == 2 and [s["showlegend"] for s in bands] == [True, False]
    assert bands[0]["x1"] < -4.5 and bands[1]["x0"] > 4.5 and "sigmoid" in bands[0]["name"]
    # Each activation's bands in its own lane (bug 7: five shades blended into grey).
    lanes = {s["legendgroup"]: (s["y0"], s["y1"]) for s in fig["layout"]["shapes"]}
    spans = sorted(lanes.values())
    assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:]))
    # One dash per activation in both panels and the legend.
    assert trace(fig, "prelu", "value")["line"]["dash"] == trace(fig, "prelu", "grad")["line"]["dash"]


def test_vanishing_intervals_are_the_runs_below_threshold():
    from lossviz.plot_plotly import vanishing_intervals

    x = np.arange(8.0)
    assert vanishing_intervals(x, np.array([0, 0, 1, 1, 0, 1, 0, 0.0]), 0.5) == [(0.0, 1.0), (4.0, 4.0), (6.0, 7.0)]
    assert vanishing_intervals(x, np.ones(8), 0.5) == []


def test_only_the_parameters_of_chosen_entries_are_shown(app):
    out = settle(app, activations, {"activations": ["relu", "prelu"]})
    assert out[("activations-wrap-prelu-alpha", "style")] == {} and out[("activations-wrap-elu-alpha", "style")] == {"display": "none"}
    out = settle(app, classification, {"losses": ["cross_entropy", "hinge"]})
    assert out[("classification-wrap-hinge-margin", "style")] == {}
    assert out[("classification-wrap-focal-gamma", "style")] == {"display": "none"}


# --- the sweep: the curves at every step of the slider being dragged ---------------------------


def step_figure(fig: dict, sw: dict, s: int, gid: str) -> dict:
    """The figure the browser shows at step ``s`` of a sweep (assets/lossviz.js applyStep)."""
    data = [dict(t) for t in fig["data"]]
    layout = json.loads(json.dumps(fig["layout"]))
    for part in (sw["base"].get(gid), sw["steps"][s].get(gid)):
        for i, attrs in ((part or {}).get("traces") or {}).items():
            data[int(i)].update(attrs)
        for path, v in ((part or {}).get("layout") or {}).items():
            node = layout
            *head, last = path.split(".")
            for k in head:
                node = node.setdefault(k, {})
            node[last] = v
    return {"data": data, "layout": layout}


@pytest.mark.parametrize("page, names, key, lib", [
    (losses, {"losses": ["l1", "l2", "huber"]}, "huber.delta", lambda x, v: lossviz.get_loss("huber").grad(x, torch.zeros((), dtype=torch.float64), delta=v)),
    (losses, {"losses": ["l1", "huber"]}, "y", lambda x, v: lossviz.get_loss("huber").grad(x, torch.tensor(v, dtype=torch.float64), delta=1.0)),
    (activations, {"activations": ["relu", "prelu", "tanh"]}, "prelu.alpha", lambda x, v: lossviz.get_activation("prelu").grad(x, alpha=v)),
])
def test_a_sweep_is_the_library_at_every_step(app, page, names, key, lib):
    """A drag shows a sweep's steps (no request while the hand moves): every step's curves are the
    library's at that slider value, the y ranges are those of the step's curves."""
    out = settle(app, page, names)
    st, fig = out[(f"{page.PAGE}-state", "data")], out[(f"{page.PAGE}-graph", "figure")]
    sw = sweep(app, page, key, st, sig="abc")
    field = next(f for f in page.schema() if f.key == key)
    assert sw["key"] == key and sw["sig"] == "abc" and controls.SWEEP_MIN_STEPS <= len(sw["values"]) <= controls.SWEEP_STEPS
    assert set(sw["values"]) <= set(controls.steps_of(field, 10_000)) and sw["values"][0] == field.lo and sw["values"][-1] == field.hi
    who = "huber" if page is losses else "prelu"
    for s in (0, len(sw["values"]) // 3, len(sw["values"]) - 1):
        v = sw["values"][s]
        shown = step_figure(fig, sw, s, f"{page.PAGE}-graph")
        x, y = xy(trace(shown, who, "grad"))
        np.testing.assert_allclose(y, lib(torch.tensor(x, dtype=torch.float64), v).numpy(), rtol=1e-5, atol=1e-6)
        # The y ranges hold during a drag: the sweep's overall range holds every step's curves
        # (as the settled view's range at this value does).
        settled = settle(app, page, {**names, key: v})[(f"{page.PAGE}-graph", "figure")]
        lo, hi = shown["layout"]["yaxis2"]["range"]
        slo, shi = settled["layout"]["yaxis2"]["range"]
        assert lo <= slo and shi <= hi


def test_a_sweep_of_the_range_moves_the_grid(app):
    st = settle(app, losses, {"losses": ["l2"]})[("losses-state", "data")]
    fig = settle(app, losses, {"losses": ["l2"]})[("losses-graph", "figure")]
    sw = sweep(app, losses, "xmax", st)
    s = sw["values"].index(10.0)
    x, y = xy(trace(step_figure(fig, sw, s, "losses-graph"), "l2", "value"))
    assert x[0] == -3 and x[-1] == 10 and np.allclose(y, 0.5 * x ** 2, rtol=1e-6)  # l2 is ½ r² in the library
    np.testing.assert_allclose(y, lossviz.get_loss("l2").value(torch.tensor(x, dtype=torch.float64), torch.zeros(())).numpy(), rtol=1e-6)


def test_softmax_sweep_of_s_moves_only_the_marker_and_the_readout(app):
    """Bug 4: dragging the 10^s slider keeps the demo's curves: the stable and naive curves are
    the same at every step (sent once), only the current-s marker and the readout move."""
    out = settle(app, softmax, {"classes": 3, "o0": -9.0, "o1": 1.0, "o2": 0.1, "target": 1, "scale": 1.0})
    st, demo = out[("softmax-state", "data")], out[("softmax-overflow", "figure")]
    sw = sweep(app, softmax, "scale", st)
    n = len(demo["data"])
    moving = {int(i) for step in sw["steps"] for i in (step.get("softmax-overflow") or {}).get("traces", {})}
    assert moving == {n - 1}  # the marker is the last trace
    for s in (0, 40, len(sw["values"]) - 1):
        shown = step_figure(demo, sw, s, "softmax-overflow")
        stable = next(t for t in shown["data"] if t["meta"] == "stable")
        assert np.isfinite(figures.decode(stable["y"])).any()  # still drawn
        assert shown["data"][-1]["x"] == [sw["values"][s]] * 2
        assert f"× {10 ** sw['values'][s]:.6g}" in sw["steps"][s]["softmax-loss"]


def test_a_sweep_answers_junk_with_no_update(app):
    st = settle(app, losses, {"losses": ["l1"]})[("losses-state", "data")]
    key = _key(app, losses, "sweep.data")
    for req, s in ((None, st), ("x", st), ({"key": "bogus"}, st), ({"key": "huber.delta"}, None), ({"key": "huber.delta"}, {"values": 3}),
                   ({"key": ["y"]}, st), ({"key": "y", "sig": 5}, st)):
        r = _post(app, key, [req], [s], "losses-sweep-req.data")
        assert r.status_code in (200, 204), (req, s, r.status_code)
    # A parameter of a loss not chosen: nothing moves (its slider is hidden anyway).
    sw = sweep(app, losses, "huber.delta", st)
    assert all(step == {} for step in sw["steps"])


def test_sweeps_stay_small(app):
    """A sweep is sent once per grab; each is bounded (float32, shared x, <= SWEEP_STEPS steps)."""
    sizes = {}
    for page in PAGES:
        st = settle(app, page)[(f"{page.PAGE}-state", "data")]
        for f in controls.numbers(page.schema()):
            sw = sweep(app, page, f.key, st)
            sizes[(page.PAGE, f.key)] = len(json.dumps(sw)) if sw else 0
    big = {k: v for k, v in sizes.items() if v > controls.SWEEP_BYTES}
    assert not big, big


def test_factor_sends_what_every_step_shares_once():
    per_step = [{"g": {"traces": {0: {"x": [1, 2], "y": [s, s]}}, "layout": {"yaxis.range": [0, 1]}}, "t": "same"} for s in range(3)]
    f = controls.factor(per_step)
    assert f["base"] == {"g": {"traces": {"0": {"x": [1, 2]}}, "layout": {"yaxis.range": [0, 1]}}, "t": "same"}
    assert [s["g"]["traces"]["0"]["y"] for s in f["steps"]] == [[0, 0], [1, 1], [2, 2]]


def test_steps_of_spreads_at_most_the_limit_with_both_ends():
    f = state.Number("k", "k", -10, 10, 0.1, 0.0)
    steps = controls.steps_of(f)
    assert len(steps) == controls.SWEEP_STEPS and steps[0] == -10 and steps[-1] == 10
    assert controls.steps_of(state.Number("c", "c", 2, 10, 1, 2, integer=True)) == [2, 3, 4, 5, 6, 7, 8, 9, 10]


def test_curves_sweep_is_float32_on_shared_points_and_checks_its_input():
    sw = curves.sweep("huber", "delta", [0.5, 1.0, 2.0], x_range=(-3, 3))
    assert sw.x.dtype == np.float32 and sw.series["value"].shape == (3, len(sw.x)) and sw.series["grad"].dtype == np.float32
    fine = curves.loss_curve("huber", {"delta": 2.0}, x_range=(-3, 3))
    np.testing.assert_allclose(np.interp(fine.x, sw.x, sw.series["value"][2]), fine.series["value"], atol=1e-3 * np.ptp(fine.series["value"]))
    for bad in ([], [float("nan")], list(range(curves.MAX_SWEEP_STEPS + 1))):
        with pytest.raises(ValueError):
            curves.sweep("huber", "delta", bad)
    with pytest.raises(ValueError):
        curves.sweep("huber", "bogus", [1.0])
    with pytest.raises(ValueError):
        curves.sweep("relu", "target", [1.0])


# --- softmax, URL, junk ------------------------------------------------------------------------


def test_softmax_bars_and_gradient(app):
    logits = {"o0": 2.0, "o1": 1.0, "o2": 0.1}
    out = settle(app, softmax, {"classes": 3, "temperature": 2.0, "target": 1, **logits})
    bars = out[("softmax-graph", "figure")]
    want = torch.softmax(torch.tensor([2.0, 1.0, 0.1], dtype=torch.float64) / 2.0, -1)
    probs = np.nansum([figures.decode(t["y"]) for t in bars["data"] if t["meta"][0] == "probs"], axis=0)
    np.testing.assert_allclose(probs, want.numpy(), rtol=1e-6)
    grad = np.nansum([figures.decode(t["y"]) for t in bars["data"] if t["meta"][0] == "grad"], axis=0)
    np.testing.assert_allclose(grad, (want - torch.tensor([0.0, 1.0, 0.0], dtype=torch.float64)).numpy(), atol=1e-7)
    true_bar = next(t for t in bars["data"] if t["meta"] == ["probs", "true"])
    assert true_bar["name"] == r"$\text{true class } y = 1$" and np.isfinite(figures.decode(true_bar["y"])).tolist() == [False, True, False]
    styles = [out[(f"softmax-logit-{i}", "style")] for i in range(softmax.MAX_CLASSES)]
    assert styles[:3] == [{}, {}, {}] and all(s == {"display": "none"} for s in styles[3:])
    labels = {t["meta"][1]: t for t in bars["data"] if t["meta"][0] == "labels"}  # each bar's value, at its end
    assert labels["probs"]["text"] == [format(v, ".3f") for v in want.tolist()] and labels["probs"]["y"] == pytest.approx(want.tolist())
    assert labels["grad"]["textposition"] == ["top center", "bottom center", "top center"]  # below a negative bar


def test_softmax_large_logits_demo(app):
    out = settle(app, softmax, {"classes": 3, "o0": 2.0, "o1": 1.0, "o2": 0.1, "target": 1, "scale": 3.0})
    demo, readout = out[("softmax-overflow", "figure")], out[("softmax-loss", "children")]
    s = figures.decode(next(t for t in demo["data"] if t["meta"] == "stable")["x"])
    assert s[0] == 0 and s[-1] == softmax.S_MAX and demo["layout"]["xaxis"].get("type") != "log"  # linear in the exponent
    stable = figures.decode(next(t for t in demo["data"] if t["meta"] == "stable")["y"])
    want = curves.overflow_curve([2.0, 1.0, 0.1], target_class=1, scales=10.0 ** softmax.S_GRID)
    np.testing.assert_allclose(stable, want["stable"], rtol=1e-6)
    # exp(10^s * 2) overflows float32 from 10^s * 2 > 88.7, s > 1.65: marked inf/NaN.
    marked = [t for t in demo["data"] if t["meta"] in ("inf", "NaN") and t["showlegend"]]
    assert marked and min(figures.decode(marked[0]["x"])) == pytest.approx(1.65, abs=0.02)
    current = demo["data"][-1]
    assert current["name"] == "current s" and current["x"] == [3.0, 3.0] and "current s = 3.00" in current["text"][1]
    assert "NaN" in readout or "inf" in readout


def test_softmax_true_class_beyond_classes_is_corrected(app):
    st = settle(app, softmax, {"classes": 5, "target": 4})[("softmax-state", "data")]
    out = settle(app, softmax, {"classes": 3, "target": 4}, prev=st, trigger="softmax-classes.value")
    assert out[("softmax-target", "value")] == 2 and "using 2" in text(out[("softmax-message", "children")])
    assert out[("softmax-state", "data")]["values"]["target"] == 2


def test_softmax_readout_never_shows_minus_zero(app):
    readout = settle(app, softmax, {"classes": 3, "o0": 10, "o1": -10, "o2": -10, "target": 0, "scale": 3})[("softmax-loss", "children")]
    assert "-0" not in readout and "−0" not in readout


def test_classification_page_draws_the_library_margin_view(app):
    """The Classification page's curves are curves.margin_view's: each loss's value and gradient
    against the margin, at the sliders' parameters, with the 0-1 loss."""
    out = settle(app, classification, {"losses": ["hinge", "focal"], "focal.gamma": 1.0, "classes": 3})
    assert out[("classification-message", "children")] is None
    fig = out[("classification-graph", "figure")]
    by_meta = {tuple(t["meta"]): t for t in fig["data"]}
    view = curves.margin_view([("hinge", {"margin": 1.0}), ("focal", {"gamma": 1.0})], n_classes=3)
    for c in view.curves:
        for key in ("value", "grad"):
            x, y = xy(by_meta[(c.name, key)])
            np.testing.assert_allclose(y, np.interp(x, c.x, c.series[key]), rtol=1e-5, atol=1e-5)
    assert ("zero_one", "value") in by_meta
    from lossviz.explorer import app as app_module

    assert classification in app_module.PAGES  # in the navigation and routed


def test_url_values_become_notes_naming_them():
    values, notes = state.from_query(losses.schema(), state.parse_query("?huber.delta=-1&losses=l1,bogus,l1&y=abc&normalized=maybe"))
    assert values["huber.delta"] == 0.05 and values["losses"] == ["l1"] and values["y"] == 0.0 and values["normalized"] is False
    joined = " | ".join(notes)
    assert "huber.delta=-1" in joined and "using 0.05" in joined and "bogus" in joined and "y=abc" in joined and "normalized=maybe" in joined
    page = losses.layout(state.parse_query("?huber.delta=-1"))
    assert "huber.delta=-1 is below the range [0.05, 5]; using 0.05" in json.dumps(page.to_plotly_json(), default=str)


def test_url_round_trip():
    values = {**state.defaults(losses.schema()), "losses": ["l1", "huber"], "huber.delta": 0.5, "y": 1.0}
    q = state.query_of(losses.schema(), values, hide=["y", "nav"])
    back, notes = state.from_query(losses.schema(), state.parse_query(q))
    assert back == values and notes == []
    assert state.hidden(state.parse_query(q)) == {"y", "nav"}


def test_a_page_answers_no_update_for_the_url_it_wrote_itself(app):
    """Dash Pages re-renders on a URL change; a page that wrote the URL itself (url-shown) is left as it is."""
    from lossviz.explorer import pages

    layout = dash_page("lossviz.explorer.pages.losses")["layout"]
    query = {"losses": "l1", "y": "0.5"}
    assert layout(**query, **{pages.SHOWN: {"path": "/losses", "query": query}}) is dash_no_update()
    assert layout(**query, **{pages.SHOWN: {"path": "/losses", "query": {"losses": "l2"}}}) is not dash_no_update()  # Back/Forward
    for junk in (None, "x", {"path": 3}, {"path": "/losses", "query": "x"}):
        assert layout(**query, **{pages.SHOWN: junk}) is not dash_no_update()


def dash_page(module):
    import dash

    return dash.page_registry[module]


def dash_no_update():
    import dash

    return dash.no_update


def test_no_route_beside_dashs_for_the_curves(app):
    rules = [r.rule for r in app.server.url_map.iter_rules()]
    assert not any(r.startswith("/_lossviz") for r in rules), rules


# Junk a crafted request may put into any control or store.
JUNK = [None, "x", "", -1, 1e308, -1e308, float("nan"), float("inf"), [[1, 2]], {"a": 1}, ["../etc", None, 3], True, "1e400", 1e-320,
        ["l1"] * 5000, "x" * 10_000]


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.PAGE)
@pytest.mark.parametrize("junk", JUNK, ids=range(len(JUNK)))
def test_junk_in_every_control_is_refused_with_a_note_and_stays_small(app, page, junk):
    """Each control in turn set to junk (the others at their defaults), and the state store junk:
    the page answers 200 with a state of valid values, never an internal error, and a bounded answer."""
    schema = page.schema()
    for f in schema:
        cid = "present" if f.key == "present" else controls.safe_id(page.PAGE, f.key)
        out = settle(app, page, {f.key: junk}, prev={"values": {f.key: junk}, "hide": junk}, trigger=cid + (".checked" if isinstance(f, state.Flag) else ".value"))
        st = out[(f"{page.PAGE}-state", "data")]
        values, notes, _ = state.from_request(schema, st["values"], None)
        assert notes == [] and values == st["values"], (f.key, notes)
        assert "internal error" not in text(out.get((f"{page.PAGE}-message", "children")))
        assert len(json.dumps(list(out.values()))) < 200_000  # 5,000 names do not make a huge answer


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.PAGE)
@pytest.mark.parametrize("st", [None, "x", {}, {"values": 3}, {"values": {"losses": 5, "y": "x"}}, {"values": {"y": "nan"}, "hide": [3, None]}])
def test_a_crafted_state_store_is_read_as_the_defaults(app, page, st):
    out = settle(app, page, prev=st)
    assert "internal error" not in text(out.get((f"{page.PAGE}-message", "children")))
    assert out[(f"{page.PAGE}-state", "data")]["values"] == {k: v for k, v in state.defaults(page.schema()).items()}


def test_a_note_is_cleared_by_the_next_good_value(app):
    st = settle(app, losses, {"losses": ["l1", "huber"]})[("losses-state", "data")]
    out = settle(app, losses, {"losses": ["l1", "huber"]}, prev=st, typed={"huber.delta": 1e9})  # clamped: a note
    assert "above the range" in text(out[("losses-message", "children")])
    out = settle(app, losses, {"losses": ["l1", "huber"], "huber.delta": 0.5}, prev=out[("losses-state", "data")],
                 trigger="losses-huber-delta.value")
    assert out[("losses-message", "children")] is None  # the note goes away


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.PAGE)
@pytest.mark.parametrize("st", [None, "x", {}, {"values": {"losses": []}}, {"values": {"y": "nan"}}])
def test_export_never_raises(page, st):
    out = controls.guarded(page.export_file, 2)(1, "svg", st)
    assert len(out) == 2


def test_export_is_the_shown_view(app):
    st = settle(app, losses, {"losses": ["l1"]})[("losses-state", "data")]
    download, msg = losses.export_file(1, "svg", st)
    assert msg == "" and download["filename"] == "lossviz-losses.svg"
    st = settle(app, softmax, {"scale": 3.5})[("softmax-state", "data")]
    download, msg = softmax.export_file(1, "pdf", st)
    assert msg == "" and download["filename"] == "lossviz-softmax.pdf"
    download, msg = losses.export_file(1, "svg", {"values": {"losses": []}})
    assert msg == "nothing to export: choose at least one loss"


# --- the HTTP layer ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def client():
    return create_app(allow_hosts=["lab.example"]).server.test_client()


def test_host_and_origin_allow_list(client):
    assert client.get("/losses").status_code == 200  # Flask's test client sends Host: localhost
    assert client.get("/losses", headers={"Host": "127.0.0.1:8050"}).status_code == 200
    assert client.get("/losses", headers={"Host": "[::1]:8050"}).status_code == 200
    assert client.get("/losses", headers={"Host": "lab.example:8050"}).status_code == 200  # --allow-host
    r = client.get("/losses", headers={"Host": "attacker.example:8050"})  # DNS rebinding
    assert r.status_code == 403 and b"--allow-host" in r.data
    r = client.post("/_dash-update-component", json={}, headers={"Origin": "http://attacker.example"})
    assert r.status_code == 403


@pytest.mark.parametrize("body", [
    b"not json", b"{}", b"[]", b'{"output": "x"}', b'{"output": "losses-state.data", "inputs": [], "outputs": []}',
    json.dumps({"output": "..page.children...hidden-controls.data..", "inputs": [{"id": "url", "property": "pathname", "value": [[1]]}]}).encode(),
])
def test_crafted_http_requests_are_4xx_not_500(client, body):
    r = client.post("/_dash-update-component", data=body, content_type="application/json")
    assert 400 <= r.status_code < 500, (r.status_code, r.data[:200])


def test_huge_request_body_is_refused(client):
    r = client.post("/_dash-update-component", data=b"x" * 400_000, content_type="application/json")
    assert r.status_code == 413


def test_scripts_are_compressed(client):
    page = client.get("/losses").data.decode()
    src = next(s for s in page.split('"') if "dash_mantine_components" in s and s.endswith(".js") or "dash_mantine_components.v" in s)
    r = client.get(src, headers={"Accept-Encoding": "gzip"})
    assert r.status_code == 200 and r.headers["Content-Encoding"] == "gzip"


# --- the command line ------------------------------------------------------------------------


def test_explore_port_in_use_one_line_exit_2():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        res = subprocess.run([sys.executable, "-m", "lossviz.cli", "explore", "--port", str(port)], capture_output=True, text=True, timeout=60)
    assert res.returncode == 2
    assert len(res.stderr.strip().splitlines()) == 1 and "cannot listen" in res.stderr


def test_explore_bad_host():
    res = subprocess.run([sys.executable, "-m", "lossviz.cli", "explore", "--host", "not a host"], capture_output=True, text=True, timeout=60)
    assert res.returncode == 2 and "--host" in res.stderr


def test_explore_defaults_are_safe():
    from lossviz.cli import build_parser

    args = build_parser().parse_args(["explore"])
    assert args.host == "127.0.0.1" and args.debug is False and args.port == 8050 and args.allow_host == []
    args = build_parser().parse_args(["explore", "--allow-host", "lab.example", "--allow-host", "pc7"])
    assert args.allow_host == ["lab.example", "pc7"]


def test_scripts_are_compressed_once_at_start_and_kept(monkeypatch):
    import flask_compress.flask_compress as fc

    from lossviz.explorer.app import warm_compressed_scripts

    app = create_app()
    warm_compressed_scripts(app)
    calls = []
    real = fc._compress_data
    monkeypatch.setattr(fc, "_compress_data", lambda *a: calls.append(a[-1]) or real(*a))
    client = app.server.test_client()
    r = client.get("/_dash-component-suites/plotly/package_data/plotly.min.js", headers={"Accept-Encoding": "zstd"})
    assert r.status_code == 200 and r.headers["Content-Encoding"] == "zstd" and calls == []  # from the cache
    # Callback answers are compressed per request, never kept (each body differs): their key is empty.
    from lossviz.explorer.app import AssetCache, asset_cache_key

    with app.server.test_request_context("/_dash-update-component", method="POST"):
        from flask import request

        assert asset_cache_key(request) == ""
    cache = AssetCache()
    cache.set("zstd;", b"answer")
    assert cache.get("zstd;") is None


HTTP_JUNK = [None, "x", "", -1, 1e308, float("nan"), [[1, 2]], {"a": 1}, ["../etc", None, 3], True]


def _concrete(cid):
    """A pattern-matching id (``{"type": ..., "key": ALL}``) made concrete; string ids as they are."""
    return {k: (v if isinstance(v, str) else "huber.delta") for k, v in cid.items()} if isinstance(cid, dict) else cid


def _request_for(key: str, cb: dict, junk) -> dict:
    """A Dash update request for one server callback with every input and state set to ``junk``."""
    def item(dep):
        if isinstance(dep["id"], dict):  # pattern-matching: a list of matched components
            return [{"id": _concrete(dep["id"]), "property": dep["property"], "value": junk}]
        return {"id": dep["id"], "property": dep["property"], "value": junk}

    outs = cb["output"] if isinstance(cb["output"], list) else [cb["output"]]
    outputs = [[{"id": _concrete(o.component_id), "property": o.component_property.split("@")[0]}]
               if isinstance(o.component_id, dict) else {"id": o.component_id, "property": o.component_property.split("@")[0]}
               for o in outs]
    first = cb["inputs"][0]
    changed = (json.dumps(_concrete(first["id"]), separators=(",", ":")) if isinstance(first["id"], dict) else first["id"]) + "." + first["property"]
    return {"output": key, "outputs": outputs if len(outputs) > 1 else outputs[0],
            "inputs": [item(d) for d in cb["inputs"]], "state": [item(d) for d in cb["state"]], "changedPropIds": [changed]}


@pytest.mark.parametrize("junk", HTTP_JUNK, ids=lambda j: repr(j)[:20])
def test_no_callback_answers_500_to_junk_inputs(tmp_path, junk):
    """Every server callback of the app (all pages, the Training page's too), every input junk."""
    app = create_app(runs_dir=tmp_path / "runs", data_root=str(tmp_path / "no-data"))
    client = app.server.test_client()
    client.get("/losses")  # Dash Pages adds its router callback on the first request: junk for it too
    for key, cb in list(app.callback_map.items()):
        body = json.dumps(_request_for(key, cb, junk), allow_nan=True)
        r = client.post("/_dash-update-component", data=body, content_type="application/json")
        if "_pages_content" in key:  # Dash Pages' own router: a junk path is refused (400, one line), never a 500
            assert r.status_code in (200, 204, 400) and b"Traceback" not in r.data, (key[:80], r.status_code)
        elif cb.get("callback") is not None:  # our server callbacks: they ran, checked their inputs and answered
            assert r.status_code in (200, 204), (key[:80], r.status_code, r.data[:300])
        else:  # a browser-side callback has nothing to run here: refused, never a 500
            assert 400 <= r.status_code < 500, (key[:80], r.status_code)
    assert not app.jobs.running()  # junk never starts a training job


def test_training_form_shows_the_parameters_of_what_is_chosen(tmp_path):
    app = create_app(runs_dir=tmp_path / "runs")
    key = next(k for k in app.callback_map if "training-param-wrap" in k)
    boxes = [{"id": {"type": "training-param-wrap", "key": k}, "property": "style"} for k in ("huber.delta", "prelu.alpha")]
    body = {"output": key, "outputs": boxes,
            "inputs": [{"id": "training-form-losses", "property": "value", "value": ["huber", "l1"]},
                       {"id": "training-form-model", "property": "value", "value": "mlp"},
                       {"id": "training-form-activation", "property": "value", "value": "relu"}],
            "state": [[{"id": b["id"], "property": "id", "value": b["id"]} for b in boxes]], "changedPropIds": ["training-form-model.value"]}
    r = app.server.test_client().post("/_dash-update-component", json=body)
    styles = {json.loads(k)["key"]: v["style"] for k, v in r.get_json()["response"].items()}
    assert styles == {"huber.delta": {}, "prelu.alpha": {"display": "none"}}  # huber's delta shown; prelu's alpha not (relu chosen)


def test_y_range_snaps_to_round_steps_and_holds_while_curves_move_inside():
    assert figures.y_range([np.array([0.0, 4.5])]) == [-0.2, 5.0]  # a curve ending at 0 keeps a small margin
    assert figures.y_range([np.array([-3.0, 3.0])]) == [-4.0, 4.0]
    assert figures.y_range([np.array([np.nan, np.inf])]) == [-1.0, 1.0]
    for ys in ([np.array([0.2, 0.21])], [np.array([-1e-3, 1e5])], [np.array([5.0, 5.0])], [np.array([-7.3, 0.4]), np.array([2.0])]):
        lo, hi = figures.y_range(ys)
        data = np.concatenate(ys)
        assert lo < data.min() and hi > data.max() and (data.max() - data.min()) >= 0.4 * (hi - lo) or data.min() == data.max()
    # A curve that grows inside the range does not move it (so a drag frame need not redraw the axes).
    assert len({tuple(figures.y_range([np.array([0.0, m]), np.array([0.0, 4.5])])) for m in np.linspace(0, 4.4, 30)}) == 1




@pytest.fixture
def plugin_app():
    """An explorer with the worked example's plugin (docs/examples/student_losses.py) loaded:
    abs_cubic's hand-written gradient is wrong for r < 0. Unloaded afterwards."""
    from pathlib import Path

    from lossviz import plugins

    plugins.load_plugins([Path(__file__).resolve().parents[1] / "docs" / "examples" / "student_losses.py"])
    try:
        a = create_app()
        a.server.test_client().get("/losses")
        yield a
    finally:
        plugins.unload_plugins()


def test_the_gradient_check_draws_autograd_and_shades_only_where_it_differs(plugin_app):
    out = settle(plugin_app, losses, {"losses": ["abs_cubic", "l2"], "check": True})
    st, fig = out[("losses-state", "data")], out[("losses-graph", "figure")]
    assert "check=1" in st["search"]
    x, auto = xy(trace(fig, "abs_cubic", "autograd"))
    np.testing.assert_allclose(auto, x * np.abs(x), rtol=1e-5, atol=1e-6)  # d/dr |r|^3/3, autograd's
    assert trace(fig, "abs_cubic", "autograd")["line"]["dash"] == "dash"
    xl, autol = xy(trace(fig, "l2", "autograd"))
    np.testing.assert_allclose(autol, xl, rtol=1e-5, atol=1e-6)
    shapes = fig["layout"]["shapes"]
    assert shapes and all(s["xref"] == "x3" for s in shapes)  # on the gradient panel
    assert all("abs_cubic" in s["name"] for s in shapes)  # l2 agrees: not shaded
    assert min(s["x0"] for s in shapes) < -2.9 and max(s["x1"] for s in shapes) <= 0.01  # only r < 0
    assert "abs_cubic" in text(out[("losses-message", "children")])
    # Off: neither autograd's curve nor shading.
    off = settle(plugin_app, losses, {"losses": ["abs_cubic", "l2"], "check": False})[("losses-graph", "figure")]
    assert not any(t["meta"][1] == "autograd" for t in off["data"]) and not off["layout"].get("shapes")
    # A drag of y: each step of the sweep carries autograd's curve and the shading at that y.
    sw = sweep(plugin_app, losses, "y", st)
    i = next(j for j, t in enumerate(fig["data"]) if t["meta"] == ["abs_cubic", "autograd"])
    k = sw["values"].index(1.0)
    step = {**sw["base"].get("losses-graph", {}).get("traces", {}).get(str(i), {}), **sw["steps"][k]["losses-graph"]["traces"][str(i)]}
    xs, ys = figures.decode(step["x"]), figures.decode(step["y"])
    np.testing.assert_allclose(ys, (xs - 1) * np.abs(xs - 1), rtol=1e-5, atol=1e-5)
    shaded = sw["steps"][k]["losses-graph"]["layout"]["shapes"]
    assert shaded and max(s["x1"] for s in shaded) <= 1.05


def test_the_derivative_check_of_a_right_activation_shades_nothing(plugin_app):
    out = settle(plugin_app, activations, {"activations": ["softsign", "tanh"], "check": True})
    fig = out[("activations-graph", "figure")]
    x, auto = xy(trace(fig, "softsign", "autograd"))
    np.testing.assert_allclose(auto, 1 / (1 + np.abs(x)) ** 2, rtol=1e-5, atol=1e-6)
    assert not fig["layout"]["shapes"] and out[("activations-message", "children")] is None


@pytest.mark.parametrize("lo, hi", [(-3.0, 3.0), (-20.0, 20.0), (-3.0, -2.0), (0.5, 1.0), (-5.0, 3.0)])
def test_y_drag_preview_grid_holds_every_kink_at_y(lo, hi):
    """The Losses page's y preview: 41-81 even points from xmin to xmax, and every y of the slider
    inside a range of y's step count lies on one (the kink of L1 / quantile at y is drawn sharp)."""
    from lossviz.explorer.pages import losses as page

    x = page.y_grid({"xmin": lo, "xmax": hi})
    assert 41 <= len(x) <= page.Y_SWEEP_POINTS and x[0] == lo and x[-1] == hi
    assert np.all(np.diff(x) > 0)
    if (hi - lo) / page.Y_STEP <= page.Y_SWEEP_POINTS - 1:
        for y in np.arange(lo, hi, page.Y_STEP):
            assert np.min(np.abs(x - y)) < 1e-6


@pytest.mark.parametrize("page", [losses, activations, classification])
def test_legend_entries_are_typeset_and_hovers_plain(page):
    """Every legend entry of a curve page is all $...$ (plotly has MathJax typeset it, as the axis
    titles); the hover box, which plotly does not typeset, names the curve in plain text."""
    fig = page.compute(state.defaults(page.schema()), [])[0]
    shown = [t for t in fig["data"] if t.get("showlegend")]
    assert shown
    for t in shown:
        assert t["name"].startswith("$") and t["name"].endswith("$"), t["name"]
        extra = t["hovertemplate"].split("<extra>")[1]
        assert "$" not in extra and "\\" not in extra and extra.removesuffix("</extra>")
