"""Views that need no server: an explorer page's state as a plotly figure whose sliders work
offline (each step restyles the curves with the library's own sweep), for notebooks and course pages.

``lossviz.view("losses", losses=["l1", "huber"], **{"huber.delta": 0.5})`` takes a page's URL
parameters (the explorer's names, ranges and checks), draws the curves through ``curves`` and
shows itself in Jupyter, JupyterLab, VS Code and Colab; ``.write_html(path)`` writes one
self-contained file; ``.url`` opens the same view in the explorer.
"""

from __future__ import annotations

import math
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

import numpy as np

from lossviz import checks, curves, files
from lossviz.presentation import slider
from lossviz.registry import activations, get, get_activation, get_loss, losses
from lossviz.style import color_of, dash_of

PAGES = ("losses", "activations", "classification", "softmax")
EXPLORER = "http://127.0.0.1:8050"  # where `lossviz explore` serves by default
MAX_STEPS = 61  # steps of an offline slider: each step's curves travel in the file
POINTS = 1001  # the grid a sweep is evaluated on before its well-placed points are kept
MIN_WIDTH = 0.5  # the explorer's smallest x range (xmax - xmin)
SOFTMAX_LOGITS = (2.0, 1.0, 0.1, -1.0, 0.5, -0.5, 1.5, -2.0, 0.0, 0.3)  # the softmax page's defaults
SOFTMAX_CLASSES = (3, 10)
GREEK = {"alpha": "α", "beta": "β", "delta": "δ", "gamma": "γ", "tau": "τ", "scale": "c", "label_smoothing": "ε",
         "negative_slope": "slope", "temperature": "T"}


# --- the pages' state: the explorer's URL parameters ------------------------------------------


@dataclass(frozen=True)
class Field:
    """One URL parameter of a page: ``kind`` "names" (``options``), "number" (``lo``..``hi``) or "flag"."""

    key: str
    kind: str
    default: object
    lo: float = -math.inf
    hi: float = math.inf
    integer: bool = False
    options: tuple = ()


def _entry_fields(names: list[str]) -> list[Field]:
    out = []
    for n in names:
        for p in get(n).params:
            lo, hi, _ = slider(n, p.name)
            out.append(Field(f"{n}.{p.name}", "number", p.default, lo, hi))
    return out


def _regression() -> list[str]:
    return [n for n in losses() if get_loss(n).kind == "regression"]


def _classification() -> list[str]:
    return [n for n in losses() if get_loss(n).kind == "classification"]


def _elementwise() -> list[str]:
    return [n for n in activations() if get_activation(n).kind == "elementwise"]


def fields(page: str) -> list[Field]:
    """A page's URL parameters in the explorer's order, names, ranges and defaults (its schema)."""
    page = checks.choice(page, "page", PAGES)
    if page == "losses":
        names = _regression()
        return [Field("losses", "names", tuple(names), options=tuple(names)), Field("y", "number", 0.0, -5, 5),
                Field("xmin", "number", -3.0, -20, 20), Field("xmax", "number", 3.0, -20, 20), *_entry_fields(names),
                Field("normalized", "flag", False), Field("check", "flag", False), Field("present", "flag", False)]
    if page == "activations":
        names = _elementwise()
        default = tuple(n for n in ("relu", "sigmoid", "tanh") if n in names) or tuple(names[:3])
        return [Field("activations", "names", default, options=tuple(names)), Field("xmin", "number", -6.0, -20, 20),
                Field("xmax", "number", 6.0, -20, 20), *_entry_fields(names), Field("vanish", "flag", False),
                Field("check", "flag", False), Field("present", "flag", False)]
    if page == "classification":
        names = _classification()
        default = tuple(n for n in ("cross_entropy", "hinge", "focal", "gce") if n in names)
        return [Field("losses", "names", default, options=tuple(names)), Field("classes", "number", 2, 2, 10, integer=True),
                *_entry_fields(names), Field("zero_one", "flag", True), Field("present", "flag", False)]
    lo, hi = SOFTMAX_CLASSES
    return [Field("classes", "number", 5, lo, hi, integer=True), Field("temperature", "number", 1.0, 0.1, 5),
            Field("target", "number", 0, 0, hi - 1, integer=True), Field("scale", "number", 0.0, 0, 4),
            *[Field(f"o{i}", "number", SOFTMAX_LOGITS[i], -10, 10) for i in range(hi)], Field("present", "flag", False)]


