"""lossviz.view: an explorer page's state as a figure whose offline sliders carry the library's sweeps."""

from __future__ import annotations

import importlib
import re
from urllib.parse import urlsplit

import numpy as np
import pytest

import lossviz
from lossviz import curves, views
from lossviz.registry import get

HUBER = {"huber.delta": 0.5}


@pytest.fixture(scope="module")
def losses_view():
    return lossviz.view("losses", losses=["l1", "huber", "general"], y=0.5, **HUBER)


def _f32(v) -> np.ndarray:
    return np.array([np.nan if x is None else x for x in v], dtype=np.float64).astype(np.float32)


def _same(a, b) -> bool:
    return np.array_equal(_f32(a), np.asarray(b, dtype=np.float32), equal_nan=True)


def test_view_is_in_the_lazy_table():
    assert lossviz.view is views.view


@pytest.mark.parametrize("page", views.PAGES)
def test_every_page_has_the_explorers_parameters(page):
    # The view's schema is the explorer's (names, ranges, defaults): views may not import the explorer.
    schema = importlib.import_module(f"lossviz.explorer.pages.{page}").schema()
    mine = views.fields(page)
    assert [f.key for f in mine] == [f.key for f in schema]
    for f, g in zip(mine, schema):
        default = tuple(g.default) if hasattr(g, "options") and not hasattr(g, "aliases") else g.default
        assert (f.default if f.kind != "names" else tuple(f.default)) == default, f.key
        if hasattr(g, "lo"):
            assert (f.lo, f.hi, f.integer) == (g.lo, g.hi, g.integer), f.key
        if f.kind == "names":
            assert f.options == g.options


def test_default_curves_and_every_slider_step_equal_the_librarys_sweep(losses_view):
    v = losses_view
    data, sliders = v.figure["data"], {s["name"]: s for s in v.figure["layout"]["sliders"]}
    assert set(sliders) == {"huber.delta", "general.alpha", "general.scale"} == set(v.sliders)
    for key, slider in sliders.items():
        name, param = key.split(".")
        params = {p.name: v.values[f"{name}.{p.name}"] for p in get(name).params}
        sw = curves.sweep(name, param, v.sliders[key], params=params, x_range=(-3.0, 3.0), n=views.POINTS, target=0.5)
        assert slider["active"] == int(np.flatnonzero(v.sliders[key] == params[param])[0])  # the default step: the state's value
        assert len(slider["steps"]) == len(sw.values) <= views.MAX_STEPS
        for s, step in enumerate(slider["steps"]):
            change, idx = step["args"]
            assert [data[i]["meta"] for i in idx] == [[name, k] for k in ("value", "likelihood", "grad")]
            for j, k in enumerate(("value", "likelihood", "grad")):
                assert _same(change["x"][j], sw.x) and _same(change["y"][j], sw.series[k][s])
    # the drawn curves are the first slider's step at the state (huber at delta = 0.5)
    sw = curves.sweep("huber", "delta", v.sliders["huber.delta"], x_range=(-3.0, 3.0), n=views.POINTS, target=0.5)
    active = sliders["huber.delta"]["active"]
    assert sw.values[active] == np.float32(0.5)
    for d in (d for d in data if d["meta"][0] == "huber"):
        assert _same(d["x"], sw.x) and _same(d["y"], sw.series[d["meta"][1]][active])
    # a loss without parameters: the library's curve on the fine grid's well-placed points
    c = curves.loss_curve("l1", {}, target=0.5, n=views.POINTS)
    idx = curves.well_placed(list(c.series.values()))
    for d in (d for d in data if d["meta"][0] == "l1"):
        assert _same(d["y"], c.series[d["meta"][1]][idx])


def test_classification_and_softmax_sliders_are_the_librarys():
    v = lossviz.view("classification", losses=["focal"], classes=3, **{"focal.gamma": 1.0})
    (slider,) = v.figure["layout"]["sliders"]
    sw = curves.sweep("focal", "gamma", v.sliders["focal.gamma"], x_range=curves.MARGIN_RANGE, n=views.POINTS, n_classes=3)
    for s, step in enumerate(slider["steps"]):
        assert _same(step["args"][0]["y"][0], sw.series["value"][s]) and _same(step["args"][0]["y"][1], sw.series["grad"][s])
    v = lossviz.view("softmax", classes=4, temperature=0.7)
    (slider,) = v.figure["layout"]["sliders"]
    temps = v.sliders["temperature"]
    probs = curves.temperature_sweep([2.0, 1.0, 0.1, -1.0], temps)
    assert temps[slider["active"]] == 0.7
    for t, step in zip(temps, slider["steps"]):
        assert _same(step["args"][0]["y"][0], probs[float(t)])


