"""Classification page: the surrogate losses against the margin o_y - max_{i != y} o_i, with the 0-1 loss.

The textbook picture of classification losses (the seed notes' "the correct class's score must
beat the others by a margin"): each chosen loss's value and gradient d l / d o_y against the
margin, from the registry through ``curves.margin_view``, each loss's parameters as sliders.
"""

from __future__ import annotations

import dash
from dash import Output, dcc, html

from lossviz import curves, plot_mpl
from lossviz.explorer import controls, figures, state
from lossviz.explorer.pages.losses import label
from lossviz.presentation import slider
from lossviz.registry import get_loss, losses
from lossviz.style import color_of

PAGE, PATH, TITLE = "classification", "/classification", "Classification"
KEYS = ("value", "grad")
TITLES = ["loss l against the margin", "gradient ∂l/∂o_y"]


def names() -> list[str]:
    return [n for n in losses() if get_loss(n).kind == "classification"]


def params():
    return [(n, p) for n in names() for p in get_loss(n).params]


def schema() -> list:
    default = tuple(n for n in ("cross_entropy", "hinge", "focal", "gce") if n in names())
    fields = [state.Names("losses", "losses", tuple(names()), default),
              state.Number("classes", "classes (the others' logits at 0)", 2, 10, 1, 2)]
    for n, p in params():
        lo, hi, step = slider(n, p.name)
        fields.append(state.Number(f"{n}.{p.name}", f"{n} {p.name}", lo, hi, step, p.default))
    return fields + [state.Flag("zero_one", "the 0-1 loss", True), state.Flag("present", "presentation")]


def loss_params(values: dict, name: str) -> dict:
    return {p.name: float(values[f"{name}.{p.name}"]) for p in get_loss(name).params}


def view(values: dict) -> curves.MarginView:
    return curves.margin_view([(n, loss_params(values, n)) for n in values["losses"]], n_classes=int(round(values["classes"])))


def formula_blocks(chosen: list[str]) -> list:
    return [dcc.Markdown(f"**{get_loss(n).title}**: $${get_loss(n).formula.value}$$", mathjax=True, className="formula")
            for n in chosen]


def build(values: dict, shown: dict | None):
    v = view(values)
    present, narrow = bool(values["present"]), bool(values.get("_narrow"))
    width = figures.look(present)["width"]
    cs = v.curves
    dashed, notes = figures.coincidence_styles([[c.series[k] for c in cs] for k in KEYS], [c.name for c in cs], ["loss", "gradient"])
    note = html.Div([html.Div(n) for n in notes]) if notes else None
    traces = []
    if values["zero_one"]:
        traces.append(figures.line(v.margin, v.zero_one, name="0-1 loss", color="#222222", panel=0, group="zero_one",
                                   legend=True, meta=["zero_one", "value"], width=width, dash="solid"))
    for ci, c in enumerate(cs):
        idx = figures.keep_points([c.series[k] for k in KEYS])
        for j, key in enumerate(KEYS):
            traces.append(figures.line(c.x[idx], c.series[key][idx], name=label(c.name, c.params), color=color_of(c.name), panel=j,
                                       group=c.name, legend=j == 0, meta=[c.name, key], width=width, dash=dashed.get((ci, j), "solid")))
    layout = figures.panels_layout(TITLES, "margin o_y − max_{i≠y} o_i", present=present, narrow=narrow)
    if not cs:
        layout["annotations"].append({"text": "choose at least one loss", "xref": "paper", "yref": "paper", "x": 0.5, "y": 0.5,
                                      "showarrow": False, "font": {"size": 20}})
    shown_values = (shown or {}).get("values") or {}
    same_formulas = bool(shown) and shown_values.get("losses") == values["losses"]
    return {"data": traces, "layout": layout}, note, dash.no_update if same_formulas else formula_blocks(values["losses"])


def compute(values, shown, notes, corrected):
    if not values["losses"]:
        notes.append("choose at least one loss")
    try:
        return build(values, shown)
    except ValueError as e:
        raise state.InputError(str(e)) from None


def layout(query: dict):
    descriptions = {f"{n}.{p.name}": p.description for n, p in params()}
    return controls.curve_page(PAGE, "Classification losses against the margin", query, schema(), compute, descriptions, "losses",
                               frames=False)  # its sliders redraw through Dash (no animated frames)


def export_file(n_clicks, fmt, st):
    return controls.export_shown(PAGE, schema(), n_clicks, fmt, st, lambda values: plot_mpl.surrogate_figure(view(values)),
                                 required=("losses", "loss"))


def register(app):
    controls.wire_formulas(app, PAGE, schema(), "losses", formula_blocks)
    controls.wire(app, PAGE, schema(), compute, [Output(f"{PAGE}-graph", "figure"), Output(f"{PAGE}-coincide", "children"),
                                                  Output(f"{PAGE}-formula", "children")])
    controls.wire_export(app, PAGE, export_file)
