"""The explorer's live figures: plotly figure dicts from ``curves`` arrays, small enough to redraw
while a slider moves.

- Curves are evaluated by the library on a fine grid (2,001 points whose x are exact float32
  numbers), then only well-placed points are sent: every ``STRIDE``-th one plus every point where
  a curve bends sharply (kinks, steps), so the drawing is the fine curve to well under a pixel.
- Arrays travel as float32 base64 (``{"dtype": "f4", "bdata": ...}``, which plotly.js reads
  natively); the figures are plain dicts (plotly's validators cost more than the maths).
- A presentation look (18 px+ ticks and legends, thick lines) and a narrow look (panels stacked)
  for a projector and a phone.
"""

from __future__ import annotations

import base64
import html

import numpy as np

from lossviz.curves import height as curve_height, well_placed
from lossviz.style import PALETTE, color_of, dash_of

FINE_POINTS = 2001
SWEEP_POINTS = 201  # the grid of a range slider's sweep (a drag's preview; release draws the fine grid)
STRIDE = 8
BEND_TOL = 2e-4  # second difference, in units of the panel's height, that counts as a bend
COINCIDE_TOL = 2e-3  # two curves closer than this (in panel heights) coincide there
MODEBAR_PX = 34  # the plotly toolbar's row at the graph's top right: the legend starts below it
COINCIDE_MIN = 0.05  # ... and are reported when they coincide on at least this share of x


def fine_grid(lo: float, hi: float, n: int = FINE_POINTS) -> np.ndarray:
    """n points from lo to hi, each exactly representable in float32 (so the sent x are exact)."""
    x = np.unique(np.linspace(lo, hi, n).astype(np.float32)).astype(np.float64)
    return x


def b64(a) -> dict:
    """A float32 typed array for plotly.js; inf becomes NaN (a gap), as plotly draws it anyway."""
    a = np.asarray(a, dtype=np.float64)
    a = np.where(np.isfinite(a), a, np.nan).astype(np.float32)
    return {"dtype": "f4", "bdata": base64.b64encode(a.tobytes()).decode("ascii")}


def decode(v) -> np.ndarray:
    """The inverse of ``b64`` (for tests and the export): a typed-array dict or a list -> float64."""
    if isinstance(v, dict) and "bdata" in v:
        return np.frombuffer(base64.b64decode(v["bdata"]), dtype=np.dtype(v["dtype"])).astype(np.float64)
    return np.asarray(v, dtype=np.float64)


def keep_points(ys: list[np.ndarray], stride: int = STRIDE, tol: float = BEND_TOL) -> np.ndarray:
    """Indices of the fine grid worth sending for curves sharing one x grid (``curves.well_placed``)."""
    return well_placed(ys, stride, tol)


def _nice_step(x: float) -> float:
    """The smallest of 1, 2, 2.5, 5 x 10^k that is >= x."""
    k = 10.0 ** np.floor(np.log10(x))
    return float(next(m * k for m in (1, 2, 2.5, 5, 10) if m * k >= x * (1 - 1e-9)))


def y_range(ys: list[np.ndarray], pad: float = 0.04) -> list[float]:
    """A panel's y range over the finite values of its curves, set by the server where a graph
    animates its updates (an animated frame does not autorange).

    The ends snap outward to a round step (about a fifth of the span), so the range stays put
    while a slider moves the curves inside it: a new range costs the browser a redraw of the
    axes, while unchanged ranges let a drag frame move only the lines. A curve that ends at (or
    near) 0 keeps a small fixed margin below (or above) it instead of a whole step.
    """
    finite = [np.asarray(y, dtype=np.float64)[np.isfinite(y)] for y in ys]
    finite = [f for f in finite if f.size]
    if not finite:
        return [-1.0, 1.0]
    lo, hi = min(float(f.min()) for f in finite), max(float(f.max()) for f in finite)
    span = hi - lo if hi > lo else max(1.0, abs(lo))
    step = _nice_step(span / 5)
    bottom = -0.2 * step if -0.1 * step <= lo < pad * span else float(np.floor((lo - pad * span) / step) * step)
    top = 0.2 * step if -pad * span < hi <= 0.1 * step else float(np.ceil((hi + pad * span) / step) * step)
    return [round(bottom, 12), round(top, 12)]


def x_ranges(lo: float, hi: float, panels: int) -> dict:
    """Every panel's x range for a drag's step of an x-range slider (an animated step does not
    autorange): {"xaxis.range": [lo, hi], "xaxis2.range": ..., ...}."""
    return {("xaxis" if i == 0 else f"xaxis{i + 1}") + ".range": [float(lo), float(hi)] for i in range(panels)}


