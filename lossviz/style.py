"""Colours and line styles shared by the matplotlib and plotly builders (one colour and one dash per name)."""

from __future__ import annotations

# Okabe & Ito (2008), the colour-blind-safe palette; black left out (it is the text colour) and
# yellow left out (#F0E442 cannot be read on white, least of all on a projector).
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#D55E00", "#56B4E9")

# The d2l loss figures: loss in blue, likelihood in green, gradient in orange.
SERIES_COLORS = {"value": "#0072B2", "likelihood": "#009E73", "grad": "#E69F00"}

# Losses need more colours than Okabe & Ito's six (the trainer compares any of them side by
# side): Paul Tol's muted and bright colours continue the list, chosen so that the losses drawn
# together (the regression losses; the classification losses) stay apart: no two pinks among
# cross-entropy, hinge and GCE, no yellow.
LOSS_PALETTE = PALETTE + ("#7F3C8D", "#332288", "#117733", "#8C6D31", "#44AA99", "#A50026")
# Activations: the same six, then Tol's colours.
ACTIVATION_PALETTE = PALETTE + ("#332288", "#117733", "#882255", "#999933", "#44AA99", "#A50026")

# One dash per curve, the same in every panel and its legend: two curves that lie on top of
# each other (Huber at delta = 1 and smooth L1 at beta = 1) still show both.
DASHES = ("solid", "dash", "dot", "dashdot", "longdash", "longdashdot")
MPL_DASHES = {"solid": "-", "dash": (0, (6, 3)), "dot": (0, (1.5, 2)), "dashdot": (0, (6, 2, 1.5, 2)),
              "longdash": (0, (11, 3)), "longdashdot": (0, (11, 2, 1.5, 2))}


def _kind_order(name: str) -> tuple[list[str], tuple[str, ...], list[str]]:
    from lossviz.registry import activations, get_activation, get_loss, losses  # (here: the palettes load without the numerics)

    if name in losses():
        return losses(), LOSS_PALETTE, [n for n in losses() if get_loss(n).kind == get_loss(name).kind]
    if name in activations():
        return activations(), ACTIVATION_PALETTE, [n for n in activations() if get_activation(n).kind == get_activation(name).kind]
    raise ValueError(f"no style for unknown name {name!r}")


def color_of(name: str) -> str:
    """The colour of a loss or activation: the same on every page and in every file.

    Losses (every kind: the trainer overlays classification and regression losses) and
    activations are coloured independently (a loss and an activation never share an axes),
    each in registry order, so adding an entry never recolours the existing ones.
    """
    names, palette, _ = _kind_order(name)
    return palette[names.index(name) % len(palette)]


def dash_of(name: str) -> str:
    """The line dash (plotly's name; ``MPL_DASHES`` for matplotlib) of a loss or activation, by
    its place among the entries of its kind: the curves drawn together differ in dash as well
    as colour, in every panel."""
    _, _, same_kind = _kind_order(name)
    return DASHES[same_kind.index(name) % len(DASHES)]