def _check(f: Field, raw):
    if f.kind == "names":
        items = [s for s in raw.split(",") if s] if isinstance(raw, str) else raw
        if not isinstance(items, (list, tuple)) or not items:
            raise ValueError(f"{f.key} must be a non-empty list of names; valid: {', '.join(f.options)}")
        for item in items:
            checks.choice(item, f.key.removesuffix("s"), f.options)
        return list(dict.fromkeys(items))
    if f.kind == "flag":
        if raw in (True, False, 0, 1) and not isinstance(raw, float):
            return bool(raw)
        raise ValueError(f"{f.key} must be True or False, got {checks.shown(raw)}")
    if f.integer:
        return checks.integer(raw, f.key, int(f.lo), int(f.hi))
    return checks.number(raw, f.key, f.lo, f.hi)


def validate(page: str, state: dict) -> dict:
    """Every parameter of the page (defaults filled in), or ``ValueError`` naming the bad one."""
    schema = fields(page)
    known = {f.key: f for f in schema}
    for key in state:
        if key not in known:
            raise ValueError(f"unknown parameter {key!r} of the {page} page; valid: {', '.join(known)}")
    values = {f.key: (list(f.default) if f.kind == "names" else f.default) for f in schema}
    for key, raw in state.items():
        values[key] = _check(known[key], raw)
    if "xmin" in values and values["xmax"] - values["xmin"] < MIN_WIDTH:
        raise ValueError(f"xmax must be at least {MIN_WIDTH:g} above xmin, got xmin={values['xmin']:g}, xmax={values['xmax']:g}")
    if page == "softmax" and values["target"] > values["classes"] - 1:
        raise ValueError(f"target must be one of the {values['classes']} classes (0 to {values['classes'] - 1}), got {values['target']}")
    return values


def fmt_number(v: float) -> str:
    """A number as the explorer's URLs write it (shortest form that reads back the same)."""
    v = float(v)
    return str(int(v)) if v == int(v) and abs(v) < 1e15 else repr(round(v, 10))


def query(page: str, values: dict) -> str:
    """The explorer's canonical query of a page's values (every parameter, as its links write them)."""
    out = {}
    for f in fields(page):
        v = values[f.key]
        out[f.key] = ",".join(v) if f.kind == "names" else ("1" if v else "0") if f.kind == "flag" else fmt_number(v)
    return "?" + urlencode(out, safe=",")


# --- sweeps and figures -----------------------------------------------------------------------


def steps(name: str, param: str, current: float) -> np.ndarray:
    """A slider's values: its range at its step (coarser when that gives more than ``MAX_STEPS``),
    and the current value, so the default step is the state's value exactly."""
    lo, hi, step = slider(name, param)
    count = int(round((hi - lo) / step))
    stride = max(1, math.ceil(count / (MAX_STEPS - 2)))
    grid = [round(lo + i * step, 10) for i in range(0, count + 1, stride)]
    if grid[-1] < hi:
        grid.append(hi)
    return np.unique(np.array([*grid, float(current)], dtype=np.float64))


def _numbers(a) -> list:
    """float32 values as their shortest decimal (they read back as the same float32); gaps as None."""
    a = np.asarray(a, dtype=np.float32)
    return [float(s) if np.isfinite(v) else None for v, s in zip(a, a.astype(str))]


def _label(name: str, prm: dict) -> str:
    return name + (" (" + ", ".join(f"{GREEK.get(k, k)}={v:g}" for k, v in prm.items()) + ")" if prm else "")


@dataclass(frozen=True)
class _Panels:
    keys: tuple
    titles: tuple
    xlabel: str


PANELS = {
    "losses": _Panels(("value", "likelihood", "grad"), ("loss", "likelihood", "gradient"), "prediction ŷ"),
    "activations": _Panels(("value", "grad"), ("f(x)", "f′(x)"), "x"),
    "classification": _Panels(("value", "grad"), ("loss against the margin", "gradient"), "margin o_y − max_{i≠y} o_i"),
}


def _entries(page: str, values: dict) -> list[str]:
    return values["activations"] if page == "activations" else values["losses"]


