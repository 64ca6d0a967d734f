"""Softmax & cross-entropy page: one slider per logit, temperature, true class; the large-logits demo.

The demo multiplies the logits by 10^s and compares, in float32 (the dtype models train in), the
naive exp/sum/log cross-entropy with the stable log-sum-exp one: s runs along a linear axis of
the exponent, the current s is marked, and where the naive form returns inf or NaN it is marked.
"""

from __future__ import annotations

import math

import dash_mantine_components as dmc
import numpy as np
from dash import Output, dcc, html

from lossviz import curves
from lossviz.explorer import controls, figures, state
from lossviz.explorer.state import Flag, Number
from lossviz.style import PALETTE, color_of

PAGE, PATH, TITLE = "softmax", "/softmax", "Softmax & cross-entropy"
MAX_CLASSES, MIN_CLASSES = 10, 3
LOGIT_RANGE = 10.0
DEFAULT_LOGITS = (2.0, 1.0, 0.1, -1.0, 0.5, -0.5, 1.5, -2.0, 0.0, 0.3)
S_MAX = 4.0
S_GRID = np.linspace(0.0, S_MAX, 321)  # exponents s of the demo's x-axis (0.0125 apart)
TRUE, OTHER = PALETTE[2], PALETTE[0]
FORMULAS = (  # one display formula each, so a phone wraps between them rather than clipping one line
    r"$$\displaystyle \mathrm{softmax}(\mathbf{o}/T)_i = \frac{e^{o_i/T}}{\sum_k e^{o_k/T}}$$",
    r"$$\displaystyle l(\mathbf{o}, y) = -\log \mathrm{softmax}(\mathbf{o}/T)_y = \log\sum_k e^{o_k/T} - o_y/T$$",
    r"$$\displaystyle \frac{\partial l}{\partial (o_i/T)} = \mathrm{softmax}(\mathbf{o}/T)_i - [i = y]$$",
    r"$$\displaystyle \log\sum_k e^{o_k} = m + \log\sum_k e^{o_k - m},\ m = \max_k o_k$$ (never overflows)",
)


def schema() -> list:
    fields = [Number("classes", "number of classes", MIN_CLASSES, MAX_CLASSES, 1, 5, integer=True),
              Number("temperature", "temperature T", 0.1, 5, 0.05, 1.0),
              Number("target", "true class y", 0, MAX_CLASSES - 1, 1, 0, integer=True),
              Number("scale", "large logits: multiply by 10^s", 0, S_MAX, 0.05, 0.0)]
    fields += [Number(f"o{i}", f"logit o{i}", -LOGIT_RANGE, LOGIT_RANGE, 0.1, DEFAULT_LOGITS[i]) for i in range(MAX_CLASSES)]
    return fields + [Flag("present", "presentation")]


def fix_target(values: dict, notes: list, corrected: dict) -> None:
    """The true class must be one of the classes shown."""
    k = int(values["classes"])
    if int(values["target"]) > k - 1:
        notes.append(f"true class y: {values['target']} is not among the {k} classes; using {k - 1}")
        corrected["target"] = values["target"] = k - 1


def _fmt(x: float) -> str:
    # + 0.0 turns -0.0 into 0.0: no "-0" readout
    return "inf" if math.isinf(x) and x > 0 else "−inf" if math.isinf(x) else "NaN" if math.isnan(x) else f"{x + 0.0:.6g}"


def demo_data(values: dict) -> dict:
    """Naive and stable cross-entropy of 10^s * o / T over the s grid (``curves.overflow_curve``)."""
    k = int(values["classes"])
    base = [float(values[f"o{i}"]) / float(values["temperature"]) for i in range(k)]
    data = curves.overflow_curve(base, target_class=int(values["target"]), scales=10.0 ** S_GRID)
    data["s"] = S_GRID
    return data


