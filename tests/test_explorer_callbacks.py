"""Explorer callbacks called as plain functions: inputs -> figure data = the library's values.

Also: URL and typed values are validated (clamped or refused, with a note naming the value),
crafted requests never raise, and the HTTP layer answers them with 4xx, never 500.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys

import dash
import numpy as np
import pytest
import torch
from dash._utils import to_json

import lossviz
from lossviz.explorer import controls, create_app, figures, state
from lossviz.explorer.pages import activations, classification, losses, softmax

PAGES = (losses, activations, classification, softmax)


def n_outputs(page) -> int:
    return 3 + softmax.MAX_CLASSES if page is softmax else 3


def ask(page, values: dict | None = None, shown=None, hide=()):
    """One gate request through the page's server callback: (state, message, *outputs)."""
    req = {"seq": 1, "values": {**state.defaults(page.schema()), **(values or {})}, "shown": shown}
    return controls.answer(page.PAGE, page.schema(), page.compute, n_outputs(page), req, list(hide))


def trace(fig, name, key):
    return next(t for t in fig["data"] if t["meta"] == [name, key])


def xy(t):
    return figures.decode(t["x"]), figures.decode(t["y"])


def test_app_factory_registers_every_page_twice_safely():
    a, b = create_app(), create_app()
    assert len(a.callback_map) == len(b.callback_map) > 0


