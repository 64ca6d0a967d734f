"""The Playground page's pictures: the regression fits and pulls, the decision maps (small
palette PNGs) with their points overlay, the loss and accuracy curves, and the ``dash.Patch``
of each that a playing frame sends."""

from __future__ import annotations

import base64
import functools
import io
import math

import dash
import numpy as np

from lossviz import toy
from lossviz.explorer import figures
from lossviz.explorer.state import fmt_number as state_fmt
from lossviz.explorer.pages.playground.schema import X_RANGE
from lossviz.style import color_of

CLASS_COLORS = ("#D55E00", "#0072B2")  # class 0, class 1 (Okabe-Ito), as the exported figure
MAP_SCALE = [[0.0, "#f6c7a6"], [0.5, "#ffffff"], [1.0, "#a9cbe8"]]  # P(class 1): 0 -> class 0's tint, 1 -> class 1's


def quantize(a: np.ndarray) -> np.ndarray:
    """Probabilities in [0, 1] as uint8 0..255 (NaN as 0.5)."""
    return np.clip(np.rint(np.nan_to_num(np.asarray(a, dtype=np.float64), nan=0.5) * 255), 0, 255).astype(np.uint8)


def u8(a: np.ndarray) -> dict:
    """A probability map as a uint8 typed array with its shape (a quarter of float32's bytes)."""
    q = quantize(a)
    return {"dtype": "u1", "bdata": base64.b64encode(q.tobytes()).decode("ascii"), "shape": ",".join(map(str, q.shape))}


@functools.lru_cache(maxsize=1)
def map_palette() -> bytes:
    """MAP_SCALE as a 256-colour palette: index i shows the probability i / 255."""
    stops = np.array([t for t, _ in MAP_SCALE])
    rgb = np.array([[int(c[k:k + 2], 16) for k in (1, 3, 5)] for _, c in MAP_SCALE], dtype=np.float64)
    t = np.arange(256) / 255
    return np.rint(np.stack([np.interp(t, stops, rgb[:, k]) for k in range(3)], 1)).astype(np.uint8).tobytes()


def map_image(prob: np.ndarray) -> str:
    """A probability map (rows = y ascending) as a palette PNG data URL, top row = largest y.
    Drawn as a layout image, a frame's new maps cost the browser four small PNG decodes instead
    of four heatmaps' calc, canvas and re-encoding."""
    from PIL import Image

    q = quantize(prob)[::-1]
    img = Image.frombytes("P", (q.shape[1], q.shape[0]), np.ascontiguousarray(q).tobytes())
    img.putpalette(map_palette())
    buf = io.BytesIO()
    img.save(buf, format="PNG", compress_level=6)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def y_range(points: dict) -> list[float]:
    ys = points["y"]
    lo, hi = min(ys + [-3.0]), max(ys + [3.0])
    pad = 0.08 * (hi - lo)
    return [lo - pad, hi + pad]


def errors_text(frame: dict, shape: str = "line", narrow: bool = False) -> str:
    """Each fit's RMS distance from the clean line (or curve, for the wave), in its loss's colour
    (an annotation: while playing, plotly's animation updates annotations but not legend names)."""
    parts = [f'<span style="color:{color_of(n)}"><b>{n}</b> {e:.2f}</span>' for n, e in zip(frame["losses"], frame["error"])]
    # On a phone the numbers go under the words: one line would run past the panel.
    return f"RMS error vs the clean {'curve' if shape == 'wave' else 'line'}:" + ("<br>" if narrow else " ") + " · ".join(parts)


def pull_range(frame: dict, current: list | None = None) -> list[float]:
    """The pull panel's y range, set by the server (an animated frame does not autorange). It
    changes only when the pulls outgrow it or shrink below half of it: a new range redraws the
    axes, which costs a frame's time in the browser."""
    top = max(1.05, 1.08 * max((float(np.max(p)) for p in frame["pull"] if len(p)), default=1.0))
    if isinstance(current, list) and len(current) == 2 and all(isinstance(v, (int, float)) for v in current):
        if 0.5 * current[1] <= top <= current[1]:
            return [0.0, float(current[1])]
    return [0.0, round(top * 1.25, 3)]


