"""Losses page: overlay losses; value, likelihood and gradient against the prediction."""

from __future__ import annotations

import math

import numpy as np
from dash import Output, dcc, html

from lossviz import curves, plot_mpl
from lossviz.explorer import controls, figures, state
from lossviz.explorer.state import Flag, Names, Number
from lossviz.presentation import slider
from lossviz.registry import get_loss, losses
from lossviz.style import color_of, dash_of

PAGE, PATH, TITLE = "losses", "/losses", "Losses"
KEYS = ("value", "likelihood", "grad")
PLAIN = ("loss", "likelihood", "gradient")  # panel names in the notes
MIN_WIDTH = 0.5
# y moves every curve: its sweep draws each on at most Y_SWEEP_POINTS even points, spaced by a
# multiple of y's slider step from xmin, so a kink at y (L1, quantile, Huber's joins) falls on a
# point at most steps. Measured: 201 points drew 8-9 steps/s of a 7-loss drag in Chromium, 61-81
# points 12-15 (the cost is in the SVG paths).
Y_SWEEP_POINTS = 81
Y_STEP = 0.1
PREVIEW = ("y", "xmin", "xmax")  # sliders whose sweep is a coarser preview: release draws the figure in full


def names() -> list[str]:
    return [n for n in losses() if get_loss(n).kind == "regression"]


def params() -> list[tuple[str, object]]:
    """(loss name, Param) for every parameter of every regression loss in the registry."""
    return [(n, p) for n in names() for p in get_loss(n).params]


def schema() -> list:
    fields = [Names("losses", "losses", tuple(names()), tuple(names())),
              Number("y", "true value y", -5, 5, Y_STEP, 0.0),
              Number("xmin", "prediction from", -20, 20, 0.5, -3.0),
              Number("xmax", "prediction to", -20, 20, 0.5, 3.0)]
    for n, p in params():
        lo, hi, step = slider(n, p.name)
        fields.append(Number(f"{n}.{p.name}", f"{n} {p.name}", lo, hi, controls.hand_step(lo, hi, step), p.default))
    return fields + [Flag("normalized", "normalized likelihood"), Flag("check", "check the gradient (autograd's dashed, differences shaded)"),
                     Flag("present", "presentation")]


def check_range(values: dict, shown_values: dict | None, notes: list, corrected: dict | None = None) -> tuple[float, float]:
    """xmin < xmax by at least MIN_WIDTH: the end that did not move stays, the other is corrected."""
    lo, hi = float(values["xmin"]), float(values["xmax"])
    corrected = {} if corrected is None else corrected
    if hi - lo >= MIN_WIDTH:
        return lo, hi
    moved_hi = isinstance(shown_values, dict) and shown_values.get("xmax") != hi
    if moved_hi and lo + MIN_WIDTH <= 20:
        hi = lo + MIN_WIDTH
        corrected["xmax"] = values["xmax"] = hi
        notes.append(f"prediction to must be at least {MIN_WIDTH:g} above prediction from; using {state.fmt_number(hi)}")
    elif hi - MIN_WIDTH >= -20:
        lo = hi - MIN_WIDTH
        corrected["xmin"] = values["xmin"] = lo
        notes.append(f"prediction from must be at least {MIN_WIDTH:g} below prediction to; using {state.fmt_number(lo)}")
    else:
        hi = lo + MIN_WIDTH
        corrected["xmax"] = values["xmax"] = hi
        notes.append(f"prediction to must be at least {MIN_WIDTH:g} above prediction from; using {state.fmt_number(hi)}")
    return lo, hi


def loss_params(values: dict, name: str) -> dict:
    return {p.name: float(values[f"{name}.{p.name}"]) for p in get_loss(name).params}


GREEK = {"alpha": "α", "beta": "β", "delta": "δ", "gamma": "γ", "tau": "τ", "q": "q", "scale": "c", "margin": "margin",
         "label_smoothing": "ε", "negative_slope": "slope", "temperature": "T"}


TEX = {"alpha": r"\alpha", "beta": r"\beta", "delta": r"\delta", "gamma": r"\gamma", "tau": r"\tau", "q": "q", "scale": "c",
       "margin": r"\Delta", "label_smoothing": r"\epsilon", "negative_slope": r"\text{slope}", "temperature": "T"}


