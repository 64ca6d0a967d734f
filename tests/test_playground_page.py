"""The playground page's server side with crafted inputs: it advances, patches, resets, and never raises."""

from __future__ import annotations

import json

import dash
import numpy as np
import plotly
import pytest

from lossviz import toy
from lossviz.explorer import figures, state
from lossviz.explorer.pages import playground as pg


def defaults(mode):
    v = state.defaults(pg.schema(mode))
    v["mode"] = mode
    return v


def first(mode, **kw):
    v = {**defaults(mode), **kw}
    return v, pg.tick(mode, "load", v, None, None, [], False)


@pytest.mark.parametrize("mode", pg.MODES)
def test_ticks_advance_and_patch(mode):
    v, out = first(mode)
    store = out[0]
    assert store["state"]["step"] == 0 and isinstance(out[1], dict)
    out = pg.tick(mode, "tick", v, store, None, [], False)
    assert out[0]["state"]["step"] == v["speed"]
    assert isinstance(out[1], dash.Patch)
    size = len(json.dumps(out[:6], cls=plotly.utils.PlotlyJSONEncoder))
    assert size < 50_000, size
    out2 = pg.tick(mode, "reset", v, out[0], None, [], False)
    assert out2[0]["state"]["step"] == 0 and isinstance(out2[1], dict)


@pytest.mark.parametrize("mode", pg.MODES)
@pytest.mark.parametrize("bad", [None, 3, "x", {"state": "junk", "key": None}, {"state": {"step": -1, "params": {}}},
                                 {"points": {"x": [1e300], "y": [1], "outlier": [1]}}, {"values": {"losses": ["nope"] * 1000}}])
def test_crafted_store_never_raises(mode, bad):
    v = defaults(mode)
    out = pg.tick(mode, "tick", v, bad, None, [], False)
    assert out[0]["state"]["step"] in (0, v["speed"])


@pytest.mark.parametrize("mode", pg.MODES)
def test_bad_state_resets_with_a_message(mode):
    v, out = first(mode)
    store = dict(out[0])
    store["state"] = {"step": 3, "params": {"w1": [[["nan"]]]}}
    out = pg.tick(mode, "tick", v, store, None, [], False)
    assert out[0]["state"]["step"] == v["speed"]  # started again from 0, then advanced
    assert "started again" in json.dumps(out[3].to_plotly_json(), default=str)


@pytest.mark.parametrize("mode", pg.MODES)
def test_crafted_values_are_clamped_or_refused(mode):
    v = defaults(mode)
    raw = {**v, "lr": 1e9, "speed": "fast", "losses": ["nope", 7], "noise": float("nan")}
    out = pg.tick(mode, "tick", raw, None, None, ["lr"], False)
    assert out[3] is not None  # the notes are shown
    assert out[4]["search"].startswith("?mode=" + mode) and "_hide=lr" in out[4]["search"]


def test_click_adds_and_removes_points():
    v, out = first("regression")
    store = out[0]
    n = len(store["points"]["x"])
    add = {"points": [{"x": 0.5, "y": 7.0, "meta": "catcher", "curveNumber": 0}]}
    out = pg.tick("regression", "click", v, store, add, [], False)
    assert len(out[0]["points"]["x"]) == n + 1 and out[0]["points"]["y"][-1] == 7.0
    remove = {"points": [{"x": 0.5, "y": 7.0, "curveNumber": 5, "customdata": n}]}
    out = pg.tick("regression", "click", v, out[0], remove, [], False)
    assert len(out[0]["points"]["x"]) == n
    for crafted in (None, {}, {"points": []}, {"points": [{"x": "a"}]}, {"points": [{"x": 99, "y": 0}]},
                    {"points": [{"x": 0, "y": 0, "curveNumber": 5, "customdata": 10**6}]}):
        out = pg.tick("regression", "click", v, store, crafted, [], False)
        assert len(out[0]["points"]["x"]) == n


