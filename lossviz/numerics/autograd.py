"""Derivatives by autograd, for entries registered without a closed-form gradient.

Each wrapper differentiates the entry's own value function with ``torch.autograd.grad`` on a
detached copy of the input in the input's dtype, so it works under ``torch.no_grad`` too and
never touches the caller's graph.
"""

from __future__ import annotations

from typing import Callable

import torch


def _grad_of_sum(value: Callable[..., torch.Tensor], leaf: torch.Tensor, args, params) -> torch.Tensor:
    """d/d leaf of value(leaf, *args, **params).sum(): the per-element (or per-row) derivative
    when each output depends on its own element (or row) of ``leaf`` only."""
    with torch.enable_grad():
        leaf.requires_grad_(True)
        out = value(leaf, *args, **params)
        if not isinstance(out, torch.Tensor) or not out.requires_grad:  # a value that ignores its input
            return torch.zeros_like(leaf).detach()
        (grad,) = torch.autograd.grad(out.sum(), leaf, allow_unused=True)
    return torch.zeros_like(leaf).detach() if grad is None else grad


def elementwise(value: Callable[..., torch.Tensor]) -> Callable[..., torch.Tensor]:
    """The derivative of an elementwise ``value(x, *rest, **params)`` with respect to x.

    x is first broadcast against the other tensor arguments (a regression loss's target), so
    the result has the broadcast shape, as the closed-form gradients have.
    """

    def grad(x: torch.Tensor, *rest, **params) -> torch.Tensor:
        shape = torch.broadcast_shapes(x.shape, *(r.shape for r in rest if isinstance(r, torch.Tensor)))
        return _grad_of_sum(value, x.detach().expand(shape).clone(), rest, params)

    grad.__name__ = f"{getattr(value, '__name__', 'value')}_autograd"
    return grad


def per_row(value: Callable[..., torch.Tensor]) -> Callable[..., torch.Tensor]:
    """The derivative of a per-row ``value(logits, target, **params)`` (one loss per row of
    logits (..., C)) with respect to the logits: shape (..., C)."""

    def grad(logits: torch.Tensor, target: torch.Tensor, **params) -> torch.Tensor:
        return _grad_of_sum(value, logits.detach().clone(), (target,), params)

    grad.__name__ = f"{getattr(value, '__name__', 'value')}_autograd"
    return grad
