"""The registry of losses and activations by name, and the public way to add an entry.

Every entry, built-in or a user's, enters through one call (``_add``), which checks it; the
built-ins are the specs that ``lossviz.numerics`` declares beside their functions. Models are
not listed here: ``lossviz.train.models`` owns them. A user's loss, its gradient by autograd::

    lossviz.register_loss("cubic", lambda pred, target, width=1.0: (pred - target).abs() ** 3 / width,
                          params={"width": (1.0, 0.0, float("inf"))})
"""

from __future__ import annotations

import math
from typing import Callable, Mapping

from lossviz import checks
from lossviz.numerics import autograd, classification, regression, robust, surrogates
from lossviz.numerics.activations import ACTIVATIONS
from lossviz.spec import ActivationSpec, Formula, LossSpec, Param

_LOSSES: dict[str, LossSpec] = {}
_ACTIVATIONS: dict[str, ActivationSpec] = {}

LOSS_KINDS = ("regression", "classification")
ACTIVATION_KINDS = ("elementwise", "vector")


# --- lookups ----------------------------------------------------------------------------------


def _lookup(table: dict, name: object, what: str):
    if isinstance(name, str) and name in table:
        return table[name]
    raise ValueError(f"unknown {what} {name!r}; valid names: {', '.join(table)}")


def get_loss(name: str) -> LossSpec:
    """The spec of a registered loss; ``ValueError`` listing the valid names otherwise."""
    return _lookup(_LOSSES, name, "loss")


def get_activation(name: str) -> ActivationSpec:
    """The spec of a registered activation; ``ValueError`` listing the valid names otherwise."""
    return _lookup(_ACTIVATIONS, name, "activation")


def losses() -> list[str]:
    """Names of the registered losses, in registration order."""
    return list(_LOSSES)


def activations() -> list[str]:
    """Names of the registered activations, in registration order."""
    return list(_ACTIVATIONS)


def get(name: str) -> LossSpec | ActivationSpec:
    """A loss or activation by name (names are unique across both)."""
    return _lookup({**_LOSSES, **_ACTIVATIONS}, name, "loss or activation")


def parse_params(items: list[str] | None) -> dict[str, dict]:
    """``["huber.delta=0.5"]`` -> ``{"huber": {"delta": 0.5}}``, validated against the registry."""
    out: dict[str, dict] = {}
    for item in items or []:
        key, sep, raw = item.partition("=")
        name, dot, pname = key.partition(".")
        if not (sep and dot and name and pname and raw):
            raise ValueError(f"malformed --param {item!r}; expected NAME.PARAM=VALUE, e.g. huber.delta=0.5")
        spec = get(name)
        try:
            value = float(raw)
        except ValueError:
            raise ValueError(f"--param {item!r}: {raw!r} is not a number") from None
        spec.param(pname).validate(value, owner=name)
        out.setdefault(name, {})[pname] = value
    return out


# --- adding and removing entries --------------------------------------------------------------


def _check_name(name: object, what: str) -> str:
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"{what} name must be an identifier (letters, digits and underscores, not starting "
                         f"with a digit), got {checks.shown(name)}")
    for taken, table in (("a loss", _LOSSES), ("an activation", _ACTIVATIONS)):
        if name in table:
            raise ValueError(f"{what} name {name!r} is taken: {taken} of that name is registered")
    return name


def _check_function(fn: object, owner: str, role: str) -> None:
    if not callable(fn):
        raise ValueError(f"{owner}: {role} must be callable (a function), got {checks.shown(fn)}")


def _check_params(owner: str, params: tuple) -> None:
    seen = set()
    for p in params:
        if not isinstance(p, Param):
            raise ValueError(f"{owner}: each parameter must be a lossviz.Param, got {checks.shown(p)}")
        if not p.name.isidentifier() or p.name in seen:
            raise ValueError(f"{owner}: parameter name {p.name!r} is not an identifier or is used twice")
        seen.add(p.name)
        if not p.low <= p.high:
            raise ValueError(f"{owner}.{p.name}: low {p.low!r} is above high {p.high!r}")
        try:
            p.validate(p.default)
        except ValueError:
            raise ValueError(f"{owner}.{p.name}: default {p.default!r} is outside the allowed range {p.range_text}") from None


