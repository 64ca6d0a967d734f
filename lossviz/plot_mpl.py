"""matplotlib builders: arrays from ``curves`` -> a ``Figure``. No files, no pyplot state.

Axes-level helpers take ``ax`` and return it; figure-level builders make a new
``matplotlib.figure.Figure`` (never ``plt.gcf()``), so they work in scripts, notebooks and
servers alike. Only ``export`` writes files.
"""

from __future__ import annotations

import math
from contextlib import contextmanager
from typing import TYPE_CHECKING

import numpy as np
from matplotlib import rc_context
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from lossviz import checks
from lossviz.style import PALETTE, SERIES_COLORS, color_of

if TYPE_CHECKING:
    from lossviz.curves import Curve, MarginView


def get(name: str):
    """The registry's spec of a loss or activation, imported on first use (a run's figures need
    no registry spec: they draw without loading torch)."""
    from lossviz.registry import get as registry_get

    return registry_get(name)

# Sized for notes: a 6.4 in wide figure stays legible at half a page width.
_BASE = {
    "font.size": 11,
    "axes.titlesize": 12,
    "axes.labelsize": 11,
    "legend.fontsize": 9.5,
    "lines.linewidth": 2.0,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "svg.hashsalt": "lossviz",  # fixed ids in SVG output: committed figures do not churn
    "svg.fonttype": "path",
}
STYLES = {
    "light": {**_BASE},
    "dark": {
        **_BASE,
        "figure.facecolor": "#1e1e1e",
        "axes.facecolor": "#1e1e1e",
        "savefig.facecolor": "#1e1e1e",
        "text.color": "#e6e6e6",
        "axes.labelcolor": "#e6e6e6",
        "axes.edgecolor": "#bbbbbb",
        "xtick.color": "#e6e6e6",
        "ytick.color": "#e6e6e6",
        "grid.color": "#666666",
        "legend.facecolor": "#2a2a2a",
        "legend.edgecolor": "#666666",
    },
    # Print: white, thinner grid, a little larger text for small reproduction.
    "print": {**_BASE, "font.size": 12, "axes.titlesize": 13, "axes.labelsize": 12, "grid.alpha": 0.2, "lines.linewidth": 1.6},
}


@contextmanager
def style(name: str = "light"):
    """The rcParams of a named style: light, dark or print."""
    with rc_context(STYLES[checks.choice(name, "style", STYLES)]):
        yield


def _new_figure(ncols: int = 1, nrows: int = 1, size=(6.4, 4.0)):
    fig = Figure(figsize=size, layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False)
    return fig, axes


def _param_text(params: dict) -> str:
    return ", ".join(f"{k} = {v:g}" for k, v in params.items())


def _title(curve: Curve) -> str:
    spec = get(curve.name)
    extra = _param_text(curve.params)
    # Parameters on a line of their own: with the formula they overflow a 6.4 in figure.
    return f"{spec.title}: {spec.formula.mathtext}" + (f"\n({extra})" if extra else "")


# --- losses -----------------------------------------------------------------------------------


def loss_axes(curve: Curve, ax):
    """The d2l loss figure on one axes: loss (blue), likelihood (green), gradient (orange)."""
    for key in ("value", "likelihood", "grad"):
        ax.plot(curve.x, curve.series[key], color=SERIES_COLORS[key], label=curve.labels[key], gid=f"{curve.name}-{key}")
    ax.axhline(0, color="0.5", lw=0.8, zorder=0)
    ax.set_xlabel(curve.xlabel)
    ax.legend(loc="best")
    return ax


def _titled_figure(draw, curve: Curve) -> Figure:
    fig, axes = _new_figure()
    draw(curve, axes[0, 0])
    axes[0, 0].set_title(_title(curve))
    return fig


def loss_figure(curve: Curve) -> Figure:
    return _titled_figure(loss_axes, curve)


