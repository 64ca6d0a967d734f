"""The Playground's capacity mode (d2l 4.4-4.5, issue 26 item 1): a polynomial of a chosen degree
fitted to d2l's cubic data (``lossviz.toy.polynomial_fit``), with training-set size and weight
decay as controls; on each change: the fitted curve over the points, train and test loss per
epoch (log scale), the learned coefficients beside the true ones, and the U-curve (final train
and test error against the degree, ``polynomial_fit`` at every degree 1-20 with the same data).

Each fit and each U-curve is cached (a pure function of degree, size and weight decay): a change
of the degree trains one polynomial (~0.1-0.4 s), a change of the size or weight decay the
U-curve's 20 together (~0.4 s at d2l's 100 points), then any degree is instant."""

from __future__ import annotations

import functools

import numpy as np
from dash import Input, Output, State, ClientsideFunction, html

from lossviz import toy
from lossviz.capacity import true_polynomial
from lossviz.explorer import controls, figures, state
from lossviz.explorer.state import Choice, Flag, Number

PREFIX = "playground-cap"
MAX_DEGREE = 20
# lambda by decades: with d2l's 100 points 0.01 narrows the degree-20 gap, 0.1 already underfits
# (a linear slider could not reach 0.01 and 0.001 beside 10)
DECAYS = ("0", "0.001", "0.01", "0.1", "1", "10")
TRAIN_COLOR, TEST_COLOR, FIT_COLOR, TRUE_COLOR = "#0072B2", "#D55E00", "#009E73", "#222222"


def capacity_schema(modes) -> list:
    return [Choice("mode", "mode", modes, "capacity"),
            Number("n_train", "training-set size", 10, 200, 10, 100, integer=True),
            Number("degree", "polynomial degree", 1, MAX_DEGREE, 1, 3, integer=True),
            Choice("wd", "weight decay λ", DECAYS, "0"),
            Flag("present", "presentation")]


@functools.lru_cache(maxsize=256)
def fit(degree: int, n_train: int, wd: float) -> toy.PolynomialFit:
    """``lossviz.toy.polynomial_fit`` with d2l's settings (400 epochs, lr 0.01, batch 10, 100 test points)."""
    return toy.polynomial_fit(int(degree), n_train=int(n_train), weight_decay=float(wd))


@functools.lru_cache(maxsize=64)
def u_curve(n_train: int, wd: float) -> tuple[np.ndarray, np.ndarray]:
    """Final train and test loss at every degree 1-20 (``toy.capacity_curve``: one pass for all)."""
    curve = toy.capacity_curve(n_train=int(n_train), weight_decay=float(wd))
    return curve.train_loss, curve.test_loss