def _add(spec: LossSpec | ActivationSpec) -> LossSpec | ActivationSpec:
    """Check an entry and file it: the one way into the registry, for built-ins and users alike.

    ``ValueError`` for a name that is not an identifier or is taken (by any loss or activation),
    an unknown kind, functions that are not callable, or parameters whose default lies outside
    their range.
    """
    is_loss = isinstance(spec, LossSpec)
    what = "loss" if is_loss else "activation"
    _check_name(spec.name, what)
    kinds = LOSS_KINDS if is_loss else ACTIVATION_KINDS
    if spec.kind not in kinds:
        raise ValueError(f"{spec.name}: unknown kind {checks.shown(spec.kind)}; valid kinds: {', '.join(kinds)}")
    _check_function(spec.value_fn, spec.name, "value")
    _check_function(spec.grad_fn, spec.name, "grad")
    if is_loss and spec.log_normalizer is not None:
        _check_function(spec.log_normalizer, spec.name, "likelihood (log Z)")
    _check_params(spec.name, spec.params)
    (_LOSSES if is_loss else _ACTIVATIONS)[spec.name] = spec
    return spec


def unregister(name: str) -> None:
    """Remove a loss or activation (internal: tests remove the entries they registered, so they
    stay independent of their order). ``ValueError`` for an unknown name."""
    get(name)
    _LOSSES.pop(name, None)
    _ACTIVATIONS.pop(name, None)


def _params(owner: str, params: Mapping | None) -> tuple[Param, ...]:
    """``{"width": (1.0, 0.0, inf)}`` or ``{"width": Param(...)}`` -> a tuple of ``Param``.

    In the (default, low, high) form an infinite end is open (inf itself is not a value).
    """
    if params is None:
        return ()
    if not isinstance(params, Mapping):
        raise ValueError(f"{owner}: params must map each name to (default, low, high) or a lossviz.Param, "
                         f"got {checks.shown(params)}")
    out = []
    for pname, given in params.items():
        if not isinstance(pname, str) or not pname.isidentifier():
            raise ValueError(f"{owner}: parameter name must be an identifier, got {checks.shown(pname)}")
        if isinstance(given, Param):
            if given.name != pname:
                raise ValueError(f"{owner}: params[{pname!r}] is a Param named {given.name!r}")
            out.append(given)
            continue
        if not isinstance(given, (tuple, list)) or len(given) != 3:
            raise ValueError(f"{owner}.{pname}: expected (default, low, high) or a lossviz.Param, got {checks.shown(given)}")
        default, low, high = (checks.number(v, f"{owner}.{pname} {role}", finite=False)
                              for v, role in zip(given, ("default", "low", "high")))
        out.append(Param(pname, default, low, high, f"parameter {pname} of {owner}",
                         low_open=math.isinf(low), high_open=math.isinf(high)))
    return tuple(out)


def _tex(name: str) -> str:
    return "\\operatorname{" + name.replace("_", "\\_") + "}"


def _described(name: str, what: str, title, formula, grad_source: str, defaults: Formula) -> dict:
    """Title, formula and summary of a user's entry; "(autograd)" marks a derivative by autograd."""
    if title is not None:
        checks.text(title, f"{name}: title")
    if isinstance(formula, str):
        formula = Formula(value=checks.text(formula, f"{name}: formula", 2000), grad=defaults.grad, mathtext=defaults.mathtext)
    elif formula is None:
        formula = defaults
    elif not isinstance(formula, Formula):
        raise ValueError(f"{name}: formula must be LaTeX text or a lossviz.Formula, got {checks.shown(formula)}")
    autograd_note = " (autograd)" if grad_source == "autograd" else ""
    how = "its derivative by autograd" if grad_source == "autograd" else "its derivative given"
    return {"title": (title or name) + autograd_note, "formula": formula, "grad_source": grad_source,
            "summary": f"A registered {what}; {how}."}


