"""The registry: every loss, activation and model by name, built from the modules' lists."""

from __future__ import annotations

from lossviz.activations import ACTIVATIONS
from lossviz.losses import LOSSES
from lossviz.spec import ActivationSpec, LossSpec

_LOSSES: dict[str, LossSpec] = {spec.name: spec for spec in LOSSES}
_ACTIVATIONS: dict[str, ActivationSpec] = {spec.name: spec for spec in ACTIVATIONS}


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


def get_model(name: str):
    """The spec of a registered model (``lossviz.train.models.MODELS``); ``ValueError`` listing
    the valid names otherwise."""
    from lossviz.train.models import MODELS

    return _lookup({spec.name: spec for spec in MODELS}, name, "model")


def models() -> list[str]:
    """Names of the registered models, in registration order."""
    from lossviz.train.models import MODELS

    return [spec.name for spec in MODELS]


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