def label(name: str, prm: dict) -> str:
    """A curve's name in text (notes, hovers): its parameters in the formulas' letters, e.g. "huber (δ=1)"."""
    return name + (" (" + ", ".join(f"{GREEK.get(k, k)}={v:g}" for k, v in prm.items()) + ")" if prm else "")


def tex_text(t: str) -> str:
    """Plain words inside typeset maths (MathJax's \\text shows an underscore as it is)."""
    return r"\text{" + t + "}"


def tex_label(name: str, prm: dict, suffix: str = "") -> str:
    r"""The same as a legend entry typeset by MathJax (plotly typesets a name that is all $...$),
    e.g. ``$\text{huber}\ (\delta = 1)$``; ``suffix``: more words after it (": autograd")."""
    args = ", ".join((TEX[k] if k in TEX else tex_text(k)) + f" = {v:g}" for k, v in prm.items())
    return "$" + tex_text(name) + (r"\ (" + args + ")" if prm else "") + (tex_text(suffix) if suffix else "") + "$"


def one_curve(name: str, values: dict, x: np.ndarray, notes: list | None = None) -> curves.Curve:
    """One loss on the grid; a normalized density that does not exist (Barron's α < 0) is drawn
    empty with a note, the other panels as usual."""
    prm, y, normalized = loss_params(values, name), float(values["y"]), bool(values["normalized"])
    try:
        return curves.loss_curve(name, prm, target=y, x=x, normalized=normalized)
    except ValueError as e:
        if not normalized:
            raise
        c = curves.loss_curve(name, prm, target=y, x=x, normalized=False)
        if notes is not None:
            notes.append(f"{name}: no density at these parameters (e^(−l) does not integrate), so its density panel is empty")
        return curves.Curve(c.name, c.params, c.x, {**c.series, "likelihood": np.full_like(c.x, np.nan)}, c.xlabel, c.labels)


def compute_curves(values: dict, notes: list | None = None) -> list[curves.Curve]:
    """The chosen losses on the fine grid, through the library (``curves.loss_curve``)."""
    x = figures.fine_grid(float(values["xmin"]), float(values["xmax"]))
    return [one_curve(n, values, x, notes) for n in values["losses"]]


def titles(normalized: bool) -> list[str]:
    return ["loss", "density" if normalized else "likelihood", "gradient"]


def ytitles(normalized: bool) -> list[str]:
    return [r"$l(\hat y, y)$", r"$e^{-l}/Z$" if normalized else r"$e^{-l}$", r"$\partial l / \partial \hat y$"]


def formula_blocks(chosen: list[str]) -> list:
    """Each chosen loss's formula and gradient, typeset by MathJax in the browser."""
    return [dcc.Markdown(f"**{get_loss(n).title}**: $${get_loss(n).formula.value}$$ gradient: $${get_loss(n).formula.grad}$$",
                         mathjax=True, className="formula") for n in chosen]


def trace(c: curves.Curve, key: str, panel: int, width: float, idx=None) -> dict:
    idx = figures.keep_points([c.series[k] for k in KEYS]) if idx is None else idx
    return figures.line(c.x[idx], c.series[key][idx], name=tex_label(c.name, c.params), hover=label(c.name, c.params),
                        color=color_of(c.name), panel=panel, group=c.name, legend=panel == 0, meta=[c.name, key], width=width, dash=dash_of(c.name))


def checks(entries: list[tuple[str, dict, np.ndarray, float]], width: float, first: int, panel: int = 2) -> tuple[dict, list, list, list]:
    """The gradient check of (name, params, x, target) each: autograd's derivative as trace
    ``first + i`` (index -> trace), the shading where the entry's own differs, notes naming
    where, and autograd's arrays (for the panel's y range)."""
    found = figures.derivative_checks(entries)
    traces, autos = {}, []
    for i, ((name, prm, x, _), (auto, _)) in enumerate(zip(entries, found)):
        idx = figures.keep_points([auto])
        traces[first + i] = figures.check_trace(x[idx], auto[idx], name=name, label=label(name, prm), panel=panel, width=width,
                                                tex=tex_label(name, prm, ": autograd"))
        autos.append(auto)
    differ = [(e[0], e[2], d) for e, (_, d) in zip(entries, found)]
    return traces, figures.differ_shapes(differ, panel), figures.differ_notes(differ), autos