def test_losses_figure_is_the_library_at_the_points_sent():
    st, msg, fig, note, formulas = ask(losses, {"losses": ["l1", "huber"], "y": 0.5, "xmin": -4, "xmax": 4, "huber.delta": 0.7,
                                                "normalized": True})
    assert msg is None and st["search"].startswith("?losses=l1,huber&y=0.5&xmin=-4&xmax=4")
    spec = lossviz.get_loss("huber")
    x, y = xy(trace(fig, "huber", "value"))
    xt, target = torch.tensor(x, dtype=torch.float64), torch.tensor(0.5, dtype=torch.float64)
    # x are exact float32 numbers, evaluated in float64 by the library, sent as float32.
    np.testing.assert_allclose(y, spec.value(xt, target, delta=0.7).numpy(), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(xy(trace(fig, "huber", "grad"))[1], spec.grad(xt, target, delta=0.7).numpy(), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(xy(trace(fig, "huber", "likelihood"))[1],
                               spec.likelihood(xt, target, normalized=True, delta=0.7).numpy(), rtol=1e-6, atol=1e-7)
    assert trace(fig, "huber", "value")["name"] == "huber (delta=0.7)"
    assert "clip" in json.dumps(to_json(formulas))


def test_well_placed_points_draw_the_fine_curve():
    """Far fewer points than the fine grid, yet drawn (linearly) they are the curve to 1e-3 of its height."""
    _, _, fig, _, _ = ask(losses, {"losses": ["l1", "l2", "huber"], "y": 0.3, "huber.delta": 0.35})
    fine = figures.fine_grid(-3, 3)
    for name in ("l1", "l2", "huber"):
        c = lossviz.curves.loss_curve(name, {"delta": 0.35} if name == "huber" else {}, target=0.3, x=fine)
        for key in ("value", "likelihood", "grad"):
            x, y = xy(trace(fig, name, key))
            assert len(x) < 0.2 * len(fine)
            drawn = np.interp(fine, x, y)
            height = np.ptp(c.series[key])
            assert np.max(np.abs(drawn - c.series[key])) < 1e-3 * height, (name, key)


def test_first_figure_and_a_drag_step_are_small():
    st, _, fig, *_ = ask(losses, {"losses": ["l1", "l2", "huber"]})
    assert len(to_json(fig)) < 60_000
    # A drag step of huber's delta: a partial update of huber's three traces only.
    st2, msg, patch, note, formulas = ask(losses, {"losses": ["l1", "l2", "huber"], "huber.delta": 0.5}, shown=st["shown"])
    assert isinstance(patch, dash.Patch) and formulas is dash.no_update
    ops = patch.to_plotly_json()["operations"]
    changed = {op["location"][1] for op in ops if op["location"][-1] in ("x", "y")}
    assert changed == {6, 7, 8}  # huber is the third loss: traces 6, 7, 8
    assert len(to_json(patch)) < 15_000
    # The partial update carries the library's values.
    y = next(op["params"]["value"] for op in ops if op["location"] == ["data", 8, "y"])
    x = next(op["params"]["value"] for op in ops if op["location"] == ["data", 8, "x"])
    want = lossviz.get_loss("huber").grad(torch.tensor(figures.decode(x)), torch.tensor(0.0, dtype=torch.float64), delta=0.5)
    np.testing.assert_allclose(figures.decode(y), want.numpy(), rtol=1e-6, atol=1e-7)
    assert st2["shown"]["values"]["huber.delta"] == 0.5 and "huber.delta=0.5" in st2["search"]


def test_structure_change_sends_a_whole_figure():
    st, *_ = ask(losses, {"losses": ["l1", "huber"]})
    _, _, fig, *_ = ask(losses, {"losses": ["l1", "huber"], "y": 1.0}, shown=st["shown"])
    assert isinstance(fig, dict) and len(fig["data"]) == 6


@pytest.mark.parametrize("typed, used, word", [(100, 5.0, "above"), (-1, 0.05, "below")])
def test_typed_value_out_of_range_is_clamped_visibly(typed, used, word):
    st, msg, fig, *_ = ask(losses, {"losses": ["huber"], "huber.delta": typed})
    assert st["corrected"] == {"huber.delta": used}  # slider and box are set to it
    text = json.dumps(to_json(msg))
    assert str(typed) in text and word in text and state.fmt_number(used) in text
    assert trace(fig, "huber", "value")["name"] == f"huber (delta={used:g})"  # legend
    assert f"huber.delta={state.fmt_number(used)}" in st["search"]  # URL
    assert max(figures.decode(trace(fig, "huber", "grad")["y"])) == pytest.approx(min(used, 3.0), rel=1e-6)  # graph (x up to 3)


@pytest.mark.parametrize("bad", ["abc", None, float("nan"), float("inf"), [1], {"a": 1}, True, "1e999"])
def test_typed_non_number_is_refused_and_the_previous_value_kept(bad):
    st, *_ = ask(losses, {"losses": ["huber"], "huber.delta": 0.4})
    st2, msg, fig, *_ = ask(losses, {"losses": ["huber"], "huber.delta": bad}, shown=st["shown"])
    assert st2["corrected"] == {"huber.delta": 0.4}
    assert "not a finite number" in json.dumps(to_json(msg)) and "0.4" in json.dumps(to_json(msg))
    assert st2["shown"]["values"]["huber.delta"] == 0.4


def test_narrow_x_range_is_corrected():
    st, *_ = ask(losses, {"losses": ["l1"]})
    st2, msg, fig, *_ = ask(losses, {"losses": ["l1"], "xmax": -3}, shown=st["shown"])
    assert st2["corrected"] == {"xmax": -2.5} and "at least" in json.dumps(to_json(msg))
    x, _ = xy(trace(fig, "l1", "value"))
    assert x[0] == -3 and x[-1] == -2.5


def test_no_loss_chosen_shows_a_message_and_empty_axes():
    st, msg, fig, *_ = ask(losses, {"losses": []})
    assert fig["data"] == [] and "choose at least one loss" in json.dumps(to_json(msg))
    assert "losses=&" in st["search"]


def test_coincident_curves_are_dashed_and_reported():
    _, _, fig, note, _ = ask(losses, {"losses": ["l2", "huber"], "huber.delta": 1.0})
    assert trace(fig, "huber", "value")["line"]["dash"] == "dash" and trace(fig, "l2", "value")["line"]["dash"] == "solid"
    assert "l2 and huber coincide" in json.dumps(to_json(note))
    _, _, fig, note, _ = ask(losses, {"losses": ["l1", "l2"]})
    assert note is None or "coincide" not in json.dumps(to_json(note)) or "l1 and l2" not in json.dumps(to_json(note))


def test_presentation_look_is_large():
    _, _, fig, *_ = ask(losses, {"losses": ["l1"], "present": True})
    lay = fig["layout"]
    assert lay["xaxis"]["tickfont"]["size"] >= 18 and lay["legend"]["font"]["size"] >= 18
    assert fig["data"][0]["line"]["width"] >= 4


def test_narrow_look_stacks_the_panels():
    req = {"seq": 1, "values": {**state.defaults(losses.schema()), "_narrow": True}, "shown": None}
    _, _, fig, *_ = controls.answer(losses.PAGE, losses.schema(), losses.compute, 3, req, [])
    assert fig["layout"]["xaxis"]["domain"] == [0, 1] and fig["layout"]["xaxis2"]["domain"] == [0, 1]


def test_activations_values_and_shading_in_the_legend():
    _, msg, fig, note, _ = ask(activations, {"activations": ["prelu", "sigmoid"], "xmin": -8, "xmax": 8, "prelu.alpha": 0.1, "vanish": True})
    x, y = xy(trace(fig, "prelu", "grad"))
    np.testing.assert_allclose(y, lossviz.get_activation("prelu").grad(torch.tensor(x), alpha=0.1).numpy(), rtol=1e-6)
    # Sigmoid's derivative is below 0.01 for |x| > ~4.6: two shaded bands, one legend entry.
    bands = [s for s in fig["layout"]["shapes"] if s["legendgroup"] == "sigmoid-vanish"]
    assert len(bands) == 2 and [s["showlegend"] for s in bands] == [True, False]
    assert bands[0]["x1"] < -4.5 and bands[1]["x0"] > 4.5 and "sigmoid" in bands[0]["name"]


def test_vanishing_intervals_are_the_runs_below_threshold():
    from lossviz.plot_plotly import vanishing_intervals

    x = np.arange(8.0)
    assert vanishing_intervals(x, np.array([0, 0, 1, 1, 0, 1, 0, 0.0]), 0.5) == [(0.0, 1.0), (4.0, 4.0), (6.0, 7.0)]
    assert vanishing_intervals(x, np.ones(8), 0.5) == []


def test_softmax_bars_and_gradient():
    logits = {"o0": 2.0, "o1": 1.0, "o2": 0.1}
    st, msg, bars, text, demo, *styles = ask(softmax, {"classes": 3, "temperature": 2.0, "target": 1, **logits})
    want = torch.softmax(torch.tensor([2.0, 1.0, 0.1], dtype=torch.float64) / 2.0, -1)
    probs = np.nansum([figures.decode(t["y"]) for t in bars["data"] if t["meta"][0] == "probs"], axis=0)
    np.testing.assert_allclose(probs, want.numpy(), rtol=1e-6)
    grad = np.nansum([figures.decode(t["y"]) for t in bars["data"] if t["meta"][0] == "grad"], axis=0)
    np.testing.assert_allclose(grad, (want - torch.tensor([0.0, 1.0, 0.0], dtype=torch.float64)).numpy(), atol=1e-7)
    true_bar = next(t for t in bars["data"] if t["meta"] == ["probs", "true"])
    assert true_bar["name"] == "true class y = 1" and np.isfinite(figures.decode(true_bar["y"])).tolist() == [False, True, False]
    assert [s for s in styles[:3]] == [{}, {}, {}] and all(s == {"display": "none"} for s in styles[3:])
    labels = {t["meta"][1]: t for t in bars["data"] if t["meta"][0] == "labels"}  # each bar's value, at its end
    assert labels["probs"]["text"] == [format(v, ".3f") for v in want.tolist()] and labels["probs"]["y"] == pytest.approx(want.tolist())
    assert labels["grad"]["textposition"] == ["top center", "bottom center", "top center"]  # below a negative bar


def test_softmax_large_logits_demo():
    _, _, _, text, demo, *_ = ask(softmax, {"classes": 3, "o0": 2.0, "o1": 1.0, "o2": 0.1, "target": 1, "scale": 3.0})
    s = figures.decode(next(t for t in demo["data"] if t["meta"] == "stable")["x"])
    assert s[0] == 0 and s[-1] == softmax.S_MAX and demo["layout"]["xaxis"].get("type") != "log"  # linear in the exponent
    stable = figures.decode(next(t for t in demo["data"] if t["meta"] == "stable")["y"])
    want = lossviz.curves.overflow_curve([2.0, 1.0, 0.1], target_class=1, scales=10.0 ** softmax.S_GRID)
    np.testing.assert_allclose(stable, want["stable"], rtol=1e-6)
    # exp(10^s * 2) overflows float32 from 10^s * 2 > 88.7, s > 1.65: marked inf/NaN.
    marked = [t for t in demo["data"] if t["meta"] in ("inf", "NaN")]
    assert marked and min(figures.decode(marked[0]["x"])) == pytest.approx(1.65, abs=0.02)
    current = [t for t in demo["data"] if t.get("name") == "current s"]
    assert current and current[0]["x"] == [3.0, 3.0] and "current s = 3.00" in current[0]["text"][1]
    readout = json.dumps(to_json(text))
    assert "NaN" in readout or "inf" in readout


def test_softmax_true_class_beyond_classes_is_corrected():
    st, msg, *_ = ask(softmax, {"classes": 3, "target": 7})
    assert st["corrected"] == {"target": 2} and "using 2" in json.dumps(to_json(msg))


def test_softmax_readout_never_shows_minus_zero():
    _, _, _, text, *_ = ask(softmax, {"classes": 3, "o0": 10, "o1": -10, "o2": -10, "target": 0, "scale": 3})
    assert "-0" not in json.dumps(to_json(text)) and "−0" not in json.dumps(to_json(text))


def test_url_values_become_notes_naming_them():
    values, notes = state.from_query(losses.schema(), state.parse_query("?huber.delta=-1&losses=l1,bogus,l1&y=abc&normalized=maybe"))
    assert values["huber.delta"] == 0.05 and values["losses"] == ["l1"] and values["y"] == 0.0 and values["normalized"] is False
    text = " | ".join(notes)
    assert "huber.delta=-1" in text and "using 0.05" in text and "bogus" in text and "y=abc" in text and "normalized=maybe" in text
    page = losses.layout(state.parse_query("?huber.delta=-1"))
    assert "huber.delta=-1 is below the range [0.05, 5]; using 0.05" in json.dumps(page.to_plotly_json(), default=str)


def test_url_round_trip():
    values = {**state.defaults(losses.schema()), "losses": ["l1", "huber"], "huber.delta": 0.5, "y": 1.0}
    q = state.query_of(losses.schema(), values, hide=["y", "nav"])
    back, notes = state.from_query(losses.schema(), state.parse_query(q))
    assert back == values and notes == []
    assert state.hidden(state.parse_query(q)) == {"y", "nav"}


CRAFTED = [
    None, [], "junk", 5, {"seq": "x"}, {"values": None}, {"values": []}, {"values": "a"},
    {"values": {"losses": [[1, 2]]}}, {"values": {"losses": "l1"}}, {"values": {"losses": [None, 3, "l1"]}},
    {"values": {"losses": ["l1"] * 100_000}}, {"values": {"activations": ["relu"] * 5000}},
    {"values": {"y": "inf"}}, {"values": {"y": 1e308}}, {"values": {"y": -1e308}}, {"values": {"y": "1e400"}},
    {"values": {"huber.delta": {"a": 1}}}, {"values": {"classes": 1e9}}, {"values": {"classes": -5}}, {"values": {"target": 99}},
    {"values": {"o0": float("nan")}}, {"values": {"temperature": 0}}, {"values": {"xmin": 20, "xmax": 20}},
    {"values": {"xmin": -20, "xmax": -20}}, {"values": {"present": "yes"}}, {"values": {"vanish": [1]}},
    {"shown": "junk"}, {"shown": {"values": {"losses": 5, "y": "x"}}}, {"shown": {"values": {"losses": ["l1"]}}, "values": {"losses": ["l1", "l2"]}},
    {"values": {"_narrow": "x" * 10_000}}, {"values": {"scale": 1e-320}},
]


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.PAGE)
@pytest.mark.parametrize("req", CRAFTED, ids=range(len(CRAFTED)))
def test_crafted_requests_never_raise_and_stay_small(page, req):
    out = controls.answer(page.PAGE, page.schema(), page.compute, n_outputs(page), req, ["nav", 3, None])
    st = out[0]
    assert isinstance(st, dict) and "seq" in st
    assert len(to_json(list(out))) < 200_000  # 100,000 names do not make a 300 MB answer


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.PAGE)
@pytest.mark.parametrize("st", [None, "x", {}, {"shown": {"values": {"losses": []}}}, {"shown": {"values": {"y": "nan"}}}])
def test_export_never_raises(page, st):
    out = controls.guarded(page.export_file, 2)(1, "svg", st)
    assert len(out) == 2


