"""The data every figure draws: (spec, parameters, x-range) -> numpy arrays.

Computed once here, drawn by both ``plot_mpl`` (files, notebooks) and ``plot_plotly``
(the explorer), so the screen and the paper can never disagree. Everything is evaluated in
float64 through the registry's own ``value`` / ``grad`` / ``likelihood``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from lossviz.numerics.classification import cross_entropy_naive
from lossviz.registry import get, get_activation, get_loss

DEFAULT_RANGE = (-3.0, 3.0)
DEFAULT_POINTS = 2001
MAX_POINTS = 20_001
# Other logits held fixed when a classification loss is drawn against the true-class logit.
DEFAULT_LOGITS = (0.0, 1.0, -1.0)


@dataclass(frozen=True)
class Curve:
    """One loss or activation sampled on a grid.

    ``series`` maps "value", "grad" and (losses) "likelihood" to arrays the shape of ``x``.
    """

    name: str
    params: dict
    x: np.ndarray
    series: dict
    xlabel: str
    labels: dict = field(default_factory=dict)


def grid(x_range=DEFAULT_RANGE, n: int = DEFAULT_POINTS) -> torch.Tensor:
    """An evenly spaced float64 grid; validates the range and the count."""
    lo, hi = (float(v) for v in x_range)
    if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
        raise ValueError(f"x-range must be two finite numbers with low < high, got {x_range!r}")
    n = int(n)
    if not 2 <= n <= MAX_POINTS:
        raise ValueError(f"number of points must be in [2, {MAX_POINTS}], got {n}")
    return torch.linspace(lo, hi, n, dtype=torch.float64)


def points(x) -> torch.Tensor:
    """An explicit grid (1-D, finite, increasing, at most MAX_POINTS) as a float64 tensor."""
    t = torch.as_tensor(np.asarray(x, dtype=np.float64))
    if t.ndim != 1 or not 2 <= t.numel() <= MAX_POINTS or not torch.isfinite(t).all() or not (t[1:] > t[:-1]).all():
        raise ValueError(f"x must be 1-D, finite, increasing, with 2 to {MAX_POINTS} points")
    return t


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().numpy()


def loss_curve(
    name: str,
    params: dict | None = None,
    *,
    target: float = 0.0,
    x_range=DEFAULT_RANGE,
    n: int = DEFAULT_POINTS,
    normalized: bool = False,
    logits=DEFAULT_LOGITS,
    target_class: int = 0,
    x=None,
) -> Curve:
    """A loss, its likelihood and its gradient against the prediction.

    Regression losses: x is the prediction y_hat, the target is ``target``.
    Classification losses: x is the true-class logit o_y (class ``target_class`` of the row
    ``logits``); the other logits stay fixed, and the gradient is d l / d o_y.
    An explicit grid ``x`` (see ``points``) replaces ``x_range`` and ``n``.
    """
    spec = get_loss(name)
    params = spec.resolve(params or {})
    x = grid(x_range, n) if x is None else points(x)
    if spec.kind == "classification":
        row = torch.as_tensor(logits, dtype=torch.float64)
        if row.ndim != 1 or row.numel() < 2:
            raise ValueError("logits must be one row of at least two numbers")
        if not 0 <= int(target_class) < row.numel():
            raise ValueError(f"target class must be in [0, {row.numel() - 1}], got {target_class}")
        o = row.repeat(x.numel(), 1)
        o[:, target_class] = x
        y = torch.full((x.numel(),), int(target_class), dtype=torch.long)
        value = spec.value(o, y, **params)
        grad = spec.grad(o, y, **params)[:, target_class]
        lik = spec.likelihood(o, y, normalized=normalized, **params)
        xlabel = f"true-class logit $o_{{{target_class}}}$"
    else:
        t = torch.tensor(float(target), dtype=torch.float64)
        if not torch.isfinite(t):
            raise ValueError(f"target must be a finite number, got {target!r}")
        value = spec.value(x, t, **params)
        grad = spec.grad(x, t, **params)
        lik = spec.likelihood(x, t, normalized=normalized, **params)
        xlabel = "prediction $\\hat y$"
    lik_label = "likelihood $e^{-l}/Z$" if normalized and spec.log_normalizer else "likelihood $e^{-l}$"
    return Curve(
        name=name,
        params=params,
        x=_np(x),
        series={"value": _np(value), "likelihood": _np(lik), "grad": _np(grad)},
        xlabel=xlabel,
        labels={"value": "loss $l$", "likelihood": lik_label, "grad": "gradient $\\partial l$"},
    )


def activation_curve(
    name: str,
    params: dict | None = None,
    *,
    x_range=(-6.0, 6.0),
    n: int = DEFAULT_POINTS,
    logits=DEFAULT_LOGITS,
    index: int = 0,
    x=None,
) -> Curve:
    """An activation and its derivative against x.

    For softmax (a vector function) x is logit ``index`` of the row ``logits`` with the others
    fixed; the value is softmax(o)_index and the derivative the Jacobian's diagonal entry.
    An explicit grid ``x`` (see ``points``) replaces ``x_range`` and ``n``.
    """
    spec = get_activation(name)
    params = spec.resolve(params or {})
    x = grid(x_range, n) if x is None else points(x)
    if spec.kind == "vector":
        row = torch.as_tensor(logits, dtype=torch.float64)
        o = row.repeat(x.numel(), 1)
        o[:, index] = x
        value = spec.value(o, **params)[:, index]
        grad = spec.grad(o, **params)[:, index, index]
        xlabel = f"logit $x_{{{index}}}$ (others fixed)"
    else:
        value = spec.value(x, **params)
        grad = spec.grad(x, **params)
        xlabel = "$x$"
    return Curve(
        name=name,
        params=params,
        x=_np(x),
        series={"value": _np(value), "grad": _np(grad)},
        xlabel=xlabel,
        labels={"value": "$f(x)$", "grad": "$f'(x)$"},
    )


def curve(name: str, params: dict | None = None, **kwargs) -> Curve:
    """``loss_curve`` or ``activation_curve``, whichever the name is."""
    spec = get(name)
    fn = loss_curve if hasattr(spec, "log_normalizer") else activation_curve
    return fn(name, params, **kwargs)


@dataclass(frozen=True)
class SoftmaxView:
    """Softmax probabilities, the cross-entropy and its gradient for one row of logits."""

    logits: np.ndarray
    temperature: float
    target_class: int
    probs: np.ndarray
    loss: float
    naive_loss: float
    grad: np.ndarray


def softmax_view(logits, *, temperature: float = 1.0, target_class: int = 0) -> SoftmaxView:
    """Everything the softmax page shows, for logits o and temperature T (on o / T)."""
    o = torch.as_tensor(logits, dtype=torch.float64)
    if o.ndim != 1 or o.numel() < 2 or not torch.isfinite(o).all():
        raise ValueError("logits must be one row of at least two finite numbers")
    c = int(target_class)
    if not 0 <= c < o.numel():
        raise ValueError(f"target class must be in [0, {o.numel() - 1}], got {target_class}")
    t = get_activation("softmax").param("temperature").validate(temperature, owner="softmax")
    ce = get_loss("cross_entropy")
    scaled = (o / t)[None]
    y = torch.tensor([c])
    # float32 for the naive form: that is where students meet the overflow (exp(89) = inf).
    naive = cross_entropy_naive(scaled.float(), y)
    return SoftmaxView(
        logits=_np(o),
        temperature=t,
        target_class=c,
        probs=_np(get_activation("softmax").value(o, temperature=t)),
        loss=float(ce.value(scaled, y)),
        naive_loss=float(naive),
        grad=_np(ce.grad(scaled, y)[0]),
    )


def temperature_sweep(logits, temperatures) -> dict:
    """Softmax probabilities of one row of logits at several temperatures: {T: probs}."""
    spec = get_activation("softmax")
    o = torch.as_tensor(logits, dtype=torch.float64)
    return {float(t): _np(spec.value(o, temperature=t)) for t in temperatures}


def overflow_curve(base_logits=(1.0, 0.0, -1.0), *, target_class: int = 1, scales=None) -> dict:
    """Naive vs stable cross-entropy as the logits grow: o = s * base for s in ``scales``.

    Computed in float32 (the dtype models train in); the naive form turns inf / NaN once
    exp(s * max(base)) overflows (s * max(base) > ~88.7).
    """
    s = torch.as_tensor(np.geomspace(1, 1e4, 401) if scales is None else scales, dtype=torch.float32)
    o = s[:, None] * torch.as_tensor(base_logits, dtype=torch.float32)[None]
    y = torch.full((s.numel(),), int(target_class), dtype=torch.long)
    return {
        "scale": _np(s).astype(np.float64),
        "stable": _np(get_loss("cross_entropy").value(o, y)).astype(np.float64),
        "naive": _np(cross_entropy_naive(o, y)).astype(np.float64),
    }


# --- classification losses against the margin ("surrogate losses") ---------------------------

# What the surrogate-losses figure overlays: (name, parameters); the same loss may appear with
# several parameter sets (label-smoothed cross-entropy). The 0-1 loss is added by the view.
SURROGATES = (
    ("cross_entropy", {}),
    ("hinge", {}),
    ("focal", {"gamma": 2.0}),
    ("gce", {"q": 0.7}),
    ("cross_entropy", {"label_smoothing": 0.2}),
)
MARGIN_RANGE = (-3.0, 3.0)


@dataclass(frozen=True)
class MarginView:
    """Classification losses against the margin m = o_y - max_{i != y} o_i.

    The logits are o_y = m and o_i = 0 for the ``n_classes - 1`` others, so the margin is m and
    p_y = e^m / (e^m + C - 1). Each curve's x is the margin; its "value" is the loss and its
    "grad" is dl/dm = dl/do_y (only o_y moves). ``zero_one`` is the 0-1 loss [m <= 0] (a tie
    counts as a mistake).
    """

    margin: np.ndarray
    p_true: np.ndarray
    n_classes: int
    curves: list
    zero_one: np.ndarray


def margin_view(entries=SURROGATES, *, margin_range=MARGIN_RANGE, n: int = DEFAULT_POINTS, n_classes: int = 2) -> MarginView:
    """Loss and gradient against the margin, and p_y, for each (classification loss, params)."""
    m = grid(margin_range, n)
    c = int(n_classes)
    if not 2 <= c <= 1000:
        raise ValueError(f"number of classes must be in [2, 1000], got {n_classes!r}")
    o = torch.zeros(m.numel(), c, dtype=torch.float64)
    o[:, 0] = m
    y = torch.zeros(m.numel(), dtype=torch.long)
    out = []
    for name, params in entries:
        spec = get_loss(name)
        if spec.kind != "classification":
            raise ValueError(f"{name} is not a classification loss; the margin view draws only those")
        params = spec.resolve(params or {})
        out.append(Curve(
            name=name,
            params=params,
            x=_np(m),
            series={"value": _np(spec.value(o, y, **params)), "grad": _np(spec.grad(o, y, **params)[:, 0])},
            xlabel="margin $o_y - \\max_{i \\neq y} o_i$",
            labels={"value": "loss $l$", "grad": "$\\partial l / \\partial o_y$"},
        ))
    return MarginView(
        margin=_np(m),
        p_true=_np(get_activation("softmax").value(o)[:, 0]),
        n_classes=c,
        curves=out,
        zero_one=_np((m <= 0).to(torch.float64)),
    )


# --- Barron's robust-loss family --------------------------------------------------------------

# The named members of the family, marked on an alpha slider and in the legend (Barron 2019, sec. 1).
ROBUST_NAMED = {2.0: "L2", 1.0: "pseudo-Huber", 0.0: "Cauchy", -2.0: "Geman-McClure", -float("inf"): "Welsch"}
ROBUST_ALPHAS = (-float("inf"), -2.0, 0.0, 0.5, 1.0, 1.5, 2.0)


def robust_family(alphas=ROBUST_ALPHAS, *, scale: float = 1.0, x_range=(-6.0, 6.0), n: int = DEFAULT_POINTS) -> list[Curve]:
    """Barron's loss rho(x, alpha, c) at several alpha: value, gradient and, where it exists
    (alpha >= 0), the normalized density exp(-rho) / Z(alpha, c).

    For alpha < 0 the curve has no "likelihood" series: exp(-rho) does not integrate.
    """
    spec = get_loss("general")
    x = grid(x_range, n)
    zero = torch.zeros((), dtype=torch.float64)
    out = []
    for a in alphas:
        params = spec.resolve({"alpha": a, "scale": scale})
        series = {"value": _np(spec.value(x, zero, **params)), "grad": _np(spec.grad(x, zero, **params))}
        if params["alpha"] >= 0:
            series["likelihood"] = _np(spec.likelihood(x, zero, normalized=True, **params))
        name = ROBUST_NAMED.get(params["alpha"])
        out.append(Curve(
            name="general",
            params=params,
            x=_np(x),
            series=series,
            xlabel="residual $x = \\hat y - y$",
            labels={"value": "loss $\\rho$", "grad": "gradient $\\partial\\rho/\\partial x$",
                    "likelihood": "density $e^{-\\rho}/Z(\\alpha)$", "member": name or ""},
        ))
    return out


# --- sweeps: the curves at every step of a slider ------------------------------------------

SWEEP_STRIDE = 8  # of the fine grid: every 8th point, plus the points where a curve bends
SWEEP_BEND_TOL = 2e-4  # second difference, in units of a curve's height, that counts as a bend
MAX_SWEEP_STEPS = 121


def height(y: np.ndarray) -> float:
    """A curve's height (its finite span; 1, or |y| for a flat curve): the unit of tolerances on it."""
    finite = y[np.isfinite(y)]
    if finite.size == 0:
        return 1.0
    span = float(finite.max() - finite.min())
    return span if span > 0 else max(1.0, abs(float(finite[0])))


