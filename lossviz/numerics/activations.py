"""Activations as plain torch functions: value and closed-form derivative.

Elementwise activations return f'(x) with the shape of x. Softmax (over the last dimension)
returns its full Jacobian. Each activation's spec follows its two functions; ``ACTIVATIONS``
at the bottom names them in registration order.
"""

from __future__ import annotations

import math

import torch

from lossviz.numerics import stable
from lossviz.numerics.stable import beyond
from lossviz.spec import ActivationSpec, Formula, Param


def relu(x: torch.Tensor) -> torch.Tensor:
    """max(x, 0)."""
    return torch.clamp(x, min=0)


def relu_grad(x: torch.Tensor) -> torch.Tensor:
    """1 for x > 0, else 0. At the kink x = 0 we take the subgradient 0, as torch does."""
    return (x > 0).to(x.dtype)


RELU = ActivationSpec(
    name="relu",
    title="ReLU",
    summary="max(x, 0): gradient 1 or 0, cheap, does not saturate for x > 0.",
    formula=Formula(value="\\operatorname{ReLU}(x) = \\max(x, 0)", grad="\\frac{d}{dx} = \\begin{cases} 1 & x > 0 \\\\ 0 & x \\le 0 \\end{cases}", mathtext="$\\max(x, 0)$"),
    value_fn=relu,
    grad_fn=relu_grad,
)


def prelu(x: torch.Tensor, *, alpha: float = 0.25) -> torch.Tensor:
    """Parametric ReLU: x for x > 0, alpha x otherwise (He et al. 2015).

    Args:
        alpha: slope for negative inputs. Default: 0.25 (the paper's and torch's initial value).
    """
    return torch.where(x > 0, x, alpha * x)


def prelu_grad(x: torch.Tensor, *, alpha: float = 0.25) -> torch.Tensor:
    """1 for x > 0, alpha otherwise; at x = 0 we take alpha, as torch's prelu backward does."""
    return torch.where(x > 0, torch.ones_like(x), torch.full_like(x, alpha))


PRELU = ActivationSpec(
    name="prelu",
    title="pReLU",
    summary="ReLU with slope alpha for x <= 0, so negative inputs still pass a gradient.",
    formula=Formula(value="\\operatorname{pReLU}(x) = \\max(0, x) + \\alpha \\min(0, x)", grad="\\frac{d}{dx} = \\begin{cases} 1 & x > 0 \\\\ \\alpha & x \\le 0 \\end{cases}", mathtext="$\\max(0, x) + \\alpha\\min(0, x)$"),
    params=(
        Param("alpha", 0.25, -math.inf, math.inf, "slope for negative inputs", low_open=True, high_open=True),
    ),
    value_fn=prelu,
    grad_fn=prelu_grad,
)


def sigmoid(x: torch.Tensor) -> torch.Tensor:
    """1 / (1 + exp(-x)), written as 1 / (1 + e) for x >= 0 and e / (1 + e) below, e = exp(-|x|).

    # e <= 1 never overflows, and e / (1 + e) keeps the tail down to the subnormals, which
    # torch.sigmoid flushes to 0 (sigmoid(-100) in float32: 0, true 3.7e-44). -|x| is written
    # where(x >= 0, -x, x) so that autograd's derivative at x = 0 is 1/4, not abs's 0.
    """
    e = torch.exp(torch.where(x >= 0, -x, x))
    return torch.where(x >= 0, torch.ones_like(e), e) / (1 + e)


def sigmoid_grad(x: torch.Tensor) -> torch.Tensor:
    """sigma(x) (1 - sigma(x)); at most 1/4, at x = 0 -- why deep sigmoid nets' gradients vanish."""
    # sigma(x) sigma(-x) = e / (1 + e)^2 with e = exp(-|x|) <= 1: 1 - sigma(x) would round to 0
    # from x ~ 17 (float32) or 37 (float64) while sigma'(30) = 9.4e-14 is representable, and
    # torch.sigmoid(-x) flushes subnormal tails (x > 88 in float32) to 0.
    e = torch.exp(-x.abs())
    return e / ((1 + e) * (1 + e))


SIGMOID = ActivationSpec(
    name="sigmoid",
    title="Sigmoid",
    summary="Squashes to (0, 1); derivative at most 1/4, vanishing for large |x|.",
    formula=Formula(value="\\sigma(x) = \\frac{1}{1 + e^{-x}}", grad="\\frac{d}{dx} = \\sigma(x)(1 - \\sigma(x))", mathtext="$\\sigma(x) = 1/(1 + e^{-x})$"),
    value_fn=sigmoid,
    grad_fn=sigmoid_grad,
)