def test_export_is_the_shown_view():
    st, *_ = ask(losses, {"losses": ["l1"]})
    download, msg = losses.export_file(1, "svg", st)
    assert msg == "" and download["filename"] == "lossviz-losses.svg"
    st, *_ = ask(softmax, {"scale": 3.5})
    download, msg = softmax.export_file(1, "pdf", st)
    assert msg == "" and download["filename"] == "lossviz-softmax.pdf"


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


def test_softmax_drag_of_s_moves_only_the_marker():
    st, *_ = ask(softmax, {"classes": 3, "o0": 2.0, "o1": 1.0, "o2": 0.1, "target": 1, "scale": 1.0})
    st2, _, bars, _, demo, *_ = ask(softmax, {"classes": 3, "o0": 2.0, "o1": 1.0, "o2": 0.1, "target": 1, "scale": 2.0}, shown=st["shown"])
    assert isinstance(demo, controls.Frame) and isinstance(bars, controls.Frame)  # both animate
    ops = demo.to_plotly_json()["operations"]
    n = len(ask(softmax, {"classes": 3, "o0": 2.0, "o1": 1.0, "o2": 0.1, "target": 1, "scale": 2.0})[4]["data"])
    assert {tuple(op["location"]) for op in ops} == {("data", n - 1, k) for k in ("x", "text", "textposition")}  # only the marker
    assert next(op["params"]["value"] for op in ops if op["location"][-1] == "x") == [2.0, 2.0]
    # A logit moved: the demo's curves are redrawn.
    _, _, _, _, demo, *_ = ask(softmax, {"classes": 3, "o0": 3.0, "o1": 1.0, "o2": 0.1, "target": 1, "scale": 2.0}, shown=st2["shown"])
    assert isinstance(demo, dict) and demo["data"]


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


