"""Losses as plain torch functions: value, closed-form gradient, normalizing constant.

Every function is elementwise / per sample (no reduction), keeps the input's dtype and device,
and broadcasts like torch. The ``LOSSES`` tuple at the bottom is the single list of losses:
add an entry there and the registry, the figures, the explorer and the trainer pick it up.
"""

from __future__ import annotations

import functools
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


def _beyond(value: float, dtype: torch.dtype) -> bool:
    """Whether a parameter is larger than any finite number of ``dtype`` (1e39 in float32)."""
    return abs(value) > torch.finfo(dtype).max


def _rounds_to_zero(value: float, dtype: torch.dtype) -> bool:
    """Whether a parameter is below half the dtype's smallest number (1e-50 in float32)."""
    info = torch.finfo(dtype)
    return abs(value) <= info.smallest_normal * info.eps / 2


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
    if _beyond(delta, a.dtype):  # clamp(max=delta) would refuse a bound the dtype cannot hold
        return 0.5 * a * a
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
    r = pred - target
    return r if _beyond(delta, r.dtype) else r.clamp(-delta, delta)


# Z(delta) = int exp(-huber(r)) dr
#          = int_{|r|<=d} exp(-r^2/2) dr + 2 int_d^inf exp(-d (r - d/2)) dr
#          = sqrt(2 pi) erf(d / sqrt 2) + 2 exp(-d^2/2) / d.
# (The second integral: exp(d^2/2) * exp(-d r) from d to inf = exp(d^2/2) exp(-d^2) / d.)
def _huber_log_normalizer(*, delta: float = 1.0) -> float:
    z = math.sqrt(2.0 * math.pi) * math.erf(delta / math.sqrt(2.0))
    z += 2.0 * math.exp(-0.5 * delta * delta) / delta
    return math.log(z)


# --- Smooth L1 (PyTorch's) --------------------------------------------------------------------


def smooth_l1(pred: torch.Tensor, target: torch.Tensor, *, beta: float = 1.0) -> torch.Tensor:
    """PyTorch's smooth L1 loss, elementwise: Huber divided by its threshold.

    0.5 r^2 / beta    if |r| < beta
    |r| - beta / 2    otherwise,        with r = y_hat - y;   huber_delta(r) = delta * smooth_l1_delta(r).

    Equal to ``torch.nn.functional.smooth_l1_loss(pred, target, reduction="none", beta=beta)``.
    Where Huber's slope far out is delta, smooth L1's is always 1: beta only sets how wide the
    quadratic bowl is. beta = 0 is L1.

    Args:
        beta: half-width of the quadratic part; must be >= 0. Default: 1.0.
    """
    a = (pred - target).abs()
    if _rounds_to_zero(beta, a.dtype):  # beta = 0, or so small the dtype holds no |r| below it: L1
        return a
    if _beyond(beta, a.dtype):
        # beta exceeds every residual: 0.5 r^2 / beta, in float64 where beta and r^2 both fit.
        return (0.5 * a.double().square() / beta).to(a.dtype)
    q = a.clamp(max=beta)
    # 0.5 q (q / beta): q / beta <= 1, so no q^2 overflow when q is near the dtype's limit.
    return 0.5 * q * (q / beta) + (a - q)


def smooth_l1_grad(pred: torch.Tensor, target: torch.Tensor, *, beta: float = 1.0) -> torch.Tensor:
    """d/dy_hat smooth_l1 = clip(r / beta, -1, 1); sign(r) for beta = 0 (0 at r = 0, as L1)."""
    r = pred - target
    if _rounds_to_zero(beta, r.dtype):
        return torch.sign(r)
    if _beyond(beta, r.dtype):
        return (r.double() / beta).to(r.dtype)
    return (r / beta).clamp(-1, 1)