def regression_figure(frame: dict, points: dict, *, present: bool, narrow: bool, shape: str = "line",
                      outlier_size: float | None = None) -> dict:
    """Left: the points, the clean line and each fit; right: each point's pull on each fit.
    Trace order: [catcher, clean, fits..., points, outliers, pulls...] (the Patch and
    ``schema.apply_click`` rely on it)."""
    lk = figures.look(present)
    names = frame["losses"]
    yr = y_range(points)
    # An invisible grid under everything: a click on empty space lands on it (plotly's click
    # events need a trace), and gives the new point's coordinates.
    cx = np.linspace(*X_RANGE, 71)
    cy = np.linspace(yr[0], yr[1], 61)
    catcher = {"type": "heatmap", "x": figures.b64(cx), "y": figures.b64(cy), "z": u8(np.zeros((61, 71))), "opacity": 0,
               "showscale": False, "hoverinfo": "none", "xaxis": "x", "yaxis": "y", "meta": "catcher", "name": "add"}
    xs = frame["x"]
    clean_name = "clean line y = x" if shape == "line" else "clean curve y = x + 2 sin 1.2x"
    traces = [catcher, {"type": "scatter", "mode": "lines", "x": figures.b64(xs), "y": figures.b64(frame["clean"]), "name": clean_name,
                        "line": {"color": "#222222", "dash": "dash", "width": 1.5}, "hoverinfo": "skip", "meta": "clean"}]
    for i, n in enumerate(names):
        traces.append({"type": "scatter", "mode": "lines", "x": figures.b64(xs), "y": figures.b64(frame["fit"][i]),
                       "name": n, "legendgroup": n, "meta": f"fit-{n}",
                       "line": {"color": color_of(n), "width": lk["width"]}, "hovertemplate": n + ": %{y:.3g}<extra></extra>"})
    px, py, out = np.array(points["x"]), np.array(points["y"]), np.array(points["outlier"], dtype=bool)
    size = 10 if not present else 13
    moved = f" (moved {state_fmt(outlier_size)} below)" if outlier_size else ""
    # The data points and the outliers, each named in the legend; customdata: each one's index
    # among all the points (what a click removes).
    for meta, name, keep, color, symbol in (("points", "data points (click one to remove it)", ~out, "#777777", "circle"),
                                            ("outliers", f"outliers{moved}", out, "#222222", "x")):
        idx = np.flatnonzero(keep)
        traces.append({"type": "scatter", "mode": "markers", "x": figures.b64(px[idx]), "y": figures.b64(py[idx]), "name": name,
                       "meta": meta, "customdata": idx.tolist(), "showlegend": bool(len(idx)),
                       "marker": {"size": size, "color": color, "symbol": symbol, "line": {"color": "white", "width": 1}},
                       "hovertemplate": "(%{x:.2f}, %{y:.2f}) click to remove<extra></extra>"})
    for i, n in enumerate(names):
        traces.append({"type": "scatter", "mode": "markers", "x": figures.b64(px), "y": figures.b64(frame["pull"][i]), "name": n,
                       "legendgroup": n, "showlegend": False, "xaxis": "x2", "yaxis": "y2", "meta": f"pull-{n}",
                       "marker": {"color": color_of(n), "size": 7, "opacity": 0.8}, "hovertemplate": n + " pull %{y:.3g}<extra></extra>"})
    layout = figures.panels_layout(["each loss's fit (click to add a point)", "each point's pull |∂l/∂ŷ|"], "x",
                                   present=present, narrow=narrow)
    layout["hovermode"] = "closest"
    layout["xaxis"]["range"] = list(X_RANGE)
    layout["yaxis"]["range"] = yr
    layout["xaxis2"]["range"] = list(X_RANGE)
    layout["yaxis2"]["range"] = pull_range(frame)
    if narrow:  # room for the legend's rows above the first panel's title
        layout["margin"]["t"] += 40
    layout["annotations"].append({"text": errors_text(frame, shape, narrow), "xref": "x domain", "yref": "y domain", "x": 0.01, "y": 0.99,
                                  "xanchor": "left", "yanchor": "top", "showarrow": False, "align": "left",
                                  "bgcolor": "rgba(255,255,255,0.8)", "font": {"size": lk["legend"] - 1}})
    if not narrow:  # the fits get the wider panel
        layout["xaxis"]["domain"], layout["xaxis2"]["domain"] = [0, 0.6], [0.68, 1]
    layout["uirevision"] = "playground"
    if not names:
        layout["annotations"].append({"text": "choose at least one loss", "xref": "paper", "yref": "paper", "x": 0.3, "y": 0.5,
                                      "showarrow": False, "font": {"size": 20}})
    return {"data": traces, "layout": layout}