JUNK = [None, "x", "", -1, 1e308, float("nan"), [[1, 2]], {"a": 1}, ["../etc", None, 3], True]


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


@pytest.mark.parametrize("junk", JUNK, ids=lambda j: repr(j)[:20])
def test_no_callback_answers_500_to_junk_inputs(tmp_path, junk):
    """Every server callback of the app (all pages, the Training page's too), every input junk."""
    app = create_app(runs_dir=tmp_path / "runs", data_root=str(tmp_path / "no-data"))
    client = app.server.test_client()
    for key, cb in app.callback_map.items():
        body = json.dumps(_request_for(key, cb, junk), allow_nan=True)
        r = client.post("/_dash-update-component", data=body, content_type="application/json")
        if cb.get("callback") is not None:  # a server callback: it ran, checked its inputs and answered
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


def test_classification_page_draws_the_library_margin_view():
    """The Classification page's curves are curves.margin_view's: each loss's value and gradient
    against the margin, at the sliders' parameters, with the 0-1 loss."""
    from lossviz import curves

    values = {**state.defaults(classification.schema()), "losses": ["hinge", "focal"], "focal.gamma": 1.0, "classes": 3}
    notes = []
    fig, _, _ = classification.compute(values, None, notes, {})
    assert notes == []
    by_meta = {tuple(t["meta"]): t for t in fig["data"]}
    view = curves.margin_view([("hinge", {"margin": 1.0}), ("focal", {"gamma": 1.0})], n_classes=3)
    for c in view.curves:
        for key in ("value", "grad"):
            t = by_meta[(c.name, key)]
            x, y = figures_xy(t)
            np.testing.assert_allclose(y, np.interp(x, c.x, c.series[key]), rtol=1e-5, atol=1e-5)
    assert ("zero_one", "value") in by_meta
    from lossviz.explorer import app as app_module

    assert classification in app_module.PAGES  # in the navigation and routed