def compute(values: dict, notes: list):
    """(figure, the one line on coinciding curves, formulas) for validated values."""
    check_range(values, values.get("_prev"), notes)
    if not values["losses"]:
        notes.append("choose at least one loss")
    cs = compute_curves(values, notes)
    present, narrow = bool(values["present"]), bool(values.get("_narrow"))
    width = figures.look(present)["width"]
    note = figures.coincide_line([[c.series[k] for c in cs] for k in KEYS], [label(c.name, c.params) for c in cs])
    traces = [trace(c, key, j, width) for c in cs for j, key in enumerate(KEYS)]
    layout = figures.panels_layout(titles(bool(values["normalized"])), r"$\text{prediction } \hat y$", present=present, narrow=narrow,
                                   ytitles=ytitles(bool(values["normalized"])))
    autos = []
    if values.get("check") and cs:  # autograd's derivative over each loss's own, the differences shaded
        extra, layout["shapes"], found, autos = checks([(c.name, c.params, c.x, float(values["y"])) for c in cs], width, len(traces))
        traces += [extra[i] for i in sorted(extra)]
        notes.extend(found)
    figures.set_y_ranges(layout, [figures.y_range([c.series[k] for c in cs] + (autos if k == "grad" else [])) for k in KEYS])
    if not cs:
        layout["annotations"].append({"text": "choose at least one loss", "xref": "paper", "yref": "paper", "x": 0.5, "y": 0.5,
                                      "showarrow": False, "font": {"size": 20}})
    return {"data": traces, "layout": layout}, note, formula_blocks(values["losses"])


def y_ranges(per_panel: list[list[np.ndarray]]) -> dict:
    return {("yaxis" if j == 0 else f"yaxis{j + 1}") + ".range": figures.y_range(ys) for j, ys in enumerate(per_panel)}