# Z(beta) = int_{|r|<beta} exp(-r^2/(2 beta)) dr + 2 int_beta^inf exp(-(r - beta/2)) dr
#         = sqrt(2 pi beta) erf(sqrt(beta / 2)) + 2 exp(-beta / 2)     (beta = 0: 2, Laplace).
def _smooth_l1_log_normalizer(*, beta: float = 1.0) -> float:
    z = math.sqrt(2.0 * math.pi * beta) * math.erf(math.sqrt(beta / 2.0)) + 2.0 * math.exp(-beta / 2.0)
    return math.log(z)


# --- log-cosh ---------------------------------------------------------------------------------

_LOG2 = math.log(2.0)


def log_cosh(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """log(cosh(y_hat - y)), elementwise: about r^2 / 2 near 0 and |r| - log 2 far out.

    # log(cosh(r)) = log((exp(r) + exp(-r)) / 2) = |r| + log1p(exp(-2|r|)) - log 2
    # (exp(-2|r|) <= 1, so nothing overflows; cosh(r) itself overflows float32 above |r| ~ 89).
    # Near 0 that form subtracts log 2 from about log 2; there log1p(2 sinh(r/2)^2) is exact
    # (cosh r - 1 = 2 sinh^2(r/2)), so |r| <= 1 takes that branch.
    """
    a = (pred - target).abs()
    near = a <= 1
    a_near = torch.where(near, a, torch.zeros_like(a))  # keeps the unused branch finite for autograd
    a_far = torch.where(near, torch.ones_like(a), a)
    s = torch.sinh(0.5 * a_near)
    return torch.where(near, torch.log1p(2 * s * s), a_far + torch.log1p(torch.exp(-2 * a_far)) - _LOG2)


def log_cosh_grad(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """d/dy_hat log cosh(r) = tanh(r): smooth everywhere, bounded by 1 like L1's sign."""
    return torch.tanh(pred - target)


# Z = int sech(r) dr = [2 arctan(tanh(r / 2))] from -inf to inf = pi: exp(-log_cosh) / pi is
# the hyperbolic secant distribution.
def _log_cosh_log_normalizer() -> float:
    return math.log(math.pi)


# --- Quantile (pinball) -----------------------------------------------------------------------


def quantile(pred: torch.Tensor, target: torch.Tensor, *, tau: float = 0.5) -> torch.Tensor:
    """The pinball loss of quantile regression, elementwise (Koenker & Bassett 1978).

    tau (y - y_hat)          if y_hat <= y   (predicting too low costs tau per unit)
    (1 - tau) (y_hat - y)    otherwise,
    written as 0.5 |r| + (0.5 - tau) r with r = y_hat - y; minimizing its mean puts y_hat at
    the tau-quantile of y. tau = 0.5 is L1 / 2.

    Args:
        tau: the quantile, in (0, 1). Default: 0.5.
    """
    r = pred - target
    return 0.5 * r.abs() + (0.5 - tau) * r


def quantile_grad(pred: torch.Tensor, target: torch.Tensor, *, tau: float = 0.5) -> torch.Tensor:
    """1 - tau for r > 0, -tau for r < 0; at the kink r = 0 we take 0.5 - tau, the middle of
    the subdifferential [-tau, 1 - tau] (what autograd gives for the |r| form above, and 0 at
    tau = 0.5, as L1)."""
    return 0.5 * torch.sign(pred - target) + (0.5 - tau)


# Z = int_0^inf exp(-(1 - tau) r) dr + int_0^inf exp(-tau u) du = 1/(1 - tau) + 1/tau
#   = 1 / (tau (1 - tau)): exp(-l) / Z is the asymmetric Laplace density.
def _quantile_log_normalizer(*, tau: float = 0.5) -> float:
    return -math.log(tau) - math.log1p(-tau)


# --- Barron's general robust loss -------------------------------------------------------------


def _upcast_half(fn):
    """Run float16 / bfloat16 inputs through ``fn`` in float32 and round the result back, as
    torch's own kernels do for half types: the intermediate z^2 would overflow float16 at 256."""

    def wrapped(pred, target, **params):
        dtype = torch.promote_types(pred.dtype, target.dtype) if target.is_floating_point() else pred.dtype
        if dtype in (torch.float16, torch.bfloat16):
            return fn(pred.float(), target.float(), **params).to(dtype)
        return fn(pred, target, **params)

    wrapped.__name__, wrapped.__doc__ = fn.__name__, fn.__doc__
    return wrapped


def _log1p_square_over(z: torch.Tensor, b: float) -> torch.Tensor:
    """log(1 + z^2 / b) for b > 0, without overflowing z^2 / b for huge z.

    Up to |z| = sqrt(b) K the square (z / sqrt b)^2 <= K^2 = sqrt(max) fits the dtype; beyond,
    log(1 + u) = log(u) + log1p(1/u) with u = (z / sqrt b)^2 = exp(2 log(|z| / sqrt b)).
    """
    k = torch.finfo(z.dtype).max ** 0.25
    w = z.abs() / math.sqrt(b)
    near = w <= k
    w_near = torch.where(near, w, torch.zeros_like(w))  # both branches stay finite for autograd
    w_far = torch.where(near, torch.full_like(w, k), w)
    inv = 1 / w_far
    return torch.where(near, torch.log1p(w_near * w_near), 2 * torch.log(w_far) + torch.log1p(inv * inv))


def _exprel(y: torch.Tensor) -> torch.Tensor:
    """(exp(y) - 1) / y, which is 1 at y = 0.

    For |y| < 1e-5 the series 1 + y/2 + y^2/6 (error < y^3/24 < 1e-16): the quotient's own
    derivative divides by y^2, which underflows to 0 for a subnormal y (alpha = 1e-300).
    """
    small = y.abs() < 1e-5
    y_small = torch.where(small, y, torch.zeros_like(y))
    y_big = torch.where(small, torch.ones_like(y), y)
    return torch.where(small, 1 + y_small * (0.5 + y_small / 6), torch.expm1(y_big) / y_big)


@_upcast_half
def general(pred: torch.Tensor, target: torch.Tensor, *, alpha: float = 1.0, scale: float = 1.0) -> torch.Tensor:
    """Barron's general and adaptive robust loss rho(r, alpha, c), elementwise (CVPR 2019).

    rho = |alpha - 2| / alpha * (((r / c)^2 / |alpha - 2| + 1)^(alpha / 2) - 1), with its limits
    at the removable singularities: alpha = 2 is L2, 0.5 (r/c)^2; alpha = 0 is Cauchy,
    log(1 + (r/c)^2 / 2); alpha -> -inf is Welsch, 1 - exp(-(r/c)^2 / 2). alpha = 1 is
    pseudo-Huber (Charbonnier), sqrt((r/c)^2 + 1) - 1; alpha = -2 is Geman-McClure.

    Args:
        alpha: shape; smaller is more robust (the gradient of outliers shrinks). Any value in
            [-inf, inf). Default: 1.0.
        scale: c > 0, the width of the quadratic bowl near r = 0. Default: 1.0.
    """
    z = (pred - target) / scale
    if alpha == 2:
        return 0.5 * z * z
    if alpha == -math.inf:
        return -torch.expm1(-0.5 * z * z)
    b = abs(alpha - 2)
    log_base = _log1p_square_over(z, b)  # L = log(1 + z^2 / b)
    e = 0.5 * alpha * log_base
    # rho = (b / alpha) expm1(alpha L / 2) = (b L / 2) exprel(alpha L / 2): the second form has
    # no division by alpha, so alpha = 0 (where it gives L = log(1 + z^2/2), Cauchy) and alpha
    # near 0 need no case of their own. Near alpha = 2 (b -> 0) both forms tend to z^2 / 2.
    far_out = e > 1
    small_e = torch.where(far_out, torch.zeros_like(e), e)
    near = 0.5 * b * log_base * _exprel(small_e)
    # e > 1 needs alpha > 0, and alpha L > 2 with L < 1500 (float64's range): alpha > 1e-3.
    # Only then is the far branch computed (for a subnormal alpha, b / alpha overflows).
    if alpha <= 0 or not bool(far_out.any()):
        return near
    # Far out, exp(e) grows: (b / alpha) exp(e) as exp(e + log(b / alpha)) stays finite
    # wherever rho does, even when exp(e) alone would not (b tiny, alpha near 2).
    big_e = torch.where(far_out, e, torch.ones_like(e))
    far = torch.exp(big_e + math.log(b / alpha)) - b / alpha
    return torch.where(far_out, far, near)


@_upcast_half
def general_grad(pred: torch.Tensor, target: torch.Tensor, *, alpha: float = 1.0, scale: float = 1.0) -> torch.Tensor:
    """d rho / d y_hat = (z / c) ((z^2 / |alpha - 2| + 1))^(alpha/2 - 1),  z = r / c.

    alpha = 2: z / c; alpha = 0: (z / c) / (1 + z^2 / 2); alpha = -inf: (z / c) exp(-z^2 / 2).
    For alpha < 2 it is bounded, for alpha <= 1 it tends to 0 far out (outliers are ignored).
    """
    z = (pred - target) / scale
    if alpha == 2:
        return z / scale
    if alpha == -math.inf:
        return z / scale * torch.exp(-0.5 * z * z)
    return z / scale * torch.exp((0.5 * alpha - 1) * _log1p_square_over(z, abs(alpha - 2)))


def _general_integrand(alpha: float):
    zero = torch.zeros((), dtype=torch.float64)
    return lambda x: math.exp(-general(torch.tensor(x, dtype=torch.float64), zero, alpha=alpha).item())


@functools.lru_cache(maxsize=256)
def general_partition(alpha: float) -> float:
    """Z(alpha) = int exp(-rho(x, alpha, 1)) dx over the real line, for alpha >= 0.

    Closed forms at alpha = 2 (sqrt(2 pi), the Gaussian) and alpha = 0 (sqrt(2) pi, Cauchy);
    otherwise computed numerically: 2 x ``scipy.integrate.quad`` of exp(-rho) over [0, inf)
    (QUADPACK's QAGI, which maps [0, inf) to (0, 1]), with a relative tolerance of 1e-11.
    For alpha < 0, rho is bounded (by |alpha - 2| / |alpha|), exp(-rho) tends to a positive
    constant and has no finite integral: ``ValueError``.
    """
    if not alpha >= 0:
        raise ValueError(
            f"general.alpha={alpha:g}: for alpha < 0 the loss is bounded, exp(-rho) tends to "
            f"exp(-{abs(alpha - 2):g}/{abs(alpha):g}) > 0 far out and has no finite integral, so there is no "
            "normalized likelihood; it exists for alpha >= 0"
        )
    if alpha == 2:
        return math.sqrt(2 * math.pi)
    if alpha == 0:
        return math.sqrt(2) * math.pi
    from scipy import integrate  # imported here: `import lossviz` stays light

    half, _ = integrate.quad(_general_integrand(alpha), 0, math.inf, epsabs=0, epsrel=1e-11, limit=500)
    return 2 * half


# Z(alpha, c) = c Z(alpha, 1): substitute x = r / c.
def _general_log_normalizer(*, alpha: float = 1.0, scale: float = 1.0) -> float:
    return math.log(scale) + math.log(general_partition(alpha))


# --- Classification losses on logits: shared pieces -------------------------------------------


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


def _pick(values: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """values[..., y] for class indices y (...): the target class's entry, without a one-hot."""
    _check_classes(target, values.shape[-1])
    index = target.long().unsqueeze(-1).expand(*values.shape[:-1], 1)
    return values.gather(-1, index).squeeze(-1)


def _per_class(loss_of_log_p, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """A loss l(log p_y) of the target class's log-probability, for either target form.

    Class indices: l(log p_y). Probabilities y (one-hot included): sum_c y_c l(log p_c), the
    expected loss under the target distribution, which is the same number for a one-hot y.
    """
    log_p = stable.log_softmax(logits)
    if not target.is_floating_point():
        return loss_of_log_p(_pick(log_p, target))
    return (_target_probs(logits, target) * loss_of_log_p(log_p)).sum(-1)


def _per_class_grad(dloss_dlog_p, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The gradient of ``_per_class`` with respect to the logits, from g_c = dl/d(log p_c).

    d log p_c / d o_j = delta_cj - p_j, so d/do_j sum_c y_c l(log p_c) = y_j g_j - p_j sum_c y_c g_c.
    """
    log_p = stable.log_softmax(logits)
    yg = _target_probs(logits, target) * dloss_dlog_p(log_p)
    return yg - torch.exp(log_p) * yg.sum(-1, keepdim=True)


# --- Cross-entropy on logits ------------------------------------------------------------------


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
        nll = -_pick(log_p, target)
        if not label_smoothing:
            return nll
        # (1 - eps) (-log p_y) + eps mean_c(-log p_c): the smoothed target's cross-entropy.
        return (1 - label_smoothing) * nll - label_smoothing * log_p.mean(-1)
    y = _smoothed(_target_probs(logits, target), label_smoothing)
    # y * log_p is 0 * finite for classes with y_c = 0: never 0 * inf, since log_p is finite.
    return -(y * log_p).sum(-1)


def _smoothed(y: torch.Tensor, label_smoothing: float) -> torch.Tensor:
    return y * (1 - label_smoothing) + label_smoothing / y.shape[-1] if label_smoothing else y


def cross_entropy_grad(logits: torch.Tensor, target: torch.Tensor, *, label_smoothing: float = 0.0) -> torch.Tensor:
    """d/do cross_entropy = softmax(o) sum_c y_c - y, i.e. softmax(o) - y for a one-hot or
    probability target (the classic result; d2l 3.4.6); y is the smoothed target."""
    y = _smoothed(_target_probs(logits, target), label_smoothing)
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


# --- Focal loss -------------------------------------------------------------------------------


def focal(logits: torch.Tensor, target: torch.Tensor, *, gamma: float = 2.0) -> torch.Tensor:
    """Multiclass focal loss -(1 - p_y)^gamma log p_y on logits, per sample (Lin et al. 2017).

    The factor (1 - p_y)^gamma turns down the loss of examples already classified well;
    gamma = 0 is cross-entropy. Probability targets give sum_c y_c l(p_c).

    Args:
        gamma: focusing parameter >= 0. Default: 2.0 (the paper's choice).
    """
    # From log p (finite, via log_softmax): 1 - p = -expm1(log p), exact even when p is
    # within rounding of 1, where 1 - exp(log p) would round to 0.
    return _per_class(lambda s: -torch.pow(-torch.expm1(s), gamma) * s, logits, target)


def _focal_dlog_p(s: torch.Tensor, gamma: float) -> torch.Tensor:
    # l(s) = -(1 - p)^g s with p = e^s:
    #   dl/ds = g p s (1 - p)^(g-1) - (1 - p)^g = -(1 - p)^g (1 + g p s / expm1(s)),
    # using s / (1 - p) = -s / expm1(s). s / expm1(s) -> 1 as s -> 0, so this stays finite at
    # p = 1 for gamma < 1, where (1 - p)^(g-1) alone is inf.
    zero = s == 0
    s_safe = torch.where(zero, -torch.ones_like(s), s)
    ratio = torch.where(zero, torch.ones_like(s), s_safe / torch.expm1(s_safe))
    return -torch.pow(-torch.expm1(s), gamma) * (1 + gamma * torch.exp(s) * ratio)


def focal_grad(logits: torch.Tensor, target: torch.Tensor, *, gamma: float = 2.0) -> torch.Tensor:
    """d focal / d o_j = y_j g_j - p_j sum_c y_c g_c with g = -(1 - p)^gamma (1 + gamma p log p / (p - 1))."""
    return _per_class_grad(lambda s: _focal_dlog_p(s, gamma), logits, target)


# --- Generalized cross-entropy ----------------------------------------------------------------


def gce(logits: torch.Tensor, target: torch.Tensor, *, q: float = 0.7) -> torch.Tensor:
    """Generalized cross-entropy (1 - p_y^q) / q on logits, per sample (Zhang & Sabuncu 2018).

    q -> 0 gives cross-entropy, q = 1 gives 1 - p_y (MAE on the probabilities, up to a factor
    2): a bounded loss, robust to noisy labels. Probability targets give sum_c y_c l(p_c).

    Args:
        q: in (0, 1]. Default: 0.7 (the paper's choice).
    """
    # (1 - p^q) / q = -expm1(q log p) / q: exact for small q, where 1 - p^q cancels.
    return _per_class(lambda s: -torch.expm1(q * s) / q, logits, target)


def gce_grad(logits: torch.Tensor, target: torch.Tensor, *, q: float = 0.7) -> torch.Tensor:
    """d gce / d o_j = y_j g_j - p_j sum_c y_c g_c with g = dl/d log p = -p^q."""
    return _per_class_grad(lambda s: -torch.exp(q * s), logits, target)


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
        _check_classes(target, logits.shape[-1])
        y = target.long().unsqueeze(-1).expand(*logits.shape[:-1], 1)
        return torch.relu(margin + logits.gather(-1, _rivals(logits, y)) - logits.gather(-1, y)).squeeze(-1)
    per_class = torch.relu(margin + logits.gather(-1, _rivals(logits, _all_classes(logits))) - logits)
    return (_target_probs(logits, target) * per_class).sum(-1)


def hinge_grad(logits: torch.Tensor, target: torch.Tensor, *, margin: float = 1.0) -> torch.Tensor:
    """+1 at the worst rival, -1 at the true class while the margin is violated, else 0.

    At the kink (margin + o_rival - o_y = 0 exactly) we take the subgradient 0, as ReLU does.
    Probability targets: the y_c-weighted sum of each class's gradient.
    """
    if logits.shape[-1] < 2:
        return torch.zeros_like(logits)
    y = _target_probs(logits, target)
    rivals = _rivals(logits, _all_classes(logits))
    active = (margin + logits.gather(-1, rivals) - logits > 0).to(logits.dtype) * y
    return (-active).scatter_add(-1, rivals, active)


def hinge_ww(logits: torch.Tensor, target: torch.Tensor, *, margin: float = 1.0) -> torch.Tensor:
    """Weston-Watkins multiclass hinge loss sum_{i != y} max(0, margin + o_i - o_y), per sample.

    Every rival inside the margin is penalised (Crammer-Singer: only the worst).
    ``F.multi_margin_loss(o, y, margin=margin, reduction="none")`` is this divided by C.

    Args:
        margin: Delta >= 0. Default: 1.0.
    """
    if not target.is_floating_point():
        _check_classes(target, logits.shape[-1])
        o_y = _pick(logits, target).unsqueeze(-1)
        # The i = y term is masked out (not subtracted: margin - margin can lose digits).
        own = _all_classes(logits) == target.long().unsqueeze(-1)
        return torch.relu(margin + logits - o_y).masked_fill(own, 0).sum(-1)
    # terms[..., c, i] = max(0, margin + o_i - o_c): class c's loss is row c without i = c.
    terms = torch.relu(margin + logits.unsqueeze(-2) - logits.unsqueeze(-1))
    terms = terms.masked_fill(torch.eye(logits.shape[-1], dtype=torch.bool, device=logits.device), 0)
    return (_target_probs(logits, target) * terms.sum(-1)).sum(-1)


def hinge_ww_grad(logits: torch.Tensor, target: torch.Tensor, *, margin: float = 1.0) -> torch.Tensor:
    """d/do_j = sum_c y_c [margin + o_j - o_c > 0] - y_j #{i != j : margin + o_i - o_j > 0}.

    For a class index y: +1 at each rival inside the margin, minus their count at y. At a kink
    (margin + o_i - o_c = 0 exactly) we take the subgradient 0, as ReLU does.
    """
    y = _target_probs(logits, target)
    # active[..., c, i] = [margin + o_i - o_c > 0] for i != c (the diagonal is margin > 0: removed).
    active = (margin + logits.unsqueeze(-2) - logits.unsqueeze(-1) > 0).to(logits.dtype)
    active = active * (1 - torch.eye(logits.shape[-1], dtype=logits.dtype, device=logits.device))
    return (y.unsqueeze(-1) * active).sum(-2) - y * active.sum(-1)


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
                  low_open=True, high_open=True, ui_low=0.05, ui_high=5.0, sweep=(0.25, 0.5, 1.0, 2.0),
                  extreme_ok=True),  # above the dtype's largest number: quadratic everywhere
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
            value="l(\\mathbf y, \\mathbf o) = -\\sum_j \\tilde y_j \\log \\operatorname{softmax}(\\mathbf o)_j,\\ \\tilde{\\mathbf y} = (1 - \\epsilon) \\mathbf y + \\epsilon / C",
            grad="\\partial_{o_j} l = \\operatorname{softmax}(\\mathbf o)_j - \\tilde y_j",
            mathtext="$l = \\log\\sum_k e^{o_k} - o_y$",
        ),
        params=(
            Param("label_smoothing", 0.0, 0.0, 1.0, "epsilon: the share of the target spread evenly over the classes",
                  high_open=True, ui_low=0.0, ui_high=0.5, ui_step=0.01, sweep=(0.0, 0.1, 0.3)),
        ),
        value_fn=cross_entropy,
        grad_fn=cross_entropy_grad,
    ),
    LossSpec(
        name="log_cosh",
        title="Log-cosh loss",
        summary="log(cosh(r)): r^2/2 near zero, |r| - log 2 far out; gradient tanh(r), smooth and bounded.",
        formula=Formula(
            value="l(y, \\hat y) = \\log\\cosh(\\hat y - y)",
            grad="\\partial_{\\hat y} l = \\tanh(\\hat y - y)",
            mathtext="$l = \\log\\,\\cosh(\\hat{y} - y)$",
        ),
        value_fn=log_cosh,
        grad_fn=log_cosh_grad,
        log_normalizer=_log_cosh_log_normalizer,
    ),
    LossSpec(
        name="smooth_l1",
        title="Smooth L1 loss (PyTorch's)",
        summary="Huber divided by its threshold: quadratic for |r| < beta, then slope 1 (Huber = beta * smooth L1).",
        formula=Formula(
            value="l(y, \\hat y) = \\begin{cases} \\frac{r^2}{2\\beta} & |r| < \\beta \\\\ |r| - \\frac{\\beta}{2} & \\text{otherwise} \\end{cases},\\ " + _R,
            grad="\\partial_{\\hat y} l = \\operatorname{clip}(r / \\beta, -1, 1)",
            mathtext="$l = r^2 / 2\\beta$ if $|r| < \\beta$, else $|r| - \\beta/2$",
        ),
        params=(
            Param("beta", 1.0, 0.0, math.inf, "half-width of the quadratic part (0: L1)",
                  high_open=True, ui_low=0.0, ui_high=5.0, sweep=(0.0, 0.5, 1.0, 2.0),
                  extreme_ok=True),  # above the dtype's largest number: quadratic everywhere
        ),
        value_fn=smooth_l1,
        grad_fn=smooth_l1_grad,
        log_normalizer=_smooth_l1_log_normalizer,
    ),
    LossSpec(
        name="quantile",
        title="Quantile (pinball) loss",
        summary="Asymmetric L1: under-predicting costs tau, over-predicting 1 - tau; fits the tau-quantile.",
        formula=Formula(
            value="l(y, \\hat y) = \\max\\big(\\tau (y - \\hat y),\\ (1 - \\tau)(\\hat y - y)\\big)",
            grad="\\partial_{\\hat y} l = \\begin{cases} 1 - \\tau & \\hat y > y \\\\ -\\tau & \\hat y < y \\\\ \\tfrac12 - \\tau & \\hat y = y \\end{cases}",
            mathtext="$l = \\max(\\tau (y - \\hat{y}),\\ (1 - \\tau)(\\hat{y} - y))$",
        ),
        params=(
            Param("tau", 0.5, 0.0, 1.0, "the quantile to fit (0.5: the median)",
                  low_open=True, high_open=True, ui_low=0.05, ui_high=0.95, sweep=(0.1, 0.5, 0.9)),
        ),
        value_fn=quantile,
        grad_fn=quantile_grad,
        log_normalizer=_quantile_log_normalizer,
    ),
    LossSpec(
        name="general",
        title="Barron's general robust loss",
        summary="One shape parameter alpha spans L2 (2), pseudo-Huber (1), Cauchy (0), Geman-McClure (-2), Welsch (-inf).",
        formula=Formula(
            value="\\rho(r, \\alpha, c) = \\frac{|\\alpha - 2|}{\\alpha} \\left( \\left( \\frac{(r/c)^2}{|\\alpha - 2|} + 1 \\right)^{\\alpha/2} - 1 \\right),\\ " + _R,
            grad="\\partial_{\\hat y} \\rho = \\frac{r}{c^2} \\left( \\frac{(r/c)^2}{|\\alpha - 2|} + 1 \\right)^{\\alpha/2 - 1}",
            mathtext="$\\rho = \\frac{|\\alpha-2|}{\\alpha}\\left(\\left(\\frac{(r/c)^2}{|\\alpha-2|} + 1\\right)^{\\alpha/2} - 1\\right)$",
        ),
        params=(
            Param("alpha", 1.0, -math.inf, math.inf, "shape: 2 L2, 1 pseudo-Huber, 0 Cauchy, -2 Geman-McClure, -inf Welsch",
                  high_open=True, ui_low=-6.0, ui_high=4.0, sweep=(-math.inf, -2.0, 0.0, 1.0, 2.0)),
            Param("scale", 1.0, 0.0, math.inf, "c, the width of the quadratic bowl around r = 0",
                  low_open=True, high_open=True, ui_low=0.1, ui_high=3.0, sweep=(0.5, 1.0, 2.0)),
        ),
        value_fn=general,
        grad_fn=general_grad,
        log_normalizer=_general_log_normalizer,
    ),
    LossSpec(
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
            Param("margin", 1.0, 0.0, math.inf, "Delta: by how much the true logit must beat the others",
                  high_open=True, ui_low=0.0, ui_high=3.0, sweep=(0.0, 0.5, 1.0, 2.0)),
        ),
        value_fn=hinge,
        grad_fn=hinge_grad,
    ),
    LossSpec(
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
            Param("margin", 1.0, 0.0, math.inf, "Delta: by how much the true logit must beat the others",
                  high_open=True, ui_low=0.0, ui_high=3.0, sweep=(0.0, 0.5, 1.0, 2.0)),
        ),
        value_fn=hinge_ww,
        grad_fn=hinge_ww_grad,
    ),
    LossSpec(
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
            Param("gamma", 2.0, 0.0, math.inf, "focusing: how fast confident examples are turned down",
                  high_open=True, ui_low=0.0, ui_high=5.0, sweep=(0.0, 0.5, 1.0, 2.0, 5.0)),
        ),
        value_fn=focal,
        grad_fn=focal_grad,
    ),
    LossSpec(
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
            Param("q", 0.7, 0.0, 1.0, "0 -> cross-entropy, 1 -> 1 - p_y (mean absolute error)",
                  low_open=True, ui_low=0.05, ui_high=1.0, sweep=(0.1, 0.4, 0.7, 1.0)),
        ),
        value_fn=gce,
        grad_fn=gce_grad,
    ),
)