def figures_xy(trace):
    import base64

    def arr(v):
        if isinstance(v, dict):
            return np.frombuffer(base64.b64decode(v["bdata"]), dtype=v["dtype"])
        return np.asarray(v, dtype=float)

    return arr(trace["x"]).astype(float), arr(trace["y"]).astype(float)


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


def test_shown_ranges_reads_only_well_formed_ranges():
    assert figures.shown_ranges({"view": {"ranges": [[0, 1.5], [-1, 1]]}}) == [[0, 1.5], [-1, 1]]
    for bad in (None, {}, {"view": 3}, {"view": {"ranges": [[0, "a"]]}}, {"view": {"ranges": [[0, float("nan")]]}},
                {"view": {"ranges": [[True, 1]]}}, {"view": {"ranges": [[0, 1, 2]]}}):
        assert figures.shown_ranges(bad) is None


@pytest.mark.parametrize("page,key,new", [(losses, "huber.delta", 0.5), (activations, "prelu.alpha", 0.2)])
def test_drag_frames_animate_in_the_same_axes_and_redraw_when_axes_change(page, key, new):
    """A drag step whose curves stay inside the shown y ranges is a Frame (the browser animates
    it, controls.wire); when the ranges change, or the browser sends no (or a crafted) view, a
    plain Patch carries the new ranges."""
    names = {"losses": ["l1", "l2", "huber"]} if page is losses else {"activations": ["relu", "prelu", "tanh"]}
    st, *_ = ask(page, names)
    assert figures.shown_ranges(st["shown"]) is not None
    _, _, patch, *_ = ask(page, {**names, key: new}, shown=st["shown"])
    assert isinstance(patch, controls.Frame)
    assert not any(op["location"][0] == "layout" for op in patch.to_plotly_json()["operations"])
    crafted = {**st["shown"], "view": {"ranges": [[0, 1e6]] * 3}}
    _, _, patch, *_ = ask(page, {**names, key: new}, shown=crafted)
    assert type(patch) is dash.Patch
    ops = patch.to_plotly_json()["operations"]
    assert {tuple(op["location"]) for op in ops if op["location"][0] == "layout"} >= {("layout", "yaxis", "range")}


