"""Classification losses beyond cross-entropy: focal and generalized cross-entropy (functions
of the target's log-probability), and the multiclass hinge losses (margins on the logits);
each beside its gradient and spec."""

from __future__ import annotations

import math

import torch

from lossviz.numerics.classification import (check_classes, per_class, per_class_grad, pick, target_probs, weighted,
                                             widened_on_overflow)
from lossviz.spec import Formula, LossSpec, Param

# --- Multiclass hinge (margin) losses ---------------------------------------------------------


def _rivals(logits: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
    """For each class c in ``classes`` (..., K): the index of the highest logit other than c.

    At a tie the first index wins, as ``argmax`` picks it (value and gradient agree on it).
    """
    first = logits.argmax(-1, keepdim=True)
    second = logits.scatter(-1, first, -math.inf).argmax(-1, keepdim=True)
    return torch.where(classes == first, second, first)


def _all_classes(logits: torch.Tensor) -> torch.Tensor:
    return torch.arange(logits.shape[-1], device=logits.device).expand(logits.shape)


@widened_on_overflow
def hinge(logits: torch.Tensor, target: torch.Tensor, *, margin: float = 1.0) -> torch.Tensor:
    """Crammer-Singer multiclass hinge loss max(0, margin + max_{i != y} o_i - o_y), per sample.

    Zero once the true class's logit beats every other by the margin: the course notes'
    "o_y - o_i >= Delta" (with Delta(y, i) = margin), learned by penalising the worst rival
    only. Probability targets give sum_c y_c l(o, c). With one class there is no rival: 0.

    Args:
        margin: Delta >= 0. Default: 1.0.
    """
    if logits.shape[-1] < 2:
        return logits.new_zeros(logits.shape[:-1])
    if not target.is_floating_point():
        check_classes(target, logits.shape[-1])
        y = target.long().unsqueeze(-1).expand(*logits.shape[:-1], 1)
        # (o_rival - o_y) + margin, the difference first: equal logits give exactly 0 + margin,
        # where margin + o_rival rounds the margin away (4096 + 1 = 4096 in float16).
        return torch.relu((logits.gather(-1, _rivals(logits, y)) - logits.gather(-1, y)) + margin).squeeze(-1)
    per_class = torch.relu((logits.gather(-1, _rivals(logits, _all_classes(logits))) - logits) + margin)
    return weighted(target_probs(logits, target), per_class).sum(-1)


def hinge_grad(logits: torch.Tensor, target: torch.Tensor, *, margin: float = 1.0) -> torch.Tensor:
    """+1 at the worst rival, -1 at the true class while the margin is violated, else 0.

    At the kink (margin + o_rival - o_y = 0 exactly) we take the subgradient 0, as ReLU does.
    Probability targets: the y_c-weighted sum of each class's gradient.
    """
    if logits.shape[-1] < 2:
        return torch.zeros_like(logits)
    y = target_probs(logits, target)
    rivals = _rivals(logits, _all_classes(logits))
    active = ((logits.gather(-1, rivals) - logits) + margin > 0).to(logits.dtype) * y  # the value's order
    return (-active).scatter_add(-1, rivals, active)


HINGE = LossSpec(
    name="hinge",
    title="Multiclass hinge loss (Crammer-Singer)",
    summary="Zero once the true logit beats the best rival by the margin; penalises only the worst rival.",
    kind="classification",
    formula=Formula(
        value="l(y, \\mathbf o) = \\max\\big(0,\\ \\Delta + \\max_{i \\ne y} o_i - o_y\\big)",
        grad="\\partial_{o_j} l = [l > 0] \\big([j = i^*] - [j = y]\\big),\\ i^* = \\arg\\max_{i \\ne y} o_i",
        mathtext="$l = \\max(0,\\ \\Delta + \\max_{i \\neq y} o_i - o_y)$",
    ),
    params=(
        Param("margin", 1.0, 0.0, math.inf, "Delta: by how much the true logit must beat the others", high_open=True),
    ),
    value_fn=hinge,
    grad_fn=hinge_grad,
)


@widened_on_overflow
def hinge_ww(logits: torch.Tensor, target: torch.Tensor, *, margin: float = 1.0) -> torch.Tensor:
    """Weston-Watkins multiclass hinge loss sum_{i != y} max(0, margin + o_i - o_y), per sample.

    Every rival inside the margin is penalised (Crammer-Singer: only the worst).
    ``F.multi_margin_loss(o, y, margin=margin, reduction="none")`` is this divided by C.

    Args:
        margin: Delta >= 0. Default: 1.0.
    """
    if not target.is_floating_point():
        check_classes(target, logits.shape[-1])
        o_y = pick(logits, target).unsqueeze(-1)
        # The i = y term is masked out (not subtracted: margin - margin can lose digits).
        own = _all_classes(logits) == target.long().unsqueeze(-1)
        # (o_i - o_y) + margin, the difference first, as in ``hinge``: equal large logits keep the margin.
        return torch.relu((logits - o_y) + margin).masked_fill(own, 0).sum(-1)
    # terms[..., c, i] = max(0, (o_i - o_c) + margin): class c's loss is row c without i = c.
    terms = torch.relu((logits.unsqueeze(-2) - logits.unsqueeze(-1)) + margin)
    terms = terms.masked_fill(torch.eye(logits.shape[-1], dtype=torch.bool, device=logits.device), 0)
    return weighted(target_probs(logits, target), terms.sum(-1)).sum(-1)


def hinge_ww_grad(logits: torch.Tensor, target: torch.Tensor, *, margin: float = 1.0) -> torch.Tensor:
    """d/do_j = sum_c y_c [margin + o_j - o_c > 0] - y_j #{i != j : margin + o_i - o_j > 0}.

    For a class index y: +1 at each rival inside the margin, minus their count at y. At a kink
    (margin + o_i - o_c = 0 exactly) we take the subgradient 0, as ReLU does.
    """
    y = target_probs(logits, target)
    # active[..., c, i] = [margin + o_i - o_c > 0] for i != c (the diagonal is margin > 0: removed).
    active = ((logits.unsqueeze(-2) - logits.unsqueeze(-1)) + margin > 0).to(logits.dtype)  # the value's order
    active = active * (1 - torch.eye(logits.shape[-1], dtype=logits.dtype, device=logits.device))
    return (y.unsqueeze(-1) * active).sum(-2) - y * active.sum(-1)


HINGE_WW = LossSpec(
    name="hinge_ww",
    title="Multiclass hinge loss (Weston-Watkins)",
    summary="Sum of the margin violations of every rival class (torch's multi_margin_loss times C).",
    kind="classification",
    formula=Formula(
        value="l(y, \\mathbf o) = \\sum_{i \\ne y} \\max(0,\\ \\Delta + o_i - o_y)",
        grad="\\partial_{o_j} l = [\\Delta + o_j - o_y > 0]\\ (j \\ne y),\\quad \\partial_{o_y} l = -\\#\\{i \\ne y : \\Delta + o_i - o_y > 0\\}",
        mathtext="$l = \\sum_{i \\neq y} \\max(0,\\ \\Delta + o_i - o_y)$",
    ),
    params=(
        Param("margin", 1.0, 0.0, math.inf, "Delta: by how much the true logit must beat the others", high_open=True),
    ),
    value_fn=hinge_ww,
    grad_fn=hinge_ww_grad,
)


# --- Focal loss -------------------------------------------------------------------------------


@widened_on_overflow
def focal(logits: torch.Tensor, target: torch.Tensor, *, gamma: float = 2.0) -> torch.Tensor:
    """Multiclass focal loss -(1 - p_y)^gamma log p_y on logits, per sample (Lin et al. 2017).

    The factor (1 - p_y)^gamma turns down the loss of examples already classified well;
    gamma = 0 is cross-entropy. Probability targets give sum_c y_c l(p_c).

    Args:
        gamma: focusing parameter >= 0. Default: 2.0 (the paper's choice).
    """
    # From log p (finite, via log_softmax): 1 - p = -expm1(log p), exact even when p is
    # within rounding of 1, where 1 - exp(log p) would round to 0.
    return per_class(lambda s: -torch.pow(-torch.expm1(s), gamma) * s, logits, target)


def _focal_dlog_p(s: torch.Tensor, gamma: float) -> torch.Tensor:
    # l(s) = -(1 - p)^g s with p = e^s:
    #   dl/ds = g p s (1 - p)^(g-1) - (1 - p)^g = -(1 - p)^g (1 + g p s / expm1(s)),
    # using s / (1 - p) = -s / expm1(s). s / expm1(s) -> 1 as s -> 0, so this stays finite at
    # p = 1 for gamma < 1, where (1 - p)^(g-1) alone is inf.
    # At s = -inf (p = 0: a logit gap beyond the dtype, 1.2e5 in float16) p s / expm1(s) -> 0,
    # but s / expm1(s) = inf and 0 * inf = NaN: there the ratio takes a finite stand-in.
    zero = s == 0
    s_safe = torch.where(zero | (s == -math.inf), -torch.ones_like(s), s)
    ratio = torch.where(zero, torch.ones_like(s), s_safe / torch.expm1(s_safe))
    return -torch.pow(-torch.expm1(s), gamma) * (1 + gamma * torch.exp(s) * ratio)


def focal_grad(logits: torch.Tensor, target: torch.Tensor, *, gamma: float = 2.0) -> torch.Tensor:
    """d focal / d o_j = y_j g_j - p_j sum_c y_c g_c with g = -(1 - p)^gamma (1 + gamma p log p / (p - 1))."""
    return per_class_grad(lambda s: _focal_dlog_p(s, gamma), logits, target)


FOCAL = LossSpec(
    name="focal",
    title="Focal loss",
    summary="Cross-entropy scaled by (1 - p_y)^gamma: well-classified examples count less (gamma = 0: cross-entropy).",
    kind="classification",
    formula=Formula(
        value="l(y, \\mathbf o) = -(1 - p_y)^\\gamma \\log p_y,\\ \\mathbf p = \\operatorname{softmax}(\\mathbf o)",
        grad="\\partial_{o_j} l = g\\,([j = y] - p_j),\\ g = -(1 - p_y)^\\gamma \\Big(1 + \\frac{\\gamma\\, p_y \\log p_y}{p_y - 1}\\Big)",
        mathtext="$l = -(1 - p_y)^{\\gamma} \\log p_y$",
    ),
    params=(
        Param("gamma", 2.0, 0.0, math.inf, "focusing: how fast confident examples are turned down", high_open=True),
    ),
    value_fn=focal,
    grad_fn=focal_grad,
)


# --- Generalized cross-entropy ----------------------------------------------------------------


def gce(logits: torch.Tensor, target: torch.Tensor, *, q: float = 0.7) -> torch.Tensor:
    """Generalized cross-entropy (1 - p_y^q) / q on logits, per sample (Zhang & Sabuncu 2018).

    q -> 0 gives cross-entropy, q = 1 gives 1 - p_y (MAE on the probabilities, up to a factor
    2): a bounded loss, robust to noisy labels. Probability targets give sum_c y_c l(p_c).

    Args:
        q: in (0, 1]. Default: 0.7 (the paper's choice).
    """
    # (1 - p^q) / q = -expm1(q log p) / q: exact for small q, where 1 - p^q cancels.
    return per_class(lambda s: -torch.expm1(q * s) / q, logits, target)


def gce_grad(logits: torch.Tensor, target: torch.Tensor, *, q: float = 0.7) -> torch.Tensor:
    """d gce / d o_j = y_j g_j - p_j sum_c y_c g_c with g = dl/d log p = -p^q."""
    return per_class_grad(lambda s: -torch.exp(q * s), logits, target)


GCE = LossSpec(
    name="gce",
    title="Generalized cross-entropy",
    summary="(1 - p_y^q)/q: cross-entropy as q -> 0, bounded 1 - p_y at q = 1; robust to noisy labels.",
    kind="classification",
    formula=Formula(
        value="l(y, \\mathbf o) = \\frac{1 - p_y^q}{q},\\ \\mathbf p = \\operatorname{softmax}(\\mathbf o)",
        grad="\\partial_{o_j} l = -p_y^q\\,([j = y] - p_j)",
        mathtext="$l = (1 - p_y^q) / q$",
    ),
    params=(
        Param("q", 0.7, 0.0, 1.0, "0 -> cross-entropy, 1 -> 1 - p_y (mean absolute error)", low_open=True),
    ),
    value_fn=gce,
    grad_fn=gce_grad,
)

LOSSES = (HINGE, HINGE_WW, FOCAL, GCE)  # in registration order
