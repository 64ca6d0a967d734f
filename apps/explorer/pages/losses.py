"""Losses page: overlay losses; value, likelihood and gradient against the prediction."""

from __future__ import annotations

import dash
from dash import Input, Output, State, dcc, html

from lossviz.explorer import controls, state
from lossviz.explorer.state import InputError, check_number
from lossviz import curves, export, plot_mpl, plot_plotly
from lossviz.registry import get_loss, losses

PAGE, PATH, TITLE = "losses", "/losses", "Losses"
N_POINTS = 2000


def names() -> list[str]:
    return [n for n in losses() if get_loss(n).kind == "regression"]


def params() -> list[tuple[str, object]]:
    """(loss name, Param) for every parameter of every regression loss in the registry."""
    return [(n, p) for n in names() for p in get_loss(n).params]


def compute(chosen, y, x_range, normalized, param_values) -> tuple[list, str]:
    """Validated inputs -> the curves (same numbers as the exported figures) and the formulas."""
    chosen = [n for n in chosen if n in names()] if isinstance(chosen, list) else []
    if not chosen:
        raise InputError("choose at least one loss")
    y = check_number(y, "true value y", -10, 10)
    lo, hi = state.check_range(x_range)
    by_name = state.check_params(params(), param_values)
    cs = [curves.loss_curve(n, by_name.get(n), target=y, x_range=(lo, hi), n=N_POINTS, normalized=bool(normalized)) for n in chosen]
    formulas = "\n\n".join(f"**{get_loss(n).title}**: $${get_loss(n).formula.value}$$  gradient: $${get_loss(n).formula.grad}$$" for n in chosen)
    return cs, formulas


def update(chosen, y, x_range, normalized, *param_values):
    """The callback: figure, message, formulas. Bad input keeps the last good figure."""
    try:
        cs, formulas = compute(chosen, y, x_range, normalized, param_values)
    except (InputError, ValueError) as e:
        return dash.no_update, str(e), dash.no_update
    return plot_plotly.overlay_figure(cs), "", formulas


def layout(query: dict):
    hide = state.hidden(query)
    chosen = state.names(query.get("losses"), names(), names())
    y = state.number(query.get("y"), 0.0, -10, 10)
    param_controls = controls.param_sliders(PAGE, params(), query, hide)
    return html.Div([
        html.H2("Losses: value, likelihood and gradient"),
        html.Div([
            controls.box(PAGE, "losses", "losses", dcc.Dropdown(id="losses-names", options=names(), value=chosen, multi=True), hide),
            controls.box(PAGE, "y", "true value y", controls.slider("losses-y", -5, 5, 0.1, y), hide),
            controls.x_range(PAGE, "prediction range", query, (-3.0, 3.0), hide),
            *param_controls,
            controls.box(PAGE, "normalized", "likelihood", dcc.Checklist(id="losses-normalized", options=[{"label": " normalized (a density)", "value": "on"}],
                                                                        value=["on"] if query.get("normalized") == "1" else []), hide),
        ], className="controls"),
        html.Div(id="losses-message", className="message"),
        dcc.Graph(id="losses-graph", mathjax=True, config={"toImageButtonOptions": {"format": "png", "filename": "lossviz-losses"}}),
        dcc.Markdown(id="losses-formula", mathjax=True),
        controls.export_row(PAGE),
    ])


def _inputs():
    return [Input("losses-names", "value"), Input("losses-y", "value"), Input("losses-xrange", "value"), Input("losses-normalized", "value")] + [
        Input(controls.param_id(PAGE, n, p.name), "value") for n, p in params()]


def to_query(chosen, y, x_range, normalized, *param_values) -> str:
    values = {"losses": chosen or [], "y": y, "xmin": (x_range or [None])[0], "xmax": (x_range or [None, None])[-1],
              "normalized": "1" if normalized else None}
    for (n, p), v in zip(params(), param_values):
        values[controls.param_key(n, p.name)] = v
    return {k: v for k, v in values.items() if v is not None}


def export_file(n_clicks, fmt, chosen, y, x_range, normalized, *param_values):
    """'Export for notes': the same curves drawn by the figure exporter's matplotlib builder."""
    if not n_clicks:
        return dash.no_update
    cs, _ = compute(chosen, y, x_range, normalized, param_values)
    fmt = fmt if fmt in export.FORMATS else "svg"
    with plot_mpl.style("light"):
        data = export.render(plot_mpl.overlay_figure(cs, title="Losses"), fmt)
    return dcc.send_bytes(data, f"lossviz-losses.{fmt}")


def register(app):
    app.callback(Output("losses-graph", "figure"), Output("losses-message", "children"), Output("losses-formula", "children"), *_inputs())(update)
    app.callback(Output("losses-download", "data"), Input("losses-export", "n_clicks"), State("losses-export-format", "value"),
                 *[State(i.component_id, i.component_property) for i in _inputs()], prevent_initial_call=True)(export_file)
    return [i for i in _inputs()], to_query
