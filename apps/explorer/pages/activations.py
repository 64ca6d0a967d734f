"""Activations page: values and derivatives; where gradients vanish."""

from __future__ import annotations

import dash
from dash import Input, Output, State, dcc, html

from lossviz.explorer import controls, state
from lossviz.explorer.state import InputError, check_number
from lossviz import curves, export, plot_mpl, plot_plotly
from lossviz.registry import activations, get_activation

PAGE, PATH, TITLE = "activations", "/activations", "Activations"
N_POINTS = 2000
VANISH = 0.01


def names() -> list[str]:
    return [n for n in activations() if get_activation(n).kind == "elementwise"]


def params():
    return [(n, p) for n in names() for p in get_activation(n).params]


def compute(chosen, x_range, param_values):
    chosen = [n for n in chosen if n in names()] if isinstance(chosen, list) else []
    if not chosen:
        raise InputError("choose at least one activation")
    lo, hi = state.check_range(x_range)
    by_name = state.check_params(params(), param_values)
    return [curves.activation_curve(n, by_name.get(n), x_range=(lo, hi), n=N_POINTS) for n in chosen]


def update(chosen, x_range, vanish, *param_values):
    try:
        cs = compute(chosen, x_range, param_values)
    except (InputError, ValueError) as e:
        return dash.no_update, str(e), dash.no_update
    formulas = "\n\n".join(f"**{get_activation(c.name).title}**: $${get_activation(c.name).formula.value}$$  derivative: $${get_activation(c.name).formula.grad}$$" for c in cs)
    return plot_plotly.activation_figure(cs, vanish_below=VANISH if vanish else None), "", formulas


def layout(query: dict):
    hide = state.hidden(query)
    chosen = state.names(query.get("activations"), names(), ["relu", "sigmoid", "tanh"])
    param_controls = controls.param_sliders(PAGE, params(), query, hide)
    return html.Div([
        html.H2("Activations and their derivatives"),
        html.Div([
            controls.box(PAGE, "activations", "activations", dcc.Dropdown(id="activations-names", options=names(), value=chosen, multi=True), hide),
            controls.x_range(PAGE, "x range", query, (-6.0, 6.0), hide),
            *param_controls,
            controls.box(PAGE, "vanish", "vanishing gradients", dcc.Checklist(id="activations-vanish", options=[{"label": f" shade where |f'| < {VANISH}", "value": "on"}],
                                                                              value=["on"] if query.get("vanish") == "1" else []), hide),
        ], className="controls"),
        html.Div(id="activations-message", className="message"),
        dcc.Graph(id="activations-graph", config={"toImageButtonOptions": {"format": "png", "filename": "lossviz-activations"}}),
        dcc.Markdown(id="activations-formula", mathjax=True),
        controls.export_row(PAGE),
    ])


def _inputs():
    return [Input("activations-names", "value"), Input("activations-xrange", "value"), Input("activations-vanish", "value")] + [
        Input(controls.param_id(PAGE, n, p.name), "value") for n, p in params()]


def to_query(chosen, x_range, vanish, *param_values):
    values = {"activations": chosen or [], "xmin": (x_range or [None])[0], "xmax": (x_range or [None, None])[-1], "vanish": "1" if vanish else None}
    for (n, p), v in zip(params(), param_values):
        values[controls.param_key(n, p.name)] = v
    return {k: v for k, v in values.items() if v is not None}


def export_file(n_clicks, fmt, chosen, x_range, vanish, *param_values):
    if not n_clicks:
        return dash.no_update
    cs = compute(chosen, x_range, param_values)
    fmt = fmt if fmt in export.FORMATS else "svg"
    with plot_mpl.style("light"):
        data = export.render(plot_mpl.activation_grid_figure(cs), fmt)
    return dcc.send_bytes(data, f"lossviz-activations.{fmt}")


def register(app):
    app.callback(Output("activations-graph", "figure"), Output("activations-message", "children"), Output("activations-formula", "children"), *_inputs())(update)
    app.callback(Output("activations-download", "data"), Input("activations-export", "n_clicks"), State("activations-export-format", "value"),
                 *[State(i.component_id, i.component_property) for i in _inputs()], prevent_initial_call=True)(export_file)
    return _inputs(), to_query