def tanh(x: torch.Tensor) -> torch.Tensor:
    """(1 - exp(-2x)) / (1 + exp(-2x)), via torch.tanh (saturates to +-1, never overflows)."""
    return torch.tanh(x)


def tanh_grad(x: torch.Tensor) -> torch.Tensor:
    """1 - tanh(x)^2 = sech(x)^2."""
    # sech^2 x = 4 / (e^x + e^-x)^2 = 4 e / (1 + e)^2 with e = exp(-2|x|) <= 1: 1 - tanh^2 rounds
    # to 0 from |x| ~ 9 (float32) or 19 (float64), while sech^2(30) = 3.5e-26 is representable.
    e = torch.exp(-2 * x.abs())
    return 4 * e / ((1 + e) * (1 + e))


TANH = ActivationSpec(
    name="tanh",
    title="Tanh",
    summary="Squashes to (-1, 1), zero-centred; derivative at most 1, vanishing for large |x|.",
    formula=Formula(value="\\tanh(x) = \\frac{1 - e^{-2x}}{1 + e^{-2x}}", grad="\\frac{d}{dx} = 1 - \\tanh^2(x)", mathtext="$\\tanh(x) = (1 - e^{-2x})/(1 + e^{-2x})$"),
    value_fn=tanh,
    grad_fn=tanh_grad,
)


def _scaled_shifted(x: torch.Tensor, temperature: float) -> torch.Tensor:
    """(x - max x) / T over the last dimension: <= 0, and exactly 0 at the maximum.

    Subtracting the maximum before dividing keeps a tiny T finite: (x - m) / 1e-300 is -inf or
    0, never inf - inf = NaN as x / T - max(x / T) would be. T so small that it rounds to 0 in
    the dtype (1e-300 in float32) gives 0 / 0 at the maximum: that entry is 0 by definition.
    """
    d = x - x.amax(-1, keepdim=True)
    z = d / temperature
    return torch.where(d == 0, torch.zeros_like(z), z)


def _holding(x: torch.Tensor, temperature: float) -> torch.dtype | None:
    """The dtype to compute softmax in when ``x``'s cannot: float32 for float16 / bfloat16 (as
    torch's kernels accumulate them; x - max x overflows float16 from a spread of 65504, and
    a T beyond 65504 becomes inf, so that -inf / inf = NaN), float64 for a float32 x with a T
    beyond float32's range. None: x's own dtype holds it."""
    if x.dtype in (torch.float16, torch.bfloat16):
        return torch.float64 if beyond(temperature, torch.float32) else torch.float32
    if x.dtype == torch.float32 and beyond(temperature, torch.float32):
        return torch.float64
    return None


def softmax(x: torch.Tensor, *, temperature: float = 1.0) -> torch.Tensor:
    """softmax(x / T) over the last dimension; rows sum to 1.

    The row maximum is subtracted before exp (``stable.softmax``), so logits of any finite size
    are safe; as T -> 0 it tends to the one-hot argmax (ties share), which a tiny T returns.
    An empty tensor gives an empty tensor, as ``F.softmax``.

    Args:
        temperature: T > 0; large T flattens the distribution, small T sharpens it. Default: 1.0.
    """
    if x.numel() == 0:
        return x.clone()
    wide = _holding(x, temperature)
    if wide is not None:
        return softmax(x.to(wide), temperature=temperature).to(x.dtype)
    return stable.softmax(_scaled_shifted(x, temperature))


def softmax_grad(x: torch.Tensor, *, temperature: float = 1.0) -> torch.Tensor:
    """The full Jacobian d softmax(x/T)_i / d x_j = s_i (delta_ij - s_j) / T.

    Returns:
        (..., C, C); entry [..., i, j] is the derivative of output i with respect to input j.
        A 0-dim x (one logit, softmax 1) gives 0-dim 0.
    """
    if x.numel() == 0:
        return x.new_zeros(*x.shape, x.shape[-1] if x.ndim else 0)
    if x.ndim == 0:
        # One logit, as ``softmax`` treats a 0-dim x: the constant 1, derivative 0; shape (),
        # output shape + input shape, as torch.autograd.functional.jacobian gives.
        return torch.zeros_like(x)
    wide = _holding(x, temperature)
    if wide is not None:
        return softmax_grad(x.to(wide), temperature=temperature).to(x.dtype)
    s = stable.softmax(_scaled_shifted(x, temperature))
    jac = torch.diag_embed(s) - s.unsqueeze(-1) * s.unsqueeze(-2)
    # A one-hot s (tiny T) has s_i (delta_ij - s_j) = 0 exactly; keep it 0, not 0 / T = NaN
    # when T rounds to 0 in the dtype.
    return torch.where(jac == 0, jac, jac / temperature)