def test_activation_slider_steps_cover_its_range_and_the_state():
    v = lossviz.view("activations", activations=["relu", "prelu"], **{"prelu.alpha": 0.33})
    values = v.sliders["prelu.alpha"]
    assert values[0] == -0.5 and values[-1] == 1.0 and 0.33 in values and len(values) <= views.MAX_STEPS


def test_write_html_is_one_file_with_plotly_inline_and_no_network(losses_view, tmp_path):
    path = losses_view.write_html(tmp_path / "v.html")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["v.html"]  # atomic: no temporary file left
    html = path.read_text()
    assert "Plotly.newPlot" in html and len(html) > 3_000_000  # plotly.js (~4.6 MB) is in the file
    # nothing is fetched: outside plotly.js the file names no URL at all (plotly.js itself holds
    # attribution links and the SVG namespace as strings; they are not requests)
    from plotly.offline import get_plotlyjs

    assert get_plotlyjs() in html
    assert re.findall(r"https?://\S{0,40}", html.replace(get_plotlyjs(), "")) == []
    cdn = losses_view.write_html(tmp_path / "c.html", cdn=True).read_text()
    assert re.search(r'<script[^>]*src="https://cdn\.plot\.ly/plotly-[\d.]+\.min\.js"', cdn) and len(cdn) < len(html) - 3_000_000


def test_repr_html_is_a_fragment_with_the_div(losses_view, monkeypatch):
    monkeypatch.setattr(views, "_PLOTLY_SHOWN", False)
    first, second = losses_view._repr_html_(), losses_view._repr_html_()
    for html in (first, second):
        assert "<html" not in html and re.search(r'<div id="lossviz-[0-9a-f]+" class="plotly-graph-div"', html)
    assert "(function(define, module, exports)" in first and len(first) > len(second) + 3_000_000  # plotly.js once


@pytest.mark.parametrize("page, state", [
    ("losses", {"losses": ["l1", "huber"], "huber.delta": 0.5, "y": -1.2, "normalized": True}),
    ("activations", {"activations": "prelu,elu", "prelu.alpha": 0.3, "xmin": -2, "xmax": 4.5}),
    ("classification", {"losses": ["hinge"], "classes": 5, "hinge.margin": 0.25, "zero_one": False}),
    ("softmax", {"classes": 3, "temperature": 2.5, "target": 2, "o1": -3.3}),
])
def test_url_round_trips_through_the_explorers_parser(page, state):
    from lossviz.explorer import state as explorer_state

    v = lossviz.view(page, **state)
    parts = urlsplit(v.url)
    assert f"{parts.scheme}://{parts.netloc}" == views.EXPLORER and parts.path == f"/{page}"
    schema = importlib.import_module(f"lossviz.explorer.pages.{page}").schema()
    parsed, notes = explorer_state.from_query(schema, explorer_state.parse_query(parts.query))
    assert notes == [] and parsed == v.values
    assert "?" + parts.query == explorer_state.query_of(schema, parsed)  # the explorer's own canonical link


@pytest.mark.parametrize("page, state, named", [
    ("nope", {}, "nope"),
    ("losses", {"losses": ["l1", "nope"]}, "nope"),
    ("losses", {"losses": []}, "losses"),
    ("losses", {"huber.delta": 0}, "huber.delta"),
    ("losses", {"huber.delta": float("nan")}, "huber.delta"),
    ("losses", {"huber.deltaa": 1}, "huber.deltaa"),
    ("losses", {"normalized": "yes"}, "normalized"),
    ("losses", {"xmin": 1, "xmax": 1.2}, "xmax"),
    ("activations", {"activations": ["softmax"]}, "softmax"),
    ("classification", {"classes": 2.5}, "classes"),
    ("softmax", {"classes": 3, "target": 4}, "target"),
])
def test_bad_input_is_a_value_error_naming_it(page, state, named):
    with pytest.raises(ValueError, match=re.escape(named)):
        lossviz.view(page, **state)


def test_figures_html_writes_the_set(tmp_path):
    from tests.clirun import cli_in_process

    r = cli_in_process("figures", "--html", "--only", "loss_huber", "--format", "svg", "--out", str(tmp_path))
    assert r.returncode == 0, r.stderr
    html = tmp_path / "html"
    stems = [stem for stem, _ in views.default_set()]
    assert {"losses", "activations", "classification", "softmax", "loss_huber", "loss_general", "loss_focal"} <= set(stems)
    assert sorted(p.name for p in html.iterdir()) == sorted([*(f"{s}.html" for s in stems), "index.html", "plotly.min.js"])
    index = (html / "index.html").read_text()
    assert all(f'href="{s}.html"' in index for s in stems)
    page = (html / "loss_huber.html").read_text()
    assert '<script charset="utf-8" src="plotly.min.js"></script>' in page and '"name":"huber.delta"' in page.replace(" ", "")
    assert (tmp_path / "loss_huber.svg").exists()  # the static figure beside it
