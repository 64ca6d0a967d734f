"""Robust and asymmetric regression losses: smooth L1, log-cosh, quantile (pinball) and
Barron's general loss, each with its gradient, normalizing constant and spec side by side."""

from __future__ import annotations

import functools
import math

import torch

from lossviz.numerics.stable import beyond, rounds_to_zero
from lossviz.spec import Formula, LossSpec, Param

_R = "r = \\hat y - y"  # the residual, as the formulas name it

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


LOG_COSH = LossSpec(
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
)


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
    if rounds_to_zero(beta, a.dtype):  # beta = 0, or so small the dtype holds no |r| below it: L1
        return a
    if beyond(beta, a.dtype):
        # beta exceeds every residual: 0.5 r^2 / beta, in float64 where beta and r^2 both fit.
        return (0.5 * a.double().square() / beta).to(a.dtype)
    # As in ``huber``: each |r| feeds one part only (q = min(|r|, beta), excess = |r| - beta
    # beyond beta), not excess = a - q, through which autograd adds +1 and -1 to the quadratic
    # part's q / beta and rounds the gradient r / beta to 0 for beta = 1e300.
    linear = a >= beta
    q = torch.where(linear, beta, a)
    # 0.5 q (q / beta): q / beta <= 1, so no q^2 overflow when q is near the dtype's limit.
    return 0.5 * q * (q / beta) + torch.where(linear, a - beta, 0.0)


def smooth_l1_grad(pred: torch.Tensor, target: torch.Tensor, *, beta: float = 1.0) -> torch.Tensor:
    """d/dy_hat smooth_l1 = clip(r / beta, -1, 1); sign(r) for beta = 0 (0 at r = 0, as L1)."""
    r = pred - target
    if rounds_to_zero(beta, r.dtype):
        return torch.sign(r)
    if beyond(beta, r.dtype):
        return (r.double() / beta).to(r.dtype)
    return (r / beta).clamp(-1, 1)


# Z(beta) = int_{|r|<beta} exp(-r^2/(2 beta)) dr + 2 int_beta^inf exp(-(r - beta/2)) dr
#         = sqrt(2 pi beta) erf(sqrt(beta / 2)) + 2 exp(-beta / 2)     (beta = 0: 2, Laplace).
def _smooth_l1_log_normalizer(*, beta: float = 1.0) -> float:
    z = math.sqrt(2.0 * math.pi * beta) * math.erf(math.sqrt(beta / 2.0)) + 2.0 * math.exp(-beta / 2.0)
    return math.log(z)


SMOOTH_L1 = LossSpec(
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
              high_open=True, extreme_ok=True),  # above the dtype's largest number: quadratic everywhere
    ),
    value_fn=smooth_l1,
    grad_fn=smooth_l1_grad,
    log_normalizer=_smooth_l1_log_normalizer,
)


# --- Quantile (pinball) -----------------------------------------------------------------------


def _upcast_half(fn):
    """Run float16 / bfloat16 inputs through ``fn`` in float32 and round the result back, as
    torch's own kernels do for half types: the intermediate z^2 would overflow float16 at 256,
    and a parameter such as quantile's tau = 1e-7 would round to a float16 subnormal (1.2e-7)."""

    def wrapped(pred, target, **params):
        dtype = torch.promote_types(pred.dtype, target.dtype) if target.is_floating_point() else pred.dtype
        if dtype in (torch.float16, torch.bfloat16):
            return fn(pred.float(), target.float(), **params).to(dtype)
        return fn(pred, target, **params)

    wrapped.__name__, wrapped.__doc__ = fn.__name__, fn.__doc__
    return wrapped