SOFTMAX = ActivationSpec(
    name="softmax",
    title="Softmax",
    summary="Turns a vector of logits into probabilities; temperature T sharpens or flattens.",
    kind="vector",
    formula=Formula(value="\\operatorname{softmax}(\\mathbf x)_i = \\frac{e^{x_i / T}}{\\sum_k e^{x_k / T}}", grad="\\frac{\\partial s_i}{\\partial x_j} = \\frac{s_i (\\delta_{ij} - s_j)}{T}", mathtext="$s_i = e^{x_i/T} / \\sum_k e^{x_k/T}$"),
    params=(
        Param("temperature", 1.0, 0.0, math.inf, "divides the logits before softmax",
              low_open=True, high_open=True, extreme_ok=True),  # a T that rounds to 0 in the dtype gives the argmax, its limit
    ),
    value_fn=softmax,
    grad_fn=softmax_grad,
)


# --- ReLU's smooth and leaky relatives --------------------------------------------------------


def leaky_relu(x: torch.Tensor, *, negative_slope: float = 0.01) -> torch.Tensor:
    """x for x > 0, negative_slope * x otherwise (Maas et al. 2013): pReLU with a fixed slope.

    Args:
        negative_slope: slope for negative inputs. Default: 0.01 (torch's).
    """
    return prelu(x, alpha=negative_slope)


def leaky_relu_grad(x: torch.Tensor, *, negative_slope: float = 0.01) -> torch.Tensor:
    """1 for x > 0, negative_slope otherwise; at x = 0 we take negative_slope, as torch does."""
    return prelu_grad(x, alpha=negative_slope)


LEAKY_RELU = ActivationSpec(
    name="leaky_relu",
    title="Leaky ReLU",
    summary="ReLU with a small fixed slope for x <= 0, so no unit is ever completely dead.",
    formula=Formula(value="\\operatorname{LeakyReLU}(x) = \\max(0, x) + a \\min(0, x)", grad="\\frac{d}{dx} = \\begin{cases} 1 & x > 0 \\\\ a & x \\le 0 \\end{cases}", mathtext="$\\max(0, x) + a\\min(0, x)$"),
    params=(
        Param("negative_slope", 0.01, -math.inf, math.inf, "slope a for negative inputs", low_open=True, high_open=True),
    ),
    value_fn=leaky_relu,
    grad_fn=leaky_relu_grad,
)


def elu(x: torch.Tensor, *, alpha: float = 1.0) -> torch.Tensor:
    """x for x > 0, alpha (exp(x) - 1) otherwise (Clevert et al. 2016); saturates at -alpha.

    expm1 is exact near 0, and its argument is set to 0 where x > 0 so the unused branch of a
    large positive x never overflows (which would turn autograd's gradient into NaN).

    Args:
        alpha: the value approached as x -> -inf is -alpha. Default: 1.0.
    """
    negative = torch.where(x > 0, torch.zeros_like(x), x)  # (not clamp: its gradient at 0 would be 0)
    return torch.where(x > 0, x, alpha * torch.expm1(negative))


def elu_grad(x: torch.Tensor, *, alpha: float = 1.0) -> torch.Tensor:
    """1 for x > 0, alpha exp(x) otherwise; at x = 0 we take alpha, as torch's elu backward does
    (for alpha = 1 both sides agree)."""
    return torch.where(x > 0, torch.ones_like(x), alpha * torch.exp(x.clamp(max=0)))


_INV_SQRT2 = 1 / math.sqrt(2.0)
_INV_SQRT_2PI = 1 / math.sqrt(2.0 * math.pi)


ELU = ActivationSpec(
    name="elu",
    title="ELU",
    summary="x for x > 0, alpha (e^x - 1) below: smooth at 0 for alpha = 1, saturates at -alpha.",
    formula=Formula(value="\\operatorname{ELU}(x) = \\begin{cases} x & x > 0 \\\\ \\alpha (e^x - 1) & x \\le 0 \\end{cases}", grad="\\frac{d}{dx} = \\begin{cases} 1 & x > 0 \\\\ \\alpha e^x & x \\le 0 \\end{cases}", mathtext="$x$ if $x > 0$, else $\\alpha(e^x - 1)$"),
    params=(
        Param("alpha", 1.0, 0.0, math.inf, "the negative saturation value is -alpha", high_open=True),
    ),
    value_fn=elu,
    grad_fn=elu_grad,
)