def figures_of(values: dict, *, present: bool = False, narrow: bool = False) -> tuple[dict, dict, str]:
    """(the fit and its losses per epoch, the coefficients and the U-curve, a one-line readout)."""
    d, n, wd = int(values["degree"]), int(values["n_train"]), float(values["wd"])
    f = fit(d, n, wd)
    lk = figures.look(present)
    xs = np.linspace(-3.2, 3.2, 161)
    ys = np.concatenate([f.y_train, f.y_test])
    lo, hi = float(ys.min()), float(ys.max())
    pad = 0.15 * (hi - lo)
    top = figures.panels_layout([f"degree {d} fitted to {n} training points", "loss per epoch (log scale)"], "",
                                present=present, narrow=narrow, height=420 if not present else 500)
    top["hovermode"] = "closest"
    top["xaxis"]["title"]["text"] = "x"
    top["xaxis2"]["title"]["text"] = "epoch"
    top["xaxis"]["range"] = [-3.2, 3.2]
    top["yaxis"]["range"] = [lo - pad, hi + pad]
    top["yaxis2"].update(type="log", exponentformat="power")
    top["uirevision"] = "capacity"
    w = lk["width"]
    traces = [
        {"type": "scatter", "mode": "lines", "x": figures.b64(xs), "y": figures.b64(true_polynomial(xs)),
         "name": "true cubic", "line": {"color": TRUE_COLOR, "dash": "dash", "width": 1.5}, "meta": "true", "hoverinfo": "skip"},
        {"type": "scatter", "mode": "lines", "x": figures.b64(xs), "y": figures.b64(f.predict(xs)), "name": f"fit (degree {d})",
         "line": {"color": FIT_COLOR, "width": w}, "meta": "fit", "hovertemplate": "fit %{y:.3g}<extra></extra>"},
        {"type": "scatter", "mode": "markers", "x": figures.b64(f.x_train), "y": figures.b64(f.y_train), "name": "train points",
         "marker": {"color": TRAIN_COLOR, "size": 8}, "meta": "train-points"},
        {"type": "scatter", "mode": "markers", "x": figures.b64(f.x_test), "y": figures.b64(f.y_test), "name": "test points",
         "marker": {"color": TEST_COLOR, "size": 7, "symbol": "circle-open"}, "meta": "test-points"},
    ]
    epochs = np.arange(1, len(f.train_loss) + 1)
    for key, name, color in (("train_loss", "train loss", TRAIN_COLOR), ("test_loss", "test loss", TEST_COLOR)):
        traces.append({"type": "scatter", "mode": "lines", "x": figures.b64(epochs), "y": figures.b64(np.asarray(getattr(f, key))),
                       "name": name, "xaxis": "x2", "yaxis": "y2", "meta": key, "line": {"color": color, "width": w},
                       "hovertemplate": name + " %{y:.4g} (epoch %{x})<extra></extra>"})
    top_fig = {"data": traces, "layout": top}

    train_u, test_u = u_curve(n, wd)
    bottom = figures.panels_layout(["learned coefficients and the true ones (of xⁱ/i!)", "U-curve: final error against the degree"], "",
                                   present=present, narrow=narrow, height=400 if not present else 480)
    bottom["hovermode"] = "closest"
    bottom["barmode"] = "group"
    bottom["xaxis"]["title"]["text"] = "i (the weight of xⁱ/i!)"
    bottom["xaxis2"]["title"]["text"] = "degree"
    bottom["yaxis2"].update(type="log", exponentformat="power")
    bottom["xaxis"].update(dtick=1 if d <= 10 else 2)
    bottom["xaxis2"].update(dtick=1 if not narrow else 2, range=[0.5, MAX_DEGREE + 0.5])
    bottom["uirevision"] = "capacity"
    true_w = f.true_weights
    i = np.arange(len(true_w))
    learned = np.zeros(len(true_w))
    learned[:len(f.weights)] = f.weights
    degrees = np.arange(1, MAX_DEGREE + 1)
    b = [{"type": "bar", "x": i.tolist(), "y": np.round(learned, 6).tolist(), "name": "learned", "marker": {"color": FIT_COLOR},
          "meta": "learned", "hovertemplate": "w%{x} learned %{y:.3f}<extra></extra>"},
         {"type": "bar", "x": i.tolist(), "y": true_w.tolist(), "name": "true (5, 1.2, −3.4, 5.6, then 0)", "marker": {"color": "#999999"},
          "meta": "true-weights", "hovertemplate": "w%{x} true %{y:.3f}<extra></extra>"},
         {"type": "scatter", "mode": "lines+markers", "x": degrees.tolist(), "y": train_u.tolist(), "name": "final train loss",
          "xaxis": "x2", "yaxis": "y2", "meta": "u-train", "line": {"color": TRAIN_COLOR, "width": w}, "showlegend": False},
         {"type": "scatter", "mode": "lines+markers", "x": degrees.tolist(), "y": test_u.tolist(), "name": "final test loss",
          "xaxis": "x2", "yaxis": "y2", "meta": "u-test", "line": {"color": TEST_COLOR, "width": w}, "showlegend": False},
         {"type": "scatter", "mode": "markers", "x": [d, d], "y": [float(train_u[d - 1]), float(test_u[d - 1])], "name": f"degree {d}",
          "xaxis": "x2", "yaxis": "y2", "meta": "u-now", "showlegend": False,
          "marker": {"color": [TRAIN_COLOR, TEST_COLOR], "size": 16, "symbol": "circle-open", "line": {"width": 3}}}]
    bottom_fig = {"data": b, "layout": bottom}
    gap = f.test_loss[-1] / f.train_loss[-1] if f.train_loss[-1] > 0 else float("inf")
    text = (f"degree {d}, {n} training points, λ = {state.fmt_number(wd)}: final train loss {f.train_loss[-1]:.4g}, "
            f"test loss {f.test_loss[-1]:.4g} ({gap:.3g} × train); 400 epochs of SGD (lr 0.01, batch 10) as d2l 4.4")
    return top_fig, bottom_fig, text


