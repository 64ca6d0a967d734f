"""Losses page: overlay losses; value, likelihood and gradient against the prediction."""

from __future__ import annotations

import dash
from dash import Output, dcc

from lossviz import curves, plot_mpl
from lossviz.explorer import controls, figures, state
from lossviz.explorer.state import Flag, Names, Number
from lossviz.presentation import slider
from lossviz.registry import get_loss, losses
from lossviz.style import color_of

PAGE, PATH, TITLE = "losses", "/losses", "Losses"
KEYS = ("value", "likelihood", "grad")
PLAIN = ("loss", "likelihood", "gradient")  # panel names in the notes
STRUCTURE = ("losses", "y", "xmin", "xmax", "normalized", "present")
MIN_WIDTH = 0.5


def names() -> list[str]:
    return [n for n in losses() if get_loss(n).kind == "regression"]


def params() -> list[tuple[str, object]]:
    """(loss name, Param) for every parameter of every regression loss in the registry."""
    return [(n, p) for n in names() for p in get_loss(n).params]


def schema() -> list:
    fields = [Names("losses", "losses", tuple(names()), tuple(names())),
              Number("y", "true value y", -5, 5, 0.1, 0.0),
              Number("xmin", "prediction from", -20, 20, 0.5, -3.0),
              Number("xmax", "prediction to", -20, 20, 0.5, 3.0)]
    for n, p in params():
        lo, hi, step = slider(n, p.name)
        fields.append(Number(f"{n}.{p.name}", f"{n} {p.name}", lo, hi, step, p.default))
    return fields + [Flag("normalized", "normalized likelihood"), Flag("present", "presentation")]


def check_range(values: dict, shown_values: dict | None, notes: list, corrected: dict) -> tuple[float, float]:
    """xmin < xmax by at least MIN_WIDTH: the end that did not move stays, the other is corrected."""
    lo, hi = float(values["xmin"]), float(values["xmax"])
    if hi - lo >= MIN_WIDTH:
        return lo, hi
    moved_hi = shown_values is not None and shown_values.get("xmax") != hi
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


def label(name: str, prm: dict) -> str:
    return name + (" (" + ", ".join(f"{k}={v:g}" for k, v in prm.items()) + ")" if prm else "")


def compute_curves(values: dict) -> list[curves.Curve]:
    """The chosen losses on the fine grid, through the library (``curves.loss_curve``)."""
    x = figures.fine_grid(float(values["xmin"]), float(values["xmax"]))
    return [curves.loss_curve(n, loss_params(values, n), target=float(values["y"]), x=x, normalized=bool(values["normalized"]))
            for n in values["losses"]]


def titles(normalized: bool) -> list[str]:
    return ["loss l(ŷ, y)", "density e<sup>−l</sup>/Z" if normalized else "likelihood e<sup>−l</sup>", "gradient ∂l/∂ŷ"]


def formula_blocks(chosen: list[str]) -> list:
    """Each chosen loss's formula and gradient, typeset by MathJax in the browser."""
    return [dcc.Markdown(f"**{get_loss(n).title}**: $${get_loss(n).formula.value}$$ gradient: $${get_loss(n).formula.grad}$$",
                         mathjax=True, className="formula") for n in chosen]


def build(values: dict, shown: dict | None):
    """(figure or Patch, coincidence note, formulas or no_update) for validated values."""
    cs = compute_curves(values)
    present, narrow = bool(values["present"]), bool(values.get("_narrow"))
    ttl = titles(bool(values["normalized"]))
    width = figures.look(present)["width"]
    dashed, notes = figures.coincidence_styles([[c.series[k] for c in cs] for k in KEYS], [c.name for c in cs], list(PLAIN))
    note = controls.coincide_note(notes, shown)
    shown_values = (shown or {}).get("values") or {}
    same_structure = bool(shown) and shown.get("narrow") == narrow and all(shown_values.get(k) == values[k] for k in STRUCTURE)
    ranges = [figures.y_range([c.series[k] for c in cs]) for k in KEYS]
    if same_structure:
        ranges = figures.held_ranges(shown, ranges)
    values["_view"] = {"ranges": ranges, "coincide": notes, "dashed": figures.dash_keys(dashed)}
    if same_structure:  # new lines in the same axes animate (controls.wire); new axes redraw
        return controls.curve_update(cs, KEYS, shown, dashed, ranges, label), note, dash.no_update
    traces = []
    for ci, c in enumerate(cs):
        idx = figures.keep_points([c.series[k] for k in KEYS])
        for j, key in enumerate(KEYS):
            traces.append(figures.line(c.x[idx], c.series[key][idx], name=label(c.name, c.params), color=color_of(c.name), panel=j,
                                       group=c.name, legend=j == 0, meta=[c.name, key], width=width, dash=dashed.get((ci, j), "solid")))
    layout = figures.panels_layout(ttl, "prediction ŷ", present=present, narrow=narrow)
    figures.set_y_ranges(layout, ranges)
    if not cs:
        layout["annotations"].append({"text": "choose at least one loss", "xref": "paper", "yref": "paper", "x": 0.5, "y": 0.5,
                                      "showarrow": False, "font": {"size": 20}})
    fig = {"data": traces, "layout": layout}
    formulas = formula_blocks(values["losses"])
    same_formulas = bool(shown) and shown_values.get("losses") == values["losses"]
    return fig, note, dash.no_update if same_formulas else formulas


def compute(values, shown, notes, corrected):
    check_range(values, (shown or {}).get("values"), notes, corrected)
    if not values["losses"]:
        notes.append("choose at least one loss")
    try:
        return build(values, shown)
    except ValueError as e:  # what the library refuses for valid controls, e.g. no density for Barron's alpha < 0
        raise state.InputError(str(e)) from None


def layout(query: dict):
    descriptions = {f"{n}.{p.name}": p.description for n, p in params()}
    return controls.curve_page(PAGE, "Losses: value, likelihood and gradient", query, schema(), compute, descriptions, "losses")


def export_file(n_clicks, fmt, st):
    """'Export for notes': the shown state's curves drawn by the figure exporter's matplotlib builder."""
    def draw(values):
        cs = [curves.loss_curve(n, loss_params(values, n), target=float(values["y"]), x_range=(values["xmin"], values["xmax"]),
                                normalized=bool(values["normalized"])) for n in values["losses"]]
        return plot_mpl.overlay_figure(cs, title="Losses")

    return controls.export_shown(PAGE, schema(), n_clicks, fmt, st, draw, required=("losses", "loss"))


def register(app):
    controls.wire_formulas(app, PAGE, schema(), "losses", formula_blocks)
    controls.wire(app, PAGE, schema(), compute,
                  [Output("losses-graph", "figure"), Output("losses-coincide", "children"), Output("losses-formula", "children")],
                  animate=("losses-graph",))
    controls.wire_export(app, PAGE, export_file)