def gelu(x: torch.Tensor) -> torch.Tensor:
    """x Phi(x), Phi the standard normal CDF (Hendrycks & Gimpel 2016), the exact erf form.

    Phi(x) = erfc(-x / sqrt 2) / 2: for very negative x, 1 + erf(x / sqrt 2) would round to 0
    (float32 from x ~ -4) while erfc keeps the small tail exactly.
    """
    return 0.5 * x * torch.erfc(-x * _INV_SQRT2)


def gelu_grad(x: torch.Tensor) -> torch.Tensor:
    """Phi(x) + x phi(x), phi the standard normal density."""
    return 0.5 * torch.erfc(-x * _INV_SQRT2) + x * _INV_SQRT_2PI * torch.exp(-0.5 * x * x)


GELU = ActivationSpec(
    name="gelu",
    title="GELU",
    summary="x Phi(x): the input weighted by how likely a standard normal is below it (BERT, GPT).",
    formula=Formula(value="\\operatorname{GELU}(x) = x \\Phi(x) = \\tfrac{x}{2}\\big(1 + \\operatorname{erf}(x / \\sqrt 2)\\big)", grad="\\frac{d}{dx} = \\Phi(x) + x \\varphi(x)", mathtext="$x\\,\\Phi(x)$"),
    value_fn=gelu,
    grad_fn=gelu_grad,
)


_GELU_K = math.sqrt(2.0 / math.pi)
_GELU_C = 0.044715


def gelu_tanh(x: torch.Tensor) -> torch.Tensor:
    """GELU's tanh approximation 0.5 x (1 + tanh(u)), u = sqrt(2/pi) (x + 0.044715 x^3).

    Computed as x sigmoid(2u) (since 1 + tanh(u) = 2 sigmoid(2u)), which keeps the small
    values for negative x instead of rounding 1 + tanh(u) to 0.
    """
    return x * torch.sigmoid(2 * _gelu_u(x))


def _gelu_u(x: torch.Tensor) -> torch.Tensor:
    # Beyond |x| = 100 the sigmoid is exactly 0 or 1 in every dtype; clamping there keeps x^3
    # from overflowing (inf * 0 = NaN in the derivative) without changing any result.
    c = x.clamp(-100, 100)
    return _GELU_K * (c + _GELU_C * c * c * c)


def gelu_tanh_grad(x: torch.Tensor) -> torch.Tensor:
    """sigma(2u) + 2 x sigma(2u)(1 - sigma(2u)) u'(x), u' = sqrt(2/pi)(1 + 3 * 0.044715 x^2)."""
    s = torch.sigmoid(2 * _gelu_u(x))
    c = x.clamp(-100, 100)  # where |x| > 100, s (1 - s) = 0: the clamp changes nothing there
    return s + 2 * c * s * (1 - s) * _GELU_K * (1 + 3 * _GELU_C * c * c)


GELU_TANH = ActivationSpec(
    name="gelu_tanh",
    title="GELU (tanh approximation)",
    summary="GELU with Phi approximated by tanh, as in GPT-2; within 5e-4 of the exact form.",
    formula=Formula(value="\\tfrac{x}{2}\\big(1 + \\tanh u\\big),\\ u = \\sqrt{2/\\pi}\\,(x + 0.044715 x^3)", grad="\\frac{d}{dx} = \\tfrac12 (1 + \\tanh u) + \\tfrac{x}{2} (1 - \\tanh^2 u)\\, \\sqrt{2/\\pi}\\,(1 + 0.134145 x^2)", mathtext="$\\frac{x}{2}(1 + \\tanh u)$"),
    value_fn=gelu_tanh,
    grad_fn=gelu_tanh_grad,
)


def silu(x: torch.Tensor, *, beta: float = 1.0) -> torch.Tensor:
    """Swish x sigmoid(beta x) (Ramachandran et al. 2017); beta = 1 is SiLU (Elfwing et al.).

    beta = 0 gives x / 2; beta -> inf tends to ReLU.

    Args:
        beta: >= 0. Default: 1.0.
    """
    return x * torch.sigmoid(beta * x)


def silu_grad(x: torch.Tensor, *, beta: float = 1.0) -> torch.Tensor:
    """s + beta x s (1 - s), s = sigmoid(beta x)."""
    t = beta * x
    s = torch.sigmoid(t)
    # 1 - s as sigmoid(-t) keeps its tail; t is clamped at +-1e4, where t s (1 - s) is 0 in every
    # dtype already: beta = 1e300 makes t = +-inf and inf * 0 = NaN otherwise.
    c = t.clamp(-1e4, 1e4)
    return s + c * s * torch.sigmoid(-c)