def overlay_figure(curves: list[Curve], title: str = "Regression losses compared") -> Figure:
    """Several losses on shared axes, one panel each for value, gradient and likelihood."""
    fig, axes = _new_figure(ncols=3, size=(12.8, 4.6))
    for key, ax, ylabel in zip(("value", "grad", "likelihood"), axes[0], ("loss", "gradient", "likelihood $e^{-l}$")):
        for i, c in enumerate(curves):
            label = get(c.name).title.split(" (")[0] + (f" ({_param_text(c.params)})" if c.params else "")
            # Same loss at several parameters: same colour, different dashes.
            same = [d for d in curves[:i] if d.name == c.name]
            ls = ("-", "--", ":", "-.")[len(same) % 4]
            # A curve lying exactly on an earlier one (Huber at delta = 1 and smooth L1 at beta = 1)
            # is dashed over it and says so, instead of hiding it.
            twin = next((d for d in curves[:i] if d.name != c.name and len(d.x) == len(c.x) and np.allclose(d.x, c.x)
                         and all(np.allclose(d.series[k], c.series[k], equal_nan=True) for k in ("value", "grad"))), None)
            if twin is not None:
                ls, label = (0, (4, 3)), f"{label} = {get(twin.name).title.split(' (')[0]}"
            ax.plot(c.x, c.series[key], color=color_of(c.name), ls=ls, label=label, gid=f"{c.name}-{key}-{i}")
        ax.set_title(ylabel)
        ax.set_xlabel(curves[0].xlabel)
    # Below the panels: with seven losses a legend inside would hide the curves.
    fig.legend(*axes[0, 0].get_legend_handles_labels(), loc="outside lower center", ncol=min(4, len(curves)))
    fig.suptitle(title)
    return fig


# --- activations ------------------------------------------------------------------------------


def activation_axes(curve: Curve, ax, *, legend: bool = True):
    color = color_of(curve.name)
    ax.plot(curve.x, curve.series["value"], color=color, label=curve.labels["value"], gid=f"{curve.name}-value")
    ax.plot(curve.x, curve.series["grad"], color=color, ls="--", label=curve.labels["grad"], gid=f"{curve.name}-grad")
    ax.axhline(0, color="0.5", lw=0.8, zorder=0)
    ax.set_xlabel(curve.xlabel)
    if legend:
        ax.legend(loc="best")
    return ax


def activation_figure(curve: Curve) -> Figure:
    return _titled_figure(activation_axes, curve)


def activation_grid_figure(curves: list[Curve]) -> Figure:
    ncols = min(3, len(curves))
    nrows = math.ceil(len(curves) / ncols)
    fig, axes = _new_figure(ncols=ncols, nrows=nrows, size=(4.2 * ncols, 3.3 * nrows))
    for ax, c in zip(axes.flat, curves):
        activation_axes(c, ax, legend=False)
        ax.set_title(get(c.name).title + (f" ({_param_text(c.params)})" if c.params else ""))
    for ax in list(axes.flat)[len(curves):]:
        ax.set_visible(False)
    axes[0, 0].legend(loc="upper left")
    fig.suptitle("Activations (solid) and their derivatives (dashed)")
    return fig


# --- parameter sweeps -------------------------------------------------------------------------


def sweep_figure(curves: list[Curve], param: str) -> Figure:
    """One loss or activation at several values of ``param``: value and gradient panels."""
    name = curves[0].name
    fig, axes = _new_figure(ncols=2, size=(11.0, 3.9))
    for key, ax in zip(("value", "grad"), axes[0]):
        for i, c in enumerate(curves):
            ax.plot(c.x, c.series[key], color=PALETTE[i % len(PALETTE)], label=f"{param} = {c.params[param]:g}", gid=f"{name}-{key}-{i}")
        ax.axhline(0, color="0.5", lw=0.8, zorder=0)
        ax.set_xlabel(curves[0].xlabel)
        ax.set_title("value" if key == "value" else "gradient")
    axes[0, 0].legend(loc="best")
    fig.suptitle(f"{get(name).title}: sweeping {param}")
    return fig


# --- classification losses against the margin, Barron's family -------------------------------


