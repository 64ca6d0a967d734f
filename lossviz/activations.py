"""Activations as plain torch functions: value and closed-form derivative.

Elementwise activations return f'(x) with the shape of x. Softmax (over the last dimension)
returns its full Jacobian. The ``ACTIVATIONS`` tuple at the bottom is the single list.
"""

from __future__ import annotations

import math

import torch

from lossviz import stable
from lossviz.spec import ActivationSpec, Formula, Param


def relu(x: torch.Tensor) -> torch.Tensor:
    """max(x, 0)."""
    return torch.clamp(x, min=0)


def relu_grad(x: torch.Tensor) -> torch.Tensor:
    """1 for x > 0, else 0. At the kink x = 0 we take the subgradient 0, as torch does."""
    return (x > 0).to(x.dtype)


def prelu(x: torch.Tensor, *, alpha: float = 0.25) -> torch.Tensor:
    """Parametric ReLU: x for x > 0, alpha x otherwise (He et al. 2015).

    Args:
        alpha: slope for negative inputs. Default: 0.25 (the paper's and torch's initial value).
    """
    return torch.where(x > 0, x, alpha * x)


def prelu_grad(x: torch.Tensor, *, alpha: float = 0.25) -> torch.Tensor:
    """1 for x > 0, alpha otherwise; at x = 0 we take alpha, as torch's prelu backward does."""
    return torch.where(x > 0, torch.ones_like(x), torch.full_like(x, alpha))


def sigmoid(x: torch.Tensor) -> torch.Tensor:
    """1 / (1 + exp(-x)); torch's kernel picks exp(x) / (1 + exp(x)) for x < 0, so no overflow."""
    return torch.sigmoid(x)


def sigmoid_grad(x: torch.Tensor) -> torch.Tensor:
    """sigma(x) (1 - sigma(x)); at most 1/4, at x = 0 -- why deep sigmoid nets' gradients vanish."""
    s = torch.sigmoid(x)
    return s * (1 - s)


def tanh(x: torch.Tensor) -> torch.Tensor:
    """(1 - exp(-2x)) / (1 + exp(-2x)), via torch.tanh (saturates to +-1, never overflows)."""
    return torch.tanh(x)


def tanh_grad(x: torch.Tensor) -> torch.Tensor:
    """1 - tanh(x)^2."""
    t = torch.tanh(x)
    return 1 - t * t


def softmax(x: torch.Tensor, *, temperature: float = 1.0) -> torch.Tensor:
    """softmax(x / T) over the last dimension; rows sum to 1.

    The row maximum is subtracted before exp (``stable.softmax``), so logits of any finite size are safe.

    Args:
        temperature: T > 0; large T flattens the distribution, small T sharpens it. Default: 1.0.
    """
    return stable.softmax(x / temperature)


def softmax_grad(x: torch.Tensor, *, temperature: float = 1.0) -> torch.Tensor:
    """The full Jacobian d softmax(x/T)_i / d x_j = s_i (delta_ij - s_j) / T.

    Returns:
        (..., C, C); entry [..., i, j] is the derivative of output i with respect to input j.
    """
    s = stable.softmax(x / temperature)
    return (torch.diag_embed(s) - s.unsqueeze(-1) * s.unsqueeze(-2)) / temperature


ACTIVATIONS: tuple[ActivationSpec, ...] = (
    ActivationSpec(
        name="relu",
        title="ReLU",
        summary="max(x, 0): gradient 1 or 0, cheap, does not saturate for x > 0.",
        formula=Formula(value="\\operatorname{ReLU}(x) = \\max(x, 0)", grad="\\frac{d}{dx} = \\begin{cases} 1 & x > 0 \\\\ 0 & x \\le 0 \\end{cases}", mathtext="$\\max(x, 0)$"),
        value_fn=relu,
        grad_fn=relu_grad,
    ),
    ActivationSpec(
        name="prelu",
        title="pReLU",
        summary="ReLU with slope alpha for x <= 0, so negative inputs still pass a gradient.",
        formula=Formula(value="\\operatorname{pReLU}(x) = \\max(0, x) + \\alpha \\min(0, x)", grad="\\frac{d}{dx} = \\begin{cases} 1 & x > 0 \\\\ \\alpha & x \\le 0 \\end{cases}", mathtext="$\\max(0, x) + \\alpha\\min(0, x)$"),
        params=(
            Param("alpha", 0.25, -math.inf, math.inf, "slope for negative inputs",
                  low_open=True, high_open=True, ui_low=-0.5, ui_high=1.0, sweep=(0.0, 0.1, 0.25, 0.5)),
        ),
        value_fn=prelu,
        grad_fn=prelu_grad,
    ),
    ActivationSpec(
        name="sigmoid",
        title="Sigmoid",
        summary="Squashes to (0, 1); derivative at most 1/4, vanishing for large |x|.",
        formula=Formula(value="\\sigma(x) = \\frac{1}{1 + e^{-x}}", grad="\\frac{d}{dx} = \\sigma(x)(1 - \\sigma(x))", mathtext="$\\sigma(x) = 1/(1 + e^{-x})$"),
        value_fn=sigmoid,
        grad_fn=sigmoid_grad,
    ),
    ActivationSpec(
        name="tanh",
        title="Tanh",
        summary="Squashes to (-1, 1), zero-centred; derivative at most 1, vanishing for large |x|.",
        formula=Formula(value="\\tanh(x) = \\frac{1 - e^{-2x}}{1 + e^{-2x}}", grad="\\frac{d}{dx} = 1 - \\tanh^2(x)", mathtext="$\\tanh(x) = (1 - e^{-2x})/(1 + e^{-2x})$"),
        value_fn=tanh,
        grad_fn=tanh_grad,
    ),
    ActivationSpec(
        name="softmax",
        title="Softmax",
        summary="Turns a vector of logits into probabilities; temperature T sharpens or flattens.",
        kind="vector",
        formula=Formula(value="\\operatorname{softmax}(\\mathbf x)_i = \\frac{e^{x_i / T}}{\\sum_k e^{x_k / T}}", grad="\\frac{\\partial s_i}{\\partial x_j} = \\frac{s_i (\\delta_{ij} - s_j)}{T}", mathtext="$s_i = e^{x_i/T} / \\sum_k e^{x_k/T}$"),
        params=(
            Param("temperature", 1.0, 0.0, math.inf, "divides the logits before softmax",
                  low_open=True, high_open=True, ui_low=0.1, ui_high=5.0, sweep=(0.5, 1.0, 2.0)),
        ),
        value_fn=softmax,
        grad_fn=softmax_grad,
    ),
)
