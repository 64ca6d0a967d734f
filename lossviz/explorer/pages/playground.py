"""Playground page: watch each loss shape a model, live, side by side (``lossviz.toy``).

Two modes, each its own schema (``?mode=regression`` / ``?mode=classification``):

- **regression**: a line (or a small MLP, for the wave) fitted with each regression loss to
  points with outliers; each point's pull |dl/dy_hat| on each fit; click the plot to add a
  point, click a point to remove it.
- **classification**: an MLP per loss on a 2-D set; one decision map per loss; train/test loss
  and accuracy over steps.

The server is stateless: a tab holds its training state (``ToyState.to_dict()``) and its points
in a ``dcc.Store``; each tick sends them back, the server checks them (``ToyState.from_dict``
against a fresh state of the same set-up; points validated and capped), advances ``speed`` steps
and answers with the new state and the pictures (a ``dash.Patch`` of the decision maps as small
palette PNGs, or of the fit lines as float32, animated, while playing). While playing, each answer sends the next tick from
the browser (one request in flight, never a queue); a ``dcc.Interval`` is the watchdog that
restarts the chain if an answer is lost. In the 2-D mode the train/test points sit on a static
overlay graph over the maps, so a frame redraws only the map images and titles.
"""

from __future__ import annotations

import base64
import functools
import io
import math
import traceback

import dash
import dash_mantine_components as dmc
import numpy as np
import torch
from dash import Input, Output, State, dcc, html

from lossviz import export, plot_mpl, toy
from lossviz.explorer import controls, figures, state
from lossviz.explorer.state import Choice, Flag, Names, Number
from lossviz.registry import activations, get_activation, get_loss, losses
from lossviz.style import color_of

PAGE, PATH, TITLE = "playground", "/playground", "Playground"
MODES = ("regression", "classification")
N_POINTS = 40  # regression points of a preset
N_CLASS_POINTS = 300  # 2-D points of a data set
MAX_POINTS = 200  # regression points a tab may hold (clicks add up to this)
MIN_POINTS = 2
GRID = 60  # decision map cells per side
X_RANGE = (-3.5, 3.5)
CLASS_COLORS = ("#D55E00", "#0072B2")  # class 0, class 1 (Okabe-Ito), as the exported figure
MAP_SCALE = [[0.0, "#f6c7a6"], [0.5, "#ffffff"], [1.0, "#a9cbe8"]]  # P(class 1): 0 -> class 0's tint, 1 -> class 1's
TICK_MS = 250  # the watchdog interval's period (the answers themselves pace the frames)
CURVE_EVERY = 5  # while playing, the loss and accuracy curves gain a point every this many frames


PRESET_KEYS = ("outliers", "size", "noise", "shape", "model")  # the controls a preset sets (toy.REGRESSION_PRESETS)


def regression_names() -> tuple[str, ...]:
    return tuple(n for n in losses() if get_loss(n).kind == "regression")


def classification_names() -> tuple[str, ...]:
    return tuple(n for n in losses() if get_loss(n).kind == "classification") + regression_names()


def activation_names() -> tuple[str, ...]:
    return tuple(a for a in activations() if get_activation(a).kind == "elementwise")


def schema(mode: str) -> list:
    common = [Choice("mode", "mode", MODES, "regression")]
    tail = [Number("speed", "steps per frame", 1, 50, 1, 5, integer=True), Flag("present", "presentation")]
    if mode == "classification":
        return common + [
            Choice("dataset", "data set", toy.DATASETS, "circle"),
            Number("noise", "input noise", 0, 0.5, 0.05, 0.0),
            Number("label_noise", "label noise", 0, 0.5, 0.05, 0.0),
            Number("train", "train fraction", 0.1, 0.9, 0.1, 0.5),
            Choice("layers", "hidden layers", (0, 1, 2, 3), 2),
            Number("units", "units per layer", 1, 16, 1, 8, integer=True),
            Choice("activation", "activation", activation_names(), "tanh"),
            Names("losses", "losses", classification_names(), ("cross_entropy", "hinge", "focal", "l2")),
            Number("lr", "learning rate", 0.001, 1, 0.001, 0.1),
            Choice("batch", "batch size", (1, 5, 10, 20, 50, 100), 10),
            Number("wd", "weight decay", 0, 0.1, 0.001, 0.0),
        ] + tail
    return common + [
        Choice("preset", "preset", tuple(toy.REGRESSION_PRESETS), "many outliers"),
        Choice("shape", "clean curve", toy.SHAPES, "line"),
        Choice("model", "model (mlp: 1-16-16-1, tanh)", ("line", "mlp"), "line"),
        Number("outliers", "outlier fraction", 0, 0.5, 0.05, 0.2),
        Number("size", "outlier size", 0, 15, 0.5, 6.0),
        Number("noise", "noise", 0, 3, 0.1, 0.3),
        Names("losses", "losses", regression_names(), ("l2", "l1", "huber")),
        Number("lr", "learning rate", 0.001, 0.5, 0.001, 0.05),
    ] + tail