def _curve_label(c: Curve) -> str:
    spec = get(c.name)
    shown = {k: v for k, v in c.params.items() if not (k == "label_smoothing" and v == 0)}
    base = spec.title.split(" (")[0]
    return base + (f" ({_param_text(shown)})" if shown else "")


def surrogate_figure(view: MarginView) -> Figure:
    """The textbook "surrogate losses" figure: classification losses and their gradients
    against the margin o_y - max_{i != y} o_i, with the 0-1 loss they stand in for."""
    fig, axes = _new_figure(ncols=2, size=(11.5, 4.2))
    for key, ax in zip(("value", "grad"), axes[0]):
        if key == "value":
            ax.plot(view.margin, view.zero_one, color="0.15", lw=1.6, drawstyle="steps-mid", label="0-1 loss", gid="zero_one-value")
        for i, c in enumerate(view.curves):
            same = [d for d in view.curves[:i] if d.name == c.name]
            ax.plot(c.x, c.series[key], color=color_of(c.name), ls=("-", "--", ":", "-.")[len(same) % 4],
                    label=_curve_label(c), gid=f"{c.name}-{key}-{i}")
        ax.axhline(0, color="0.5", lw=0.8, zorder=0)
        ax.axvline(0, color="0.5", lw=0.8, zorder=0)
        ax.set_xlabel(view.curves[0].xlabel if view.curves else "margin")
        ax.set_title("loss" if key == "value" else "gradient $\\partial l / \\partial o_y$")
    axes[0, 0].legend(loc="upper right")
    fig.suptitle(f"Classification losses against the margin ({view.n_classes} classes; the others' logits at 0)")
    return fig


def _alpha_label(c: Curve) -> str:
    member = c.labels.get("member")
    return f"$\\alpha$ = {c.params['alpha']:g}" + (f" ({member})" if member else "")


def robust_family_figure(curves: list[Curve]) -> Figure:
    """Barron's Figure 1: the loss, its gradient and its density at several alpha.

    Curves without a density (alpha < 0) are left out of the third panel, which says so.
    """
    fig, axes = _new_figure(ncols=3, size=(13.5, 4.0))
    missing = []
    for i, c in enumerate(curves):
        color = PALETTE[i % len(PALETTE)]
        for key, ax in zip(("value", "grad", "likelihood"), axes[0]):
            if key in c.series:
                ax.plot(c.x, c.series[key], color=color, label=_alpha_label(c), gid=f"general-{key}-{i}")
            elif key == "likelihood":
                missing.append(c.params["alpha"])
    for key, ax in zip(("value", "grad", "likelihood"), axes[0]):
        ax.axhline(0, color="0.5", lw=0.8, zorder=0)
        ax.set_xlabel(curves[0].xlabel)
        ax.set_title(curves[0].labels[key])
    # As in Barron's figure: L2 leaves the frame, so the robust members are not flattened.
    axes[0, 0].set_ylim(-0.2, 5.0)
    axes[0, 1].set_ylim(-3.0, 3.0)
    if missing:
        axes[0, 2].text(0.03, 0.97, "no density for $\\alpha$ < 0\n(" + ", ".join(f"{a:g}" for a in missing) + "):\n$e^{-\\rho}$ does not integrate",
                        transform=axes[0, 2].transAxes, va="top", fontsize=9, color="0.3")
    axes[0, 0].legend(loc="upper center", fontsize=8.5)
    scale = curves[0].params["scale"]
    fig.suptitle(f"Barron's general robust loss at several $\\alpha$ (scale c = {scale:g})")
    return fig


# --- softmax and cross-entropy ----------------------------------------------------------------


