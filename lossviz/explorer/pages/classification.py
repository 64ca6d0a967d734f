"""Classification page: the surrogate losses against the margin o_y - max_{i != y} o_i, with the 0-1 loss.

The textbook picture of classification losses (the seed notes' "the correct class's score must
beat the others by a margin"): each chosen loss's value and gradient d l / d o_y against the
margin, from the registry through ``curves.margin_view``, each loss's parameters as sliders.
"""

from __future__ import annotations

import numpy as np
from dash import dcc

from lossviz import curves, plot_mpl
from lossviz.explorer import controls, figures, state
from lossviz.explorer.pages.losses import label, tex_label
from lossviz.presentation import slider
from lossviz.registry import get_loss, losses
from lossviz.style import color_of, dash_of

PAGE, PATH, TITLE = "classification", "/classification", "Classification"
KEYS = ("value", "grad")
TITLES = ["loss against the margin", "gradient"]
YTITLES = [r"$l$", r"$\partial l / \partial o_y$"]
XTITLE = r"$\text{margin } o_y - \max_{i \neq y} o_i$"


def names() -> list[str]:
    return [n for n in losses() if get_loss(n).kind == "classification"]


def params():
    return [(n, p) for n in names() for p in get_loss(n).params]


def schema() -> list:
    default = tuple(n for n in ("cross_entropy", "hinge", "focal", "gce") if n in names())
    fields = [state.Names("losses", "losses", tuple(names()), default),
              state.Number("classes", "classes (the others' logits at 0)", 2, 10, 1, 2, integer=True)]
    for n, p in params():
        lo, hi, step = slider(n, p.name)
        fields.append(state.Number(f"{n}.{p.name}", f"{n} {p.name}", lo, hi, controls.hand_step(lo, hi, step), p.default))
    return fields + [state.Flag("zero_one", "the 0-1 loss", True), state.Flag("present", "presentation")]


def loss_params(values: dict, name: str) -> dict:
    return {p.name: float(values[f"{name}.{p.name}"]) for p in get_loss(name).params}


ZERO_ONE = np.array([0.0, 1.0])  # the 0-1 loss's values, for the y range


def view(values: dict) -> curves.MarginView:
    return curves.margin_view([(n, loss_params(values, n)) for n in values["losses"]], n_classes=int(round(values["classes"])))


def formula_blocks(chosen: list[str]) -> list:
    return [dcc.Markdown(f"**{get_loss(n).title}**: $${get_loss(n).formula.value}$$", mathjax=True, className="formula")
            for n in chosen]


def compute(values: dict, notes: list):
    if not values["losses"]:
        notes.append("choose at least one loss")
    try:
        v = view(values)
    except ValueError as e:
        raise state.InputError(str(e)) from None
    present, narrow = bool(values["present"]), bool(values.get("_narrow"))
    width = figures.look(present)["width"]
    cs = v.curves
    note = figures.coincide_line([[c.series[k] for c in cs] for k in KEYS], [label(c.name, c.params) for c in cs])
    traces = []
    if values["zero_one"]:
        traces.append(figures.line(v.margin, v.zero_one, name=r"$\text{0-1 loss}$", hover="0-1 loss", color="#222222", panel=0, group="zero_one",
                                   legend=True, meta=["zero_one", "value"], width=width, dash="solid"))
    for c in cs:
        idx = figures.keep_points([c.series[k] for k in KEYS])
        for j, key in enumerate(KEYS):
            traces.append(figures.line(c.x[idx], c.series[key][idx], name=tex_label(c.name, c.params), hover=label(c.name, c.params),
                                       color=color_of(c.name), panel=j,
                                       group=c.name, legend=j == 0, meta=[c.name, key], width=width, dash=dash_of(c.name)))
    layout = figures.panels_layout(TITLES, XTITLE, present=present, narrow=narrow, ytitles=YTITLES)
    figures.set_y_ranges(layout, [figures.y_range([c.series[k] for c in cs] + ([v.zero_one] if j == 0 and values["zero_one"] else []))
                                  for j, k in enumerate(KEYS)])
    if not cs:
        layout["annotations"].append({"text": "choose at least one loss", "xref": "paper", "yref": "paper", "x": 0.5, "y": 0.5,
                                      "showarrow": False, "font": {"size": 20}})
    return {"data": traces, "layout": layout}, note, formula_blocks(values["losses"])


def frames(values: dict, key: str, steps: list[float]) -> list[dict]:
    """The graph at each step of slider ``key``: a loss's parameter (``curves.sweep`` against the
    margin) or the number of classes (every loss moves)."""
    names = list(values["losses"])
    first = 1 if values["zero_one"] else 0
    gid = f"{PAGE}-graph"
    base = view(values).curves
    if key == "classes":
        per_step = [view({**values, "classes": v}).curves for v in steps]
        moving = range(len(names))
    else:
        name, param = key.split(".", 1)
        if name not in names:
            return [{} for _ in steps]
        ci = names.index(name)
        sw = curves.sweep(name, param, steps, params=loss_params(values, name), x_range=curves.MARGIN_RANGE,
                          n_classes=int(round(values["classes"])))
        per_step = []
        for s in range(len(steps)):
            cs = list(base)
            cs[ci] = curves.Curve(name, sw.params, sw.x.astype(float), {k: sw.series[k][s].astype(float) for k in KEYS}, base[ci].xlabel)
            per_step.append(cs)
        moving = [ci]
    out = []
    for cs in per_step:
        tr = {}
        for ci in moving:
            c = cs[ci]
            idx = figures.keep_points([c.series[k] for k in KEYS]) if key == "classes" else slice(None)
            for j, k in enumerate(KEYS):
                tr[first + 2 * ci + j] = {"x": figures.b64(c.x[idx]), "y": figures.b64(c.series[k][idx])}
        lay = {("yaxis" if j == 0 else f"yaxis{j + 1}") + ".range":
               figures.y_range([c.series[k] for c in cs] + ([ZERO_ONE] if j == 0 and values["zero_one"] else [])) for j, k in enumerate(KEYS)}
        out.append({gid: {"traces": tr, "layout": lay}})
    return out


def layout(query: dict):
    descriptions = {f"{n}.{p.name}": p.description for n, p in params()}
    return controls.curve_page(PAGE, "Classification losses against the margin", query, schema(), compute, descriptions)


def export_file(n_clicks, fmt, st):
    return controls.export_shown(PAGE, schema(), n_clicks, fmt, st, lambda values: plot_mpl.surrogate_figure(view(values)),
                                 required=("losses", "loss"))


def register(app):
    controls.wire_curve_page(app, PAGE, schema(), compute, frames)
    controls.wire_export(app, PAGE, export_file)
