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
    assert out[4].startswith("?mode=" + mode) and "_hide=lr" in out[4]


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
    out = pg.tick("regression", "click", v, store, {"points": [{"x": 0.1, "y": 0.1, "meta": "catcher"}]}, [], False)
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
    assert "model=linear" in out[4] and out[0]["values"]["model"] == "linear"
    setup = pg.reg_setup(out[0]["values"], out[0]["points"])
    assert setup.config.model == "linear" and setup.config.hidden == ()


def test_wave_preset_sets_the_curve_and_the_mlp():
    v = defaults("regression")
    v["preset"] = "wave with outliers (MLP)"
    out = pg.tick("regression", "preset", v, None, None, [], False)
    assert out[-5:] == (0.15, 6.0, 0.3, "wave", "mlp")
    values = out[0]["values"]
    assert values["shape"] == "wave" and values["model"] == "mlp" and "shape=wave" in out[4] and "model=mlp" in out[4]
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