def test_wired_pages_say_which_answers_animate():
    """The server callback sets the graph's animate flag: true for a Frame, false for a whole
    figure or a plain Patch, and names the animated graphs whose legend changed in the state
    (the browser redraws them once the hand stops)."""
    app = create_app()
    serve = next(cb["callback"] for k, cb in app.callback_map.items() if "losses-graph.animate" in k and "losses-req0" in str(cb["inputs"]))
    st0, *_ = ask(losses, {"losses": ["l1", "huber"]})
    vals = {**state.defaults(losses.schema()), "losses": ["l1", "huber"]}
    out = serve.__wrapped__({"seq": 2, "values": {**vals, "huber.delta": 0.6}, "shown": st0["shown"]}, [])
    assert out[-1] is True and out[0]["settle"] == ["losses-graph"]  # huber's legend name changed
    out = serve.__wrapped__({"seq": 3, "values": {**vals, "y": 1.0}, "shown": st0["shown"]}, [])
    assert out[-1] is False and out[0]["settle"] == []


def test_message_is_cleared_once_and_then_left_alone():
    """An answer with no notes sends no message update when none is on screen (a drag answers
    many times a second), but clears one that is."""
    st, msg, *_ = ask(losses, {"losses": ["l1", "huber"]})
    assert msg is None and st["shown"]["noted"] is False
    st2, msg, *_ = ask(losses, {"losses": ["l1", "huber"], "huber.delta": 0.4}, shown=st["shown"])
    assert msg is dash.no_update
    st3, msg, *_ = ask(losses, {"losses": ["l1", "huber"], "huber.delta": 1e9}, shown=st2["shown"])  # clamped: a note
    assert msg is not None and msg is not dash.no_update and st3["shown"]["noted"] is True
    _, msg, *_ = ask(losses, {"losses": ["l1", "huber"], "huber.delta": 0.5}, shown=st3["shown"])
    assert msg is None  # the note goes away


