"""lossviz: see how losses and activations behave, and what they do to training.

>>> import lossviz, torch
>>> lossviz.get_loss("huber").value(torch.tensor([0.5, 3.0]), torch.zeros(2), delta=1.0)
tensor([0.1250, 2.5000])

Everything is loaded on first use: ``import lossviz`` itself imports nothing heavy, the
registry loads torch, plotting (matplotlib, plotly) and the explorer (dash) load when used.
"""

from __future__ import annotations

import importlib
import sys
import types

__version__ = "0.1.0"

_WHERE = {
    "cross_entropy_naive": "lossviz.losses",
    "activations": "lossviz.registry", "get": "lossviz.registry", "get_activation": "lossviz.registry",
    "get_loss": "lossviz.registry", "get_model": "lossviz.registry", "losses": "lossviz.registry",
    "models": "lossviz.registry",
    "ActivationSpec": "lossviz.spec", "Formula": "lossviz.spec", "LossSpec": "lossviz.spec", "Param": "lossviz.spec",
    "ModelSpec": "lossviz.train.models",
    "plot_loss": "lossviz.plot", "plot_activation": "lossviz.plot",
}


def __getattr__(name: str):
    if name in _WHERE:
        return getattr(importlib.import_module(_WHERE[name]), name)
    raise AttributeError(f"module 'lossviz' has no attribute {name!r}")


class _Package(types.ModuleType):
    """``lossviz.losses`` and ``lossviz.activations`` are the registry's listing functions, though
    modules of the same names exist (the math). Importing such a module sets the package
    attribute to the module; these properties keep the public name the function."""

    def _registry_function(name):
        def get(self):
            return getattr(importlib.import_module("lossviz.registry"), name)

        def keep_function(self, module):  # the import system announcing the submodule: ignored
            pass

        return property(get, keep_function)

    losses = _registry_function("losses")
    activations = _registry_function("activations")


sys.modules[__name__].__class__ = _Package


def __dir__():
    return sorted([*globals(), *_WHERE])


__all__ = sorted(_WHERE)  # noqa: F822 - loaded lazily by __getattr__