def layout(query: dict, modes, tabs, hide: set):
    """The capacity mode's page: the mode links, the three sliders, the two graphs."""
    import dash_mantine_components as dmc
    from dash import dcc

    sch = capacity_schema(modes)
    values, notes = state.from_query(sch, query)
    fields = [f for f in sch if f.key not in ("mode", "present")]
    top, bottom, text = figures_of(values)
    ctl = []
    for fld in fields:
        cid = controls.safe_id(PREFIX, fld.key)
        if isinstance(fld, Choice):
            label = dmc.Text(fld.label, size="sm", fw=600, c="dimmed", className="control-label")
            widget = dmc.SegmentedControl(id=cid, data=list(fld.options), value=values[fld.key], fullWidth=True,
                                          **{"aria-label": fld.label})
        else:
            label = dmc.Text([fld.label, ": ", html.Span(state.fmt_number(values[fld.key]), id=f"{cid}-show")], size="sm", fw=600,
                             c="dimmed", className="control-label")
            widget = dmc.Slider(id=cid, min=fld.lo, max=fld.hi, step=fld.step, value=values[fld.key], updatemode="mouseup",
                                size="lg", **{"aria-label": fld.label})
        ctl.append(html.Div([label, widget],
                            id=controls.wrap_id(PREFIX, fld.key), className="control",
                            style={"display": "none"} if fld.key in hide else {}))
    hide_list = sorted(hide)[: state.MAX_LIST]
    search = state.query_of(sch, {f.key: values[f.key] for f in sch}, hide_list)
    cfg = {"responsive": True, "displaylogo": False}
    return html.Div([
        *controls.page_header(PREFIX, "Playground: capacity, overfitting and weight decay (d2l 4.4–4.5)", notes, hide),
        tabs,
        dmc.Text("y = 5 + 1.2x − 3.4x²/2! + 5.6x³/3! + ε, ε ~ N(0, 0.1²), x ~ N(0, 1); the model: Σᵢ wᵢ xⁱ/i! up to the degree, "
                 "squared error, weight decay λ/2‖w‖² (not on the constant). A low degree underfits (both errors high), a high degree "
                 "on few points overfits (test far above train: degree 20 on d2l's 100 points); a little weight decay (λ = 0.01) "
                 "narrows the gap, more (λ ≥ 0.1) underfits again.", size="sm", c="dimmed"),
        dmc.SimpleGrid(ctl, cols={"base": 1, "sm": 3}, spacing="lg", verticalSpacing="sm", className="controls"),
        html.Div(dcc.Loading(html.Div(text, id=f"{PREFIX}-readout", className="readout"), type="dot", delay_show=300)),
        dcc.Graph(id=f"{PREFIX}-fit", figure=top, config=cfg, className="graph"),
        dcc.Graph(id=f"{PREFIX}-ucurve", figure=bottom, config=cfg, className="graph"),
        dcc.Store(id=f"{PREFIX}-search", data={"search": search, "push": False}), dcc.Store(id=f"{PREFIX}-url-done"),
        dcc.Store(id=f"{PREFIX}-narrow"),  # a phone-width window: the panels redraw stacked
        dcc.Store(id=f"{PREFIX}-loaded", data=True),  # fires once, when the page arrives (the phone-width check)
    ])


def register(app, modes):
    sch = capacity_schema(modes)
    fields = [f for f in sch if f.key not in ("mode", "present")]
    ids = [controls.safe_id(PREFIX, f.key) for f in fields]
    app.clientside_callback(ClientsideFunction("playground", "url"), Output(f"{PREFIX}-url-done", "data"), Input(f"{PREFIX}-search", "data"))
    for cid in (controls.safe_id(PREFIX, f.key) for f in fields if not isinstance(f, Choice)):
        app.clientside_callback(ClientsideFunction("playground", "show"), Output(f"{cid}-show", "children"), Input(cid, "value"),
                                prevent_initial_call=True)

    # once per page: a trigger that changed with every update would keep the update pending
    controls.report_narrow(app, f"{PREFIX}-narrow", Input(f"{PREFIX}-loaded", "data"))

    @app.callback(Output(f"{PREFIX}-fit", "figure"), Output(f"{PREFIX}-ucurve", "figure"), Output(f"{PREFIX}-readout", "children"),
                  Output(f"{PREFIX}-search", "data"), *[Input(i, "value") for i in ids], Input("present", "checked"),
                  Input(f"{PREFIX}-narrow", "data"), State(f"{PREFIX}-search", "data"), State("hidden-controls", "data"),
                  prevent_initial_call=True)
    def update(*args):
        raw = dict(zip([f.key for f in fields], args[:len(fields)]))
        present, narrow, shown, hide = args[len(fields):]
        raw.update(mode="capacity", present=present is True)
        values, notes, _ = state.from_request(sch, raw, None)
        top, bottom, text = figures_of(values, present=present is True, narrow=narrow is True)
        hide_keys = [h for h in (hide or []) if isinstance(h, str)][: state.MAX_LIST] if isinstance(hide, list) else []
        search = state.query_of(sch, {f.key: values[f.key] for f in sch}, hide_keys)
        old = shown.get("search") if isinstance(shown, dict) else None
        return top, bottom, ("; ".join(notes) + " · " if notes else "") + text, {"search": search, "push": old != search}