def regression_patch(frame: dict, previous: dict, shape: str = "line", narrow: bool = False) -> dash.Patch:
    """A playing frame: the fits and pulls, and the error text and pull range where they changed
    since ``previous`` (what the tab's store says it shows)."""
    patch = dash.Patch()
    m = len(frame["losses"])
    for i in range(m):
        patch["data"][2 + i]["y"] = figures.b64(frame["fit"][i])
        patch["data"][4 + m + i]["y"] = figures.b64(frame["pull"][i])
    text = errors_text(frame, shape, narrow)
    if text != previous.get("errors"):  # an annotation redrawn costs the browser time: only when it changed
        patch["layout"]["annotations"][2]["text"] = text
    rng = pull_range(frame, previous.get("pull_range"))
    if rng != previous.get("pull_range"):
        patch["layout"]["yaxis2"]["range"] = rng
    return patch


def map_title(name: str, frame: dict, i: int) -> str:
    return f"<b>{name}</b> test acc {frame['test_acc'][i]:.2f}"


def maps_layout(frame: dict, *, present: bool, narrow: bool) -> dict:
    lk = figures.look(present)
    names = frame["losses"]
    m = max(1, len(names))
    cols = 2 if narrow else min(4, m)
    rows = math.ceil(m / cols)
    gap = 0.04
    w, h = (1 - gap * (cols - 1)) / cols, (1 - 0.08 * (rows - 1)) / rows
    layout = {"template": "plotly_white", "font": {"size": lk["font"]}, "showlegend": False, "annotations": [],
              "margin": {"l": 10, "r": 10, "t": 40, "b": 10}, "uirevision": "playground", "hovermode": False,
              "height": rows * (190 if narrow else (360 if present else 310)) + 40}
    for i, n in enumerate(names):
        r, c = divmod(i, cols)
        sfx = "" if i == 0 else str(i + 1)
        xa, ya = f"x{sfx}", f"y{sfx}"
        x0, y1 = c * (w + gap), 1 - r * (h + 0.08)
        layout[f"xaxis{sfx}"] = {"domain": [x0, x0 + w], "anchor": ya, "range": [-6, 6], "showticklabels": False, "showgrid": False,
                                 "zeroline": False, "fixedrange": True}
        layout[f"yaxis{sfx}"] = {"domain": [y1 - h, y1], "anchor": xa, "range": [-6, 6], "showticklabels": False, "showgrid": False,
                                 "zeroline": False, "scaleanchor": xa, "fixedrange": True}
    return layout


