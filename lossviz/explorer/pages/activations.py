"""Activations page: values and derivatives; where gradients vanish."""

from __future__ import annotations

import dash
from dash import Output, dcc

from lossviz import curves, plot_mpl
from lossviz.explorer import controls, figures, state
from lossviz.explorer.pages.losses import check_range, label
from lossviz.plot_plotly import vanishing_intervals
from lossviz.presentation import slider
from lossviz.registry import activations, get_activation
from lossviz.style import color_of

PAGE, PATH, TITLE = "activations", "/activations", "Activations"
KEYS = ("value", "grad")
TITLES = ["f(x)", "f′(x)"]
VANISH = 0.01
STRUCTURE = ("activations", "xmin", "xmax", "vanish", "present")


def names() -> list[str]:
    return [n for n in activations() if get_activation(n).kind == "elementwise"]


def params():
    return [(n, p) for n in names() for p in get_activation(n).params]


def schema() -> list:
    default = tuple(n for n in ("relu", "sigmoid", "tanh") if n in names()) or tuple(names()[:3])
    fields = [state.Names("activations", "activations", tuple(names()), default),
              state.Number("xmin", "x from", -20, 20, 0.5, -6.0), state.Number("xmax", "x to", -20, 20, 0.5, 6.0)]
    for n, p in params():
        lo, hi, step = slider(n, p.name)
        fields.append(state.Number(f"{n}.{p.name}", f"{n} {p.name}", lo, hi, step, p.default))
    return fields + [state.Flag("vanish", f"shade where |f′| < {VANISH}"), state.Flag("present", "presentation")]


def act_params(values: dict, name: str) -> dict:
    return {p.name: float(values[f"{name}.{p.name}"]) for p in get_activation(name).params}


def compute_curves(values: dict) -> list[curves.Curve]:
    x = figures.fine_grid(float(values["xmin"]), float(values["xmax"]))
    return [curves.activation_curve(n, act_params(values, n), x=x) for n in values["activations"]]


def vanish_shapes(cs: list[curves.Curve]) -> list[dict]:
    """The shaded bands where |f'| < VANISH, on the derivative panel; each activation's in the legend."""
    shapes = []
    for c in cs:
        for k, (lo, hi) in enumerate(vanishing_intervals(c.x, c.series["grad"], VANISH)):
            shapes.append({"type": "rect", "xref": "x2", "yref": "y2 domain", "x0": lo, "x1": hi, "y0": 0, "y1": 1,
                           "fillcolor": color_of(c.name), "opacity": 0.14, "line": {"width": 0}, "layer": "below",
                           "name": f"|f′| < {VANISH:g}: {c.name}", "legendgroup": f"{c.name}-vanish", "showlegend": k == 0})
    return shapes


def formula_blocks(chosen: list[str]) -> list:
    """Each chosen activation's formula and derivative, typeset by MathJax in the browser."""
    return [dcc.Markdown(f"**{get_activation(n).title}**: $${get_activation(n).formula.value}$$ derivative: "
                         f"$${get_activation(n).formula.grad}$$", mathjax=True, className="formula") for n in chosen]


def build(values: dict, shown: dict | None):
    cs = compute_curves(values)
    present, narrow = bool(values["present"]), bool(values.get("_narrow"))
    width = figures.look(present)["width"]
    dashed, notes = figures.coincidence_styles([[c.series[k] for c in cs] for k in KEYS], [c.name for c in cs], ["f(x)", "derivative"])
    note = controls.coincide_note(notes, shown)
    shapes = vanish_shapes(cs) if values["vanish"] else []
    shown_values = (shown or {}).get("values") or {}
    same_structure = bool(shown) and shown.get("narrow") == narrow and all(shown_values.get(k) == values[k] for k in STRUCTURE)
    ranges = [figures.y_range([c.series[k] for c in cs]) for k in KEYS]
    if same_structure:
        ranges = figures.held_ranges(shown, ranges)
    values["_view"] = {"ranges": ranges, "bands": shapes, "coincide": notes, "dashed": figures.dash_keys(dashed)}
    if same_structure:
        # New lines in the same axes animate (controls.wire); new axes or shaded bands redraw.
        same_bands = figures.shown_view(shown).get("bands") == shapes
        patch = controls.curve_update(cs, KEYS, shown, dashed, ranges, label, animate=same_bands)
        if not same_bands:
            patch["layout"]["shapes"] = shapes
        return patch, note, dash.no_update
    traces = []
    for ci, c in enumerate(cs):
        idx = figures.keep_points([c.series[k] for k in KEYS])
        for j, key in enumerate(KEYS):
            traces.append(figures.line(c.x[idx], c.series[key][idx], name=label(c.name, c.params), color=color_of(c.name), panel=j,
                                       group=c.name, legend=j == 0, meta=[c.name, key], width=width, dash=dashed.get((ci, j), "solid")))
    layout = figures.panels_layout(TITLES, "x", present=present, narrow=narrow)
    layout["shapes"] = shapes
    figures.set_y_ranges(layout, ranges)
    if not cs:
        layout["annotations"].append({"text": "choose at least one activation", "xref": "paper", "yref": "paper", "x": 0.5, "y": 0.5,
                                      "showarrow": False, "font": {"size": 20}})
    formulas = formula_blocks(values["activations"])
    same_formulas = bool(shown) and shown_values.get("activations") == values["activations"]
    return {"data": traces, "layout": layout}, note, dash.no_update if same_formulas else formulas


def compute(values, shown, notes, corrected):
    check_range(values, (shown or {}).get("values"), notes, corrected)
    if not values["activations"]:
        notes.append("choose at least one activation")
    return build(values, shown)


def layout(query: dict):
    descriptions = {f"{n}.{p.name}": p.description for n, p in params()}
    return controls.curve_page(PAGE, "Activations and their derivatives", query, schema(), compute, descriptions, "activations")


def export_file(n_clicks, fmt, st):
    def draw(values):
        cs = [curves.activation_curve(n, act_params(values, n), x_range=(values["xmin"], values["xmax"])) for n in values["activations"]]
        return plot_mpl.activation_grid_figure(cs)

    return controls.export_shown(PAGE, schema(), n_clicks, fmt, st, draw, required=("activations", "activation"))


def register(app):
    controls.wire_formulas(app, PAGE, schema(), "activations", formula_blocks)
    controls.wire(app, PAGE, schema(), compute,
                  [Output("activations-graph", "figure"), Output("activations-coincide", "children"), Output("activations-formula", "children")],
                  animate=("activations-graph",))
    controls.wire_export(app, PAGE, export_file)