def mode_of(query: dict) -> str:
    return query.get("mode") if query.get("mode") in MODES else "regression"


def training_key(values: dict) -> tuple:
    """The values that define a training (speed and presentation do not)."""
    return tuple((k, tuple(v) if isinstance(v, list) else v) for k, v in sorted(values.items())
                 if k not in ("speed", "present") and not k.startswith("_"))


# --- set-ups (cached: pure functions of the validated values) -----------------------------------


@functools.lru_cache(maxsize=32)
def _class_setup(key: tuple) -> toy.ToySetup:
    v = dict(key)
    data = toy.points_data(v["dataset"], N_CLASS_POINTS, noise=v["noise"], label_noise=v["label_noise"],
                           train_fraction=v["train"], seed=0)
    return toy.classification_setup(data, v["losses"], hidden=(int(v["units"]),) * int(v["layers"]),
                                    activation=v["activation"], lr=v["lr"], batch_size=int(v["batch"]), weight_decay=v["wd"])


def class_setup(values: dict) -> toy.ToySetup:
    return _class_setup(training_key(values))


def preset_points(values: dict) -> dict:
    d = toy.line_data(N_POINTS, noise=values["noise"], outlier_frac=values["outliers"], outlier_size=values["size"], seed=0,
                      shape=values["shape"])
    return {"x": d.x.tolist(), "y": d.y.tolist(), "outlier": d.outlier.tolist()}


def check_points(raw) -> dict:
    """Points sent back by a tab: finite numbers in range, at most MAX_POINTS; ValueError otherwise."""
    if not isinstance(raw, dict):
        raise ValueError("no points")
    xs, ys, out = raw.get("x"), raw.get("y"), raw.get("outlier")
    if not (isinstance(xs, list) and isinstance(ys, list) and isinstance(out, list)) or not len(xs) == len(ys) == len(out):
        raise ValueError("points: x, y and outlier must be lists of one length")
    if not MIN_POINTS <= len(xs) <= MAX_POINTS:
        raise ValueError(f"points: {len(xs)} points (between {MIN_POINTS} and {MAX_POINTS} allowed)")
    for v in (*xs, *ys):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or abs(v) > 100:
            raise ValueError("points: every coordinate must be a finite number in [-100, 100]")
    if not all(isinstance(o, bool) for o in out):
        raise ValueError("points: outlier marks must be true/false")
    return {"x": [float(v) for v in xs], "y": [float(v) for v in ys], "outlier": list(out)}


def reg_setup(values: dict, points: dict) -> toy.ToySetup:
    data = toy.LineData(torch.tensor(points["x"], dtype=torch.float64), torch.tensor(points["y"], dtype=torch.float64),
                        torch.tensor(points["outlier"], dtype=torch.bool), 1.0, 0.0, values["shape"])
    hidden = toy.REGRESSION_MLP if values["model"] == "mlp" else ()
    return toy.regression_setup(data, values["losses"], hidden=hidden, activation="tanh", lr=values["lr"])


# --- pictures -----------------------------------------------------------------------------------


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


def errors_text(frame: dict) -> str:
    """Each fit's RMS distance from the clean line, in its loss's colour (an annotation: while
    playing, plotly's animation updates annotations but not legend names)."""
    parts = [f'<span style="color:{color_of(n)}"><b>{n}</b> {e:.2f}</span>' for n, e in zip(frame["losses"], frame["error"])]
    return "error vs the clean line: " + " · ".join(parts)