def maps_figure(frame: dict, *, present: bool, narrow: bool) -> dict:
    """One decision map per loss: images of P(class 1) on empty axes (what changes while
    playing; the points are on the overlay graph)."""
    lk = figures.look(present)
    layout = maps_layout(frame, present=present, narrow=narrow)
    layout["images"] = []
    for i, n in enumerate(frame["losses"]):
        sfx = "" if i == 0 else str(i + 1)
        xa, ya = f"x{sfx}", f"y{sfx}"
        layout["annotations"].append({"text": map_title(n, frame, i), "xref": f"{xa} domain", "yref": f"{ya} domain", "x": 0.5, "y": 1.0,
                                      "yanchor": "bottom", "showarrow": False, "font": {"size": lk["title"], "color": color_of(n)}})
        layout["images"].append({"source": map_image(frame["prob"][i]), "xref": xa, "yref": ya, "x": -toy.DOMAIN, "y": toy.DOMAIN,
                                 "sizex": 2 * toy.DOMAIN, "sizey": 2 * toy.DOMAIN, "xanchor": "left", "yanchor": "top",
                                 "sizing": "stretch", "layer": "below", "name": f"map-{n}"})
    traces: list = []
    if not frame["losses"]:
        layout["annotations"].append({"text": "choose at least one loss", "xref": "paper", "yref": "paper", "x": 0.5, "y": 0.5,
                                      "showarrow": False, "font": {"size": 20}})
    return {"data": traces, "layout": layout}


def points_figure(frame: dict, data, *, present: bool, narrow: bool) -> dict:
    """The train (filled) and test (hollow) points over each map: a transparent graph laid over
    the maps with the same layout, drawn once per set-up (redrawing 1,200 SVG markers every frame
    cost ~200 ms of the browser's time)."""
    layout = maps_layout(frame, present=present, narrow=narrow)
    layout.update(paper_bgcolor="rgba(0,0,0,0)", plot_bgcolor="rgba(0,0,0,0)")
    xtr, ytr = np.asarray(data.x_train), np.asarray(data.y_train)
    xte, yte = np.asarray(data.x_test), np.asarray(data.y_test)
    colors = np.array(CLASS_COLORS)
    traces = []
    for i, n in enumerate(frame["losses"]):
        sfx = "" if i == 0 else str(i + 1)
        xa, ya = f"x{sfx}", f"y{sfx}"
        traces.append({"type": "scatter", "mode": "markers", "x": figures.b64(xtr[:, 0]), "y": figures.b64(xtr[:, 1]), "xaxis": xa,
                       "yaxis": ya, "meta": f"train-{n}", "name": "train", "hoverinfo": "skip",
                       "marker": {"size": 5, "color": colors[ytr].tolist(), "line": {"color": "white", "width": 0.5}}})
        traces.append({"type": "scatter", "mode": "markers", "x": figures.b64(xte[:, 0]), "y": figures.b64(xte[:, 1]), "xaxis": xa,
                       "yaxis": ya, "meta": f"test-{n}", "name": "test", "hoverinfo": "skip",
                       "marker": {"size": 5, "symbol": "circle-open", "color": colors[yte].tolist(), "line": {"width": 1.2}}})
    return {"data": traces, "layout": layout}


def map_titles(frame: dict) -> list[str]:
    return [map_title(n, frame, i) for i, n in enumerate(frame["losses"])]


def maps_patch(frame: dict, previous: dict) -> dash.Patch:
    """A playing frame: the maps, and the titles that changed since ``previous`` (the store)."""
    patch = dash.Patch()
    shown = previous.get("titles") if isinstance(previous.get("titles"), list) else []
    titles = map_titles(frame) if "test_acc" in frame else shown  # a maps-only frame keeps the titles
    for i in range(len(frame["losses"])):
        patch["layout"]["images"][i]["source"] = map_image(frame["prob"][i])
        if i < len(titles) and (i >= len(shown) or shown[i] != titles[i]):
            patch["layout"]["annotations"][i]["text"] = titles[i]
    return patch


CURVES = (("train_loss", 0, "solid"), ("test_loss", 0, "dot"), ("train_acc", 1, "solid"), ("test_acc", 1, "dot"))


