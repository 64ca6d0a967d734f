"""Losses as plain torch functions: value, closed-form gradient, normalizing constant.

Every function is elementwise / per sample (no reduction), keeps the input's dtype and device,
and broadcasts like torch. The ``LOSSES`` tuple at the bottom is the single list of losses:
add an entry there and the registry, the figures, the explorer and the trainer pick it up.
"""

from __future__ import annotations

import math

import torch

from lossviz import stable
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


# --- Huber ------------------------------------------------------------------------------------


def huber(pred: torch.Tensor, target: torch.Tensor, *, delta: float = 1.0) -> torch.Tensor:
    """Huber's robust loss, elementwise.

    0.5 r^2                  if |r| <= delta
    delta (|r| - delta / 2)  otherwise,         with r = y_hat - y.

    Equal to ``torch.nn.functional.huber_loss(pred, target, reduction="none", delta=delta)``.

    Args:
        delta: where the quadratic turns linear; must be positive. Default: 1.0.
    """
    a = (pred - target).abs()
    # Clamp once and reuse: quadratic part on min(|r|, delta), linear part on the excess.
    # 0.5 q^2 + delta (a - q) equals both branches above and avoids a where() over two
    # expressions whose unused branch could overflow (a^2 for huge a).
    q = a.clamp(max=delta)
    return 0.5 * q * q + delta * (a - q)


def huber_grad(pred: torch.Tensor, target: torch.Tensor, *, delta: float = 1.0) -> torch.Tensor:
    """d/dy_hat huber = clip(y_hat - y, -delta, delta).

    The derivative is continuous, so |r| == delta needs no subgradient choice (both branches
    give +-delta there); only the second derivative jumps.
    """
    return (pred - target).clamp(-delta, delta)


# Z(delta) = int exp(-huber(r)) dr
#          = int_{|r|<=d} exp(-r^2/2) dr + 2 int_d^inf exp(-d (r - d/2)) dr
#          = sqrt(2 pi) erf(d / sqrt 2) + 2 exp(-d^2/2) / d.
# (The second integral: exp(d^2/2) * exp(-d r) from d to inf = exp(d^2/2) exp(-d^2) / d.)
def _huber_log_normalizer(*, delta: float = 1.0) -> float:
    z = math.sqrt(2.0 * math.pi) * math.erf(delta / math.sqrt(2.0))
    z += 2.0 * math.exp(-0.5 * delta * delta) / delta
    return math.log(z)


# --- Cross-entropy on logits ------------------------------------------------------------------


def _check_classes(target: torch.Tensor, n_classes: int) -> None:
    if target.numel() and (int(target.min()) < 0 or int(target.max()) >= n_classes):
        raise ValueError(f"class targets must lie in [0, {n_classes - 1}]")