def test_points_are_capped():
    v, out = first("regression")
    store = out[0]
    store["points"] = {"x": [0.0] * pg.MAX_POINTS, "y": [0.0] * pg.MAX_POINTS, "outlier": [False] * pg.MAX_POINTS}
    out = pg.tick("regression", "click", v, store, {"points": [{"x": 0.1, "y": 0.1, "meta": "catcher", "curveNumber": 0}]}, [], False)
    assert len(out[0]["points"]["x"]) == pg.MAX_POINTS
    store["points"]["x"] = [0.0] * (pg.MAX_POINTS + 1)
    out = pg.tick("regression", "tick", v, store, None, [], False)
    assert len(out[0]["points"]["x"]) == pg.N_POINTS  # refused: back to the preset's points


def test_preset_sets_the_sliders():
    v = defaults("regression")
    v["preset"] = "heavy noise"
    out = pg.tick("regression", "preset", v, None, None, [], False)
    assert out[-5:] == (0.0, 0.0, 1.5, "line", "linear")


def test_old_links_with_model_line_open_the_linear_model():
    """Links written before the toy's models had their own names said model=line: they still
    open the line (now "linear"), with no note, and the page's URL says linear from then on."""
    values, notes = state.from_query(pg.schema("regression"), {"mode": "regression", "model": "line"})
    assert values["model"] == "linear" and notes == []
    out = pg.tick("regression", "load", {**values, "mode": "regression"}, None, None, [], False)
    assert "model=linear" in out[4]["search"] and out[0]["values"]["model"] == "linear"
    setup = pg.reg_setup(out[0]["values"], out[0]["points"])
    assert setup.config.model == "linear" and setup.config.hidden == ()


def test_wave_preset_sets_the_curve_and_the_mlp():
    v = defaults("regression")
    v["preset"] = "wave with outliers (MLP)"
    out = pg.tick("regression", "preset", v, None, None, [], False)
    assert out[-5:] == (0.15, 6.0, 0.3, "wave", "mlp")
    values = out[0]["values"]
    assert values["shape"] == "wave" and values["model"] == "mlp" and "shape=wave" in out[4]["search"] and "model=mlp" in out[4]["search"]
    setup = pg.reg_setup(values, out[0]["points"])
    assert setup.config.hidden == toy.REGRESSION_MLP and setup.data.shape == "wave"
    fig = out[1]
    clean = next(t for t in fig["data"] if t.get("meta") == "clean")
    x, y = figures.decode(clean["x"]), figures.decode(clean["y"])
    np.testing.assert_allclose(y, x + 2 * np.sin(1.2 * x), atol=1e-5)
    assert "curve" in clean["name"]


def test_robust_losses_beat_l2_on_the_page():
    """The point of the page: with 20 % outliers, L1 and Huber's fits end nearer the clean line."""
    v = {**defaults("regression"), "speed": 50}
    _, out = first("regression")
    store = out[0]
    for _ in range(20):
        store = pg.tick("regression", "tick", v, store, None, [], False)[0]
    setup = pg.reg_setup(v, store["points"])
    frame = toy.regression_frame(setup, toy.ToyState.from_dict(store["state"], setup.new_state()))
    err = dict(zip(frame["losses"], frame["error"]))
    assert err["l1"] < err["l2"] and err["huber"] < err["l2"]


@pytest.mark.parametrize("mode", pg.MODES)
@pytest.mark.parametrize("fmt", ["svg", "png"])
def test_export_current_frame(mode, fmt):
    v, out = first(mode)
    res, msg = pg.export_file(mode, 1, fmt, out[0])
    assert msg == "" and res["filename"].endswith(fmt) and len(res["content"]) > 1000


def test_export_crafted_store():
    for bad in (None, {}, {"values": 3}, {"values": {"losses": []}}):
        res, msg = pg.export_file("regression", 1, "svg", bad)
        assert res is dash.no_update and msg.startswith("nothing to export")


