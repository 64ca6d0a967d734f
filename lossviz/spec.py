"""Spec dataclasses for losses and activations: parameters with ranges, formulas, validation.

The numerical families (``lossviz.numerics``) declare one spec beside each function pair;
``registry`` collects them. Nothing here knows about plotting, files, sliders or the command
line (how a parameter is shown lives in ``presentation``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Mapping

import torch

from lossviz import checks


@dataclass(frozen=True)
class Param:
    """One hyperparameter: its default and its allowed range."""

    name: str
    default: float
    low: float  # allowed range, inclusive unless low_open / high_open
    high: float
    description: str
    low_open: bool = False
    high_open: bool = False
    # True where the function itself gives a value beyond the input dtype's range its limiting
    # meaning (Huber's delta above float16's 65504: quadratic everywhere; a temperature that
    # rounds to 0: the argmax). Otherwise such a value is refused for that dtype (``check_dtype``).
    extreme_ok: bool = False

    @property
    def range_text(self) -> str:
        """The allowed range in interval notation, e.g. ``(0, inf)``."""
        return checks.interval(self.low, self.high, low_open=self.low_open, high_open=self.high_open)

    def validate(self, value: object, owner: str = "") -> float:
        """Return ``value`` as a float, or raise ``ValueError`` naming the parameter and range.

        Accepts Python and numpy real numbers (``np.float32(0.5)``) and one-element tensors;
        refuses booleans, strings, None and integers too large for a float (``checks.number``).
        An infinite value passes where the range includes it (Barron's alpha = -inf).
        """
        where = f"{owner}.{self.name}" if owner else self.name
        return checks.number(value, where, self.low, self.high, low_open=self.low_open, high_open=self.high_open,
                             finite=False)

    def check_dtype(self, value: float, dtype: torch.dtype, owner: str = "") -> None:
        """``ValueError`` if ``value`` (already validated) has no faithful meaning in ``dtype``.

        A finite value above the dtype's largest number would become inf, and a non-zero value
        of a parameter that must not be 0 would round to 0 (``scale = 1e-50`` in float32):
        both are refused, naming the parameter, unless the function handles them itself
        (``extreme_ok``). Infinite values that the range allows (``alpha = -inf``) pass.
        """
        if self.extreme_ok or not math.isfinite(value) or not dtype.is_floating_point:
            return
        where = f"{owner}.{self.name}" if owner else self.name
        info = torch.finfo(dtype)
        if abs(value) > info.max:
            raise ValueError(f"{where}={value:g} overflows {dtype} (largest {info.max:g}); use a smaller value "
                             "or a wider dtype")
        zero_excluded = (self.low == 0 and self.low_open) or (self.high == 0 and self.high_open)
        if zero_excluded and value != 0 and abs(value) <= info.smallest_normal * info.eps / 2:
            raise ValueError(f"{where}={value:g} rounds to 0 in {dtype}; use a larger value or a wider dtype")


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
    grad_source: str = "closed form"  # or "autograd": the derivative of an entry registered without one

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

    def resolve(self, params: Mapping[str, object], dtype: torch.dtype | None = None) -> dict[str, float]:
        """Defaults overridden by ``params``, every value validated against its range (and,
        given ``dtype``, against what that dtype can hold: ``Param.check_dtype``)."""
        known = {p.name: p for p in self.params}
        for name in params:
            if name not in known:
                raise ValueError(self._unknown_param_message(name))
        out = {p.name: p.validate(params.get(p.name, p.default), owner=self.name) for p in self.params}
        if dtype is not None:
            for p in self.params:
                p.check_dtype(out[p.name], dtype, owner=self.name)
        return out


def as_tensor(x: object, what: str = "input") -> torch.Tensor:
    """Tensors pass through untouched (dtype, device kept); numbers, numpy arrays and lists
    become tensors (floats in the default dtype, integers as int64). ``None``, strings and
    ragged lists raise ``ValueError`` naming ``what`` (torch's own message is a RuntimeError
    about inferring a dtype, which names no argument)."""
    if isinstance(x, torch.Tensor):
        return x
    if x is None or isinstance(x, (str, bytes)):
        raise ValueError(f"{what} must be a tensor, array or number, got {type(x).__name__}")
    try:
        t = torch.as_tensor(x)
    except (TypeError, ValueError, RuntimeError) as e:
        raise ValueError(f"{what} must be a tensor, array or number: {str(e)[:200]}") from None
    return t if t.is_floating_point() or t.dtype == torch.int64 else t.to(torch.get_default_dtype())


def as_float_input(x: object, what: str) -> torch.Tensor:
    """A prediction, logits or activation input as a floating-point tensor.

    Integer and boolean tensors are promoted to the default float dtype (as ``torch.sigmoid``
    promotes them; ``F.cross_entropy`` refuses them, lossviz accepts them); complex tensors are
    refused with a ``ValueError`` naming ``what``.
    """
    t = as_tensor(x, what)
    if t.is_complex():
        raise ValueError(f"{what} must be real numbers, got a {t.dtype} tensor")
    return t if t.is_floating_point() else t.to(torch.get_default_dtype())


def _broadcast_or_refuse(target: torch.Tensor, shape: torch.Size, what: str, to: str, *, grow: bool = True) -> None:
    """``ValueError`` naming target unless its shape broadcasts with ``shape`` (``what``'s); with
    ``grow=False`` it must also not enlarge that shape (class targets: one per row of logits)."""
    try:
        joint = torch.broadcast_shapes(target.shape, shape)
    except RuntimeError:
        joint = None
    if joint is None or (not grow and joint != shape):
        raise ValueError(f"target shape {tuple(target.shape)} does not broadcast to {what} shape {tuple(shape)} "
                         f"({to})")


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

    def _inputs(self, pred, target, params):
        """Checked tensors and parameters: what every public entry point hands the functions."""
        if self.kind == "classification":
            logits = as_float_input(pred, "logits")
            if logits.ndim == 0:
                raise ValueError("logits must have a last dimension of classes, got a 0-dim tensor")
            if logits.shape[-1] == 0:
                raise ValueError(f"logits must have at least one class, got shape {tuple(logits.shape)}")
            target = as_tensor(target, "target")
            if target.dtype == torch.bool or target.is_complex():
                raise ValueError(f"target must be class indices (integers) or probabilities (floats), got {target.dtype}")
            if target.is_floating_point():
                if target.shape[-1:] == logits.shape[-1:]:  # (a wrong C: target_probs names the last dimension)
                    _broadcast_or_refuse(target, logits.shape, "logits", "probabilities: (..., C) like the logits")
            else:
                _broadcast_or_refuse(target, logits.shape[:-1], "the logits' rows", "one class index per row of logits",
                                     grow=False)
            return logits, target, self.resolve(params, logits.dtype)
        pred = as_float_input(pred, "pred")
        target = as_tensor(target, "target")
        if target.is_complex():
            raise ValueError(f"target must be real numbers, got a {target.dtype} tensor")
        if target.dtype == torch.bool:
            # Promoted like an integer target (torch refuses `pred - bool`): 0/1 in pred's dtype.
            target = target.to(pred.dtype)
        _broadcast_or_refuse(target, pred.shape, "pred", "elementwise: the shapes must broadcast")
        dtype = torch.promote_types(pred.dtype, target.dtype) if target.is_floating_point() else pred.dtype
        return pred, target, self.resolve(params, dtype)

    def value(self, pred, target, **params) -> torch.Tensor:
        """The per-element (regression) or per-sample (classification) loss, no reduction."""
        pred, target, resolved = self._inputs(pred, target, params)
        return self.value_fn(pred, target, **resolved)

    def grad(self, pred, target, **params) -> torch.Tensor:
        """The derivative of ``value`` with respect to ``pred`` (the logits); shape of ``pred``.

        Closed form for the built-ins; autograd of ``value`` for an entry registered without
        one (``grad_source == "autograd"``).
        """
        pred, target, resolved = self._inputs(pred, target, params)
        return self.grad_fn(pred, target, **resolved)

    def likelihood(self, pred, target, *, normalized: bool = False, **params) -> torch.Tensor:
        """exp(-loss): the density (regression) or probability (classification) behind the loss.

        With ``normalized=True`` a regression loss's exp(-loss) is divided by its normalizing
        constant Z, so it integrates to 1 over the residual (L2 -> Gaussian, L1 -> Laplace,
        Huber -> its own Z); a loss whose exp(-loss) does not integrate (Barron's with
        alpha < 0) raises ``ValueError``. For cross-entropy exp(-loss) is already the softmax
        probability of the target class; for the other classification losses exp(-loss) is a
        score in (0, 1], not a probability. Classification losses have no Z: both settings
        give the same numbers.
        """
        pred, target, resolved = self._inputs(pred, target, params)
        log_z = self.log_normalizer(**resolved) if normalized and self.log_normalizer is not None else None
        loss = self.value_fn(pred, target, **resolved)
        if log_z is not None:
            return torch.exp(-loss - log_z)
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
        x = as_float_input(x, "x")
        return self.value_fn(x, **self.resolve(params, x.dtype))

    def grad(self, x, **params) -> torch.Tensor:
        x = as_float_input(x, "x")
        return self.grad_fn(x, **self.resolve(params, x.dtype))
