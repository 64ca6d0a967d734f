"""Colours and looks shared by the matplotlib and plotly builders (one colour per name)."""

from __future__ import annotations

from lossviz.registry import activations, get_loss, losses

# Okabe & Ito (2008), the colour-blind-safe palette; black left out (it is the text colour).
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#D55E00", "#56B4E9", "#F0E442")

# The d2l loss figures: loss in blue, likelihood in green, gradient in orange.
SERIES_COLORS = {"value": "#0072B2", "likelihood": "#009E73", "grad": "#E69F00"}


def color_of(name: str) -> str:
    """The colour of a loss or activation: the same on every page and in every file.

    Regression losses, classification losses and activations are coloured independently
    (overlays never mix them), each group in registry order, so adding an entry never
    recolours the existing ones and the seven regression losses get seven colours.
    """
    regression = [n for n in losses() if get_loss(n).kind == "regression"]
    classification = [n for n in losses() if get_loss(n).kind != "regression"]
    for names in (regression, classification, activations()):
        if name in names:
            return PALETTE[names.index(name) % len(PALETTE)]
    raise ValueError(f"no colour for unknown name {name!r}")