@pytest.mark.parametrize("mode", pg.MODES)
def test_export_gif(mode, monkeypatch):
    from lossviz import export

    monkeypatch.setattr(export, "GIF_FRAMES", 3)  # the page's GIF is export.toy_gif's: 24 frames take seconds
    v, out = first(mode)
    res, msg = pg.export_file(mode, 1, "gif", out[0])
    assert msg == "" and res["filename"] == f"lossviz-playground-{mode}.gif"
    import base64

    assert base64.b64decode(res["content"])[:6] == b"GIF89a"


def test_chosen_losses_get_distinct_colours():
    """Every loss has its own colour (lossviz.style), so any chosen set stays apart on the page."""
    import lossviz
    from lossviz.style import color_of

    c = {n: color_of(n) for n in ["cross_entropy", "hinge", "focal", "l2"]}
    assert len(set(c.values())) == 4
    assert len({color_of(n) for n in lossviz.losses()}) == len(lossviz.losses())


def test_a_click_on_the_pull_panel_adds_no_point():
    """Issue 23, bug 5: a click on a marker of the pull panel added a data point there."""
    v, out = first("regression")
    store = out[0]
    n = len(store["points"]["x"])
    m = len(v["losses"])
    fig = out[1]
    pull = 4 + m  # [catcher, clean, fits..., points, outliers, pulls...]
    assert fig["data"][pull]["meta"] == "pull-l2" and fig["data"][pull]["xaxis"] == "x2"
    click = {"points": [{"x": 1.0, "y": 0.8, "curveNumber": pull, "pointIndex": 3}]}
    out = pg.tick("regression", "click", v, store, click, [], False)
    assert len(out[0]["points"]["x"]) == n and "pull panel" in json.dumps(out[3].to_plotly_json(), default=str)


def test_legend_names_points_and_outliers_and_the_wave_error():
    """Issue 23, bug 10: the legend names the data points and the outliers; for the wave the
    error is against the clean curve; the model's options say what each model is."""
    v, out = first("regression")
    names = {t["meta"]: t["name"] for t in out[1]["data"]}
    assert names["points"].startswith("data points") and names["outliers"] == "outliers (moved 6 below)"
    shown = [t for t in out[1]["data"] if t["meta"] in ("points", "outliers")]
    assert sum(len(t["customdata"]) for t in shown) == len(out[0]["points"]["x"])
    assert "clean line" in out[1]["layout"]["annotations"][2]["text"]
    v, out = first("regression", shape="wave", model="mlp")
    assert "clean curve" in out[1]["layout"]["annotations"][2]["text"] and "line" not in out[1]["layout"]["annotations"][2]["text"]
    from lossviz.explorer.pages.playground.schema import OPTION_LABELS

    model = next(f for f in pg.schema("regression") if f.key == "model")
    assert model.label == "model" and "MLP" in OPTION_LABELS[("model", "mlp")] and "line" in OPTION_LABELS[("model", "linear")]