def well_placed(ys, stride: int = SWEEP_STRIDE, tol: float = SWEEP_BEND_TOL) -> np.ndarray:
    """Indices of a fine grid worth drawing for curves that share it.

    Every ``stride``-th point and both ends, plus each point where any curve bends by more than
    ``tol`` of its height (second difference) and its neighbours, plus the edges of NaN/inf gaps:
    drawn with straight segments, they are the fine curve to well under a pixel.
    """
    ys = [np.asarray(y, dtype=np.float64) for y in ys]
    n = len(ys[0])
    keep = np.zeros(n, dtype=bool)
    keep[::stride] = True
    keep[[0, -1]] = True
    for y in ys:
        bad = ~np.isfinite(y)
        yf = np.where(bad, 0.0, y) / height(y)
        marked = np.zeros(n, dtype=bool)
        marked[1:-1] = np.abs(yf[:-2] - 2 * yf[1:-1] + yf[2:]) > tol
        marked[1:] |= bad[1:] != bad[:-1]
        marked[:-1] |= bad[1:] != bad[:-1]
        keep |= marked
        keep[1:] |= marked[:-1]
        keep[:-1] |= marked[1:]
    return np.flatnonzero(keep)


@dataclass(frozen=True)
class Sweep:
    """One loss or activation at every value of one parameter (a slider's steps).

    ``x`` (n,) is shared by every step: the well-placed points of the fine grid, taken over all
    steps (``well_placed``); ``series[key]`` is (steps, n). All float32, ready to send.
    ``param`` is a parameter of the entry, or "target" (a regression loss's y).
    """

    name: str
    param: str
    values: np.ndarray
    x: np.ndarray
    series: dict
    params: dict