def set_y_ranges(layout, ranges: list[list[float]]) -> None:
    """Panel i's y range in a layout dict or a Patch's layout (``y_range`` per panel)."""
    for i, rng in enumerate(ranges):
        layout["yaxis" if i == 0 else f"yaxis{i + 1}"]["range"] = rng


def coinciding(curves_y: list[np.ndarray]) -> list[tuple[int, int, float]]:
    """Pairs (earlier, later, share) of curves on one panel that lie on top of each other."""
    out = []
    scale = max((curve_height(y) for y in curves_y), default=1.0)
    for j in range(len(curves_y)):
        for i in range(j):
            a, b = curves_y[i], curves_y[j]
            both = np.isfinite(a) & np.isfinite(b)
            share = float(np.mean(both & (np.abs(a - b) <= COINCIDE_TOL * scale)))
            if share >= COINCIDE_MIN:
                out.append((i, j, share))
    return out


def look(present: bool) -> dict:
    """Sizes for the normal and the presentation look."""
    if present:
        return {"font": 18, "tick": 18, "legend": 20, "title": 22, "width": 4.5, "height": 540}  # fits 1,280 x 720 under the nav
    return {"font": 13, "tick": 13, "legend": 14, "title": 15, "width": 2.5, "height": 440}


def panels_layout(titles: list[str], xlabel: str, *, present: bool, narrow: bool, height: int | None = None,
                  ytitles: list[str] | None = None) -> dict:
    """A layout of len(titles) panels side by side (stacked when ``narrow``), one x label each;
    ``ytitles``: each panel's y-axis title (LaTeX between $...$ is typeset by MathJax, see
    ``dcc.Graph(mathjax=True)``)."""
    lk = look(present)
    n = len(titles)
    gap = (0.14 if narrow else 0.07) if n > 1 else 0.0
    fig_height = (height or lk["height"]) if not narrow else max(1, n) * (330 if present else 270) + 120 + MODEBAR_PX
    layout = {
        "template": "plotly_white",
        "font": {"size": lk["font"]},
        "hovermode": "x unified",
        "margin": {"l": 56, "r": 16, "t": (100 if not narrow else 150) + (20 if present else 0) + MODEBAR_PX - 8, "b": 56},
        # The legend sits in the top margin, above the panel titles and below the toolbar's row
        # (container coordinates), so a legend as wide as the graph never runs under the toolbar.
        "legend": {"orientation": "h", "yref": "container", "yanchor": "top", "y": 1 - MODEBAR_PX / fig_height, "x": 0,
                   "font": {"size": lk["legend"]}},
        "height": fig_height,
        "annotations": [],
        "uirevision": "keep",
    }
    for i, title in enumerate(titles):
        suffix = "" if i == 0 else str(i + 1)
        if narrow:
            h = (1 - gap * (n - 1)) / n
            top = 1 - i * (h + gap)
            xdom, ydom = [0, 1], [top - h, top]
        else:
            w = (1 - gap * (n - 1)) / n
            xdom, ydom = [i * (w + gap), i * (w + gap) + w], [0, 1]
        layout[f"xaxis{suffix}"] = {"domain": xdom, "anchor": f"y{suffix}", "title": {"text": xlabel if (narrow and i == n - 1) or not narrow else "", "standoff": 4},
                                    "tickfont": {"size": lk["tick"]}, "zeroline": True}
        layout[f"yaxis{suffix}"] = {"domain": ydom, "anchor": f"x{suffix}", "tickfont": {"size": lk["tick"]}, "automargin": True}
        if ytitles:
            layout[f"yaxis{suffix}"]["title"] = {"text": ytitles[i], "standoff": 2}
        if narrow and i < n - 1:
            layout[f"xaxis{suffix}"]["matches"] = "x"
        layout["annotations"].append({"text": f"<b>{title}</b>", "xref": f"x{suffix} domain", "yref": f"y{suffix} domain",
                                      "x": 0.5, "y": 1.0, "yanchor": "bottom", "showarrow": False, "font": {"size": lk["title"]}})
    return layout


def axis_names(i: int) -> tuple[str, str]:
    return ("x", "y") if i == 0 else (f"x{i + 1}", f"y{i + 1}")


def line(x, y, *, name: str, color: str, panel: int, group: str, legend: bool, meta, width: float, dash: str = "solid",
         hover: str | None = None) -> dict:
    """One curve of one panel; a curve has the same colour and dash in every panel (``style``).
    ``name``: the legend's (typeset where it is all $...$); ``hover``: the same in plain text for
    the hover box, which plotly does not typeset (default: ``name``)."""
    xa, ya = axis_names(panel)
    tag = html.escape(hover if hover is not None else name)
    return {"type": "scatter", "mode": "lines", "x": b64(x), "y": b64(y), "name": name, "legendgroup": group,
            "showlegend": legend, "xaxis": xa, "yaxis": ya, "meta": meta,
            "line": {"color": color, "width": width, "dash": dash}, "hovertemplate": "%{y:.4g}<extra>" + tag + "</extra>"}