def _sweep(page: str, values: dict, name: str, param: str, at) -> curves.Sweep:
    """The library's curves of one entry at each value of one parameter, the others at the state."""
    prm = {p.name: float(values[f"{name}.{p.name}"]) for p in get(name).params}
    if page == "losses":
        kw = {"x_range": (values["xmin"], values["xmax"]), "target": values["y"], "normalized": values["normalized"]}
    elif page == "activations":
        kw = {"x_range": (values["xmin"], values["xmax"])}
    else:
        kw = {"x_range": curves.MARGIN_RANGE, "n_classes": values["classes"]}
    if param is None:  # an entry without parameters: one step, swept over a parameter it lacks
        return _still(page, name, prm, kw)
    try:
        return curves.sweep(name, param, at, params=prm, n=POINTS, **kw)
    except ValueError:
        if not kw.get("normalized"):
            raise
        # Barron's alpha < 0 has no density: the likelihood panel is left empty at those steps
        sw = curves.sweep(name, param, at, params=prm, n=POINTS, **{**kw, "normalized": False})
        return curves.Sweep(sw.name, sw.param, sw.values, sw.x, {**sw.series, "likelihood": np.full_like(sw.series["likelihood"], np.nan)},
                            sw.params)


def _still(page: str, name: str, prm: dict, kw: dict) -> curves.Sweep:
    if page == "classification":
        c = curves.margin_view([(name, prm)], margin_range=kw["x_range"], n=POINTS, n_classes=kw["n_classes"]).curves[0]
    elif page == "losses":
        c = curves.loss_curve(name, prm, n=POINTS, **kw)
    else:
        c = curves.activation_curve(name, prm, n=POINTS, **kw)
    idx = curves.well_placed(list(c.series.values()))
    return curves.Sweep(name, "", np.zeros(1, np.float32), c.x[idx].astype(np.float32),
                        {k: v[idx][None].astype(np.float32) for k, v in c.series.items()}, c.params)


def _axes(j: int) -> tuple[str, str]:
    return ("x", "y") if j == 0 else (f"x{j + 1}", f"y{j + 1}")


def _layout(titles, xlabel: str, present: bool) -> dict:
    n, gap = len(titles), 0.07
    w = (1 - gap * (n - 1)) / n
    layout = {"template": "plotly_white", "font": {"size": 18 if present else 13}, "hovermode": "x unified",
              "legend": {"orientation": "h", "yanchor": "bottom", "y": 1.1, "x": 0}, "margin": {"l": 56, "r": 16, "t": 90},
              "annotations": []}
    for j, title in enumerate(titles):
        xa, ya = _axes(j)
        layout["xaxis" + xa[1:]] = {"domain": [j * (w + gap), j * (w + gap) + w], "anchor": ya, "title": {"text": xlabel}, "zeroline": True}
        layout["yaxis" + ya[1:]] = {"domain": [0, 1], "anchor": xa, "automargin": True}
        layout["annotations"].append({"text": f"<b>{title}</b>", "xref": f"{xa} domain", "yref": f"{ya} domain", "x": 0.5, "y": 1.0,
                                      "yanchor": "bottom", "showarrow": False})
    return layout


def _slider(key: str, label: str, values, active: int, step_args: list, index: int) -> dict:
    return {"name": key, "active": active, "currentvalue": {"prefix": f"{label} = "}, "pad": {"t": 30},
            "len": 1.0, "x": 0, "y": -0.12 - 0.3 * index, "yanchor": "top",
            "steps": [{"label": fmt_number(v), "method": "restyle", "args": a} for v, a in zip(values, step_args)]}


