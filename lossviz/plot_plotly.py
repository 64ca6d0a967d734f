"""plotly builders: arrays from ``curves`` -> ``go.Figure``, for the explorer and notebooks.

Arrays stay numpy (plotly sends them base64-encoded, several times faster than lists).
No files are written here.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from lossviz.curves import Curve, SoftmaxView
from lossviz.registry import get
from lossviz.style import PALETTE, SERIES_COLORS, color_of

_LAYOUT = dict(template="plotly_white", margin=dict(l=50, r=20, t=60, b=45), hovermode="x unified",
               legend=dict(orientation="h", yanchor="bottom", y=1.08, x=0))
SERIES_TITLES = {"value": "loss", "likelihood": "likelihood e<sup>-l</sup>", "grad": "gradient"}


def _label(c: Curve) -> str:
    extra = ", ".join(f"{k}={v:g}" for k, v in c.params.items())
    return c.name + (f" ({extra})" if extra else "")


def loss_figure(curve: Curve) -> go.Figure:
    """The d2l loss figure: loss, likelihood and gradient on one axes."""
    fig = go.Figure()
    for key in ("value", "likelihood", "grad"):
        fig.add_trace(go.Scatter(x=curve.x, y=curve.series[key], name=SERIES_TITLES[key], line=dict(color=SERIES_COLORS[key])))
    fig.update_layout(title=get(curve.name).title, xaxis_title="prediction" if "hat" in curve.xlabel else "true-class logit", **_LAYOUT)
    return fig


def overlay_figure(curves: list[Curve], keys=("value", "likelihood", "grad")) -> go.Figure:
    """Several losses, one panel per series (value / likelihood / gradient), one colour per loss."""
    fig = make_subplots(rows=1, cols=len(keys), subplot_titles=[SERIES_TITLES[k] for k in keys], horizontal_spacing=0.06)
    for c in curves:
        for j, key in enumerate(keys):
            fig.add_trace(go.Scatter(x=c.x, y=c.series[key], name=_label(c), legendgroup=c.name, showlegend=j == 0,
                                     line=dict(color=color_of(c.name)), meta=[c.name, key]), row=1, col=j + 1)
    fig.update_layout(**_LAYOUT)
    fig.update_xaxes(title_text=curves[0].xlabel.replace("$", "").replace("\\hat y", "ŷ") if curves else "")
    return fig


def activation_figure(curves: list[Curve], *, vanish_below: float | None = None) -> go.Figure:
    """Activations (left) and derivatives (right); optionally shade where |f'| < ``vanish_below``."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=["f(x)", "f'(x)"], horizontal_spacing=0.08)
    for c in curves:
        for j, key in enumerate(("value", "grad")):
            fig.add_trace(go.Scatter(x=c.x, y=c.series[key], name=_label(c), legendgroup=c.name, showlegend=j == 0,
                                     line=dict(color=color_of(c.name)), meta=[c.name, key]), row=1, col=j + 1)
        if vanish_below is not None:
            for lo, hi in vanishing_intervals(c.x, c.series["grad"], vanish_below):
                fig.add_vrect(x0=lo, x1=hi, fillcolor=color_of(c.name), opacity=0.12, line_width=0, row=1, col=2)
    fig.update_layout(**_LAYOUT)
    fig.update_xaxes(title_text="x")
    return fig


def vanishing_intervals(x: np.ndarray, grad: np.ndarray, threshold: float) -> list[tuple[float, float]]:
    """The x-intervals where |grad| < threshold (gradients vanish)."""
    small = np.concatenate([[False], np.abs(grad) < threshold, [False]]).astype(np.int8)
    # Runs of True start where the padded mask steps up and end just before it steps down.
    starts = np.flatnonzero(np.diff(small) == 1)
    ends = np.flatnonzero(np.diff(small) == -1) - 1
    return [(float(x[s]), float(x[e])) for s, e in zip(starts, ends)]


def softmax_figure(view: SoftmaxView) -> go.Figure:
    """Bars: softmax probabilities (true class highlighted) and the gradient softmax(o/T) - y."""
    k = len(view.logits)
    names = [f"class {i}" for i in range(k)]
    colors = [PALETTE[2] if i == view.target_class else PALETTE[0] for i in range(k)]
    fig = make_subplots(rows=1, cols=2, subplot_titles=["softmax(o / T)", "∂l/∂o = softmax(o / T) − y"], horizontal_spacing=0.1)
    fig.add_trace(go.Bar(x=names, y=view.probs, marker_color=colors, name="probability", meta="probs"), row=1, col=1)
    fig.add_trace(go.Bar(x=names, y=view.grad, marker_color=PALETTE[1], name="gradient", meta="grad"), row=1, col=2)
    fig.update_yaxes(range=[0, 1], row=1, col=1)
    fig.update_yaxes(range=[-1, 1], row=1, col=2)
    fig.update_layout(**{**_LAYOUT, "hovermode": "closest", "showlegend": False})
    return fig


def overflow_figure(data: dict) -> go.Figure:
    """Naive vs stable cross-entropy against the logit scale (log axes); naive gaps are inf/NaN."""
    naive = np.where(np.isfinite(data["naive"]), data["naive"], np.nan)
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=data["scale"], y=data["stable"], name="stable (logsumexp)", line=dict(color=color_of("cross_entropy"))))
    fig.add_trace(go.Scatter(x=data["scale"], y=naive, name="naive (exp, sum, log)", line=dict(color=PALETTE[4], dash="dash")))
    bad = ~np.isfinite(data["naive"])
    if bad.any():
        fig.add_vrect(x0=float(data["scale"][bad][0]), x1=float(data["scale"][-1]), fillcolor=PALETTE[4], opacity=0.12, line_width=0,
                      annotation_text="naive: inf / NaN", annotation_position="top left")
    fig.update_layout(xaxis_type="log", yaxis_type="log", xaxis_title="logit scale s", yaxis_title="cross-entropy", **_LAYOUT)
    return fig