SILU = ActivationSpec(
    name="silu",
    title="SiLU / Swish",
    summary="x sigmoid(beta x): smooth, non-monotonic dip below 0; beta = 1 is SiLU, large beta approaches ReLU.",
    formula=Formula(value="\\operatorname{Swish}_\\beta(x) = x\\, \\sigma(\\beta x)", grad="\\frac{d}{dx} = \\sigma(\\beta x) + \\beta x\\, \\sigma(\\beta x)(1 - \\sigma(\\beta x))", mathtext="$x\\,\\sigma(\\beta x)$"),
    params=(
        Param("beta", 1.0, 0.0, math.inf, "sharpness of the sigmoid gate (0: x/2)", high_open=True),
    ),
    value_fn=silu,
    grad_fn=silu_grad,
)


def softplus(x: torch.Tensor, *, beta: float = 1.0) -> torch.Tensor:
    """(1 / beta) log(1 + exp(beta x)): a smooth ReLU, larger beta is closer to it.

    # log(1 + e^t) = logaddexp(t, 0) = max(t, 0) + log1p(e^-|t|): e^-|t| <= 1 never overflows
    # (e^t does for t > 88 in float32). torch's F.softplus switches to x above beta x = 20
    # instead; the two differ there by log1p(e^-20) / beta < 2.1e-9 / beta.

    Args:
        beta: > 0. Default: 1.0.
    """
    # Written per side of t = beta x as max(x, 0) + log1p(e^-|t|) / beta (not logaddexp(t, 0)
    # / beta): with beta = 1e300, t = beta x overflows to inf and inf / beta = inf, where the
    # value is x. |t| as where(t > 0, t, -t) keeps autograd's derivative sigmoid(t) at t = 0.
    t = beta * x
    positive = t > 0
    return torch.where(positive, x, torch.zeros_like(x)) + torch.log1p(torch.exp(-torch.where(positive, t, -t))) / beta


def softplus_grad(x: torch.Tensor, *, beta: float = 1.0) -> torch.Tensor:
    """sigmoid(beta x): softplus is the integral of the sigmoid."""
    return torch.sigmoid(beta * x)


SOFTPLUS = ActivationSpec(
    name="softplus",
    title="Softplus",
    summary="(1/beta) log(1 + e^(beta x)): a smooth ReLU whose derivative is the sigmoid.",
    formula=Formula(value="\\operatorname{softplus}_\\beta(x) = \\tfrac{1}{\\beta} \\log(1 + e^{\\beta x})", grad="\\frac{d}{dx} = \\sigma(\\beta x)", mathtext="$\\frac{1}{\\beta}\\log(1 + e^{\\beta x})$"),
    params=(
        Param("beta", 1.0, 0.0, math.inf, "sharpness (large: close to ReLU)", low_open=True, high_open=True),
    ),
    value_fn=softplus,
    grad_fn=softplus_grad,
)


def mish(x: torch.Tensor) -> torch.Tensor:
    """x tanh(softplus(x)) (Misra 2019)."""
    return x * torch.tanh(softplus(x))


def mish_grad(x: torch.Tensor) -> torch.Tensor:
    """tanh(sp) + x sech^2(sp) sigmoid(x), sp = softplus(x) (whose derivative is sigmoid)."""
    t = torch.tanh(softplus(x))
    return t + x * (1 - t * t) * torch.sigmoid(x)


MISH = ActivationSpec(
    name="mish",
    title="Mish",
    summary="x tanh(softplus(x)): smooth and non-monotonic like Swish, slightly lower minimum.",
    formula=Formula(value="\\operatorname{Mish}(x) = x \\tanh(\\operatorname{softplus}(x))", grad="\\frac{d}{dx} = \\tanh(\\operatorname{sp}(x)) + x\\, \\operatorname{sech}^2(\\operatorname{sp}(x))\\, \\sigma(x)", mathtext="$x\\,\\tanh(\\log(1 + e^x))$"),
    value_fn=mish,
    grad_fn=mish_grad,
)


# In registration order (colours follow it: ``style.color_of``).
ACTIVATIONS = (RELU, PRELU, SIGMOID, TANH, SOFTMAX, LEAKY_RELU, ELU, GELU, GELU_TANH, SILU, SOFTPLUS, MISH)