def sweep(name: str, param: str, values, *, params: dict | None = None, x=None, x_range=DEFAULT_RANGE, n: int = DEFAULT_POINTS,
          target: float = 0.0, normalized: bool = False, n_classes: int | None = None, well_placed_points: bool = True) -> Sweep:
    """The curves of ``name`` at each of ``values`` of ``param``, the other parameters at ``params``.

    Regression losses are drawn against the prediction (``target``: y; ``param`` "target"
    sweeps y), activations against x, classification losses against the margin with
    ``n_classes`` classes (``margin_view``). At most ``MAX_SWEEP_STEPS`` values.
    Returns a ``Sweep`` of float32 arrays.
    """
    spec = get(name)
    values = np.asarray(values, dtype=np.float64).reshape(-1)
    if not 1 <= values.size <= MAX_SWEEP_STEPS or not np.isfinite(values).all():
        raise ValueError(f"a sweep takes 1 to {MAX_SWEEP_STEPS} finite values, got {values.size}")
    base = dict(params or {})
    is_loss = hasattr(spec, "log_normalizer")
    if param != "target":
        spec.param(param)  # an unknown parameter is refused with the spec's own message
    elif not (is_loss and spec.kind == "regression"):
        raise ValueError(f"'target' sweeps only a regression loss's y, not {name}")
    curves_ = []
    for v in values:
        p = base if param == "target" else {**base, param: float(v)}
        if is_loss and spec.kind == "classification":
            mv = margin_view([(name, p)], margin_range=x_range if x is None else (float(x[0]), float(x[-1])),
                             n=n if x is None else len(x), n_classes=n_classes or 2)
            curves_.append(mv.curves[0])
        elif is_loss:
            curves_.append(loss_curve(name, p, target=float(v) if param == "target" else target, x_range=x_range, n=n, x=x,
                                      normalized=normalized))
        else:
            curves_.append(activation_curve(name, p, x_range=x_range, n=n, x=x))
    keys = list(curves_[0].series)
    if well_placed_points:
        idx = np.unique(np.concatenate([well_placed([c.series[k] for k in keys]) for c in curves_]))
    else:
        idx = np.arange(len(curves_[0].x))
    return Sweep(name=name, param=param, values=values.astype(np.float32), x=curves_[0].x[idx].astype(np.float32),
                 series={k: np.stack([c.series[k][idx] for c in curves_]).astype(np.float32) for k in keys},
                 params={k: v for k, v in curves_[0].params.items() if k != param})