@pytest.mark.parametrize("page,names", [(losses, {"losses": ["l1", "huber"]}), (activations, {"activations": ["relu", "prelu"]})])
@pytest.mark.parametrize("view", [3, "x", [1], {"ranges": "no", "dashed": 7, "bands": None, "coincide": {}}])
def test_a_crafted_view_is_ignored_not_an_error(page, names, view):
    """``shown["view"]`` comes back from the browser: anything malformed means a plain redraw."""
    st, *_ = ask(page, names)
    key = "huber.delta" if page is losses else "prelu.alpha"
    st2, msg, patch, *_ = ask(page, {**names, key: 0.2}, shown={**st["shown"], "view": view})
    assert "internal error" not in json.dumps(to_json(msg)) and type(patch) is dash.Patch
    assert st2["shown"]["values"][key] == 0.2


def test_held_ranges_keep_the_shown_axes_while_the_curves_fill_them():
    shown = {"view": {"ranges": [[-1.0, 5.0], [0.0, 2.0]]}}
    # Inside and filling at least half: kept (no redraw of the axes during a drag).
    assert figures.held_ranges(shown, [[-1.0, 4.0], [0.0, 1.2]]) == [[-1.0, 5.0], [0.0, 2.0]]
    # Outgrown, or shrunk well inside: the new range.
    assert figures.held_ranges(shown, [[-1.0, 6.0], [0.0, 0.6]]) == [[-1.0, 6.0], [0.0, 0.6]]
    assert figures.held_ranges(None, [[0.0, 1.0]]) == [[0.0, 1.0]]
    assert figures.held_ranges({"view": {"ranges": [[0, 1]]}}, [[0.0, 1.0], [0.0, 1.0]]) == [[0.0, 1.0], [0.0, 1.0]]  # other panels


def frame_of(client, page, values: dict, shown, **extra):
    body = {"seq": 7, "values": {**state.defaults(page.schema()), **values, "_narrow": False}, "shown": shown, "hide": [], **extra}
    r = client.post(f"/_lossviz/frame/{page.PAGE}", json=body)
    assert r.status_code == 200, r.data[:200]
    return json.loads(r.data)


