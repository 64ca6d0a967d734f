"""matplotlib builders of the study figures: computed arrays -> a ``Figure``. No files, no pyplot.

Colours are the losses' own (``lossviz.style.color_of``), as in every other lossviz figure.
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator, NullFormatter

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


def reliability_figure(results: dict, title: str = "") -> Figure:
    """Reliability diagrams, one column per loss (its first seed): accuracy per confidence bin
    against the diagonal of perfect calibration, the gap to the bin's mean confidence shaded;
    a second row after temperature scaling (where fitted); the bin counts (log scale) below."""
    names = list(results["losses"])
    first = {n: next(iter(results["losses"][n]["seeds"].values())) for n in names}
    phases = [p for p in ("before", "after") if all(p in first[n] for n in names)]
    n_bins = results.get("n_bins", 15)
    edges = np.linspace(0, 1, n_bins + 1)
    centers, width = (edges[:-1] + edges[1:]) / 2, 1 / n_bins
    fig = Figure(figsize=(max(6.4, 3.0 * len(names)), 2.9 * len(phases) + 1.6), layout="constrained")
    axes = fig.subplots(len(phases) + 1, len(names), squeeze=False, sharex=True,
                        gridspec_kw={"height_ratios": [3] * len(phases) + [1.4]})
    for j, name in enumerate(names):
        for i, phase in enumerate(phases):
            ax, r = axes[i, j], first[name][phase]
            acc, conf = _nan(r["accuracy"]), _nan(r["confidence"])
            ax.bar(centers, np.nan_to_num(acc), width=width, color=_color(name), edgecolor="white", lw=0.5,
                   label="accuracy", gid=f"rel-{phase}-{name}")
            gap_lo, gap_hi = np.fmin(acc, conf), np.fmax(acc, conf)
            ax.bar(centers, np.nan_to_num(gap_hi - gap_lo), bottom=np.nan_to_num(gap_lo), width=width, color="none",
                   edgecolor=PALETTE[4], hatch="///", lw=0.8, label="gap to confidence")
            ax.plot([0, 1], [0, 1], color="0.4", ls="--", lw=1)
            ax.set_xlim(0, 1)
            ax.set_ylim(0, 1)
            t = f", T = {first[name]['temperature']:.2f}" if phase == "after" else ""
            ax.set_title(f"{name}{' after T' if phase == 'after' else ''}{t}", fontsize=10)
            ax.text(0.04, 0.95, f"ECE {100 * r['ece']:.2f}%\nMCE {100 * r['mce']:.1f}%\nBrier {r['brier']:.3f}",
                    transform=ax.transAxes, va="top", fontsize=8.5,
                    bbox={"boxstyle": "round,pad=0.3", "fc": "white", "ec": "0.8", "alpha": 0.85})
            if j == 0:
                ax.set_ylabel("accuracy" if phase == "before" else "accuracy (after T)")
        ax = axes[-1, j]
        for phase, ls in zip(phases, ("-", "--")):
            ax.step(edges, np.r_[first[name][phase]["count"], first[name][phase]["count"][-1]], where="post",
                    color=_color(name), ls=ls, lw=1.3, label=phase)
        ax.set_yscale("log")
        ax.yaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel("confidence")
        if j == 0:
            ax.set_ylabel("examples per bin", fontsize=9)
            if len(phases) > 1:
                ax.legend(fontsize=8, loc="upper left")
    axes[0, 0].legend(fontsize=8, loc="lower right")
    fig.suptitle(title or f"Reliability diagrams on the test set ({n_bins} bins; confidence = largest softmax probability)")
    return fig


def landscape_2d_figure(ls, title: str = "") -> Figure:
    """Contours of log10 loss on the 2-D slice, one column per loss: its own training loss (top)
    and cross-entropy (bottom); the trained weights at (0, 0) marked."""
    names = list(ls.losses)
    fig = Figure(figsize=(max(6.4, 3.2 * len(names)), 6.2), layout="constrained")
    axes = fig.subplots(2, len(names), squeeze=False)
    grid = ls.coords
    for j, name in enumerate(names):
        for i, (surface, what) in enumerate(((ls.surface_own[j], f"{name}: own loss"), (ls.surface_ce[j], f"{name}: cross-entropy"))):
            ax = axes[i, j]
            z = np.log10(np.clip(surface, 1e-12, None))
            cs = ax.contourf(grid, grid, z, levels=20, cmap="viridis")
            ax.contour(grid, grid, z, levels=cs.levels, colors="white", linewidths=0.3, alpha=0.5)
            ax.plot([0], [0], marker="*", ms=12, color=PALETTE[4], mec="white", gid=f"trained-{name}-{i}")
            ax.set_aspect("equal")
            ax.set_title(what, fontsize=10)
            cb = fig.colorbar(cs, ax=ax, shrink=0.85)
            cb.locator = MaxNLocator(5)
            cb.update_ticks()
            cb.ax.tick_params(labelsize=8)
            cb.set_label("log10 loss", fontsize=8)
            if j == 0:
                ax.set_ylabel("direction 2")
            if i == 1:
                ax.set_xlabel("direction 1")
    fig.suptitle(title or "Loss on a 2-D slice through the trained weights (filter-normalised random directions; ★ trained)")
    return fig


def landscape_1d_figure(ls, title: str = "") -> Figure:
    """Loss along the line from the initial (alpha = 0) to the trained (alpha = 1) weights, per
    model: its own loss (left, log scale) and cross-entropy (right)."""
    fig = Figure(figsize=(11.5, 4.0), layout="constrained")
    axes = fig.subplots(1, 2)
    for j, name in enumerate(ls.losses):
        for ax, values in zip(axes, (ls.line_own[j], ls.line_ce[j])):
            ax.plot(ls.alphas, values, color=_color(name), label=name, gid=f"line-{name}")
    for ax, label in zip(axes, ("each model's own training loss", "cross-entropy")):
        ax.set_yscale("log")
        ax.axvline(0, color="0.5", lw=1, ls=":")
        ax.axvline(1, color="0.5", lw=1, ls="--")
        ax.set_xlabel("alpha: (1 - alpha) initial + alpha trained")
        ax.set_title(label)
    axes[0].legend(loc="best")
    fig.suptitle(title or "Linear interpolation from the initial (alpha = 0) to the trained (alpha = 1) weights")
    return fig


def landscape_3d_figure(ls, title: str = "") -> Figure:
    """Each model's own loss on the 2-D slice as a 3-D surface (log10), trained point marked."""
    names = list(ls.losses)
    fig = Figure(figsize=(max(6.4, 3.4 * len(names)), 3.8), layout="constrained")
    a, b = np.meshgrid(ls.coords, ls.coords)
    for j, name in enumerate(names):
        ax = fig.add_subplot(1, len(names), j + 1, projection="3d")
        z = np.log10(np.clip(ls.surface_own[j], 1e-12, None))
        ax.plot_surface(a, b, z, cmap="viridis", linewidth=0, antialiased=True, rstride=1, cstride=1)
        centre = len(ls.coords) // 2
        ax.scatter([0], [0], [z[centre, centre]], color=PALETTE[4], s=60, marker="*", depthshade=False)
        ax.set_title(f"{name} (★ trained)", fontsize=10)
        ax.set_xlabel("dir 1", fontsize=8)
        ax.set_ylabel("dir 2", fontsize=8)
        ax.set_zlabel("log10 loss", fontsize=8, labelpad=8)
        ax.locator_params(nbins=4)
        ax.tick_params(labelsize=7)
    fig.suptitle(title or "Own training loss on the 2-D slice")
    return fig