def coincide_line(per_panel: list[list[np.ndarray]], names: list[str], share: float = 0.9) -> str | None:
    """One short line naming the curves that lie on top of each other (on at least ``share`` of
    every panel), or None. Each curve keeps its own dash, so both stay visible."""
    pairs = None
    for ys in per_panel:
        found = {(i, j) for i, j, s in coinciding(ys) if s >= share}
        pairs = found if pairs is None else pairs & found
    if not pairs:
        return None
    return "On top of each other here (each keeps its own dash): " + "; ".join(f"{names[i]} = {names[j]}" for i, j in sorted(pairs))


CHECK_COLOR = "#222222"  # autograd's derivative: dark and dashed over the entry's own colour
DIFFER_COLOR = "#d62728"  # where the entry's derivative differs from autograd's


def _runs(x: np.ndarray, mask: np.ndarray) -> list[tuple[float, float]]:
    """The x intervals where ``mask`` holds (each run of points, widened by half a grid step)."""
    out, i, n = [], 0, len(x)
    half = float(np.min(np.diff(x))) / 2 if n > 1 else 0.0
    while i < n:
        if mask[i]:
            j = i
            while j + 1 < n and mask[j + 1]:
                j += 1
            out.append((float(x[i]) - half, float(x[j]) + half))
            i = j + 1
        else:
            i += 1
    return out


def derivative_checks(entries: list[tuple[str, dict, np.ndarray, float]]) -> list[tuple[np.ndarray, np.ndarray]]:
    """``gradcheck.derivative_check`` of each (name, params, x, target): autograd's derivative
    (float64) and the mask where the entry's own differs from it (kinks excluded)."""
    import torch

    from lossviz.gradcheck import derivative_check

    out = []
    for name, prm, x, target in entries:
        chk = derivative_check(name, prm, x=torch.as_tensor(np.asarray(x, dtype=np.float64)), target=float(target))
        out.append((chk.autograd.numpy(), chk.differs.numpy()))
    return out


def check_trace(x, auto, *, name: str, label: str, tex: str, panel: int, width: float) -> dict:
    """Autograd's derivative of an entry, dashed and dark over the entry's own: ``tex`` names it
    in the legend, ``label`` (the entry's plain name) in the hover box."""
    return line(x, auto, name=tex, hover=f"{label}: autograd", color=CHECK_COLOR, panel=panel, group=f"{name}-autograd",
                legend=True, meta=[name, "autograd"], width=max(1.5, width * 0.7), dash="dash")


def differ_shapes(entries: list[tuple[str, np.ndarray, np.ndarray]], panel: int) -> list[dict]:
    """Shaded x intervals of panel ``panel`` where an entry's derivative differs from autograd's
    ((name, x, differs) each), each entry's first interval in the legend."""
    xa, ya = axis_names(panel)
    shapes = []
    for name, x, differs in entries:
        for k, (lo, hi) in enumerate(_runs(np.asarray(x, dtype=float), np.asarray(differs, dtype=bool))):
            shapes.append({"type": "rect", "xref": xa, "yref": f"{ya} domain", "x0": lo, "x1": hi, "y0": 0, "y1": 1,
                           "fillcolor": DIFFER_COLOR, "opacity": 0.18, "line": {"width": 0}, "layer": "below",
                           "name": f"{name}: differs from autograd", "legendgroup": f"{name}-differs", "showlegend": k == 0})
    return shapes


def differ_notes(entries: list[tuple[str, np.ndarray, np.ndarray]]) -> list[str]:
    """One line per entry whose derivative differs from autograd's, naming where."""
    out = []
    for name, x, differs in entries:
        runs = _runs(np.asarray(x, dtype=float), np.asarray(differs, dtype=bool))
        if runs:
            where = ", ".join(f"[{lo:.3g}, {hi:.3g}]" for lo, hi in runs[:4]) + (" …" if len(runs) > 4 else "")
            out.append(f"{name}: its derivative differs from autograd's on {where} (shaded)")
    return out


__all__ = ["FINE_POINTS", "PALETTE", "b64", "check_trace", "coincide_line", "coinciding", "color_of", "dash_of", "decode", "derivative_checks", "differ_notes", "differ_shapes", "fine_grid",
           "keep_points", "line", "look", "panels_layout", "set_y_ranges", "y_range"]