def bars_figure(view, present: bool, narrow: bool) -> dict:
    k = len(view.logits)
    lk = figures.look(present)
    labels = [f"class {i}" for i in range(k)]
    true = np.array([i == view.target_class for i in range(k)])
    traces = []
    for panel, (series, fmt) in enumerate(((view.probs, ".3f"), (view.grad, "+.3f"))):
        xa, ya = figures.axis_names(panel)
        key = "probs" if panel == 0 else "grad"
        for is_true, name, color in ((True, rf"$\text{{true class }} y = {view.target_class}$", TRUE), (False, r"$\text{other classes}$", OTHER)):
            y = np.where(true == is_true, series, np.nan)
            traces.append({"type": "bar", "x": labels, "y": figures.b64(y), "name": name, "marker": {"color": color},
                           "legendgroup": name, "showlegend": panel == 0, "xaxis": xa, "yaxis": ya,
                           "meta": [key, "true" if is_true else "other"], "hovertemplate": "class %{x}: %{y:.4g}<extra></extra>"})
        # The values as a text trace at the bar ends (plotly lays out a bar's own text label with
        # ~7 ms more work per drag frame for 20 bars than a text trace).
        values = [float(v) for v in series]
        traces.append({"type": "scatter", "mode": "text", "x": labels, "y": values, "text": [format(v, fmt) for v in values],
                       "textposition": ["bottom center" if v < 0 else "top center" for v in values], "cliponaxis": False,
                       "textfont": {"size": lk["tick"]}, "showlegend": False, "hoverinfo": "skip", "xaxis": xa, "yaxis": ya,
                       "meta": ["labels", key]})
    layout = figures.panels_layout(["softmax(o / T): probabilities", "gradient ∂l/∂(o/T) = softmax(o/T) − onehot(y)"],
                                   "class", present=present, narrow=narrow, height=400 if not present else 500)
    layout.update(barmode="overlay", hovermode="closest", bargap=0.25)
    layout["margin"]["t"] = (80 if not narrow else 120) + figures.MODEBAR_PX - 8
    for ax in ("xaxis", "xaxis2"):
        layout[ax]["type"] = "category"
    layout["yaxis"]["range"] = [0, 1.12]
    layout["yaxis2"]["range"] = [-1.15, 1.15]
    return {"data": traces, "layout": layout}


def current_marker(s: float, font: int, narrow: bool = False) -> dict:
    """The dotted line at the current s, labelled at its top (the last trace of the demo); the
    label on the side with room (on a phone a shorter label, turning at the middle)."""
    text = f"s = {s:.2f} (× {10 ** s:.3g})" if narrow else f"current s = {s:.2f} (logits × {10 ** s:.3g})"
    return {"type": "scatter", "mode": "lines+text", "x": [s, s], "y": [0, 1], "yaxis": "y2", "meta": "current",
            "name": "current s", "text": ["", text], "textposition": "top left" if s > (0.5 if narrow else 0.6) * S_MAX else "top right",
            "textfont": {"size": font}, "line": {"color": "#212529", "width": 2, "dash": "dot"}, "hoverinfo": "skip", "cliponaxis": False}


def demo_figure(data: dict, s: float, present: bool, narrow: bool) -> dict:
    """Cross-entropy against s (linear axis of the exponent): stable, naive, failures, current s."""
    lk = figures.look(present)
    s_grid, stable, naive = data["s"], data["stable"], data["naive"]
    positive = lambda y: np.where(np.isfinite(y) & (y > 0), y, np.nan)  # noqa: E731 (log axis: 0 and inf are gaps)
    bad = ~np.isfinite(naive)
    traces = [
        {"type": "scatter", "mode": "lines", "x": figures.b64(s_grid), "y": figures.b64(positive(stable)),
         "name": r"$\text{stable: } \log \sum_k e^{o_k} - o_y$", "line": {"color": color_of("cross_entropy"), "width": lk["width"] + 2},
         "meta": "stable", "hovertemplate": "%{y:.4g}<extra>stable (log-sum-exp)</extra>"},
        {"type": "scatter", "mode": "lines", "x": figures.b64(s_grid), "y": figures.b64(positive(np.where(bad, np.nan, naive))),
         "name": r"$\text{naive: } -\log \frac{e^{o_y}}{\sum_k e^{o_k}}$", "line": {"color": PALETTE[4], "width": lk["width"], "dash": "dash"},
         "meta": "naive", "hovertemplate": "%{y:.4g}<extra>naive</extra>"},
    ]
    shapes, annotations = [], []
    zero = np.isfinite(stable) & (stable == 0)
    if True:  # exactly 0 in float32: off a log axis, so marked at its foot (always a trace: drag steps patch by index)
        traces.append({"type": "scatter", "mode": "markers", "x": figures.b64(s_grid[zero][::4]), "y": [0.03] * len(s_grid[zero][::4]),
                       "yaxis": "y2", "name": "stable = 0 exactly (float32 underflow)", "meta": "zero", "showlegend": bool(zero.any()),
                       "marker": {"symbol": "line-ew-open", "color": color_of("cross_entropy"), "size": 10, "line": {"width": 3}},
                       "hovertemplate": "s = %{x:.3f}: stable loss is 0<extra></extra>"})
    for kind, mask in (("inf", np.isinf(naive)), ("NaN", np.isnan(naive))):
        if True:
            traces.append({"type": "scatter", "mode": "markers", "x": figures.b64(s_grid[mask][::4]), "y": [0.96] * len(s_grid[mask][::4]),
                           "yaxis": "y2", "name": f"naive gives {kind}", "showlegend": bool(mask.any()), "marker": {"symbol": "x-thin-open" if kind == "inf" else "circle-open",
                                                                                     "color": PALETTE[4] if kind == "inf" else PALETTE[3], "size": 9,
                                                                                     "line": {"width": 2}},
                           "meta": kind, "hovertemplate": f"s = %{{x:.3f}}: naive gives {kind}<extra></extra>"})
    if bad.any():
        first = float(s_grid[bad][0])
        shapes.append({"type": "rect", "xref": "x", "yref": "paper", "x0": first, "x1": float(s_grid[-1]), "y0": 0, "y1": 1,
                       "fillcolor": PALETTE[4], "opacity": 0.10, "line": {"width": 0}, "layer": "below",
                       "name": "naive form broken", "showlegend": True})
        annotations.append({"x": first, "y": 0.88, "xref": "x", "yref": "paper", "xanchor": "left", "showarrow": False,
                            "text": f" naive fails from s = {first:.2f} (×{10 ** first:.3g})", "font": {"color": PALETTE[4], "size": lk["font"]}})
    # The current s: a trace on the overlaid [0, 1] axis (not a shape), so a drag of s moves it
    # with an animated frame (controls.wire) instead of a redraw of the figure.
    traces.append(current_marker(s, lk["font"], narrow))
    layout = {"template": "plotly_white", "font": {"size": lk["font"]}, "height": lk["height"] + (80 if narrow else 0),
              "margin": {"l": 64, "r": 16, "t": 40, "b": 56}, "hovermode": "x unified", "uirevision": "keep",
              "xaxis": {"title": {"text": r"$s \text{ (logits multiplied by } 10^s)$"}, "range": [0, S_MAX], "tickfont": {"size": lk["tick"]}, "dtick": 0.5},
              "yaxis": {"title": {"text": "cross-entropy (log axis)"}, "type": "log", "tickfont": {"size": lk["tick"]},
                        "exponentformat": "power"},
              "yaxis2": {"overlaying": "y", "range": [0, 1], "visible": False, "fixedrange": True},
              "legend": {"orientation": "h", "yanchor": "top", "y": -0.22, "x": 0, "font": {"size": lk["legend"]}},
              "shapes": shapes, "annotations": annotations}
    return {"data": traces, "layout": layout}


