"""lossviz: see how losses and activations behave, and what they do to training.

>>> import lossviz, torch
>>> lossviz.get_loss("huber").value(torch.tensor([0.5, 3.0]), torch.zeros(2), delta=1.0)
tensor([0.1250, 2.5000])

Importing lossviz loads torch only; plotting (matplotlib, plotly) and the explorer (dash)
are imported when first used.
"""

from lossviz.losses import cross_entropy_naive
from lossviz.registry import activations, get, get_activation, get_loss, losses
from lossviz.spec import ActivationSpec, Formula, LossSpec, Param

__version__ = "0.1.0"



def __getattr__(name: str):
    # Plotting imports matplotlib / plotly: load it on first use, not on `import lossviz`.
    if name in ("plot_loss", "plot_activation"):
        from lossviz import plot

        return getattr(plot, name)
    raise AttributeError(f"module 'lossviz' has no attribute {name!r}")


__all__ = [
    "ActivationSpec",
    "Formula",
    "LossSpec",
    "Param",
    "activations",
    "cross_entropy_naive",
    "get",
    "get_activation",
    "get_loss",
    "losses",
    "plot_activation",
    "plot_loss",
]