def temperature_figure(logits, sweep: dict) -> Figure:
    """Grouped bars: softmax probabilities of one row of logits at each temperature."""
    fig, axes = _new_figure(size=(6.4, 3.9))
    ax = axes[0, 0]
    k = len(logits)
    width = 0.8 / len(sweep)
    for i, (t, probs) in enumerate(sweep.items()):
        ax.bar(np.arange(k) + (i - (len(sweep) - 1) / 2) * width, probs, width, color=PALETTE[i % len(PALETTE)], label=f"T = {t:g}", gid=f"softmax-T{i}")
    ax.set_xticks(np.arange(k), [f"{v:g}" for v in logits])
    ax.set_xlabel("logit $o_i$")
    ax.set_ylabel("softmax$(o / T)_i$")
    ax.set_ylim(0, 1)
    ax.legend()
    ax.set_title("Softmax at several temperatures")
    return fig


def overflow_figure(data: dict, base_logits) -> Figure:
    """Naive vs stable cross-entropy as logits grow, with the naive form's failures marked."""
    fig, axes = _new_figure(size=(6.4, 4.0))
    ax = axes[0, 0]
    s, stable, naive = data["scale"], data["stable"], data["naive"]
    ax.plot(s, stable, color=color_of("cross_entropy"), label="stable: logsumexp$(o) - o_y$", gid="ce-stable")
    ok = np.isfinite(naive)
    ax.plot(np.where(ok, s, np.nan), np.where(ok, naive, np.nan), color=PALETTE[4], ls="--", label="naive: $-\\log(e^{o_y} / \\sum_k e^{o_k})$", gid="ce-naive")
    if (~ok).any():
        first = s[~ok][0]
        ax.axvspan(first, s[-1], color=PALETTE[4], alpha=0.12, lw=0)
        kinds = sorted({"inf" if np.isinf(v) else "NaN" for v in naive[~ok]})
        ax.annotate(f"naive form returns {' / '.join(kinds)}\nfrom scale {first:.3g} on",
                    xy=(first, float(np.nanmax(stable)) * 0.02 + 1), xytext=(0.05, 0.8), textcoords="axes fraction",
                    arrowprops={"arrowstyle": "->", "color": PALETTE[4]}, color=PALETTE[4])
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(f"logit scale $s$ (logits $= s \\cdot$ {list(base_logits)}, float32)")
    ax.set_ylabel("cross-entropy")
    ax.legend(loc="lower right")
    ax.set_title("Why cross-entropy is computed from logits")
    return fig


# --- training runs ----------------------------------------------------------------------------

_RUN_PANELS = (("loss", "loss (train solid, test dashed)"), ("train_acc", "train accuracy"), ("test_acc", "test accuracy"))
_LINE_STYLES = ("-", "--", ":", "-.")  # a loss that repeats another's curve gets its own dash
_MARKERS = ("o", "s", "^", "D", "v", "P", "X")


def training_figure(by_loss: dict, title: str = "", same_as: dict[str, str] | None = None,
                    colors: dict[str, str] | None = None) -> Figure:
    """Per loss, curves of loss (train and test) / train acc / test acc against the epoch (mean
    +- std band). ``same_as`` {loss: loss it repeats}: such curves get their own dash and
    marker and say so in the legend, so a curve hidden under another stays visible.
    ``colors`` {loss: colour}: default ``style.color_of``'s."""
    same_as = same_as or {}
    colors = colors or {name: color_of(name) for name in by_loss}
    fig, axes = _new_figure(ncols=3, size=(12.8, 3.9))
    for (panel, label), ax in zip(_RUN_PANELS, axes[0]):
        for i, (name, per) in enumerate(by_loss.items()):
            repeat = name in same_as
            style = {"color": colors[name], "marker": _MARKERS[i % len(_MARKERS)], "ms": 6 if repeat else 3,
                     "mfc": "none" if repeat else colors[name]}
            keys = ("train_loss", "test_loss") if panel == "loss" else (panel,)
            for key in keys:
                epochs, mean, std = (np.asarray(v, dtype=float) for v in per[key])
                if not len(epochs):
                    continue
                ls = "--" if key == "test_loss" else (_LINE_STYLES[1 + i % 3] if repeat else "-")
                text = f"{name} (= {same_as[name]})" if repeat else name
                ax.plot(epochs, mean, ls=ls, label=text if key != "test_loss" else None, gid=f"{name}-{key}", **style)
                if std.any():
                    ax.fill_between(epochs, mean - std, mean + std, color=colors[name], alpha=0.2, lw=0)
        ax.set_title(label)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole: no tick at 1.5
    axes[0, 0].legend(loc="best")
    if title:
        fig.suptitle(title)
    return fig