def _curve_figure(page: str, values: dict) -> tuple[dict, dict]:
    """(figure, {slider key: its values}) of a curve page."""
    panels, present = PANELS[page], values["present"]
    width = 4.5 if present else 2.5
    data, sliders, at = [], [], {}
    if page == "classification" and values["zero_one"]:
        m = curves.margin_view([], n=POINTS, n_classes=values["classes"])
        data.append({"type": "scatter", "mode": "lines", "x": _numbers(m.margin), "y": _numbers(m.zero_one), "name": "0-1 loss",
                     "line": {"color": "#222222", "width": width}, "legendgroup": "zero_one", "xaxis": "x", "yaxis": "y"})
    for name in _entries(page, values):
        first = len(data)
        own = [p.name for p in get(name).params]
        sweeps = []
        for p in own:
            vals = steps(name, p, values[f"{name}.{p}"])
            sweeps.append((p, vals, _sweep(page, values, name, p, vals)))
        if sweeps:  # the traces start at the first parameter's step at the state's value
            p, vals, sw = sweeps[0]
            i = int(np.flatnonzero(vals == values[f"{name}.{p}"])[0])
        else:
            sw, i = _sweep(page, values, name, None, None), 0
        prm = {p.name: float(values[f"{name}.{p.name}"]) for p in get(name).params}
        for j, key in enumerate(panels.keys):
            xa, ya = _axes(j)
            data.append({"type": "scatter", "mode": "lines", "x": _numbers(sw.x), "y": _numbers(sw.series[key][i]),
                         "name": _label(name, prm), "legendgroup": name, "showlegend": j == 0, "xaxis": xa, "yaxis": ya,
                         "meta": [name, key], "hovertemplate": "%{y:.4g}",
                         "line": {"color": color_of(name), "width": width, "dash": dash_of(name)}})
        idx = list(range(first, first + len(panels.keys)))
        for p, vals, sw in sweeps:
            args = []
            for s, v in enumerate(vals):
                lbl = _label(name, {**prm, p: float(v)})
                args.append([{"x": [_numbers(sw.x)] * len(idx), "y": [_numbers(sw.series[k][s]) for k in panels.keys],
                              "name": [lbl] * len(idx)}, idx])
            key = f"{name}.{p}"
            active = int(np.flatnonzero(vals == values[key])[0])
            sliders.append(_slider(key, f"{name} {GREEK.get(p, p)}", vals, active, args, len(sliders)))
            at[key] = vals
    layout = _layout(panels.titles, panels.xlabel, present)
    layout["sliders"] = sliders
    layout["height"] = (560 if present else 440) + 110 * len(sliders)
    layout["margin"]["b"] = 60 + 110 * len(sliders)
    # each slider's y is in plot fractions: spread them over the bottom margin
    plot_h = layout["height"] - layout["margin"]["t"] - layout["margin"]["b"]
    for k, s in enumerate(sliders):
        s["y"] = -(50 + 110 * k) / plot_h
    return {"data": data, "layout": layout}, at


def _softmax_title(logits, temperature: float, target: int) -> str:
    v = curves.softmax_view(logits, temperature=temperature, target_class=target)
    return f"softmax(o / T), T = {fmt_number(temperature)}: cross-entropy for y = {target} is {v.loss:.4g}"


def _softmax_figure(page: str, values: dict) -> tuple[dict, dict]:
    """Softmax probabilities of the page's logits, a temperature slider (``curves.temperature_sweep``)."""
    k, t, y = values["classes"], values["temperature"], values["target"]
    logits = [values[f"o{i}"] for i in range(k)]
    temps = np.unique(np.array([*np.round(np.arange(0.1, 5.0001, 0.1), 10), t]))
    probs = curves.temperature_sweep(logits, temps)
    colors = [color_of("cross_entropy") if i == y else "#8c8c8c" for i in range(k)]
    cats = [f"o{i} = {fmt_number(logits[i])}" for i in range(k)]
    bars = {"type": "bar", "x": cats, "y": _numbers(probs[float(t)]), "marker": {"color": colors}, "name": "softmax(o / T)",
            "hovertemplate": "%{y:.4f}"}
    args = [[{"y": [_numbers(probs[float(v)])]}, {"title.text": _softmax_title(logits, float(v), y)}, [0]] for v in temps]
    active = int(np.flatnonzero(temps == t)[0])
    slider_ = _slider("temperature", "temperature T", temps, active, args, 0)
    for step in slider_["steps"]:
        step["method"] = "update"
    slider_["y"] = -0.2
    layout = {"template": "plotly_white", "font": {"size": 18 if values["present"] else 13}, "height": 520,
              "title": {"text": _softmax_title(logits, float(t), y)}, "yaxis": {"range": [0, 1], "title": {"text": "probability"}},
              "margin": {"b": 150}, "sliders": [slider_]}
    return {"data": [bars], "layout": layout}, {"temperature": temps}


# --- the view ---------------------------------------------------------------------------------

_PLOTLY_SHOWN = False  # plotly.js went into this process's notebook once (see View._repr_html_)


