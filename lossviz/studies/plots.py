"""matplotlib builders of the study figures: computed arrays -> a ``Figure``. No files, no pyplot.

Colours are the losses' own (``lossviz.style.color_of``), as in every other lossviz figure.
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from lossviz.style import PALETTE


def _color(name: str) -> str:
    from lossviz.style import color_of

    try:
        return color_of(name)
    except ValueError:  # a loss registered after the run (or removed since): a stable fallback
        return PALETTE[sum(map(ord, name)) % len(PALETTE)]


def _nan(values) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in values], dtype=float)


def noise_figure(summary: dict, curves: dict[float, dict] | None = None, title: str = "") -> Figure:
    """Top: final test accuracy against the label-noise rate, per loss (mean +- std over seeds).
    Below (with ``curves``, {rate: curves_by_loss}): each rate's test accuracy (solid) and
    training accuracy on the noisy labels (dashed) against the epoch."""
    rates = np.asarray(summary["rates"], dtype=float)
    n = len(curves or {})
    fig = Figure(figsize=(max(6.4, 2.7 * n), 4.2 + (2.6 if n else 0)), layout="constrained")
    if n:
        top, bottom = fig.subfigures(2, 1, height_ratios=(1.5, 1))
        ax = top.subplots()
        small = bottom.subplots(1, n, sharey=True, squeeze=False)[0]
    else:
        ax, small = fig.subplots(), []
    for name, row in summary["losses"].items():
        mean, std = _nan(row["test_acc"]), _nan(row["test_acc_std"])
        bars = ax.errorbar(rates, mean, yerr=std, color=_color(name), marker="o", capsize=3, label=name)
        bars.lines[0].set_gid(f"noise-{name}")  # the data line (not the caps)
        if np.nan_to_num(std).any():
            ax.fill_between(rates, mean - std, mean + std, color=_color(name), alpha=0.15, lw=0)
    ax.set_xlabel(f"{summary.get('noise', 'symmetric')} label-noise rate (fraction of training labels wrong)")
    ax.set_ylabel("final test accuracy")
    ax.set_xticks(rates)
    ax.legend(loc="best")
    ax.set_title(title or "Test accuracy under label noise (clean test labels)")
    for a, (rate, by_loss) in zip(small, sorted((curves or {}).items())):
        for name, per in by_loss.items():
            for key, ls in (("test_acc", "-"), ("train_acc", "--")):
                epochs, m, _ = per[key]
                if epochs:
                    a.plot(epochs, m, ls=ls, color=_color(name), lw=1.5, gid=f"rate{rate:g}-{name}-{key}")
        a.set_title(f"rate {rate:g}", fontsize=10)
        a.set_xlabel("epoch")
        a.xaxis.set_major_locator(MaxNLocator(integer=True))
    if len(small):
        small[0].set_ylabel("accuracy\n(test solid, noisy train dashed)", fontsize=9)
    return fig
