"""A registered entry's hand-written gradient against autograd of its own value (``lossviz check``).

For each entry: the given ``grad`` against ``torch.autograd`` of the given ``value``, on a dense
grid over the default range and on random points, with each parameter at its default and at
both ends of its range, in float32 and float64; and the properties every face relies on: values
finite where the inputs are, dtype and shape kept, and (regression) exp(-l) integrating to the
claimed normalizer. A mismatch that vanishes when the point moves by a tiny step either way is a
kink (a subgradient choice, measure zero) and is not an error; a gradient wrong on a whole
stretch is, with a hint at what is wrong (a flipped sign, a constant factor, a missing term, one
side only). ``derivative_check`` gives the two derivatives on a grid, for drawing them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import NamedTuple

import torch

from lossviz import presentation, registry
from lossviz.numerics import autograd
from lossviz.spec import ActivationSpec, LossSpec

DTYPES = (torch.float64, torch.float32)
# |grad - autograd| / max(1, |autograd|) allowed: a hand-written stable form and autograd of the
# value may round differently, most in float32; a student's mistake is of order 1.
TOLERANCE = {torch.float64: 1e-6, torch.float32: 2e-3}
GRID_POINTS = 1201  # odd: 0 (the usual kink) lies on the grid
RANDOM_POINTS = 1000
LOSS_RANGE, ACTIVATION_RANGE = (-3.0, 3.0), (-6.0, 6.0)  # the figures' default ranges
CLASSES = 4
LIKELIHOOD_TOLERANCE = 1e-3  # on log Z


@dataclass(frozen=True)
class EntryReport:
    """What ``check_entry`` found for one entry.

    ``worst`` is the largest |grad - autograd| / max(1, |autograd|) away from kinks (None when
    the gradient is autograd's), ``where`` the input, parameters and dtype where it occurs.
    """

    name: str
    what: str  # "regression loss", "classification loss", "activation"
    grad_source: str
    verdict: str  # "ok", "WRONG" or "autograd (nothing to check)"
    worst: float | None = None
    where: str = ""
    hint: str = ""
    notes: tuple[str, ...] = ()  # kinks passed over, and the like
    problems: tuple[str, ...] = field(default=())  # failed property checks (each makes the entry wrong)

    @property
    def wrong(self) -> bool:
        return self.verdict == "WRONG"


# --- inputs -------------------------------------------------------------------------------------


def _param_settings(spec) -> list[dict]:
    """The defaults, then each parameter alone at its range's ends (an open or infinite end: the
    slider's end; an infinite end the range allows: that too)."""
    settings = [{}]
    for p in spec.params:
        slider = presentation.slider(spec.name, p.name)
        ends = []
        for end, is_open, near in ((p.low, p.low_open, slider.low), (p.high, p.high_open, slider.high)):
            if not is_open:
                ends.append(end)  # (a closed infinite end, Barron's alpha = -inf, is a value too)
            if is_open or math.isinf(end):
                ends.append(near)
        for v in dict.fromkeys(ends):
            if v != p.default:
                settings.append({p.name: float(v)})
    return settings


def _grid(x_range: tuple[float, float]) -> torch.Tensor:
    """GRID_POINTS evenly spaced over a range symmetric about 0, with 0 itself exactly on it
    (linspace alone may miss it by a rounding): the usual kink is checked."""
    half = torch.linspace(0.0, x_range[1], GRID_POINTS // 2 + 1, dtype=torch.float64)
    return torch.cat([-half[1:].flip(0), half])


def _points(spec, dtype: torch.dtype, seed: int = 0) -> tuple:
    """The inputs of one dtype: a dense grid over the default range and random points."""
    g = torch.Generator().manual_seed(seed)
    if isinstance(spec, ActivationSpec):
        grid = _grid(ACTIVATION_RANGE)
        if spec.kind == "vector":  # rows of logits: the grid as the first, random others
            rows = torch.randn(GRID_POINTS + RANDOM_POINTS, CLASSES, generator=g, dtype=torch.float64) * 2
            rows[:GRID_POINTS, 0] = grid
            return (rows.to(dtype),)
        x = torch.cat([grid, torch.randn(RANDOM_POINTS, generator=g, dtype=torch.float64) * 3])
        return (x.to(dtype),)
    grid = _grid(LOSS_RANGE)
    if spec.kind == "classification":
        # the grid: the target's logit (class 0) or another's (class 1) swept, the others fixed
        fixed = torch.tensor([0.0, 0.0, 0.5, -1.0], dtype=torch.float64)
        rows = fixed.repeat(2 * GRID_POINTS, 1)
        rows[:GRID_POINTS, 0] = grid
        rows[GRID_POINTS:, 0] = grid
        classes = torch.cat([torch.zeros(GRID_POINTS, dtype=torch.long), torch.ones(GRID_POINTS, dtype=torch.long)])
        rand = torch.randn(RANDOM_POINTS, CLASSES, generator=g, dtype=torch.float64) * 3
        rand_classes = torch.randint(0, CLASSES, (RANDOM_POINTS,), generator=g)
        logits = torch.cat([rows, rand]).to(dtype)
        return (logits, torch.cat([classes, rand_classes]))
    pred = torch.cat([grid, torch.randn(RANDOM_POINTS, generator=g, dtype=torch.float64) * 2])
    target = torch.cat([torch.zeros(GRID_POINTS, dtype=torch.float64), torch.randn(RANDOM_POINTS, generator=g, dtype=torch.float64)])
    return (pred.to(dtype), target.to(dtype))


# --- the two derivatives -------------------------------------------------------------------------


def _autograd(spec, inputs: tuple, params: dict) -> torch.Tensor:
    """torch.autograd of the entry's value at ``inputs`` (the Jacobian for a vector activation)."""
    if isinstance(spec, ActivationSpec):
        (x,) = inputs
        if spec.kind == "vector":
            leaf = x.detach().clone().requires_grad_(True)
            with torch.enable_grad():
                y = spec.value_fn(leaf, **params)
                rows = [torch.autograd.grad(y[..., c].sum(), leaf, retain_graph=True)[0] for c in range(y.shape[-1])]
            return torch.stack(rows, -2)  # J[..., i, j] = dy_i / dx_j
        return autograd.elementwise(spec.value_fn)(x, **params)
    pred, target = inputs
    if spec.kind == "classification":
        return autograd.per_row(spec.value_fn)(pred, target, **params)
    return autograd.elementwise(spec.value_fn)(pred, target, **params)


def _given(spec, inputs: tuple, params: dict) -> torch.Tensor:
    return spec.grad_fn(*inputs, **params)


def _errors(given: torch.Tensor, auto: torch.Tensor) -> torch.Tensor:
    """|given - autograd| / max(1, |autograd|) per point (per row: the largest over its
    entries); inf where one is finite and the other not, 0 where both are the same inf."""
    g, a = given.detach().to(torch.float64), auto.detach().to(torch.float64)
    same = (g == a) | (torch.isnan(g) & torch.isnan(a))
    err = ((g - a).abs() / a.abs().clamp_min(1.0)).nan_to_num(nan=math.inf, posinf=math.inf)
    err = torch.where(same, torch.zeros_like(err), err)
    while err.ndim > 1:
        err = err.amax(-1)
    return err


def _moved(spec, inputs: tuple, idx: torch.Tensor, step: torch.Tensor, direction) -> tuple:
    """The inputs at ``idx`` with the differentiated input moved by ``step * direction``."""
    first = inputs[0][idx]
    moved = first + (step.view(-1, *([1] * (first.ndim - 1))) * direction).to(first.dtype)
    return (moved, *(t[idx] for t in inputs[1:]))


def _kinks(spec, inputs: tuple, params: dict, idx: torch.Tensor, tol: float) -> torch.Tensor:
    """Of the mismatched points ``idx``: True where the mismatch vanishes a tiny step away on
    both sides (in each of two directions for rows): a kink, where a subgradient is a choice."""
    x = inputs[0][idx]
    eps = math.sqrt(torch.finfo(x.dtype).eps) * 4
    scale = x.detach().to(torch.float64).abs()
    while scale.ndim > 1:
        scale = scale.amax(-1)
    step = eps * scale.clamp_min(1.0)
    g = torch.Generator().manual_seed(1)
    directions = [torch.ones(())] if x.ndim == 1 else \
        [torch.randint(0, 2, x.shape[1:], generator=g).to(torch.float64) * 2 - 1 for _ in range(2)]
    ok = torch.ones(len(idx), dtype=torch.bool)
    for d in directions:
        for sign in (1.0, -1.0):
            moved = _moved(spec, inputs, idx, step, sign * d)
            ok &= _errors(_given(spec, moved, params), _autograd(spec, moved, params)) <= tol
    return ok


# --- describing points and mistakes ---------------------------------------------------------------


def _fmt(v: float) -> str:
    return f"{v:.4g}"


def _where(spec, inputs: tuple, i: int, params: dict, dtype: torch.dtype) -> str:
    full = {**spec.defaults(), **params}
    ps = "".join(f", {k}={_fmt(v)}" for k, v in full.items())
    kind = str(dtype).removeprefix("torch.")
    if isinstance(spec, ActivationSpec):
        x = inputs[0][i]
        at = f"x={_fmt(float(x))}" if x.ndim == 0 else "x=[" + ", ".join(_fmt(float(v)) for v in x) + "]"
    elif spec.kind == "classification":
        at = "logits=[" + ", ".join(_fmt(float(v)) for v in inputs[0][i]) + f"], target={int(inputs[1][i])}"
    else:
        p, t = float(inputs[0][i]), float(inputs[1][i])
        at = f"pred={_fmt(p)}, target={_fmt(t)}" if t != 0 else f"pred={_fmt(p)} (target 0)"
    return f"{at}{ps} ({kind})"


def _hint(spec, inputs: tuple, given: torch.Tensor, auto: torch.Tensor, bad: torch.Tensor, tol: float) -> str:
    """What the wrong points have in common: a flipped sign, a constant factor, a constant
    difference, and on which side of 0 they lie."""
    g, a = given[bad].detach().to(torch.float64).flatten(), auto[bad].detach().to(torch.float64).flatten()
    finite = torch.isfinite(g) & torch.isfinite(a)
    if not finite.any():
        what = "not finite where autograd's is" if torch.isfinite(a).any() else "wrong where autograd's is not finite"
    else:
        g, a = g[finite], a[finite]
        scale = a.abs().clamp_min(1.0)
        nonzero = a.abs() > 1e-6
        ratio = g[nonzero] / a[nonzero]
        diff = g - a
        if bool(((g + a).abs() <= tol * scale).all()):
            what = "the sign is flipped (grad = -autograd)"
        elif nonzero.any() and float(ratio.max() - ratio.min()) <= 1e-3 * max(1e-12, float(ratio.abs().median())):
            what = f"off by a constant factor (grad = {_fmt(float(ratio.median()))} x autograd)"
        elif float(diff.max() - diff.min()) <= tol * float(scale.max()):
            what = f"off by a constant (grad - autograd = {_fmt(float(diff.median()))}: a missing or extra term)"
        else:
            what = "a missing or wrong term (grad - autograd varies with the input)"
    if isinstance(spec, ActivationSpec) and spec.kind == "elementwise" or isinstance(spec, LossSpec) and spec.kind == "regression":
        r = inputs[0][bad] - (inputs[1][bad] if len(inputs) > 1 else 0)
        name = "x" if isinstance(spec, ActivationSpec) else "pred - target"
        if bool((r < 0).all()):
            what += f"; only where {name} < 0"
        elif bool((r > 0).all()):
            what += f"; only where {name} > 0"
    return what


# --- the checks ----------------------------------------------------------------------------------------


def _what(spec) -> str:
    if isinstance(spec, ActivationSpec):
        return "activation" if spec.kind == "elementwise" else "vector activation"
    return f"{spec.kind} loss"


def _properties(spec, inputs: tuple, params: dict, dtype: torch.dtype, values: torch.Tensor, given: torch.Tensor | None) -> list[str]:
    """Values finite where the inputs are, dtype and shape kept."""
    problems = []
    kind = str(dtype).removeprefix("torch.")
    if not isinstance(values, torch.Tensor):
        return [f"value returns {type(values).__name__}, not a tensor"]
    x = inputs[0]
    shape = x.shape if isinstance(spec, ActivationSpec) else \
        (x.shape[:-1] if spec.kind == "classification" else torch.broadcast_shapes(x.shape, inputs[1].shape))
    if values.shape != shape:
        problems.append(f"value has shape {tuple(values.shape)} for inputs of shape {tuple(x.shape)} ({kind}); expected {tuple(shape)}")
    if values.dtype != dtype:
        problems.append(f"value turns {kind} into {str(values.dtype).removeprefix('torch.')}")
    elif values.shape == shape:
        bad = ~torch.isfinite(values)
        if bad.any():
            i = int(bad.flatten().nonzero()[0])
            problems.append(f"value not finite ({float(values.flatten()[i])}) at {_where(spec, inputs, i, params, dtype)}")
    if given is not None:
        want = x.shape + x.shape[-1:] if isinstance(spec, ActivationSpec) and spec.kind == "vector" else \
            (x.shape if not isinstance(spec, LossSpec) or spec.kind == "classification" else shape)
        if not isinstance(given, torch.Tensor):
            problems.append(f"grad returns {type(given).__name__}, not a tensor")
        elif given.shape != want:
            problems.append(f"grad has shape {tuple(given.shape)} for inputs of shape {tuple(x.shape)} ({kind}); expected {tuple(want)}")
        elif given.dtype != dtype:
            problems.append(f"grad turns {kind} into {str(given.dtype).removeprefix('torch.')}")
    return problems


def _likelihood_problems(spec: LossSpec, settings: list[dict]) -> list[str]:
    """exp(-l(r)) integrated over the residual against exp(log Z), at each parameter setting
    where the loss claims one (r = tan t: the whole line, heavy tails included)."""
    problems = []
    t = torch.linspace(-math.pi / 2, math.pi / 2, 200_001, dtype=torch.float64)[1:-1]
    r = torch.tan(t)
    for params in settings:
        try:
            resolved = spec.resolve(params, torch.float64)
            log_z = float(spec.log_normalizer(**resolved))
        except ValueError:
            continue  # not integrable at these parameters, and the loss says so
        with torch.no_grad():
            density = torch.exp(-spec.value_fn(r, torch.zeros(()), **resolved)) / torch.cos(t) ** 2
        integral = float(torch.trapezoid(density.nan_to_num(0.0), t))
        if not math.isfinite(log_z) or not integral > 0 or abs(math.log(integral) - log_z) > LIKELIHOOD_TOLERANCE:
            ps = ", ".join(f"{k}={_fmt(v)}" for k, v in resolved.items()) or "defaults"
            problems.append(f"likelihood: exp(-l) integrates to {_fmt(integral)} but log Z = {_fmt(log_z)} says "
                            f"{_fmt(math.exp(log_z)) if math.isfinite(log_z) else log_z} ({ps})")
    return problems


def check_entry(name: str) -> EntryReport:
    """Check one registered loss or activation (see the module's docstring)."""
    spec = registry.get(name)
    checked = spec.grad_source != "autograd"
    settings = _param_settings(spec)
    tol_of = TOLERANCE
    worst, worst_where, worst_case = -1.0, "", None
    wrong_in: set = set()  # the dtypes with a mismatch away from kinks
    problems: list[str] = []
    kinks: list[str] = []
    for dtype in DTYPES:
        inputs = _points(spec, dtype)
        for params in settings:
            try:
                resolved = spec.resolve(params, dtype)
            except ValueError:
                continue  # a value this dtype cannot hold (refused the same way by every face)
            try:
                with torch.no_grad():
                    values = spec.value_fn(*inputs, **resolved)
            except Exception as e:  # a user's function: its own error, named
                problems.append(f"value raised {type(e).__name__}: {e} ({_where(spec, inputs, 0, params, dtype)})")
                continue
            given = None
            if checked:
                try:
                    with torch.no_grad():
                        given = _given(spec, inputs, resolved)
                except Exception as e:
                    problems.append(f"grad raised {type(e).__name__}: {e} ({_where(spec, inputs, 0, params, dtype)})")
                    continue
            found = _properties(spec, inputs, params, dtype, values, given)
            problems += found
            if not checked or found:
                continue
            auto = _autograd(spec, inputs, resolved)
            tol = tol_of[dtype]
            err = _errors(given, auto)
            idx = (err > tol).nonzero().flatten()
            if len(idx):
                at_kink = _kinks(spec, inputs, resolved, idx, tol)
                for i in idx[at_kink][:1].tolist():
                    g0, a0 = given[i].flatten()[:1], auto[i].flatten()[:1]
                    kinks.append(f"kink at {_where(spec, inputs, i, params, dtype)}: grad {_fmt(float(g0))}, "
                                 f"autograd {_fmt(float(a0))} (a subgradient choice, not an error)")
                err[idx[at_kink]] = 0.0
            if bool((err > tol).any()):
                wrong_in.add(dtype)
            i = int(err.argmax())
            mismatch = float(err[i]) > tol
            # the worst point of the first dtype with a mismatch (float64 first: rounding aside)
            if (worst_case is None or worst_case[-1] == dtype) and (float(err[i]) > worst or mismatch and worst_case is None):
                worst, worst_where = float(err[i]), _where(spec, inputs, i, params, dtype)
                worst_case = (inputs, given, auto, err > tol, tol, dtype) if mismatch else None
    if isinstance(spec, LossSpec) and spec.kind == "regression" and spec.log_normalizer is not None:
        problems += _likelihood_problems(spec, settings)
    problems = list(dict.fromkeys(problems))
    notes = tuple(dict.fromkeys(kinks))[:2]
    if not checked:
        return EntryReport(name, _what(spec), spec.grad_source, "WRONG" if problems else "autograd (nothing to check)",
                           problems=tuple(problems))
    hint = ""
    if worst_case is not None:
        inputs, given, auto, bad, tol, dtype = worst_case
        hint = _hint(spec, inputs, given, auto, bad, tol)
        if wrong_in == {torch.float32}:
            hint += "; only in float32 (rounding: a stable form would do)"
    wrong = worst_case is not None or bool(problems)
    return EntryReport(name, _what(spec), spec.grad_source, "WRONG" if wrong else "ok",
                       worst=max(worst, 0.0), where=worst_where, hint=hint, notes=notes, problems=tuple(problems))


def check(names) -> list[EntryReport]:
    """``check_entry`` for each name, in order (each validated first: ``ValueError`` listing the
    valid names for an unknown one)."""
    names = list(names)
    for n in names:
        registry.get(n)
    return [check_entry(n) for n in names]


def format_reports(reports: list[EntryReport]) -> str:
    """One row per entry (name, what, worst |grad - autograd|, where, verdict), a hint under a
    wrong one, notes on kinks passed over."""
    w = max([len("entry")] + [len(r.name) for r in reports])
    lines = [f"{'entry':<{w}}  {'kind':<19}  {'worst |g-a|':>11}  verdict   where",
             f"{'':<{w}}  {'':<19}  {'/max(1,|a|)':>11}"]
    for r in reports:
        worst = "-" if r.worst is None else f"{r.worst:.2g}"
        verdict = r.verdict if r.verdict != "autograd (nothing to check)" else "ok"
        where = "autograd (nothing to check)" if r.worst is None else ("equal at every point" if r.worst == 0 else r.where)
        lines.append(f"{r.name:<{w}}  {r.what:<19}  {worst:>11}  {verdict:<8}  {where}")
        if r.hint:
            lines.append(f"{'':<{w}}    hint: {r.hint}")
        for p in r.problems:
            lines.append(f"{'':<{w}}    problem: {p}")
        for n in r.notes:
            lines.append(f"{'':<{w}}    note: {n}")
    bad = [r.name for r in reports if r.wrong]
    lines.append(f"{len(reports) - len(bad)} of {len(reports)} ok" + (f"; wrong: {', '.join(bad)}" if bad else ""))
    return "\n".join(lines)


# --- for drawing ---------------------------------------------------------------------------------------


class DerivativeCheck(NamedTuple):
    """The given and autograd's derivative of an entry on a grid, and where they differ
    (kinks excluded): what an explorer page draws (autograd's dashed, the differences shaded)."""

    x: torch.Tensor
    given: torch.Tensor
    autograd: torch.Tensor
    differs: torch.Tensor  # bool, per point


def derivative_check(name: str, params: dict | None = None, *, x: torch.Tensor | None = None,
                     target: float = 0.0) -> DerivativeCheck:
    """The given derivative and autograd's at ``x`` (float64; default the figures' grid) of a
    regression loss (``pred = x``, ``target``) or an elementwise activation. ``ValueError`` for
    other entries."""
    spec = registry.get(name)
    if not (isinstance(spec, LossSpec) and spec.kind == "regression" or
            isinstance(spec, ActivationSpec) and spec.kind == "elementwise"):
        raise ValueError(f"{name}: the derivative check draws regression losses and elementwise activations")
    resolved = spec.resolve(params or {}, torch.float64)
    if x is None:
        x = _grid(ACTIVATION_RANGE if isinstance(spec, ActivationSpec) else LOSS_RANGE)
    x = torch.as_tensor(x, dtype=torch.float64)
    inputs = (x,) if isinstance(spec, ActivationSpec) else (x, torch.full_like(x, float(target)))
    with torch.no_grad():
        given = _given(spec, inputs, resolved)
    auto = _autograd(spec, inputs, resolved)
    err = _errors(given, auto)
    tol = TOLERANCE[torch.float64]
    differs = err > tol
    idx = differs.nonzero().flatten()
    if len(idx):
        differs[idx[_kinks(spec, inputs, resolved, idx, tol)]] = False
    return DerivativeCheck(x, given.detach(), auto.detach(), differs)