class View:
    """A page's state drawn as a plotly figure with offline sliders.

    ``figure``: the plotly figure dict; ``values``: the page's validated state; ``sliders``:
    {"name.param": the values of that slider's steps}.
    """

    def __init__(self, page: str, values: dict):
        self.page, self.values = page, values
        self.figure, self.sliders = (_softmax_figure if page == "softmax" else _curve_figure)(page, values)

    def __repr__(self) -> str:
        return f"<lossviz view {self.url}>"

    @property
    def url(self) -> str:
        """The same view in the explorer (``lossviz explore``)."""
        return f"{EXPLORER}/{self.page}{query(self.page, self.values)}"

    def to_html(self, *, full_html: bool, include_plotlyjs, div_id: str | None = None) -> str:
        import plotly.io as pio

        # validate=False (the step arrays are large): the template is resolved here, not by plotly's validators
        layout = {**self.figure["layout"], "template": pio.templates[self.figure["layout"]["template"]].to_plotly_json()}
        return pio.to_html({**self.figure, "layout": layout}, full_html=full_html, include_plotlyjs=include_plotlyjs, validate=False,
                           div_id=div_id or f"lossviz-{self.page}", config={"displaylogo": False})

    def _repr_html_(self) -> str:
        # Offline in every notebook front end: plotly.js goes inline with the first view shown in a
        # process, wrapped so that require.js (classic Notebook) does not capture it and it defines
        # window.Plotly; later views reuse it. Colab draws each output in its own frame, so there
        # every view carries plotly.js.
        global _PLOTLY_SHOWN
        div = self.to_html(full_html=False, include_plotlyjs=False, div_id=f"lossviz-{uuid.uuid4().hex[:12]}")
        if _PLOTLY_SHOWN and "google.colab" not in sys.modules:
            return div
        _PLOTLY_SHOWN = True
        return plotly_script() + div

    def write_html(self, path, *, cdn: bool = False, beside: bool = False) -> Path:
        """One HTML file: plotly.js inline (works offline), or a link to plotly's CDN with ``cdn=True``;
        ``beside=True`` (a set of views) refers to a ``plotly.min.js`` in the same folder instead."""
        path = Path(path)
        html = self.to_html(full_html=True, include_plotlyjs="cdn" if cdn else "directory" if beside else True)
        files.write_atomic(path, html.encode("utf-8"))
        return path


def plotly_script() -> str:
    """plotly.js inline, as a script that defines window.Plotly even where require.js is loaded."""
    from plotly.offline import get_plotlyjs

    # Shadowing define/module/exports makes the UMD bundle take its "global" branch.
    return ("<script type=\"text/javascript\">window.PlotlyConfig = {MathJaxConfig: 'local'};"
            "(function(define, module, exports){\n" + get_plotlyjs() + "\n}).call(window);</script>")


def view(page: str, **state) -> View:
    """An explorer page's view with no server: ``view("losses", losses=["l1", "huber"], **{"huber.delta": 0.5})``.

    ``page``: "losses", "activations", "classification" or "softmax"; ``state``: the page's URL
    parameters (lists or comma-separated names, numbers, True/False), checked as the explorer
    checks them: an unknown page, name or parameter, or a value out of range, is a ``ValueError``
    naming it. Returns a ``View``: it shows itself in a notebook, ``.write_html(path)``, ``.url``.
    """
    page = checks.choice(page, "page", PAGES)
    return View(page, validate(page, state))


def default_set() -> list[tuple[str, View]]:
    """The interactive set for course pages: each page's default view, and each loss with
    parameters alone on its page. (file stem, view) pairs."""
    out = [(p, view(p)) for p in PAGES]
    out += [(f"loss_{n}", view("losses", losses=[n])) for n in _regression() if get_loss(n).params]
    out += [(f"loss_{n}", view("classification", losses=[n])) for n in _classification() if get_loss(n).params]
    return out


def write_set(out) -> list[Path]:
    """``default_set`` as HTML files in ``out``, one ``plotly.min.js`` they share (offline, written
    once rather than 4.6 MB inline in each) and an ``index.html`` linking them."""
    from plotly.offline import get_plotlyjs

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    files.write_atomic(out / "plotly.min.js", get_plotlyjs().encode("utf-8"))
    written, links = [out / "plotly.min.js"], []
    for stem, v in default_set():
        written.append(v.write_html(out / f"{stem}.html", beside=True))
        links.append(f'<li><a href="{stem}.html">{stem}</a> (<a href="{v.url}">in the explorer</a>)</li>')
    index = ("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>lossviz views</title></head><body>\n"
             "<h1>lossviz: interactive figures</h1>\n<p>Each file works offline; its sliders redraw the curves.</p>\n<ul>\n"
             + "\n".join(links) + "\n</ul>\n</body></html>\n")
    files.write_atomic(out / "index.html", index.encode("utf-8"))
    return [*written, out / "index.html"]


__all__ = ["EXPLORER", "PAGES", "View", "default_set", "fields", "query", "steps", "validate", "view", "write_set"]