def predictions_figure(grid: dict, classes: tuple[str, ...], max_losses: int = 4, *, top_k: int | None = None) -> Figure:
    """d2l's ``predict_ch3`` grid: test images with the true label and each loss's guess, each
    guess coloured by its own correctness (green right, red wrong). ``classes``: the class
    names, indexed by label (the caller's data set: ``lossviz.data.CLASSES`` for Fashion-MNIST).

    ``top_k`` (2 or 3; default None: the single guess): under each guess, a second line with
    the loss's next most probable classes and their probabilities, from the grid's "top3"
    ({loss: {"classes", "probs"}}, most probable first), green when the true class is among
    the k and grey otherwise."""
    images, labels = grid["images"], grid["labels"]
    preds = dict(list(grid["pred"].items())[:max_losses])
    if top_k is not None:
        top_k = checks.integer(top_k, "top_k", 2, 3)
        if not all(name in (grid.get("top3") or {}) for name in preds):
            raise ValueError("the prediction grid has no top-3 classes (a run from an older lossviz): train it again")
    lines = len(preds) * (1 if top_k is None else 2)  # text lines under each image
    n = len(images)
    ncols = 6
    nrows = -(-n // ncols)
    # A fixed layout, in inches: a cell is its image, the true label above it and one line per
    # loss below. One axes spans the figure with inches as its data units (y down), and every
    # image and text is placed in it: with 18 axes of one image each the figure took 0.46 s to
    # build and draw as PNG here, with the one axes 0.36 s (constrained layout, measuring 18
    # axes and 72 texts, had made it 1.0 s).
    image, gap, top, bottom = 1.3, 0.45 + 0.22 * lines, 0.6 if top_k is None else 0.85, 0.2 + 0.22 * lines
    cell_w, margin = 2.3, 0.01  # as a 6-column grid with 0.25 of an image between columns
    width, height = cell_w * ncols, top + nrows * image + (nrows - 1) * gap + bottom
    fig = Figure(figsize=(width, height))
    ax = fig.add_axes((0, 0, 1, 1))
    ax.axis("off")
    ax.set_xlim(0, width)
    ax.set_ylim(height, 0)
    col_w = (1 - 2 * margin) * width / (ncols + 0.25 * (ncols - 1))  # the image width of subplots' grid
    right, wrong = "#007A5E", PALETTE[4]  # a darker Okabe-Ito green, readable on white
    for i in range(n):
        row, col = divmod(i, ncols)
        x0 = margin * width + col * 1.25 * col_w + (col_w - image) / 2
        y0 = top + row * (image + gap)
        ax.imshow(np.asarray(images[i], dtype=np.uint8), cmap="gray_r", interpolation="nearest",
                  extent=(x0, x0 + image, y0 + image, y0), gid=f"image-{i}")
        cx = x0 + image / 2
        ax.text(cx, y0 - 0.03 * image, classes[labels[i]], ha="center", va="bottom", fontsize=10, fontweight="bold",
                gid=f"true-{i}")
        for j, (name, p) in enumerate(preds.items()):
            ok = p[i] == labels[i]
            line = j if top_k is None else 2 * j
            ax.text(cx, y0 + image + (0.04 + 0.17 * line) * image, f"{name}: {classes[p[i]]}", ha="center", va="top",
                    fontsize=9, color=right if ok else wrong, gid=f"pred-{i}-{name}-{'right' if ok else 'wrong'}")
            if top_k is not None:
                best = grid["top3"][name]
                ranked = list(zip(best["classes"][i], best["probs"][i]))[:top_k]
                hit = labels[i] in [c for c, _ in ranked]
                ax.text(cx, y0 + image + (0.04 + 0.17 * (line + 1)) * image,
                        "  ".join(f"{classes[c]} {q:.2f}" for c, q in ranked), ha="center", va="top", fontsize=7,
                        color=right if hit else "0.45", gid=f"top{top_k}-{i}-{name}-{'in' if hit else 'out'}")
    fig.suptitle("Test images: true label (bold) and each loss's prediction (green right, red wrong)"
                 + ("" if top_k is None else f";\nbelow it the {top_k} most probable classes (green when the true one is among them)"),
                 y=1 - 0.12 / height)
    return fig


# --- the playground's frames (lossviz.toy) ----------------------------------------------------


def toy_regression_figure(frame: dict, data, title: str = "") -> Figure:
    """A line (or MLP) fitted with each regression loss to points with outliers (left), and each
    point's pull |dl/dy_hat| on each fit (right): L2 pulls hardest on the farthest points."""
    fig, axes = _new_figure(ncols=2, size=(11.0, 4.2))
    ax, pull_ax = axes[0]
    x, y, out = (np.asarray(v) for v in (data.x, data.y, data.outlier))
    ax.scatter(x[~out], y[~out], s=18, color="#555555", label="points", zorder=3, gid="points")
    if out.any():
        ax.scatter(x[out], y[out], s=30, marker="x", color="#222222", label="outliers", zorder=3, gid="outliers")
    xs = np.asarray(frame["x"])
    ax.plot(xs, frame["clean"], color="#222222", ls="--", lw=1.2, label="clean " + ("line" if data.shape == "line" else "curve"),
            gid="clean")
    for i, name in enumerate(frame["losses"]):
        ax.plot(xs, frame["fit"][i], color=color_of(name), label=f"{name} (error {frame['error'][i]:.2f})", gid=f"fit-{name}")
        pull_ax.scatter(x, frame["pull"][i], s=16, color=color_of(name), label=name, gid=f"pull-{name}")
    ax.set(xlabel="x", ylabel="y", title=f"Fits after {frame['step']} steps")
    ax.legend(loc="best", fontsize=8.5)
    pull_ax.set(xlabel="x", ylabel=r"pull $|\partial l / \partial \hat y|$", title="Each point's pull on each fit")
    pull_ax.legend(loc="best")
    if title:
        fig.suptitle(title)
    return fig


def toy_boundaries_figure(frame: dict, data, title: str = "") -> Figure:
    """One decision map per loss (probability of class 1), with the training points (filled)
    and the test points (hollow); each panel titled with its test accuracy."""
    losses = frame["losses"]
    fig, axes = _new_figure(ncols=len(losses), size=(3.3 * len(losses), 3.5))
    axis = np.asarray(frame["axis"])
    colors = np.array(["#D55E00", "#0072B2"])  # class 0, class 1 (Okabe-Ito vermillion, blue)
    xtr, ytr = np.asarray(data.x_train), np.asarray(data.y_train)
    xte, yte = np.asarray(data.x_test), np.asarray(data.y_test)
    for i, (name, ax) in enumerate(zip(losses, axes[0])):
        ax.contourf(axis, axis, frame["prob"][i], levels=np.linspace(0, 1, 11), cmap="RdBu", alpha=0.55, gid=f"map-{name}")
        ax.contour(axis, axis, frame["prob"][i], levels=[0.5], colors="#222222", linewidths=1.2)
        ax.scatter(xtr[:, 0], xtr[:, 1], s=9, c=colors[ytr], edgecolors="white", linewidths=0.4, gid=f"train-{name}")
        ax.scatter(xte[:, 0], xte[:, 1], s=11, facecolors="none", edgecolors=colors[yte], linewidths=0.8, gid=f"test-{name}")
        ax.set_title(f"{name}: test acc {frame['test_acc'][i]:.2f}", color=color_of(name))
        ax.set_aspect("equal")
        ax.set_xticks([-6, 0, 6]), ax.set_yticks([-6, 0, 6])
        ax.grid(False)
    fig.suptitle(title or f"{data.name}: decision maps after {frame['step']} steps (train filled, test hollow)")
    return fig