def curves_figure(frame: dict, *, present: bool, narrow: bool) -> dict:
    """Train (solid) and test (dotted) loss and accuracy over steps; plain lists, extended per frame."""
    lk = figures.look(present)
    traces = []
    for i, n in enumerate(frame["losses"]):
        for key, panel, dash_ in CURVES:
            xa, ya = figures.axis_names(panel)
            traces.append({"type": "scatter", "mode": "lines", "x": [frame["step"]], "y": [round(frame[key][i], 5)],
                           "name": n if key == "train_loss" else f"{n} {key.replace('_', ' ')}", "legendgroup": n,
                           "showlegend": key == "train_loss", "xaxis": xa, "yaxis": ya, "meta": f"{key}-{n}",
                           "line": {"color": color_of(n), "dash": dash_, "width": lk["width"] * 0.8}})
    layout = figures.panels_layout(["loss (train solid, test dotted)", "accuracy"], "step", present=present, narrow=narrow,
                                   height=320 if not present else 420)
    layout["uirevision"] = "playground"
    return {"data": traces, "layout": layout}


def curves_patch(frame: dict) -> dash.Patch:
    patch = dash.Patch()
    for i in range(len(frame["losses"])):
        for j, (key, _, _) in enumerate(CURVES):
            patch["data"][4 * i + j]["x"].append(frame["step"])
            patch["data"][4 * i + j]["y"].append(round(frame[key][i], 5))
    return patch


def layer_names(n_layers: int) -> list[str]:
    """The layers' names on the gradient panel: layer 1 is the input layer, the last the output."""
    if n_layers == 1:
        return ["the one layer"]
    return [f"layer {i}" + (" (input)" if i == 1 else " (output)" if i == n_layers else "") for i in range(1, n_layers + 1)]


def grads_figure(names: list[str], grads: dict | None, step: int, *, present: bool, narrow: bool) -> dict:
    """Each loss's weight-gradient norm per layer (bars, log scale; d2l 4.8): a deep sigmoid net's
    first layer gets far less than its last. Bars in each loss's colour; updated with the curves."""
    lk = figures.look(present)
    norms = np.asarray(grads["norms"], dtype=float) if grads is not None else np.zeros((len(names), 1))
    layers = layer_names(norms.shape[1])
    traces = []
    for i, n in enumerate(names):
        dead = grads["dead"][i].tolist() if grads is not None and len(grads["dead"][i]) else []
        sat = grads["saturated"][i].tolist() if grads is not None and len(grads["saturated"][i]) else []
        extra = [f"<br>dead {dead[j]:.0%}, saturated {sat[j]:.0%} (hidden layer {j + 1})" if j < len(dead) else "" for j in range(len(layers))]
        traces.append({"type": "bar", "x": layers, "y": [max(float(v), 1e-12) for v in norms[i]], "name": n, "meta": f"grad-{n}",
                       "marker": {"color": color_of(n)}, "customdata": extra,
                       "hovertemplate": n + " %{x}: ‖∇W‖ %{y:.3g}%{customdata}<extra></extra>"})
    layout = {"template": "plotly_white", "font": {"size": lk["font"]}, "barmode": "group", "uirevision": "playground",
              "title": {"text": f"each loss's weight-gradient norm per layer (log scale, whole training set), step {step}",
                        "font": {"size": lk["title"]}},
              "yaxis": {"type": "log", "exponentformat": "power", "tickfont": {"size": lk["tick"]}},
              "xaxis": {"tickfont": {"size": lk["tick"]}}, "legend": {"orientation": "h", "y": -0.2, "font": {"size": lk["legend"]}},
              "margin": {"l": 60, "r": 16, "t": 50, "b": 40}, "height": 260 if not present else 340, "hovermode": "closest"}
    return {"data": traces, "layout": layout}


def grads_patch(grads: dict, step: int) -> dash.Patch:
    """A playing frame: the bars' heights and the step in the title (M x L numbers)."""
    patch = dash.Patch()
    for i, row in enumerate(np.asarray(grads["norms"], dtype=float)):
        patch["data"][i]["y"] = [max(round(float(v), 8), 1e-12) for v in row]
    patch["layout"]["title"]["text"] = f"each loss's weight-gradient norm per layer (log scale, whole training set), step {step}"
    return patch


def readout(step: int, mode: str) -> str:
    return f"step {step}" + (" · full-batch gradient descent" if mode == "regression" else "")