def readout(view, scale: float) -> str:
    """The loss readout: three lines of plain text (a drag step writes text straight into the
    page, see controls.drag_frame; components would go through Dash)."""
    return "\n".join([
        f"cross-entropy, stable (log-sum-exp): {_fmt(view.loss)}",
        f"naive exp / sum / log in float32: {_fmt(view.naive_loss)}" + ("  ← overflow" if not math.isfinite(view.naive_loss) else ""),
        f"logits × 10^s = × {scale:.6g}, then divided by T = {view.temperature:g}",
    ])


def compute(values: dict, notes: list):
    """(bars, readout, demo, the logit boxes' styles) for validated values."""
    fix_target(values, notes, {})
    k, c = int(values["classes"]), int(values["target"])
    row = [float(values[f"o{i}"]) for i in range(k)]
    scale = 10.0 ** float(values["scale"])
    view = curves.softmax_view([v * scale for v in row], temperature=float(values["temperature"]), target_class=c)
    present, narrow = bool(values["present"]), bool(values.get("_narrow"))
    bars = bars_figure(view, present, narrow)
    demo = demo_figure(demo_data(values), float(values["scale"]), present, narrow)
    return (bars, readout(view, scale), demo)


def logit_styles(values: dict) -> list[dict]:
    k = int(values["classes"])
    return [{"display": "none"} if i >= k or f"o{i}" in (values.get("_hide") or ()) else {} for i in range(MAX_CLASSES)]


def frames(values: dict, key: str, steps: list[float]) -> list[dict]:
    """Both graphs and the readout at each step of slider ``key`` (every trace's data, names and
    texts that change; the demo's band and note)."""
    out = []
    for v in steps:
        vals = {**values, key: int(v) if key in ("classes", "target") else v}
        if key == "classes" and int(vals["target"]) > int(v) - 1:
            vals["target"] = int(v) - 1
        if key == "target" and int(v) > int(vals["classes"]) - 1:
            vals["target"] = int(vals["classes"]) - 1
        bars, text, demo = compute(vals, [])
        step = {"softmax-loss": text}
        for gid, fig, attrs in (("softmax-graph", bars, ("x", "y", "text", "textposition", "name")),
                                ("softmax-overflow", demo, ("x", "y", "text", "textposition", "showlegend"))):
            step[gid] = {"traces": {i: {a: t[a] for a in attrs if a in t} for i, t in enumerate(fig["data"])},
                         "layout": {"shapes": fig["layout"].get("shapes", []), "annotations": fig["layout"].get("annotations", [])}
                         if gid == "softmax-overflow" else {}}
        out.append(step)
    return out