def test_drag_frame_route_is_the_library_without_dash(client):
    """A drag step through the frame route (applied by the browser, not Dash): the animated
    graph's new traces as Plotly.animate arguments, with the library's numbers; the state the
    page's store and URL take when the hand stops."""
    names = {"losses": ["l1", "huber"]}
    st, *_ = ask(losses, {**names, "huber.delta": 0.5})
    ans = frame_of(client, losses, {**names, "huber.delta": 0.6}, st["shown"])
    assert ans["seq"] == 7 and "dash" not in ans
    anim = ans["frames"]["losses-graph"]["animate"]
    assert anim["traces"] == [3, 4, 5] and anim["layout"] == {}  # huber's three panels, the axes kept
    grad = anim["data"][losses.KEYS.index("grad")]
    assert grad["name"] == "huber (delta=0.6)"
    x, y = figures_xy(grad)
    want = lossviz.get_loss("huber").grad(torch.tensor(x, dtype=torch.float64), torch.zeros((), dtype=torch.float64), delta=0.6)
    np.testing.assert_allclose(y, want.numpy(), rtol=1e-6, atol=1e-7)
    assert ans["state"]["shown"]["values"]["huber.delta"] == 0.6 and "huber.delta=0.6" in ans["state"]["search"]
    assert ans["props"] == []  # no note, no message: nothing else to re-render
    assert ans["settle"] == ["losses-graph"]  # huber's legend name changed: redrawn when the hand stops


def test_drag_frame_route_carries_new_axes_notes_and_other_outputs(client):
    # New y ranges: assignments for Plotly.react instead of an animation.
    names = {"activations": ["relu", "prelu", "tanh"]}
    st, *_ = ask(activations, names)
    crafted = {**st["shown"], "view": {**st["shown"]["view"], "ranges": [[0, 1e6]] * 2}}
    ans = frame_of(client, activations, {**names, "prelu.alpha": 0.2}, crafted)
    locations = [tuple(loc) for loc, _ in ans["frames"]["activations-graph"]["assign"]]
    assert ("layout", "yaxis", "range") in locations and ("data", 2, "y") in locations  # prelu's lines and the axes
    # Softmax: the bars and the large-logits marker animate; the readout is another output.
    st, *_ = ask(softmax, {"classes": 4})
    ans = frame_of(client, softmax, {"classes": 4, "scale": 1.5}, st["shown"])
    assert set(ans["frames"]) == {"softmax-graph", "softmax-overflow"}
    assert all("animate" in f for f in ans["frames"].values())
    readout = [p for p in ans["props"] if p[0] == "softmax-loss"]
    assert readout and "10^s = × 31.6228" in json.dumps(readout, ensure_ascii=False)
    # The coincidence note changes: it comes along as an output.
    st, *_ = ask(losses, {"losses": ["l2", "huber"], "huber.delta": 1.0})
    ans = frame_of(client, losses, {"losses": ["l2", "huber"], "huber.delta": 5.0}, st["shown"])
    assert any(p[0] == "losses-coincide" and "coincide" in json.dumps(p) for p in ans["props"])


def test_drag_frame_route_hands_over_to_dash_and_refuses_junk(client):
    names = {"losses": ["l1", "huber"]}
    st, *_ = ask(losses, names)
    assert frame_of(client, losses, {**names, "huber.delta": 1e9}, st["shown"]) == {"seq": 7, "dash": True}  # clamped: Dash shows it
    assert frame_of(client, losses, names, None) == {"seq": 7, "dash": True}  # a whole figure
    assert frame_of(client, losses, {**names, "losses": [["x"]] * 3}, st["shown"], hide=7)["seq"] == 7  # junk values: an answer
    for body in (b"[]", b"not json", b'"x"'):
        assert client.post("/_lossviz/frame/losses", data=body, content_type="application/json").status_code == 400
    assert client.post("/_lossviz/frame/training", json={}).status_code == 404  # pages without drag frames
    assert client.post("/_lossviz/frame/losses", json={}, headers={"Host": "attacker.example"}).status_code == 403
