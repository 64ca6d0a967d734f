"""Figures from Python, for notebooks and scripts: the same builders as ``lossviz figures``.

>>> fig = lossviz.plot_loss("huber", delta=0.5)            # a matplotlib Figure
>>> fig = lossviz.plot_loss("huber", backend="plotly")     # a plotly Figure

Nothing is shown or saved unless you ask (``fig.savefig(...)`` / ``fig.show()``).
"""

from __future__ import annotations

from lossviz import checks, curves

BACKENDS = ("matplotlib", "plotly")


def plot_loss(name: str, *, backend: str = "matplotlib", style: str = "light", target: float = 0.0,
              x_range=curves.DEFAULT_RANGE, normalized: bool = False, **params):
    """The d2l loss figure (loss, likelihood, gradient) for a registered loss."""
    checks.choice(backend, "backend", BACKENDS)
    c = curves.loss_curve(name, params, target=target, x_range=x_range, normalized=normalized)
    if backend == "plotly":
        from lossviz import plot_plotly

        return plot_plotly.loss_figure(c)
    from lossviz import plot_mpl

    with plot_mpl.style(style):
        return plot_mpl.loss_figure(c)


def plot_activation(name: str, *, backend: str = "matplotlib", style: str = "light", x_range=(-6.0, 6.0), **params):
    """An activation and its derivative."""
    checks.choice(backend, "backend", BACKENDS)
    c = curves.activation_curve(name, params, x_range=x_range)
    if backend == "plotly":
        from lossviz import plot_plotly

        return plot_plotly.activation_figure([c])
    from lossviz import plot_mpl

    with plot_mpl.style(style):
        return plot_mpl.activation_figure(c)
