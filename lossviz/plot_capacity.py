"""matplotlib builders for the polynomial-capacity figures (d2l 4.4-4.5): the U-curve over the
degree, train/test loss per epoch, and the learned coefficients beside the true ones. Data in
(``lossviz.capacity``'s fits and curves), ``Figure`` out; no files, no pyplot state."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from lossviz.style import PALETTE

TRAIN_COLOR, TEST_COLOR = PALETTE[0], PALETTE[4]  # blue train, vermillion test, in every figure
DECAY_COLORS = (PALETTE[0], PALETTE[2])  # without / with weight decay


def capacity_figure(curves: dict, title: str = "") -> Figure:
    """Final train (solid) and test (dashed) loss against the degree, log y, one colour per
    curve; a dotted line at the true degree 3.

    ``curves``: {label: ``lossviz.capacity.CapacityCurve``}."""
    fig = Figure(figsize=(6.8, 4.2), layout="constrained")
    ax = fig.subplots()
    for i, (label, c) in enumerate(curves.items()):
        color = PALETTE[(2 * i) % len(PALETTE)]
        ax.plot(c.degrees, c.train_loss, color=color, marker="o", ms=4, label=f"train, {label}", gid=f"train-{label}")
        ax.plot(c.degrees, c.test_loss, color=color, ls="--", marker="s", ms=4, label=f"test, {label}", gid=f"test-{label}")
    ax.axvline(3, color="0.5", ls=":", lw=1.0, zorder=0)
    ax.set_yscale("log")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set(xlabel="polynomial degree", ylabel="mean squared error after the last epoch",
           title=title or "Capacity: train and test loss against the degree (true degree 3, dotted)")
    ax.legend(loc="best", fontsize=8.5)
    return fig


def loss_curves_figure(fits: dict, title: str = "") -> Figure:
    """One panel per degree: train (solid) and test (dashed) loss per epoch, log y, without and
    with weight decay in two colours.

    ``fits``: {degree: (fit without decay, fit with decay)}, ``lossviz.capacity.PolynomialFit``s."""
    fig = Figure(figsize=(4.0 * len(fits), 3.9), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(fits), sharey=True))
    for ax, (degree, pair) in zip(axes, fits.items()):
        for color, fit in zip(DECAY_COLORS, pair):
            epochs = np.arange(1, fit.epochs + 1)
            tag = f"lambda={fit.weight_decay:g}"
            ax.plot(epochs, fit.train_loss, color=color, label=f"train, {tag}", gid=f"train-{degree}-{tag}")
            ax.plot(epochs, fit.test_loss, color=color, ls="--", label=f"test, {tag}", gid=f"test-{degree}-{tag}")
        ax.set_yscale("log")
        ax.set(xlabel="epoch", title=f"degree {degree}")
    axes[0].set_ylabel("mean squared error")
    axes[0].legend(loc="best", fontsize=8.5)
    if title:
        fig.suptitle(title)
    return fig


def coefficients_figure(fits: dict, title: str = "") -> Figure:
    """Left: the training points (filled), the test points (hollow), the true polynomial
    (dashed) and each fit. Right: each fit's weights of x^i / i! beside the true ones (bars).

    ``fits``: {label: ``lossviz.capacity.PolynomialFit``}, all on the same points."""
    fig = Figure(figsize=(12.0, 4.4), layout="constrained")
    curve_ax, bar_ax = fig.subplots(1, 2, width_ratios=(1.0, 1.4))
    first = next(iter(fits.values()))
    span = (float(min(first.x_train.min(), first.x_test.min())), float(max(first.x_train.max(), first.x_test.max())))
    curve_ax.scatter(first.x_train, first.y_train, s=18, color="#555555", zorder=3, label="train points", gid="train-points")
    curve_ax.scatter(first.x_test, first.y_test, s=14, facecolors="none", edgecolors="#888888", zorder=3,
                     label="test points", gid="test-points")
    true = first.curve(span=span)
    curve_ax.plot(true["x"], true["true"], color="#222222", ls="--", lw=1.2, label="true polynomial", gid="true")
    width = 0.8 / (len(fits) + 1)
    n = max(max(len(f.weights) for f in fits.values()), 4)
    true_w = np.zeros(n)
    true_w[:4] = first.true_weights[:4]
    bar_ax.bar(np.arange(n) - 0.4 + width / 2, true_w, width, color="#222222", label="true", gid="bars-true")
    lo, hi = np.quantile(first.y_test, [0.0, 1.0])
    for i, (label, fit) in enumerate(fits.items()):
        color = PALETTE[(i + 1) % len(PALETTE)]
        c = fit.curve(span=span)
        curve_ax.plot(c["x"], c["fit"], color=color, label=label, gid=f"fit-{label}")
        k = np.arange(len(fit.weights))
        bar_ax.bar(k - 0.4 + width * (i + 1.5), fit.weights, width, color=color, label=label, gid=f"bars-{label}")
    pad = 0.15 * (hi - lo)
    curve_ax.set(xlabel="x", ylabel="y", ylim=(lo - pad, hi + pad), title="Fits over the points")
    curve_ax.legend(loc="best", fontsize=8)
    bar_ax.axhline(0, color="0.5", lw=0.8)
    bar_ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    bar_ax.set(xlabel="i (weight of $x^i / i!$)", ylabel="weight", title="Learned weights beside the true ones")
    bar_ax.legend(loc="best", fontsize=8)
    if title:
        fig.suptitle(title)
    return fig