def layout(query: dict):
    sch = schema()
    by_key = {f.key: f for f in sch}
    values, url_notes, st, msg, (bars, text, demo) = controls.first_view(PAGE, sch, compute, 3, query)
    hide = values["_hide"]
    styles = logit_styles(values)
    main = [controls.control(PAGE, by_key[key], values[key], hide) for key in ("classes", "temperature", "target", "scale")]
    logits = [html.Div(controls.control(PAGE, by_key[f"o{i}"], values[f"o{i}"], hide), id=f"{PAGE}-logit-{i}", style=styles[i])
              for i in range(MAX_CLASSES)]
    drag = [("softmax-graph", "figure"), ("softmax-overflow", "figure"), ("softmax-loss", "children")]
    return html.Div([
        *controls.page_header(PAGE, "Softmax and cross-entropy", url_notes, hide),
        html.Div(msg, id=f"{PAGE}-message"),
        controls.graph("softmax-graph", bars, PAGE),  # the graph first: it fits 1,280 x 720 in presentation mode
        html.Div(text, id="softmax-loss", className="readout"),
        dmc.SimpleGrid(main, cols={"base": 1, "sm": 2, "lg": 4}, spacing="lg", verticalSpacing="sm", className="controls"),
        dmc.SimpleGrid(logits, cols={"base": 2, "sm": 3, "lg": 5}, spacing="md", verticalSpacing="xs", className="controls"),
        dmc.Title("Large logits: naive vs stable cross-entropy as the logits are multiplied by 10^s", order=4),
        controls.graph("softmax-overflow", demo, PAGE),
        html.Div(formula_grid(), id="softmax-formulas"),
        controls.export_row(PAGE, hide),
        *controls.drag_stores(PAGE, st, sch, drag),
    ])


def mpl_figure(values: dict):
    """The page as the screen shows it, for notes: probabilities, gradient, and the large-logits demo."""
    from matplotlib.figure import Figure

    k, c = int(values["classes"]), int(values["target"])
    scale = 10.0 ** float(values["scale"])
    view = curves.softmax_view([float(values[f"o{i}"]) * scale for i in range(k)], temperature=float(values["temperature"]), target_class=c)
    data = demo_data(values)
    fig = Figure(figsize=(12, 3.8), layout="constrained")
    ax1, ax2, ax3 = fig.subplots(1, 3)
    colors = [TRUE if i == c else OTHER for i in range(k)]
    ax1.bar(range(k), view.probs, color=colors)
    ax1.set(ylim=(0, 1), title="softmax(o / T)", xlabel="class")
    ax2.bar(range(k), view.grad, color=colors)
    ax2.set(ylim=(-1, 1), title="gradient softmax(o / T) − onehot(y)", xlabel="class")
    ax2.axhline(0, color="0.3", lw=0.8)
    pos = lambda y: np.where(np.isfinite(y) & (y > 0), y, np.nan)  # noqa: E731
    ax3.plot(data["s"], pos(data["stable"]), color=color_of("cross_entropy"), lw=3, label="stable (log-sum-exp)")
    ax3.plot(data["s"], pos(np.where(np.isfinite(data["naive"]), data["naive"], np.nan)), color=PALETTE[4], ls="--", label="naive")
    bad = ~np.isfinite(data["naive"])
    if bad.any():
        ax3.axvspan(data["s"][bad][0], data["s"][-1], color=PALETTE[4], alpha=0.12, lw=0, label="naive gives inf / NaN")
    ax3.axvline(float(values["scale"]), color="0.1", ls=":", label=f"current s = {float(values['scale']):.2f}")
    ax3.set(yscale="log", xlim=(0, S_MAX), xlabel="s (logits × 10^s)", title=f"cross-entropy, true class {c}")
    ax3.legend(fontsize="small")
    return fig


def export_file(n_clicks, fmt, st):
    def draw(values):
        fix_target(values, [], {})
        return mpl_figure(values)

    return controls.export_shown(PAGE, schema(), n_clicks, fmt, st, draw)


def formula_grid(_request=None):
    """The page's formulas (static), asked for by the browser once the first graph is drawn."""
    return dmc.SimpleGrid([html.Div(dcc.Markdown(f, mathjax=True), className="formulas") for f in FORMULAS],
                          cols={"base": 1, "md": 2}, spacing="xs")


def register(app):
    controls.wire(app, PAGE, schema(), compute,
                  [Output("softmax-graph", "figure"), Output("softmax-loss", "children"), Output("softmax-overflow", "figure")],
                  frames=frames, drag_outputs=[("softmax-graph", "figure"), ("softmax-overflow", "figure"), ("softmax-loss", "children")],
                  extra_outputs=[Output(f"{PAGE}-logit-{i}", "style") for i in range(MAX_CLASSES)], extra=logit_styles)
    controls.wire_export(app, PAGE, export_file)