def _target_probs(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Class indices (...) -> one-hot (..., C) in the logits' dtype; probabilities pass through."""
    if target.is_floating_point():
        if target.shape[-1:] != logits.shape[-1:]:
            raise ValueError(
                "probability targets need the same last dimension as the logits: "
                f"got target {tuple(target.shape)} for logits {tuple(logits.shape)}"
            )
        return target.to(logits.dtype)
    _check_classes(target, logits.shape[-1])
    return torch.nn.functional.one_hot(target.long(), logits.shape[-1]).to(logits.dtype)


def cross_entropy(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Softmax cross-entropy on logits, per sample.

    l(o, y) = -sum_c y_c log softmax(o)_c = sum_c y_c (logsumexp(o) - o_c).

    Args:
        logits: (..., C) raw scores o.
        target: (...) integer class indices, or (..., C) probabilities.
    Returns:
        (...) the loss per sample.
    """
    # log_softmax subtracts logsumexp, which subtracts the max first: finite for any finite
    # logits, where exp(o) alone overflows float32 above about 88.
    log_p = stable.log_softmax(logits)
    if not target.is_floating_point():
        # Class indices: pick -log_p of the target class without building a one-hot.
        _check_classes(target, logits.shape[-1])
        index = target.long().unsqueeze(-1).expand(*log_p.shape[:-1], 1)
        return -log_p.gather(-1, index).squeeze(-1)
    y = _target_probs(logits, target)
    # y * log_p is 0 * finite for classes with y_c = 0: never 0 * inf, since log_p is finite.
    return -(y * log_p).sum(-1)


def cross_entropy_grad(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """d/do cross_entropy = softmax(o) sum_c y_c - y, i.e. softmax(o) - y for a one-hot or
    probability target (the classic result; d2l 3.4.6)."""
    y = _target_probs(logits, target)
    return stable.softmax(logits) * y.sum(-1, keepdim=True) - y


def cross_entropy_naive(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The textbook form -log(exp(o_y) / sum_c exp(o_c)), for TEACHING ONLY.

    exp overflows to inf for logits above ~88 (float32) and the ratio becomes inf/inf = NaN;
    for very negative logits exp underflows to 0 and log(0) = -inf. The explorer and the
    figures show this next to the stable ``cross_entropy``. Never train with it.
    """
    e = torch.exp(logits)
    p = e / e.sum(-1, keepdim=True)
    if not target.is_floating_point():
        # d2l's from-scratch form: -log(y_hat[range(n), y]).
        _check_classes(target, logits.shape[-1])
        return -torch.log(p.gather(-1, target.long().unsqueeze(-1).expand(*p.shape[:-1], 1)).squeeze(-1))
    return -(_target_probs(logits, target) * torch.log(p)).sum(-1)


# --- The list ---------------------------------------------------------------------------------

_R = "r = \\hat y - y"

LOSSES: tuple[LossSpec, ...] = (
    LossSpec(
        name="l1",
        title="L1 (absolute) loss",
        summary="Absolute error; constant-size gradient, robust to outliers (Laplace likelihood).",
        formula=Formula(value="l(y, \\hat y) = |\\hat y - y|", grad="\\partial_{\\hat y} l = \\operatorname{sign}(\\hat y - y)", mathtext="$l = |\\hat{y} - y|$"),
        value_fn=l1,
        grad_fn=l1_grad,
        log_normalizer=_l1_log_normalizer,
    ),
    LossSpec(
        name="l2",
        title="L2 (squared) loss",
        summary="Half squared error (d2l convention); gradient grows with the error (Gaussian likelihood).",
        formula=Formula(value="l(y, \\hat y) = \\tfrac12 (\\hat y - y)^2", grad="\\partial_{\\hat y} l = \\hat y - y", mathtext="$l = \\frac{1}{2}(\\hat{y} - y)^2$"),
        value_fn=l2,
        grad_fn=l2_grad,
        log_normalizer=_l2_log_normalizer,
    ),
    LossSpec(
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
                  low_open=True, high_open=True, ui_low=0.05, ui_high=5.0, sweep=(0.25, 0.5, 1.0, 2.0)),
        ),
        value_fn=huber,
        grad_fn=huber_grad,
        log_normalizer=_huber_log_normalizer,
    ),
    LossSpec(
        name="cross_entropy",
        title="Softmax cross-entropy",
        summary="Cross-entropy of softmax(logits) against the target class; gradient softmax(o) - y.",
        kind="classification",
        formula=Formula(
            value="l(\\mathbf y, \\mathbf o) = -\\sum_j y_j \\log \\operatorname{softmax}(\\mathbf o)_j = \\log \\sum_k e^{o_k} - o_y",
            grad="\\partial_{o_j} l = \\operatorname{softmax}(\\mathbf o)_j - y_j",
            mathtext="$l = \\log\\sum_k e^{o_k} - o_y$",
        ),
        value_fn=cross_entropy,
        grad_fn=cross_entropy_grad,
    ),
)