def pull_range(frame: dict, current: list | None = None) -> list[float]:
    """The pull panel's y range, set by the server (an animated frame does not autorange). It
    changes only when the pulls outgrow it or shrink below half of it: a new range redraws the
    axes, which costs a frame's time in the browser."""
    top = max(1.05, 1.08 * max((float(np.max(p)) for p in frame["pull"] if len(p)), default=1.0))
    if isinstance(current, list) and len(current) == 2 and all(isinstance(v, (int, float)) for v in current):
        if 0.5 * current[1] <= top <= current[1]:
            return [0.0, float(current[1])]
    return [0.0, round(top * 1.25, 3)]


def regression_figure(frame: dict, points: dict, *, present: bool, narrow: bool, shape: str = "line") -> dict:
    """Left: the points, the clean line and each fit; right: each point's pull on each fit.
    Trace order: [catcher, clean, fits..., points, pulls...] (the Patch relies on it)."""
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
    traces.append({"type": "scatter", "mode": "markers", "x": figures.b64(px), "y": figures.b64(py), "name": "points (click to remove)",
                   "meta": "points", "customdata": list(range(len(px))),
                   "marker": {"size": 10 if not present else 13, "color": np.where(out, "#222222", "#777777").tolist(),
                              "symbol": np.where(out, "x", "circle").tolist(), "line": {"color": "white", "width": 1}},
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
    layout["annotations"].append({"text": errors_text(frame), "xref": "x domain", "yref": "y domain", "x": 0.01, "y": 0.99,
                                  "xanchor": "left", "yanchor": "top", "showarrow": False, "align": "left",
                                  "bgcolor": "rgba(255,255,255,0.8)", "font": {"size": lk["legend"] - 1}})
    if not narrow:  # the fits get the wider panel
        layout["xaxis"]["domain"], layout["xaxis2"]["domain"] = [0, 0.6], [0.68, 1]
    layout["uirevision"] = "playground"
    if not names:
        layout["annotations"].append({"text": "choose at least one loss", "xref": "paper", "yref": "paper", "x": 0.3, "y": 0.5,
                                      "showarrow": False, "font": {"size": 20}})
    return {"data": traces, "layout": layout}


def regression_patch(frame: dict, previous: dict) -> dash.Patch:
    """A playing frame: the fits and pulls, and the error text and pull range where they changed
    since ``previous`` (what the tab's store says it shows)."""
    patch = dash.Patch()
    m = len(frame["losses"])
    for i in range(m):
        patch["data"][2 + i]["y"] = figures.b64(frame["fit"][i])
        patch["data"][3 + m + i]["y"] = figures.b64(frame["pull"][i])
    if errors_text(frame) != previous.get("errors"):  # an annotation redrawn costs the browser time: only when it changed
        patch["layout"]["annotations"][2]["text"] = errors_text(frame)
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


def readout(step: int, mode: str) -> str:
    return f"step {step}" + (" · full-batch gradient descent" if mode == "regression" else "")


# --- the server side of a tick --------------------------------------------------------------------


def restore(setup: toy.ToySetup, raw, notes: list[str]) -> toy.ToyState:
    """The tab's state, or a fresh one (with a note saying why) when it cannot be used."""
    fresh = setup.new_state()
    if raw is None:
        return fresh
    try:
        return toy.ToyState.from_dict(raw, fresh)
    except ValueError as e:
        notes.append(f"this tab's training state could not be used ({str(e)[:120]}); started again from step 0")
        return fresh


def tick(mode: str, trigger: str | None, raw_values: dict, store, click, hide, narrow) -> tuple:
    """(store, main figure or Patch, side figure or Patch (regression: whether the main graph
    animates this answer), message, search, readout, preset slider values).

    ``trigger``: "tick" / "step" (advance), "reset", "click" (regression), or a control key.
    Never raises: a bug becomes a message and the tab starts again."""
    sch = schema(mode)
    store = store if isinstance(store, dict) else {}
    previous = store.get("values") if isinstance(store.get("values"), dict) else None
    values, notes, _ = state.from_request(sch, raw_values, previous)
    values["mode"] = mode
    narrow = narrow is True
    present = bool(values["present"])
    sliders = (dash.no_update,) * len(PRESET_KEYS)
    if mode == "regression" and trigger == "preset":
        sliders = toy.REGRESSION_PRESETS[values["preset"]]
        values.update(zip(PRESET_KEYS, sliders))
    key = repr(training_key({k: v for k, v in values.items() if k != "preset"}))
    same = store.get("key") == key
    look = [present, narrow]
    redraw = not same or store.get("look") != look or trigger in ("reset", "click") or trigger not in ("tick", "step")
    steps = int(values["speed"]) if trigger in ("tick", "step") else 0
    canonical = {f.key: values[f.key] for f in sch}
    hide_keys = [h for h in (hide or []) if isinstance(h, str)][: state.MAX_LIST] if isinstance(hide, list) else []
    search = state.query_of(sch, canonical, hide_keys)
    if not values["losses"]:  # nothing to train: an empty picture that says so
        notes.append("choose at least one loss")
        empty = {"data": [], "layout": {"template": "plotly_white", "height": 300, "annotations": [
            {"text": "choose at least one loss", "xref": "paper", "yref": "paper", "x": 0.5, "y": 0.5, "showarrow": False,
             "font": {"size": 20}}], "xaxis": {"visible": False}, "yaxis": {"visible": False}}}
        new_store = {"key": None, "look": look, "values": canonical, "state": None, "points": None}
        return (new_store, empty, empty if mode == "classification" else False, controls.message(notes), search,
                readout(0, mode), *(sliders if mode == "regression" else (empty,)))

    if mode == "regression":
        points = None
        if same and trigger != "reset" and store.get("points") is not None:
            try:
                points = check_points(store.get("points"))
            except ValueError as e:
                notes.append(f"this tab's points could not be used ({e}); back to the preset's points")
        points = points or preset_points(values)
        if trigger == "click":
            points = apply_click(points, click, notes, len(values["losses"]))
        setup = reg_setup(values, points)
    else:
        points = None
        setup = class_setup(values)
    st = restore(setup, store.get("state"), notes) if same and trigger != "reset" else setup.new_state()
    if notes and any("started again" in n for n in notes):
        redraw = True
    if steps:
        st = toy.advance(setup, st, steps)
    if mode == "regression":
        frame = toy.regression_frame(setup, st)
        main = regression_figure(frame, points, present=present, narrow=narrow, shape=values["shape"]) if redraw else regression_patch(frame, store)
        # A frame moves the fits and pulls with plotly's animation (no transition): no recalc, no
        # redraw of axes, legend and markers; a new figure is drawn whole.
        side = not redraw
    else:
        # The curves and the titles' test accuracy follow every CURVE_EVERY frames (each redraw of
        # the curves costs the browser time, the metrics the server); the maps every frame.
        metrics = redraw or (st.step // max(1, steps)) % CURVE_EVERY == 0
        frame = toy.classification_frame(setup, st, GRID, metrics=metrics)
        main = maps_figure(frame, present=present, narrow=narrow) if redraw else maps_patch(frame, store)
        side = curves_figure(frame, present=present, narrow=narrow) if redraw else (curves_patch(frame) if metrics else dash.no_update)
        sliders = (points_figure(frame, setup.data, present=present, narrow=narrow) if redraw else dash.no_update,)
    new_store = {"key": key, "look": look, "values": canonical, "state": st.to_dict(), "points": points, "noted": bool(notes)}
    if mode == "regression":
        new_store["pull_range"] = pull_range(frame, None if redraw else store.get("pull_range"))
        new_store["errors"] = errors_text(frame)
    elif "test_acc" in frame:
        new_store["titles"] = map_titles(frame)
    else:
        new_store["titles"] = store.get("titles")
    msg = controls.message(notes)
    if not redraw:  # a frame while playing: the URL and an empty message stay as they are (fewer updates to apply)
        search = dash.no_update
        if not notes and not store.get("noted"):
            msg = dash.no_update
    return new_store, main, side, msg, search, readout(st.step, mode), *sliders


def apply_click(points: dict, click, notes: list[str], n_losses: int) -> dict:
    """A click on a point removes it; a click elsewhere on the plot adds one there. The points
    are trace 2 + n_losses (see ``regression_figure``); plotly's click data names the trace."""
    try:
        p = click["points"][0]
        on_point, x, y = p.get("curveNumber") == 2 + n_losses, float(p["x"]), float(p["y"])
    except (TypeError, KeyError, IndexError, ValueError):
        notes.append("could not read that click")
        return points
    pts = {k: list(v) for k, v in points.items()}
    if on_point:
        i = p.get("customdata", p.get("pointIndex"))
        if not isinstance(i, int) or isinstance(i, bool) or not 0 <= i < len(pts["x"]):
            notes.append("could not tell which point was clicked")
        elif len(pts["x"]) <= MIN_POINTS:
            notes.append(f"at least {MIN_POINTS} points stay")
        else:
            for k in pts:
                del pts[k][i]
        return pts
    if not (math.isfinite(x) and math.isfinite(y)) or not X_RANGE[0] <= x <= X_RANGE[1] or abs(y) > 100:
        notes.append("points must lie on the plot")
    elif len(pts["x"]) >= MAX_POINTS:
        notes.append(f"at most {MAX_POINTS} points")
    else:
        pts["x"].append(round(x, 3))
        pts["y"].append(round(y, 3))
        pts["outlier"].append(False)
    return pts


# --- layout -----------------------------------------------------------------------------------------


def control(mode: str, field, value, hide: set[str]):
    """A labelled control (a slider shows its value; the server clamps what arrives)."""
    cid = controls.safe_id(f"{PAGE}-{mode[0]}", field.key)
    label = dmc.Text(field.label, size="sm", fw=600, c="dimmed", className="control-label")
    if isinstance(field, Number):
        body = dmc.Slider(id=cid, min=field.lo, max=field.hi, step=field.step, value=value, updatemode="mouseup", size="lg",
                          labelAlwaysOn=False, **{"aria-label": field.label})
        label = dmc.Text([field.label, ": ", html.Span(state.fmt_number(value), id=f"{cid}-show")], size="sm", fw=600, c="dimmed",
                         className="control-label")
    elif isinstance(field, Names):
        body = dmc.MultiSelect(id=cid, data=list(field.options), value=list(value), clearable=True, searchable=True,
                               **{"aria-label": field.label})
    elif isinstance(field, Choice):
        body = dmc.Select(id=cid, data=[str(o) for o in field.options], value=str(value), allowDeselect=False,
                          **{"aria-label": field.label})
    else:
        raise TypeError(field)
    return html.Div([label, body], id=controls.wrap_id(f"{PAGE}-{mode[0]}", field.key), className="control",
                    style={"display": "none"} if field.key in hide else {})


def control_fields(mode: str) -> list:
    return [f for f in schema(mode) if f.key not in ("mode", "present")]


def layout(query: dict):
    hide = state.hidden(query)
    mode = mode_of(query)
    p = f"{PAGE}-{mode[0]}"
    values, notes = state.from_query(schema(mode), query)
    hide_list = sorted(hide)[: state.MAX_LIST]
    first = tick(mode, "load", {k: v for k, v in values.items()}, None, None, hide_list, False)
    store, main, side, msg, _, read, *extra = first
    tabs = dmc.Group([
        html.A("Regression with outliers", href="/playground?mode=regression", id=f"{PAGE}-to-regression",
               className="mode-link" + (" active" if mode == "regression" else "")),
        html.A("Classification in 2-D", href="/playground?mode=classification", id=f"{PAGE}-to-classification",
               className="mode-link" + (" active" if mode == "classification" else "")),
    ], gap="sm", id=f"{PAGE}-modes", style={"display": "none"} if "mode" in hide else {})
    buttons = dmc.Group([
        dmc.Button("Play", id=f"{p}-play", n_clicks=0, color="green"),
        dmc.Button("Pause", id=f"{p}-pause", n_clicks=0, variant="outline"),
        dmc.Button("Step", id=f"{p}-step", n_clicks=0, variant="outline"),
        dmc.Button("Reset", id=f"{p}-reset", n_clicks=0, variant="outline", color="red"),
        html.Span(read, id=f"{p}-readout", className="readout"),
    ], gap="sm", className="controls")
    graph_cfg = {"responsive": True, "displaylogo": False, "toImageButtonOptions": {"format": "png", "filename": f"lossviz-{PAGE}"}}
    title = "Playground: regression with outliers" if mode == "regression" else "Playground: classification in 2-D"
    ctl = [control(mode, f, values[f.key], hide) for f in control_fields(mode)]
    if mode == "classification":
        overlay = {**graph_cfg, "staticPlot": True}
        graphs = [html.Div([dcc.Graph(id=f"{p}-main", figure=main, config=graph_cfg, className="graph"),
                            html.Div(dcc.Graph(id=f"{p}-points", figure=extra[0], config=overlay, className="graph"),
                                     className="map-overlay")], className="map-stack"),
                  dcc.Graph(id=f"{p}-side", figure=side, config=graph_cfg, className="graph")]
    else:
        graphs = [dcc.Graph(id=f"{p}-main", figure=main, config=graph_cfg, className="graph", animate=False,
                            animation_options=controls.ANIMATION)]
    return html.Div([
        *controls.page_header(p, title, notes, hide),
        tabs,
        buttons,
        dmc.SimpleGrid(ctl, cols={"base": 1, "sm": 2, "lg": 4}, spacing="lg", verticalSpacing="sm", className="controls"),
        html.Div(msg, id=f"{p}-message"),
        *graphs,
        html.Div(dmc.Group([
            dmc.Button("Export for notes", id=f"{p}-export", n_clicks=0, variant="filled"),
            dmc.SegmentedControl(id=f"{p}-export-format", data=["svg", "pdf", "png", "gif"], value="svg"),
            dcc.Download(id=f"{p}-download"),
            html.Span(id=f"{p}-export-message", className="export-message"),
        ], gap="md"), id=f"{p}-export-row", className="export-row", style={"display": "none"} if "export" in hide else {}),
        dcc.Store(id=f"{p}-store", data=store),
        dcc.Store(id=f"{p}-tick"), dcc.Store(id=f"{p}-ack"), dcc.Store(id=f"{p}-search"), dcc.Store(id=f"{p}-url-done"),
        dcc.Interval(id=f"{p}-interval", interval=TICK_MS, disabled=True),
    ])


# --- export -------------------------------------------------------------------------------------------


def export_file(mode: str, n_clicks, fmt, store):
    """The current frame drawn by matplotlib from the same arrays; "gif": a short run from step 0."""
    if not n_clicks:
        return dash.no_update, dash.no_update
    store = store if isinstance(store, dict) else {}
    values, notes, _ = state.from_request(schema(mode), store.get("values"), None)
    values["mode"] = mode
    if notes or not values["losses"]:
        return dash.no_update, "nothing to export: " + ("; ".join(notes) if notes else "choose at least one loss")
    if mode == "regression":
        try:
            points = check_points(store.get("points"))
        except ValueError as e:
            return dash.no_update, f"nothing to export: {e}"
        setup = reg_setup(values, points)
    else:
        setup = class_setup(values)
    frame_of, draw = export.toy_view(setup, GRID)
    st = restore(setup, store.get("state"), notes)
    if notes:
        return dash.no_update, "nothing to export: " + "; ".join(notes)
    if fmt == "gif":
        with plot_mpl.style("light"):
            data = export.toy_gif(setup, int(values["speed"]))
        return dcc.send_bytes(data, f"lossviz-playground-{mode}.gif"), ""
    fmt = fmt if fmt in export.FORMATS else "svg"
    with plot_mpl.style("light"):
        data = export.render(draw(frame_of(setup, st), setup.data), fmt)
    return dcc.send_bytes(data, f"lossviz-playground-{mode}.{fmt}"), ""


# --- wiring -------------------------------------------------------------------------------------------

# While playing, each answer sends the next tick (set_props, one request in flight, no queue);
# the interval is a watchdog that restarts the chain when an answer never came (a dropped
# request), so a fast interval does not keep the browser's main thread busy.
PUMP = """function(n, disabled) {
  const g = window.lossvizPlayground = window.lossvizPlayground || {};
  const now = Date.now();
  if (disabled || (g.busy && now - g.busy < 2000)) return window.dash_clientside.no_update;
  g.busy = now;
  return now;
}"""
ACK = """function(st, disabled, tickId) {
  const g = window.lossvizPlayground = window.lossvizPlayground || {};
  g.busy = 0;
  if (!disabled) {
    g.busy = Date.now();
    window.dash_clientside.set_props(tickId, {data: Date.now()});  // the next frame is computed while this one is drawn
  }
  return window.dash_clientside.no_update;
}"""
PLAY = """function(play, pause) {
  const t = window.dash_clientside.callback_context.triggered_id;
  const g = window.lossvizPlayground = window.lossvizPlayground || {};
  g.busy = 0;
  return t && t.endsWith('-play') ? false : true;
}"""
WRITE_URL = """function(search) {
  if (typeof search === 'string' && window.location.search !== search) {
    window.history.replaceState({}, '', window.location.pathname + search + window.location.hash);
  }
  return window.dash_clientside.no_update;
}"""


def register(app):
    for mode in MODES:
        _register(app, mode)


def _register(app, mode: str):
    p = f"{PAGE}-{mode[0]}"
    fields = control_fields(mode)
    ids = {f.key: controls.safe_id(p, f.key) for f in fields}
    app.clientside_callback(PUMP, Output(f"{p}-tick", "data"), Input(f"{p}-interval", "n_intervals"), State(f"{p}-interval", "disabled"),
                            prevent_initial_call=True)
    app.clientside_callback(ACK, Output(f"{p}-ack", "data"), Input(f"{p}-store", "data"), State(f"{p}-interval", "disabled"),
                            State(f"{p}-tick", "id"), prevent_initial_call=True)
    app.clientside_callback(PLAY, Output(f"{p}-interval", "disabled"), Input(f"{p}-play", "n_clicks"), Input(f"{p}-pause", "n_clicks"),
                            prevent_initial_call=True)
    app.clientside_callback(WRITE_URL, Output(f"{p}-url-done", "data"), Input(f"{p}-search", "data"), prevent_initial_call=True)
    for f in fields:
        if isinstance(f, Number):
            app.clientside_callback("function(v) { return v === null || v === undefined ? '' : String(v); }",
                                    Output(f"{ids[f.key]}-show", "children"), Input(ids[f.key], "value"), prevent_initial_call=True)
    inputs = [Input(f"{p}-tick", "data"), Input(f"{p}-step", "n_clicks"), Input(f"{p}-reset", "n_clicks")]
    if mode == "regression":
        inputs.append(Input(f"{p}-main", "clickData"))
    inputs += [Input(ids[f.key], "value") for f in fields] + [Input("present", "checked")]
    outputs = [Output(f"{p}-store", "data"), Output(f"{p}-main", "figure")]
    outputs.append(Output(f"{p}-side", "figure") if mode == "classification" else Output(f"{p}-main", "animate"))
    outputs += [Output(f"{p}-message", "children"), Output(f"{p}-search", "data"), Output(f"{p}-readout", "children")]
    if mode == "regression":
        outputs += [Output(ids[k], "value", allow_duplicate=True) for k in PRESET_KEYS]
    else:
        outputs.append(Output(f"{p}-points", "figure"))
    n_ctl = len(fields)

    def serve(*args):
        tick_, _step, _reset, *rest = args
        click = rest.pop(0) if mode == "regression" else None
        ctl, present, store, hide, narrow = rest[:n_ctl], rest[n_ctl], rest[n_ctl + 1], rest[n_ctl + 2], rest[n_ctl + 3]
        trig = dash.ctx.triggered_id
        trigger = {f"{p}-tick": "tick", f"{p}-step": "step", f"{p}-reset": "reset", f"{p}-main": "click"}.get(trig)
        if trigger is None:
            trigger = next((k for k, v in ids.items() if v == trig), "present")
        raw = {f.key: v for f, v in zip(fields, ctl)}
        raw["present"] = present
        try:
            out = tick(mode, trigger, raw, store, click, hide, narrow)
        except Exception:  # a bug shows as a message, never as a 500
            traceback.print_exc()
            return (*([dash.no_update] * 3), controls.message(["internal error while training this view (the server log has the details)"]),
                    *([dash.no_update] * (len(outputs) - 4)))
        return out

    app.callback(*outputs, *inputs, State(f"{p}-store", "data"), State("hidden-controls", "data"), State("narrow", "data"),
                 prevent_initial_call=True)(serve)
    # A GIF trains and draws 24 frames (seconds): the button spins meanwhile.
    app.callback(Output(f"{p}-download", "data"), Output(f"{p}-export-message", "children"), Input(f"{p}-export", "n_clicks"),
                 State(f"{p}-export-format", "value"), State(f"{p}-store", "data"), prevent_initial_call=True,
                 running=[(Output(f"{p}-export", "loading"), True, False)])(
        controls.guarded(lambda n, fmt, st: export_file(mode, n, fmt, st), 2))