@_upcast_half
def quantile(pred: torch.Tensor, target: torch.Tensor, *, tau: float = 0.5) -> torch.Tensor:
    """The pinball loss of quantile regression, elementwise (Koenker & Bassett 1978).

    tau (y - y_hat)          if y_hat <= y   (predicting too low costs tau per unit)
    (1 - tau) (y_hat - y)    otherwise,
    i.e. max((1 - tau) r, -tau r) with r = y_hat - y; minimizing its mean puts y_hat at the
    tau-quantile of y. tau = 0.5 is L1 / 2.

    Args:
        tau: the quantile, in (0, 1). Default: 0.5.
    """
    r = pred - target
    # max((1 - tau) r, -tau r), not 0.5 |r| + (0.5 - tau) r: for tau = 1e-9 in float32 the
    # latter rounds 0.5 - tau to 0.5 and cancels to 0 for r < 0 (true: 1e-9 |r|), and gives
    # inf - inf = NaN at r = +-inf (true: inf, as L1). Each product rounds once. At r = 0
    # maximum's backward splits the gradient between the tied sides: 0.5 - tau, as quantile_grad.
    return torch.maximum((1 - tau) * r, -tau * r)


@_upcast_half
def quantile_grad(pred: torch.Tensor, target: torch.Tensor, *, tau: float = 0.5) -> torch.Tensor:
    """1 - tau for r > 0, -tau for r < 0; at the kink r = 0 we take 0.5 - tau, the middle of
    the subdifferential [-tau, 1 - tau] (what autograd gives for the maximum form above, and 0
    at tau = 0.5, as L1)."""
    s = torch.sign(pred - target)
    # Each side's slope as its own constant: 0.5 s + (0.5 - tau) would round 0.5 - tau to 0.5
    # for tau = 1e-9 in float32 and give 0 for r < 0. (+ s at the kink keeps a NaN residual NaN.)
    return torch.where(s > 0, 1 - tau, torch.where(s < 0, -tau, s + (0.5 - tau))).to(s.dtype)


# Z = int_0^inf exp(-(1 - tau) r) dr + int_0^inf exp(-tau u) du = 1/(1 - tau) + 1/tau
#   = 1 / (tau (1 - tau)): exp(-l) / Z is the asymmetric Laplace density.
def _quantile_log_normalizer(*, tau: float = 0.5) -> float:
    return -math.log(tau) - math.log1p(-tau)


QUANTILE = LossSpec(
    name="quantile",
    title="Quantile (pinball) loss",
    summary="Asymmetric L1: under-predicting costs tau, over-predicting 1 - tau; fits the tau-quantile.",
    formula=Formula(
        value="l(y, \\hat y) = \\max\\big(\\tau (y - \\hat y),\\ (1 - \\tau)(\\hat y - y)\\big)",
        grad="\\partial_{\\hat y} l = \\begin{cases} 1 - \\tau & \\hat y > y \\\\ -\\tau & \\hat y < y \\\\ \\tfrac12 - \\tau & \\hat y = y \\end{cases}",
        mathtext="$l = \\max(\\tau (y - \\hat{y}),\\ (1 - \\tau)(\\hat{y} - y))$",
    ),
    params=(
        Param("tau", 0.5, 0.0, 1.0, "the quantile to fit (0.5: the median)", low_open=True, high_open=True),
    ),
    value_fn=quantile,
    grad_fn=quantile_grad,
    log_normalizer=_quantile_log_normalizer,
)


# --- Barron's general robust loss -------------------------------------------------------------


def _log_abs_quotient(r: torch.Tensor, z: torch.Tensor, scale: float) -> torch.Tensor:
    """log|z| for z = r / scale != 0, also where the quotient overflowed (scale = 1e-300 and
    r = 1 in float64, or 1e-30 and 1e10 in float32: z = inf), where it is log|r| - log(scale).

    The unused branches see 1, so log and its gradient stay finite for autograd (at z = 0 the
    result is 0, a placeholder: callers use it only where z is far from 0).
    """
    over = torch.isinf(z) & torch.isfinite(r)
    r_over = torch.where(over, r, torch.ones_like(r))
    z_in = torch.where(over | (z == 0), torch.ones_like(z), z)
    return torch.where(over, torch.log(r_over.abs()) - math.log(scale), torch.log(z_in.abs()))


