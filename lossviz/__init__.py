"""lossviz: see how losses and activations behave, and what they do to training.

>>> import lossviz, torch
>>> lossviz.get_loss("huber").value(torch.tensor([0.5, 3.0]), torch.zeros(2), delta=1.0)
tensor([0.1250, 2.5000])

Everything is loaded on first use: ``import lossviz`` itself imports nothing heavy, the
registry loads torch, plotting (matplotlib, plotly) and the explorer (dash) load when used.
The math lives in ``lossviz.numerics`` (one module per family); ``lossviz.losses()`` and
``lossviz.activations()`` are the registry's listing functions.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

# Public name -> "module" (the same name there) or "module:name".
_WHERE = {
    "cross_entropy_naive": "lossviz.numerics.classification",
    "activations": "lossviz.registry", "get": "lossviz.registry", "get_activation": "lossviz.registry",
    "get_loss": "lossviz.registry", "losses": "lossviz.registry",
    "register_activation": "lossviz.registry", "register_loss": "lossviz.registry",
    "ActivationSpec": "lossviz.spec", "Formula": "lossviz.spec", "LossSpec": "lossviz.spec", "Param": "lossviz.spec",
    "get_model": "lossviz.train.models", "models": "lossviz.train.models:model_names", "ModelSpec": "lossviz.train.models",
    "plot_loss": "lossviz.plot", "plot_activation": "lossviz.plot",
    "view": "lossviz.views",  # an explorer page with offline sliders, for notebooks and course pages
    "compare": "lossviz.notebook",  # training from a notebook: the trainer in this process, a result that shows itself
}


def __getattr__(name: str):
    if name in _WHERE:
        module, _, attr = _WHERE[name].partition(":")
        return getattr(importlib.import_module(module), attr or name)
    raise AttributeError(f"module 'lossviz' has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), *_WHERE])


__all__ = sorted(_WHERE)  # noqa: F822 - loaded lazily by __getattr__
