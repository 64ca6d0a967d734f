"""Classification losses on logits: the shared pieces (class-index or probability targets),
softmax cross-entropy beside its gradient and spec, and the naive form kept for teaching.

Every function works per sample (no reduction) on logits (..., C) and targets that are class
indices (...) or probabilities (..., C).
"""

from __future__ import annotations

import torch

from lossviz.numerics import stable
from lossviz.spec import Formula, LossSpec, Param

# --- Classification losses on logits: shared pieces -------------------------------------------


def check_classes(target: torch.Tensor, n_classes: int) -> None:
    """``ValueError`` unless every class index lies in [0, n_classes - 1]."""
    if target.numel() and (int(target.min()) < 0 or int(target.max()) >= n_classes):
        raise ValueError(f"class targets must lie in [0, {n_classes - 1}]")


def target_probs(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Class indices (...) -> one-hot (..., C) in the logits' dtype; probabilities pass through."""
    if target.is_floating_point():
        if target.shape[-1:] != logits.shape[-1:]:
            raise ValueError(
                "probability targets need the same last dimension as the logits: "
                f"got target {tuple(target.shape)} for logits {tuple(logits.shape)}"
            )
        return target.to(logits.dtype)
    check_classes(target, logits.shape[-1])
    return torch.nn.functional.one_hot(target.long(), logits.shape[-1]).to(logits.dtype)


def pick(values: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """values[..., y] for class indices y (...): the target class's entry, without a one-hot."""
    check_classes(target, values.shape[-1])
    index = target.long().unsqueeze(-1).expand(*values.shape[:-1], 1)
    return values.gather(-1, index).squeeze(-1)


def weighted(y: torch.Tensor, per_class_values: torch.Tensor) -> torch.Tensor:
    """y_c * l_c with 0 * l = 0 for a class of weight 0, even where l_c is inf (a -inf logit's
    -log p = inf): the class-index form never looks at such a class, and the expected loss
    sum_c y_c l(o, c) skips it too (0 * inf would be NaN)."""
    return torch.where(y == 0, torch.zeros_like(per_class_values), y * per_class_values)


# The next dtype that holds a sum twice as large: float16's 65504 and bfloat16's (and float32's)
# 3.4e38 run out for logits whose spread exceeds them, float64's do not (for finite losses).
_WIDER = {torch.float16: torch.float32, torch.bfloat16: torch.float64, torch.float32: torch.float64}


def widened_on_overflow(value):
    """``value(logits, target, **params)``, computed again in a wider dtype where it overflowed.

    A loss can fit the dtype while an intermediate does not: float16 logits (60000, -60000),
    class 1, label smoothing 0.999 give 0.5005 * 120000 = 60060, but log p = -120000 is -inf in
    float16. Only an output with an inf is recomputed (the common case costs one isinf().any()),
    and rounded back: a loss that does not fit stays inf. (A NaN output is recomputed as well.)
    """

    def wrapped(logits: torch.Tensor, target: torch.Tensor, **params) -> torch.Tensor:
        out = value(logits, target, **params)
        wider = _WIDER.get(logits.dtype)
        # NaN too: a label smoothing that rounds to 0 in float16 (1e-300) times a log p that
        # overflowed to -inf is 0 * inf.
        if wider is None or bool(torch.isfinite(out).all()):
            return out
        t = target.to(wider) if target.is_floating_point() else target
        return value(logits.to(wider), t, **params).to(logits.dtype)

    wrapped.__name__, wrapped.__doc__ = value.__name__, value.__doc__
    return wrapped


def per_class(loss_of_log_p, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """A loss l(log p_y) of the target class's log-probability, for either target form.

    Class indices: l(log p_y). Probabilities y (one-hot included): sum_c y_c l(log p_c), the
    expected loss under the target distribution, which is the same number for a one-hot y.
    """
    log_p = stable.log_softmax(logits)
    if not target.is_floating_point():
        return loss_of_log_p(pick(log_p, target))
    return weighted(target_probs(logits, target), loss_of_log_p(log_p)).sum(-1)


def per_class_grad(dloss_dlog_p, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The gradient of ``per_class`` with respect to the logits, from g_c = dl/d(log p_c).

    d log p_c / d o_j = delta_cj - p_j, so d/do_j sum_c y_c l(log p_c) = y_j g_j - p_j sum_c y_c g_c.
    """
    log_p = stable.log_softmax(logits)
    yg = weighted(target_probs(logits, target), dloss_dlog_p(log_p))
    return yg - torch.exp(log_p) * yg.sum(-1, keepdim=True)


def for_both_targets(fn, *, gradient: bool = False):
    """``fn(logits, classes, **params)``, written for class indices, made to take probability
    targets too, as the built-ins do: sum_c y_c fn(logits, c), the expected loss (or gradient)
    under the target distribution, the same number for a one-hot y. For entries registered by
    users (``lossviz.register_loss(..., kind="classification")``).

    Args:
        gradient: ``fn`` returns (..., C) per row (a gradient), not one number per row.
    """

    def adapted(logits: torch.Tensor, target: torch.Tensor, **params) -> torch.Tensor:
        if not target.is_floating_point():
            check_classes(target, logits.shape[-1])
            return fn(logits, target, **params)
        y = target_probs(logits, target)
        total = None
        for c in range(logits.shape[-1]):
            classes = torch.full(y.shape[:-1], c, dtype=torch.long, device=logits.device)
            term = weighted(y[..., c, None] if gradient else y[..., c], fn(logits, classes, **params))
            total = term if total is None else total + term
        return total

    adapted.__name__ = getattr(fn, "__name__", "value")
    return adapted


# --- Cross-entropy on logits ------------------------------------------------------------------


@widened_on_overflow
def cross_entropy(logits: torch.Tensor, target: torch.Tensor, *, label_smoothing: float = 0.0) -> torch.Tensor:
    """Softmax cross-entropy on logits, per sample.

    l(o, y) = -sum_c y_c log softmax(o)_c = sum_c y_c (logsumexp(o) - o_c).
    With label smoothing eps the target becomes (1 - eps) y + eps / C (Szegedy et al. 2016),
    as in ``F.cross_entropy(..., label_smoothing=eps)``.

    Args:
        logits: (..., C) raw scores o.
        target: (...) integer class indices, or (..., C) probabilities.
        label_smoothing: eps in [0, 1). Default: 0.0.
    Returns:
        (...) the loss per sample.
    """
    # log_softmax subtracts logsumexp, which subtracts the max first: finite for any finite
    # logits, where exp(o) alone overflows float32 above about 88.
    log_p = stable.log_softmax(logits)
    if not target.is_floating_point():
        # Class indices: pick -log_p of the target class without building a one-hot.
        nll = -pick(log_p, target)
        if not label_smoothing:
            return nll
        # (1 - eps) (-log p_y) + eps mean_c(-log p_c): the smoothed target's cross-entropy.
        return (1 - label_smoothing) * nll - label_smoothing * log_p.mean(-1)
    y = _smoothed(target_probs(logits, target), label_smoothing)
    # log_p is finite for finite logits; a -inf logit has log_p = -inf, which a class of weight
    # 0 must skip (as the class index does), not turn into 0 * inf = NaN.
    return -weighted(y, log_p).sum(-1)


def _smoothed(y: torch.Tensor, label_smoothing: float) -> torch.Tensor:
    return y * (1 - label_smoothing) + label_smoothing / y.shape[-1] if label_smoothing else y


def cross_entropy_grad(logits: torch.Tensor, target: torch.Tensor, *, label_smoothing: float = 0.0) -> torch.Tensor:
    """d/do cross_entropy = softmax(o) sum_c y_c - y, i.e. softmax(o) - y for a one-hot or
    probability target (the classic result; d2l 3.4.6); y is the smoothed target."""
    y = _smoothed(target_probs(logits, target), label_smoothing)
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
        check_classes(target, logits.shape[-1])
        return -torch.log(p.gather(-1, target.long().unsqueeze(-1).expand(*p.shape[:-1], 1)).squeeze(-1))
    return -(target_probs(logits, target) * torch.log(p)).sum(-1)


CROSS_ENTROPY = LossSpec(
    name="cross_entropy",
    title="Softmax cross-entropy",
    summary="Cross-entropy of softmax(logits) against the target class; gradient softmax(o) - y.",
    kind="classification",
    formula=Formula(
        value="l(\\mathbf y, \\mathbf o) = -\\sum_j \\tilde y_j \\log \\operatorname{softmax}(\\mathbf o)_j,\\ \\tilde{\\mathbf y} = (1 - \\epsilon) \\mathbf y + \\epsilon / C",
        grad="\\partial_{o_j} l = \\operatorname{softmax}(\\mathbf o)_j - \\tilde y_j",
        mathtext="$l = \\log\\sum_k e^{o_k} - o_y$",
    ),
    params=(
        Param("label_smoothing", 0.0, 0.0, 1.0, "epsilon: the share of the target spread evenly over the classes",
              high_open=True),
    ),
    value_fn=cross_entropy,
    grad_fn=cross_entropy_grad,
)

LOSSES = (CROSS_ENTROPY,)  # in registration order