def _log1p_square_over(z: torch.Tensor, b: float, log_abs_z: torch.Tensor) -> torch.Tensor:
    """log(1 + z^2 / b) for b > 0, without overflowing z^2 / b for huge z.

    Up to |z| = sqrt(b) K the square (z / sqrt b)^2 <= K^2 = sqrt(max) fits the dtype; beyond,
    log(1 + u) = log(u) + log1p(1/u) with u = (z / sqrt b)^2, log u = 2 (log|z| - log(b) / 2).
    ``log_abs_z`` is log|z| (``_log_abs_quotient``), finite even where z itself overflowed.
    """
    k = torch.finfo(z.dtype).max ** 0.25
    w = z.abs() / math.sqrt(b)
    near = w <= k
    w_near = torch.where(near, w, torch.zeros_like(w))  # both branches stay finite for autograd
    w_far = torch.where(near, torch.full_like(w, k), w)
    inv = 1 / w_far  # 0 where w overflowed: log1p(0) = 0, as log1p(1/u) tends to
    log_w = torch.where(near, torch.full_like(w, math.log(k)), log_abs_z - 0.5 * math.log(b))
    return torch.where(near, torch.log1p(w_near * w_near), 2 * log_w + torch.log1p(inv * inv))


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
    r = pred - target
    z = r / scale
    if alpha == 2:
        return 0.5 * z * z
    if alpha == -math.inf:
        return -torch.expm1(-0.5 * z * z)
    if r.dtype == torch.float32 and bool((torch.isinf(z) & torch.isfinite(r)).any()):
        # z = r / c overflowed (c = 1e-30, r = 1e10): float64 holds it, and its log form below
        # would lose ~|log z| float32 ulps; rounded back once instead.
        return general(pred.double(), target.double(), alpha=alpha, scale=scale).float()
    b = abs(alpha - 2)
    log_base = _log1p_square_over(z, b, _log_abs_quotient(r, z, scale))  # L = log(1 + z^2 / b)
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
    r = pred - target
    z = r / scale
    if alpha == 2:
        return z / scale
    if alpha == -math.inf:
        # z exp(-z^2 / 2) <= 0.61 first, then / c: (z / c) alone overflows for c = 1e-300 while
        # the product is 0 (inf * 0 = NaN). z = inf (r / c overflowed) has the limit 0.
        z_fin = torch.where(torch.isinf(z) & torch.isfinite(r), torch.zeros_like(z), z)
        return z_fin * torch.exp(-0.5 * z_fin * z_fin) / scale
    log_abs_z = _log_abs_quotient(r, z, scale)
    e = (0.5 * alpha - 1) * _log1p_square_over(z, abs(alpha - 2), log_abs_z)
    g = z / scale * torch.exp(e)
    # z / c = r / c^2 overflows for a tiny c (c = 1e-300, r = 1: 1e600) although the gradient,
    # about 1 / c there for alpha = 1, is finite; there |g| = exp(log|z| - log c + e), in logs.
    redo = ~torch.isfinite(g) & torch.isfinite(r)
    if r.dtype == torch.float32 and bool(redo.any()):
        # float64 holds z / c for every float32 r and c (1e40 / 1e-30): one rounding at the end,
        # where the log form would cost ~|log z| float32 ulps.
        return general_grad(pred.double(), target.double(), alpha=alpha, scale=scale).float()
    log_g = torch.where(redo, log_abs_z - math.log(scale) + e, torch.zeros_like(e))
    return torch.where(redo, torch.sign(r) * torch.exp(log_g), g)


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


GENERAL = LossSpec(
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
              high_open=True),
        Param("scale", 1.0, 0.0, math.inf, "c, the width of the quadratic bowl around r = 0", low_open=True, high_open=True),
    ),
    value_fn=general,
    grad_fn=general_grad,
    log_normalizer=_general_log_normalizer,
)

LOSSES = (LOG_COSH, SMOOTH_L1, QUANTILE, GENERAL)  # in registration order