def register_loss(name: str, value: Callable, grad: Callable | None = None, *, kind: str = "regression",
                  params: Mapping | None = None, title: str | None = None, formula: str | Formula | None = None,
                  likelihood: Callable[..., float] | None = None) -> LossSpec:
    """Add a loss to every face (``lossviz list``, the figures, the explorer, the trainer).

    Args:
        name: an identifier not taken by any loss or activation.
        value: ``value(pred, target, **params)``, elementwise, for ``kind="regression"``;
            ``value(logits, target, **params)``, one loss per row of logits (..., C) against
            class indices (...), for ``kind="classification"`` (probability targets (..., C)
            are then handled as the built-ins do: sum_c y_c value(logits, c)).
        grad: the derivative of ``value`` with respect to pred (same shape) or the logits
            ((..., C)); None: autograd of ``value``, and the title says "(autograd)".
        kind: "regression" or "classification". Default: "regression".
        params: name -> (default, low, high) or a ``lossviz.Param``; passed to the functions as
            keyword arguments.
        title, formula: shown by the faces; formula is LaTeX of the value or a ``lossviz.Formula``.
        likelihood: regression only: ``likelihood(**params)`` = log Z, the log of the integral of
            exp(-value) over the residual, so that exp(-value) / Z is a density.
    Returns:
        The registered ``LossSpec``. ``ValueError`` naming what is wrong otherwise.
    """
    _check_name(name, "loss")
    if kind not in LOSS_KINDS:
        raise ValueError(f"{name}: unknown kind {checks.shown(kind)}; valid kinds: {', '.join(LOSS_KINDS)}")
    _check_function(value, name, "value")
    if grad is not None:
        _check_function(grad, name, "grad")
    if likelihood is not None and kind == "classification":
        raise ValueError(f"{name}: a classification loss takes no likelihood (exp(-loss) needs no normalizer)")
    if kind == "classification":
        value_fn = classification.for_both_targets(value)
        grad_fn = autograd.per_row(value_fn) if grad is None else classification.for_both_targets(grad, gradient=True)
        defaults = Formula(value=f"l(y, \\mathbf o) = {_tex(name)}(\\mathbf o, y)",
                           grad="\\partial_{\\mathbf o} l" + (" \\text{ by autograd}" if grad is None else ""),
                           mathtext="$l(\\mathbf{o}, y)$")
    else:
        value_fn, grad_fn = value, autograd.elementwise(value) if grad is None else grad
        defaults = Formula(value=f"l(y, \\hat y) = {_tex(name)}(\\hat y, y)",
                           grad="\\partial_{\\hat y} l" + (" \\text{ by autograd}" if grad is None else ""),
                           mathtext="$l(\\hat{y}, y)$")
    source = "autograd" if grad is None else "closed form"
    return _add(LossSpec(name=name, params=_params(name, params), kind=kind, value_fn=value_fn, grad_fn=grad_fn,
                         log_normalizer=likelihood, **_described(name, "loss", title, formula, source, defaults)))


def register_activation(name: str, value: Callable, grad: Callable | None = None, *, params: Mapping | None = None,
                        title: str | None = None, formula: str | Formula | None = None) -> ActivationSpec:
    """Add an elementwise activation to every face (and as the MLP's hidden activation).

    ``value(x, **params)`` elementwise; ``grad(x, **params)`` its derivative, or None for
    autograd of ``value`` (the title then says "(autograd)"). ``params``, ``title`` and
    ``formula`` as for ``register_loss``. Returns the ``ActivationSpec``; ``ValueError`` naming
    what is wrong otherwise.
    """
    _check_name(name, "activation")
    _check_function(value, name, "value")
    if grad is not None:
        _check_function(grad, name, "grad")
    defaults = Formula(value=f"f(x) = {_tex(name)}(x)", grad="f'(x)" + (" \\text{ by autograd}" if grad is None else ""),
                       mathtext="$f(x)$")
    source = "autograd" if grad is None else "closed form"
    return _add(ActivationSpec(name=name, params=_params(name, params), value_fn=value,
                               grad_fn=autograd.elementwise(value) if grad is None else grad,
                               **_described(name, "activation", title, formula, source, defaults)))


# The built-ins, through the same call. Their order is the registry's order, which fixes each
# entry's colour (``style.color_of``): a new family goes at the end of its line.
for _spec in (*regression.LOSSES, *classification.LOSSES, *robust.LOSSES, *surrogates.LOSSES, *ACTIVATIONS):
    _add(_spec)
