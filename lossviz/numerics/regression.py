"""Regression losses: L1, L2 and Huber, each with its closed-form gradient, its likelihood's
normalizing constant and its spec, side by side.

Every function is elementwise (no reduction), keeps the input's dtype and device, and
broadcasts like torch.
"""

from __future__ import annotations

import math

import torch

from lossviz.numerics.stable import beyond
from lossviz.spec import Formula, LossSpec, Param

# --- L1 ---------------------------------------------------------------------------------------


def l1(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Absolute error |y_hat - y|, elementwise.

    Returns:
        Tensor of the broadcast shape of ``pred`` and ``target``.
    """
    return (pred - target).abs()


def l1_grad(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """d/dy_hat |y_hat - y| = sign(y_hat - y).

    At the kink (y_hat == y) we take the subgradient 0, as torch's ``abs`` backward does.
    """
    return torch.sign(pred - target)


# log Z for exp(-|r|): Z = int exp(-|r|) dr = 2 (the Laplace distribution with scale 1).
def _l1_log_normalizer() -> float:
    return math.log(2.0)


L1 = LossSpec(
    name="l1",
    title="L1 (absolute) loss",
    summary="Absolute error; constant-size gradient, robust to outliers (Laplace likelihood).",
    formula=Formula(value="l(y, \\hat y) = |\\hat y - y|", grad="\\partial_{\\hat y} l = \\operatorname{sign}(\\hat y - y)", mathtext="$l = |\\hat{y} - y|$"),
    value_fn=l1,
    grad_fn=l1_grad,
    log_normalizer=_l1_log_normalizer,
)


# --- L2 ---------------------------------------------------------------------------------------


def l2(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Squared error with the d2l convention 1/2 (y_hat - y)^2, elementwise.

    Note the factor 1/2: this is half of ``torch.nn.functional.mse_loss(reduction="none")``,
    so that the gradient is simply the residual.
    """
    r = pred - target
    return 0.5 * r * r


def l2_grad(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """d/dy_hat 1/2 (y_hat - y)^2 = y_hat - y."""
    return pred - target


# Z = int exp(-r^2/2) dr = sqrt(2 pi): exp(-l2) / Z is the standard Gaussian density.
def _l2_log_normalizer() -> float:
    return 0.5 * math.log(2.0 * math.pi)


L2 = LossSpec(
    name="l2",
    title="L2 (squared) loss",
    summary="Half squared error (d2l convention); gradient grows with the error (Gaussian likelihood).",
    formula=Formula(value="l(y, \\hat y) = \\tfrac12 (\\hat y - y)^2", grad="\\partial_{\\hat y} l = \\hat y - y", mathtext="$l = \\frac{1}{2}(\\hat{y} - y)^2$"),
    value_fn=l2,
    grad_fn=l2_grad,
    log_normalizer=_l2_log_normalizer,
)


# --- Huber ------------------------------------------------------------------------------------


def huber(pred: torch.Tensor, target: torch.Tensor, *, delta: float = 1.0) -> torch.Tensor:
    """Huber's robust loss, elementwise.

    0.5 r^2                  if |r| <= delta
    delta (|r| - delta / 2)  otherwise,         with r = y_hat - y.

    Equal to ``torch.nn.functional.huber_loss(pred, target, reduction="none", delta=delta)``.

    Args:
        delta: where the quadratic turns linear; must be positive. Default: 1.0. A delta
            above the dtype's largest number (1e39 in float32) exceeds every residual, so the
            loss is 0.5 r^2 everywhere, as ``F.huber_loss`` computes it.
    """
    a = (pred - target).abs()
    if beyond(delta, a.dtype):  # clamp(max=delta) would refuse a bound the dtype cannot hold
        return 0.5 * a * a
    # Quadratic part on q = min(|r|, delta), linear part on the excess |r| - delta (0 inside):
    # 0.5 q^2 + delta * excess equals both branches above and avoids a where() over two
    # expressions whose unused branch could overflow (a^2 for huge a). Each |r| feeds one part
    # only: with q = clamp(a) and excess = a - q, autograd would add +delta and -delta inside
    # the quadratic part, and for delta = 1e300 those swallow the residual (gradient 0, not r).
    # At |r| = delta the linear part takes it: autograd's gradient there is delta, not 0 or 2 delta.
    linear = a >= delta
    q = torch.where(linear, delta, a)
    return 0.5 * q * q + delta * torch.where(linear, a - delta, 0.0)


def huber_grad(pred: torch.Tensor, target: torch.Tensor, *, delta: float = 1.0) -> torch.Tensor:
    """d/dy_hat huber = clip(y_hat - y, -delta, delta).

    The derivative is continuous, so |r| == delta needs no subgradient choice (both branches
    give +-delta there); only the second derivative jumps.
    """
    r = pred - target
    return r if beyond(delta, r.dtype) else r.clamp(-delta, delta)


# Z(delta) = int exp(-huber(r)) dr
#          = int_{|r|<=d} exp(-r^2/2) dr + 2 int_d^inf exp(-d (r - d/2)) dr
#          = sqrt(2 pi) erf(d / sqrt 2) + 2 exp(-d^2/2) / d.
# (The second integral: exp(d^2/2) * exp(-d r) from d to inf = exp(d^2/2) exp(-d^2) / d.)
def _huber_log_normalizer(*, delta: float = 1.0) -> float:
    z = math.sqrt(2.0 * math.pi) * math.erf(delta / math.sqrt(2.0))
    z += 2.0 * math.exp(-0.5 * delta * delta) / delta
    return math.log(z)


_R = "r = \\hat y - y"

HUBER = LossSpec(
    name="huber",
    title="Huber's robust loss",
    summary="Quadratic near zero, linear beyond delta: L2's smoothness with L1's robustness.",
    formula=Formula(
        value="l(y, \\hat y) = \\begin{cases} \\tfrac12 r^2 & |r| \\le \\delta \\\\ \\delta (|r| - \\tfrac{\\delta}{2}) & \\text{otherwise} \\end{cases},\\ " + _R,
        grad="\\partial_{\\hat y} l = \\operatorname{clip}(\\hat y - y, -\\delta, \\delta)",
        mathtext="$l = \\frac{1}{2}r^2$ if $|r| \\leq \\delta$, else $\\delta(|r| - \\delta/2)$",
    ),
    params=(
        Param("delta", 1.0, 0.0, math.inf, "where the quadratic part turns linear",
              low_open=True, high_open=True, extreme_ok=True),  # above the dtype's largest number: quadratic everywhere
    ),
    value_fn=huber,
    grad_fn=huber_grad,
    log_normalizer=_huber_log_normalizer,
)

LOSSES = (L1, L2, HUBER)  # in registration order (colours follow it: ``style.color_of``)