def y_grid(values: dict) -> np.ndarray:
    """The x of a y drag's preview: from xmin by a multiple (or an even part) of y's step, 41 to
    Y_SWEEP_POINTS points, with xmax (exact in float32, as ``figures.fine_grid``)."""
    lo, hi = float(values["xmin"]), float(values["xmax"])
    n = (hi - lo) / Y_STEP  # y's steps across the range
    # wide: every k-th of y's steps; narrow: y's step cut in k (at least half the points either way)
    step = Y_STEP * math.ceil(n / (Y_SWEEP_POINTS - 1) - 1e-9) if n > Y_SWEEP_POINTS - 1 else Y_STEP / math.ceil((Y_SWEEP_POINTS // 2) / n)
    x = lo + step * np.arange(int((hi - lo) / step + 1e-9) + 1)
    return np.unique(np.append(x, hi).astype(np.float32)).astype(np.float64)


def frames(values: dict, key: str, steps: list[float]) -> list[dict]:
    """The graph at each step of slider ``key`` (``curves.sweep``): the traces that change and
    the y ranges; with the gradient check on, autograd's derivative and the shading at each step."""
    out = curve_frames(values, key, steps)
    if not values.get("check") or not values["losses"]:
        return out
    check_range(values, None, [])
    names = list(values["losses"])
    y, lo, hi = float(values["y"]), float(values["xmin"]), float(values["xmax"])
    x = figures.fine_grid(lo, hi)
    width = figures.look(bool(values["present"]))["width"]
    gid = f"{PAGE}-graph"
    for s, v in enumerate(steps):
        if not out[s]:
            continue
        if key == "y":
            entries = [(n, loss_params(values, n), y_grid(values), v) for n in names]
        elif key in ("xmin", "xmax"):
            a, b = (v, hi) if key == "xmin" else (lo, v)
            if b - a < MIN_WIDTH:
                a, b = (a, a + MIN_WIDTH) if key == "xmin" else (b - MIN_WIDTH, b)
            entries = [(n, loss_params(values, n), figures.fine_grid(a, b, figures.SWEEP_POINTS), y) for n in names]
        else:
            name, param = key.split(".", 1)
            entries = [(name, {**loss_params(values, name), param: float(v)}, x, y)]
        tr, shapes, _, autos = checks(entries, width, 3 * len(names))
        if len(entries) == 1:  # one loss moves: its check trace; the shading of the others stays
            ci = names.index(entries[0][0])
            tr = {3 * len(names) + ci: tr[3 * len(names)]}
            others = [(n, loss_params(values, n), x, y) for n in names if n != entries[0][0]]
            shapes = checks(others, width, 0)[1] + shapes if others else shapes
        part = out[s][gid]
        for i, t in tr.items():
            part["traces"][i] = {"x": t["x"], "y": t["y"]}
        part["layout"]["shapes"] = shapes
        r = part["layout"].get("yaxis3.range")
        if r and autos:
            a = figures.y_range(autos)
            part["layout"]["yaxis3.range"] = [min(r[0], a[0]), max(r[1], a[1])]
    return out


def curve_frames(values: dict, key: str, steps: list[float]) -> list[dict]:
    """The loss curves' part of ``frames``."""
    check_range(values, None, [])
    cs = compute_curves(values)
    names = list(values["losses"])
    x = figures.fine_grid(float(values["xmin"]), float(values["xmax"]))
    gid = f"{PAGE}-graph"
    if key in ("xmin", "xmax"):  # the grid itself moves: the chosen losses on each step's grid
        out = []
        for v in steps:
            vals = {**values, key: v}
            lo, hi = float(vals["xmin"]), float(vals["xmax"])
            if hi - lo < MIN_WIDTH:  # a step the settled view would correct: shown at the nearest valid range
                lo, hi = (lo, lo + MIN_WIDTH) if key == "xmin" else (hi - MIN_WIDTH, hi)
            grid = figures.fine_grid(lo, hi, figures.SWEEP_POINTS)
            cs_v = [one_curve(n, values, grid) for n in names]
            tr = {}
            for ci, c in enumerate(cs_v):
                idx = figures.keep_points([c.series[k] for k in KEYS])
                for j, k in enumerate(KEYS):
                    tr[3 * ci + j] = {"x": figures.b64(c.x[idx]), "y": figures.b64(c.series[k][idx])}
            out.append({gid: {"traces": tr, "layout": {**y_ranges([[c.series[k] for c in cs_v] for k in KEYS]),
                                                       **figures.x_ranges(lo, hi, len(KEYS))}}})
        return out
    if key == "y":  # every curve moves: a drag's preview on Y_SWEEP_POINTS even points (release draws the fine view)
        xs = y_grid(values)
        moving = [(ci, curves.sweep(n, "target", steps, params=loss_params(values, n), x=xs, normalized=bool(values["normalized"]),
                                    well_placed_points=False))
                  for ci, n in enumerate(names) if not (values["normalized"] and n == "general" and values["general.alpha"] < 0)]
    else:
        name, param = key.split(".", 1)
        if name not in names:
            return [{} for _ in steps]
        try:
            moving = [(names.index(name), curves.sweep(name, param, steps, params=loss_params(values, name), x=x, target=float(values["y"]),
                                                       normalized=bool(values["normalized"])))]
        except ValueError:
            return [{} for _ in steps]
    out = []
    for s in range(len(steps)):
        tr, per_panel = {}, [[c.series[k] for c in cs] for k in KEYS]
        for ci, sw in moving:
            for j, k in enumerate(KEYS):
                tr[3 * ci + j] = {"x": figures.b64(sw.x), "y": figures.b64(sw.series[k][s])}
                per_panel[j][ci] = sw.series[k][s]
        out.append({gid: {"traces": tr, "layout": y_ranges(per_panel)}})
    return out


def layout(query: dict):
    descriptions = {f"{n}.{p.name}": p.description for n, p in params()}
    return controls.curve_page(PAGE, "Losses: value, likelihood and gradient", query, schema(), compute, descriptions)


def export_file(n_clicks, fmt, st):
    """'Export for notes': the shown state's curves drawn by the figure exporter's matplotlib builder."""
    def draw(values):
        cs = [curves.loss_curve(n, loss_params(values, n), target=float(values["y"]), x_range=(values["xmin"], values["xmax"]),
                                normalized=bool(values["normalized"])) for n in values["losses"]]
        return plot_mpl.overlay_figure(cs, title="Losses")

    return controls.export_shown(PAGE, schema(), n_clicks, fmt, st, draw, required=("losses", "loss"))


def register(app):
    controls.wire_curve_page(app, PAGE, schema(), compute, frames, preview=PREVIEW)
    controls.wire_export(app, PAGE, export_file)