def test_added_points_are_in_the_url_and_a_link_restores_them():
    """Issue 23, bug 10: the clicks go into the URL (add=x:y, drop=i), bounded by the page's
    point cap, and a link with them opens the same points; bad ones are named and left out."""
    from lossviz.explorer.pages.playground.schema import points_from_query

    v, out = first("regression")
    store = out[0]
    out = pg.tick("regression", "click", v, store, {"points": [{"x": 0.5, "y": 7.0, "curveNumber": 0}]}, [], False)
    assert "add=0.5:7" in out[4]["search"] and out[4]["push"] is True
    remove = {"points": [{"x": 0, "y": 0, "curveNumber": 2 + len(v["losses"]), "customdata": 4}]}
    out = pg.tick("regression", "click", v, out[0], remove, [], False)
    search = out[4]["search"]
    assert "drop=4" in search and "add=0.5:7" in search
    query = state.parse_query(search)
    values, notes = state.from_query(pg.schema("regression"), query)
    pts = points_from_query(query, values, notes)
    assert notes == [] and pts == out[0]["points"]
    # Opened as a link: the same points.
    again = pg.tick("regression", "load", {**values, "mode": "regression"}, None, None, [], False, points=pts)
    assert again[0]["points"] == pts and again[4]["search"] == search and again[4]["push"] is False
    # Hostile links: bounded and checked.
    notes = []
    many = ",".join(["1:1"] * 1000)
    pts = points_from_query({"add": many, "drop": "0,1,x,99"}, values, notes)
    assert len(pts["x"]) == pg.MAX_POINTS and any("at most" in n for n in notes) and any("drop=" in n for n in notes)
    notes = []
    pts = points_from_query({"add": "nan:1,1:inf,9:0,a:b,1:200,0.25:-1"}, values, notes)
    assert len(pts["x"]) == pg.N_POINTS + 1 and pts["x"][-1] == 0.25 and "5 point(s)" in notes[0]
    notes = []
    pts = points_from_query({"drop": ",".join(map(str, range(pg.N_POINTS)))}, values, notes)
    assert len(pts["x"]) >= 2


def test_a_settings_change_is_a_history_step_and_frames_are_not():
    """Issue 23, bug 10: a change of a setting pushes a history entry; the first answer, a step,
    a reset and the frames write the URL in place (or not at all)."""
    v, out = first("regression")
    store = out[0]
    again = pg.tick("regression", "present", v, store, None, [], False)  # the page's first answer
    assert again[4]["push"] is False
    step = pg.tick("regression", "step", v, store, None, [], False)
    assert step[4] is dash.no_update
    frame = pg.tick("regression", "tick", v, step[0], None, [], False)
    assert frame[4] is dash.no_update
    changed = pg.tick("regression", "lr", {**v, "lr": 0.1}, step[0], None, [], False)
    assert changed[4]["push"] is True and "lr=0.1" in changed[4]["search"]


def test_spiral_hint_links_settings_that_learn():
    """Issue 23, bug 10: the spiral does not learn at the defaults; the page links settings that do."""
    from lossviz.explorer.pages.playground.schema import SPIRAL_LEARNS

    v, out = first("classification", dataset="spiral")
    hint = json.dumps(out[-1].to_plotly_json(), default=str)
    assert "layers=3" in hint and "units=16" in hint and "dataset=spiral" in hint
    v, out = first("classification", dataset="spiral", **SPIRAL_LEARNS)
    assert "These settings learn the spiral" in json.dumps(out[-1].to_plotly_json(), default=str)
    v, out = first("classification", dataset="circle")
    assert out[-1] is None


def test_gradient_norms_per_layer_per_loss_live():
    """Classification mode: each loss's weight-gradient norm per layer (lossviz.train.health's
    closed form on the training set) drawn as bars; a frame sends only the new heights."""
    import importlib

    import torch

    from lossviz import train
    from lossviz.train import health, models

    tick_mod = importlib.import_module("lossviz.explorer.pages.playground.tick")
    schema_mod = importlib.import_module("lossviz.explorer.pages.playground.schema")
    v, out = first("classification", layers=3, activation="sigmoid", units=8)
    fig = out[-2]
    assert [t["meta"] for t in fig["data"]] == [f"grad-{n}" for n in v["losses"]] and fig["layout"]["yaxis"]["type"] == "log"
    setup = schema_mod.class_setup(v)
    st = setup.new_state()
    model = setup.model(st)
    with torch.inference_mode():
        logits, cache = models.forward(model, setup.data.x_train)
        onehot = train.one_hot(setup.data.y_train, logits, 2)
        want = health.batch_health(model, cache, train.logit_grads(setup.config, logits, onehot), logits, onehot).grad_norm.numpy()
    got = np.array([t["y"] for t in fig["data"]])
    np.testing.assert_allclose(got, want, rtol=1e-9)
    assert got.shape == (len(v["losses"]), 4)
    # a deep sigmoid net: the input layer gets far less gradient than the output layer, for every loss
    assert (got[:, 0] < got[:, -1] / 10).all()
    np.testing.assert_allclose(tick_mod.grad_norms(setup, st)["norms"], want)
    # playing: a Patch of the heights on the frames that update the curves, small
    store = out[0]
    sizes = []
    for _ in range(tick_mod.CURVE_EVERY):
        out = pg.tick("classification", "tick", v, store, None, [], False)
        store = out[0]
        if isinstance(out[-2], dash.Patch):
            sizes.append(len(json.dumps(out[-2].to_plotly_json(), cls=plotly.utils.PlotlyJSONEncoder)))
    assert sizes and max(sizes) < 2_000, sizes
    # softmax regression in 2-D (no hidden layer): one bar per loss
    v, out = first("classification", layers=0)
    assert all(len(t["y"]) == 1 for t in out[-2]["data"])


