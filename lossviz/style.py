"""Colours and looks shared by the matplotlib and plotly builders (one colour per name)."""

from __future__ import annotations

# Okabe & Ito (2008), the colour-blind-safe palette; black left out (it is the text colour).
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#D55E00", "#56B4E9", "#F0E442")

# The d2l loss figures: loss in blue, likelihood in green, gradient in orange.
SERIES_COLORS = {"value": "#0072B2", "likelihood": "#009E73", "grad": "#E69F00"}


# Losses need more colours than Okabe & Ito's seven (the trainer compares any of them side by
# side, classification and regression alike): Paul Tol's muted scheme continues the list.
LOSS_PALETTE = PALETTE + ("#332288", "#882255", "#117733", "#999933", "#AA4499", "#44AA99", "#DDCC77")


def color_of(name: str) -> str:
    """The colour of a loss or activation: the same on every page and in every file.

    Losses (every kind: the trainer overlays classification and regression losses) and
    activations are coloured independently (a loss and an activation never share an axes),
    each in registry order, so adding an entry never recolours the existing ones.
    """
    from lossviz.registry import activations, losses  # (here: the palettes load without the numerics)

    for names, palette in ((losses(), LOSS_PALETTE), (activations(), PALETTE)):
        if name in names:
            return palette[names.index(name) % len(palette)]
    raise ValueError(f"no colour for unknown name {name!r}")
