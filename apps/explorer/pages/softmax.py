"""Softmax & cross-entropy page: one slider per logit, temperature, true class; the overflow demo."""

from __future__ import annotations

import math

import dash
from dash import Input, Output, State, dcc, html

from lossviz.explorer import controls, state
from lossviz.explorer.state import InputError, check_number
from lossviz import curves, export, plot_mpl, plot_plotly

PAGE, PATH, TITLE = "softmax", "/softmax", "Softmax & cross-entropy"
MAX_CLASSES, MIN_CLASSES = 10, 3
LOGIT_RANGE = 10.0
DEFAULT_LOGITS = (2.0, 1.0, 0.1, -1.0, 0.5, -0.5, 1.5, -2.0, 0.0, 0.3)


def compute(n_classes, temperature, target, scale_exp, logits):
    k = int(check_number(n_classes, "number of classes", MIN_CLASSES, MAX_CLASSES))
    t = check_number(temperature, "temperature", 0.1, 5)
    c = int(check_number(target, "true class", 0, k - 1))
    s = check_number(scale_exp, "logit scale (log10)", 0, 4)
    row = [check_number(v, f"logit {i}", -LOGIT_RANGE, LOGIT_RANGE) for i, v in enumerate(logits[:k])]
    scale = 10 ** s
    return curves.softmax_view([v * scale for v in row], temperature=t, target_class=c), row, scale


def _fmt(x: float) -> str:
    return "inf" if math.isinf(x) else ("NaN" if math.isnan(x) else f"{x:.6g}")


def update(n_classes, temperature, target, scale_exp, *logits):
    try:
        view, row, scale = compute(n_classes, temperature, target, scale_exp, logits)
    except (InputError, ValueError) as e:
        return dash.no_update, str(e), dash.no_update, dash.no_update
    text = (f"cross-entropy (stable, log-sum-exp): {_fmt(view.loss)}   ·   naive exp/sum/log in float32: {_fmt(view.naive_loss)}"
            f"   ·   logits × {scale:g}")
    overflow = plot_plotly.overflow_figure(curves.overflow_curve([v / max(1e-9, max(abs(x) for x in row)) for v in row], target_class=view.target_class))
    return plot_plotly.softmax_figure(view), "", text, overflow


def layout(query: dict):
    hide = state.hidden(query)
    k = int(state.number(query.get("classes"), 5, MIN_CLASSES, MAX_CLASSES))
    logit_boxes = []
    for i in range(MAX_CLASSES):
        box = controls.box(PAGE, f"o{i}", f"logit o{i}", controls.slider(f"softmax-logit-{i}", -LOGIT_RANGE, LOGIT_RANGE, 0.1,
                                                                        state.number(query.get(f"o{i}"), DEFAULT_LOGITS[i], -LOGIT_RANGE, LOGIT_RANGE)), hide)
        if i >= k:
            box.style = {"display": "none"}
        logit_boxes.append(box)
    return html.Div([
        html.H2("Softmax and cross-entropy"),
        html.Div([
            controls.box(PAGE, "classes", "number of classes", controls.slider("softmax-classes", MIN_CLASSES, MAX_CLASSES, 1, k), hide),
            controls.box(PAGE, "temperature", "temperature T", controls.slider("softmax-temperature", 0.1, 5, 0.05, state.number(query.get("temperature"), 1.0, 0.1, 5)), hide),
            controls.box(PAGE, "target", "true class", dcc.Dropdown(id="softmax-target", options=list(range(MAX_CLASSES)),
                                                                   value=int(state.number(query.get("target"), 0, 0, k - 1)), clearable=False), hide),
            controls.box(PAGE, "scale", "large logits: multiply by 10^s", controls.slider("softmax-scale", 0, 4, 0.05, state.number(query.get("scale"), 0, 0, 4)), hide),
            *logit_boxes,
        ], className="controls"),
        html.Div(id="softmax-message", className="message"),
        html.Div(id="softmax-loss", className="loss-readout"),
        dcc.Graph(id="softmax-graph"),
        html.H3("The large-logits demo: naive vs stable cross-entropy as these logits are scaled"),
        dcc.Graph(id="softmax-overflow"),
        controls.export_row(PAGE),
    ])


def _inputs():
    return [Input("softmax-classes", "value"), Input("softmax-temperature", "value"), Input("softmax-target", "value"),
            Input("softmax-scale", "value")] + [Input(f"softmax-logit-{i}", "value") for i in range(MAX_CLASSES)]


def to_query(n_classes, temperature, target, scale_exp, *logits):
    values = {"classes": n_classes, "temperature": temperature, "target": target, "scale": scale_exp}
    k = int(n_classes) if isinstance(n_classes, (int, float)) else MAX_CLASSES
    values.update({f"o{i}": v for i, v in enumerate(logits[:k])})
    return {key: v for key, v in values.items() if v is not None}


def show_logits(n_classes, hidden_keys):
    k = int(n_classes) if isinstance(n_classes, (int, float)) and MIN_CLASSES <= n_classes <= MAX_CLASSES else MAX_CLASSES
    hidden_keys = set(hidden_keys or [])
    styles = [{"display": "none"} if i >= k or f"o{i}" in hidden_keys else {} for i in range(MAX_CLASSES)]
    return (*styles, [{"label": str(i), "value": i} for i in range(k)])


def export_file(n_clicks, fmt, n_classes, temperature, target, scale_exp, *logits):
    if not n_clicks:
        return dash.no_update
    view, row, scale = compute(n_classes, temperature, target, scale_exp, logits)
    temps = sorted({0.5, 1.0, 2.0, round(view.temperature, 2)})
    fmt = fmt if fmt in export.FORMATS else "svg"
    with plot_mpl.style("light"):
        data = export.render(plot_mpl.temperature_figure(view.logits, curves.temperature_sweep(view.logits, temps)), fmt)
    return dcc.send_bytes(data, f"lossviz-softmax.{fmt}")


def register(app):
    app.callback(Output("softmax-graph", "figure"), Output("softmax-message", "children"), Output("softmax-loss", "children"),
                 Output("softmax-overflow", "figure"), *_inputs())(update)
    app.callback(*[Output(f"softmax-box-o{i}", "style") for i in range(MAX_CLASSES)], Output("softmax-target", "options"),
                 Input("softmax-classes", "value"), State("hidden-controls", "data"))(show_logits)
    app.callback(Output("softmax-download", "data"), Input("softmax-export", "n_clicks"), State("softmax-export-format", "value"),
                 *[State(i.component_id, i.component_property) for i in _inputs()], prevent_initial_call=True)(export_file)
    return _inputs(), to_query