def test_capacity_mode_draws_the_library_fits():
    """Capacity mode: the fit, its losses per epoch, the coefficients and the U-curve are
    lossviz.toy.polynomial_fit's numbers (d2l 4.4)."""
    import importlib

    cap = importlib.import_module("lossviz.explorer.pages.playground.capacity")
    top, bottom, text = cap.figures_of({"degree": 3, "n_train": 20, "wd": 0.0})
    f = toy.polynomial_fit(3, n_train=20)
    by = {t["meta"]: t for t in top["data"]}
    np.testing.assert_allclose(figures.decode(by["train_loss"]["y"]), f.train_loss, rtol=1e-6)
    np.testing.assert_allclose(figures.decode(by["test_loss"]["y"]), f.test_loss, rtol=1e-6)
    assert top["layout"]["yaxis2"]["type"] == "log"
    bb = {t["meta"]: t for t in bottom["data"]}
    np.testing.assert_allclose(bb["learned"]["y"], np.round(f.weights, 6))
    assert bb["true-weights"]["y"][:4] == [5.0, 1.2, -3.4, 5.6]
    curve = toy.capacity_curve(n_train=20)
    np.testing.assert_allclose(bb["u-test"]["y"], curve.test_loss)
    np.testing.assert_allclose(bb["u-train"]["y"], curve.train_loss)
    assert "degree 3" in text


def test_capacity_layout_and_bad_links():
    v = pg.layout({"mode": "capacity", "degree": "99", "n_train": "20"})
    s = json.dumps(v.to_plotly_json(), cls=plotly.utils.PlotlyJSONEncoder)
    assert "playground-cap-fit" in s and "degree=99" in s


def test_capacity_weight_decay_is_chosen_by_decade():
    """lambda is one of 0, 0.001, ..., 10 (a segmented control): a link's lambda draws the decayed
    fit; a lambda off the list is refused with a note and the default 0 drawn."""
    import importlib

    cap = importlib.import_module("lossviz.explorer.pages.playground.capacity")
    v = pg.layout({"mode": "capacity", "degree": "20", "n_train": "20", "wd": "0.01"})
    s = json.dumps(v.to_plotly_json(), cls=plotly.utils.PlotlyJSONEncoder, ensure_ascii=False)
    assert '"SegmentedControl"' in s and "λ = 0.01" in s and "wd=0.01" in s
    top, _, _ = cap.figures_of({"degree": 20, "n_train": 20, "wd": "0.01"})
    learned = {t["meta"]: t for t in top["data"]}
    np.testing.assert_allclose(figures.decode(learned["train_loss"]["y"]),
                               toy.polynomial_fit(20, n_train=20, weight_decay=0.01).train_loss, rtol=1e-6)
    bad = json.dumps(pg.layout({"mode": "capacity", "n_train": "20", "wd": "0.5"}).to_plotly_json(), cls=plotly.utils.PlotlyJSONEncoder, ensure_ascii=False)
    assert "wd=0.5" in bad and "λ = 0:" in bad
