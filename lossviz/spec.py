"""Spec dataclasses for losses and activations: parameters with ranges, formulas, validation.

The numerical modules (`losses`, `activations`) declare one spec per function; `registry`
collects them. Nothing here knows about plotting, files or the command line.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Mapping

import torch


@dataclass(frozen=True)
class Param:
    """One hyperparameter: its default, the allowed range, and the range a slider should offer."""

    name: str
    default: float
    low: float  # allowed range, inclusive unless low_open / high_open
    high: float
    description: str
    low_open: bool = False
    high_open: bool = False
    ui_low: float | None = None  # slider range (finite); defaults to the allowed range
    ui_high: float | None = None
    ui_step: float = 0.05
    sweep: tuple[float, ...] = ()  # values a parameter-sweep figure draws

    @property
    def range_text(self) -> str:
        """The allowed range in interval notation, e.g. ``(0, inf)``."""
        left = "(" if self.low_open else "["
        right = ")" if self.high_open else "]"
        return f"{left}{_fmt(self.low)}, {_fmt(self.high)}{right}"

    @property
    def slider_range(self) -> tuple[float, float]:
        lo = self.ui_low if self.ui_low is not None else self.low
        hi = self.ui_high if self.ui_high is not None else self.high
        return float(lo), float(hi)

    def validate(self, value: object, owner: str = "") -> float:
        """Return ``value`` as a float, or raise ``ValueError`` naming the parameter and range."""
        where = f"{owner}.{self.name}" if owner else self.name
        if isinstance(value, bool) or not isinstance(value, (int, float)) and not (
            isinstance(value, torch.Tensor) and value.numel() == 1
        ):
            raise ValueError(
                f"{where} must be a number in {self.range_text}, got {value!r}"
            )
        x = float(value)
        too_low = x <= self.low if self.low_open else x < self.low
        too_high = x >= self.high if self.high_open else x > self.high
        if math.isnan(x) or too_low or too_high:
            raise ValueError(f"{where} must be in {self.range_text}, got {x!r}")
        return x


def _fmt(x: float) -> str:
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return f"{x:g}"


@dataclass(frozen=True)
class Formula:
    """LaTeX for the value and the derivative (no surrounding dollars).

    ``mathtext`` is a short one-line form that matplotlib's mathtext can typeset (it has no
    ``cases`` environment); figure titles use it.
    """

    value: str
    grad: str
    mathtext: str = ""


@dataclass(frozen=True)
class _Spec:
    name: str
    title: str
    formula: Formula
    params: tuple[Param, ...] = ()
    summary: str = ""

    def param(self, name: str) -> Param:
        for p in self.params:
            if p.name == name:
                return p
        raise ValueError(self._unknown_param_message(name))

    def _unknown_param_message(self, name: str) -> str:
        valid = ", ".join(p.name for p in self.params) or "none"
        return f"{self.name} has no parameter {name!r}; valid parameters: {valid}"

    def defaults(self) -> dict[str, float]:
        return {p.name: p.default for p in self.params}

    def resolve(self, params: Mapping[str, object]) -> dict[str, float]:
        """Defaults overridden by ``params``, every value validated against its range."""
        known = {p.name: p for p in self.params}
        for name in params:
            if name not in known:
                raise ValueError(self._unknown_param_message(name))
        return {
            p.name: p.validate(params.get(p.name, p.default), owner=self.name)
            for p in self.params
        }


def as_tensor(x: object) -> torch.Tensor:
    """Tensors pass through untouched (dtype, device kept); numbers and lists become float tensors."""
    if isinstance(x, torch.Tensor):
        return x
    t = torch.as_tensor(x)
    return t if t.is_floating_point() or t.dtype == torch.int64 else t.to(torch.get_default_dtype())


@dataclass(frozen=True)
class LossSpec(_Spec):
    """A loss: ``value`` / ``grad`` (w.r.t. the prediction) / ``likelihood``.

    ``kind`` is ``"regression"`` (elementwise on a prediction and a target of the same shape)
    or ``"classification"`` (logits (..., C) against class indices (...) or probabilities
    (..., C)). ``log_normalizer(**params)`` is log Z, where Z = integral of exp(-loss) over the
    residual; None for classification losses, whose exp(-loss) is already a probability.
    """

    kind: str = "regression"
    value_fn: Callable[..., torch.Tensor] | None = field(default=None, repr=False)
    grad_fn: Callable[..., torch.Tensor] | None = field(default=None, repr=False)
    log_normalizer: Callable[..., float] | None = field(default=None, repr=False)

    def value(self, pred, target, **params) -> torch.Tensor:
        """The per-element (regression) or per-sample (classification) loss, no reduction."""
        return self.value_fn(as_tensor(pred), as_tensor(target), **self.resolve(params))

    def grad(self, pred, target, **params) -> torch.Tensor:
        """The closed-form derivative of ``value`` with respect to ``pred``; shape of ``pred``."""
        return self.grad_fn(as_tensor(pred), as_tensor(target), **self.resolve(params))

    def likelihood(self, pred, target, *, normalized: bool = False, **params) -> torch.Tensor:
        """exp(-loss): the density (regression) or probability (classification) behind the loss.

        With ``normalized=True`` a regression loss's exp(-loss) is divided by its normalizing
        constant Z, so it integrates to 1 over the residual (L2 -> Gaussian, L1 -> Laplace,
        Huber -> its own Z). For cross-entropy exp(-loss) is already the softmax probability
        of the target class, so both settings give the same numbers.
        """
        resolved = self.resolve(params)
        loss = self.value_fn(as_tensor(pred), as_tensor(target), **resolved)
        if normalized and self.log_normalizer is not None:
            return torch.exp(-loss - self.log_normalizer(**resolved))
        return torch.exp(-loss)


@dataclass(frozen=True)
class ActivationSpec(_Spec):
    """An activation: ``value`` and ``grad``.

    ``kind`` is ``"elementwise"`` (grad is f'(x), same shape as x) or ``"vector"`` (softmax over
    the last dimension: grad is the full Jacobian, shape (..., C, C)).
    """

    kind: str = "elementwise"
    value_fn: Callable[..., torch.Tensor] | None = field(default=None, repr=False)
    grad_fn: Callable[..., torch.Tensor] | None = field(default=None, repr=False)

    def value(self, x, **params) -> torch.Tensor:
        return self.value_fn(as_tensor(x), **self.resolve(params))

    def grad(self, x, **params) -> torch.Tensor:
        return self.grad_fn(as_tensor(x), **self.resolve(params))
