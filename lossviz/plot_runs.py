"""matplotlib builders for a training run's diagnostic figures: per-layer gradient norms (d2l
4.8) and the decision trade-off of a threshold on one class. Data in, ``Figure`` out; no files,
no pyplot state, no run or data set read here (``lossviz.export`` hands the arrays in)."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from lossviz.style import PALETTE, color_of

_MARKERS = ("o", "s", "^", "D", "v", "P", "X")


def _color(name: str, i: int) -> str:
    try:
        return color_of(name)
    except (KeyError, ValueError):  # a label that is not a loss's name ("sigmoid: cross_entropy")
        return PALETTE[i % len(PALETTE)]


def grad_norm_figure(health: dict[str, dict], title: str = "") -> Figure:
    """Per series (a loss, or "run: loss"): left, the weight-gradient norm of each layer at the
    last epoch (log scale, input layer first); right, the input layer's norm over the output
    layer's, epoch by epoch (log scale): far below 1 is the vanishing gradient of d2l 4.8.

    ``health``: {label: {"grad_norm": per layer, "epochs": [...], "first_to_last": [...]}}, as
    ``lossviz.train.stalls.health_curves`` gives per loss."""
    fig = Figure(figsize=(11.5, 4.0), layout="constrained")
    layers_ax, ratio_ax = fig.subplots(1, 2, squeeze=True)
    for i, (label, h) in enumerate(health.items()):
        style = {"color": _color(label, i), "marker": _MARKERS[i % len(_MARKERS)]}
        norms = np.asarray(h["grad_norm"], dtype=float)
        layers_ax.plot(np.arange(1, len(norms) + 1), norms, label=label, gid=f"{label}-grad_norm", **style)
        if h.get("epochs"):
            ratio_ax.plot(h["epochs"], h["first_to_last"], label=label, gid=f"{label}-first_to_last", **style)
    layers_ax.set_yscale("log")
    layers_ax.set(xlabel="layer (1 = input layer)", ylabel="||dL/dW|| (mean over the last batch)",
                  title="Weight-gradient norm per layer, last epoch")
    layers_ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ratio_ax.set_yscale("log")
    ratio_ax.axhline(1.0, color="0.5", lw=0.8, zorder=0)
    ratio_ax.set(xlabel="epoch", ylabel="layer 1 / last layer", title="Input layer's gradient over the output layer's")
    ratio_ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    layers_ax.legend(loc="best", fontsize=8.5)
    if title:
        fig.suptitle(title)
    return fig


def decision_figure(curves: dict, class_name: str, title: str = "", mark: float = 0.5) -> Figure:
    """For one class, per loss: the share of that class's test images caught (recall, left) and
    the share of the other images falsely flagged (false positive rate, right) when an image
    is flagged at p_class >= threshold; a dotted line at threshold ``mark``.

    ``curves``: {loss: ``lossviz.train.decisions.DecisionCurve``-like (thresholds, recall,
    false_alarm)}."""
    fig = Figure(figsize=(11.5, 4.0), layout="constrained")
    axes = fig.subplots(1, 2, squeeze=True)
    for i, (name, c) in enumerate(curves.items()):
        for ax, key in zip(axes, ("recall", "false_alarm")):
            ax.plot(c.thresholds, getattr(c, key), color=_color(name, i), label=name, gid=f"{name}-{key}")
    for ax, text in zip(axes, (f"{class_name} images caught (recall)", f"other images flagged as {class_name} (false alarms)")):
        ax.axvline(mark, color="0.5", ls=":", lw=1.0, zorder=0)
        ax.set(xlabel=f"threshold on p({class_name})", ylabel="share", title=text, xlim=(0, 1), ylim=(-0.02, 1.02))
    axes[0].legend(loc="best")
    fig.suptitle(title or f"Flag an image as {class_name} when its probability reaches the threshold: what each loss trades")
    return fig
