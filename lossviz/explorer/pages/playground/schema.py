"""The Playground page's state: its two schemas (the URL and the controls), the set-ups they
define (``lossviz.toy``), and the regression points a tab holds (validated, capped, edited by clicks)."""

from __future__ import annotations

import functools
import math

import torch

from lossviz import checks, toy
from lossviz.explorer.state import Choice, Flag, Names, Number
from lossviz.registry import activations, get_activation, get_loss, losses

PAGE, PATH, TITLE = "playground", "/playground", "Playground"
MODES = ("regression", "classification")
N_POINTS = 40  # regression points of a preset
N_CLASS_POINTS = 300  # 2-D points of a data set
MAX_POINTS = 200  # regression points a tab may hold (clicks add up to this)
MIN_POINTS = 2
X_RANGE = (-3.5, 3.5)

PRESET_KEYS = ("outliers", "size", "noise", "shape", "model")  # the controls a preset sets (toy.REGRESSION_PRESETS)


def regression_names() -> tuple[str, ...]:
    return tuple(n for n in losses() if get_loss(n).kind == "regression")


def classification_names() -> tuple[str, ...]:
    return tuple(n for n in losses() if get_loss(n).kind == "classification") + regression_names()


def activation_names() -> tuple[str, ...]:
    return tuple(a for a in activations() if get_activation(a).kind == "elementwise")


# Links from before the toy's models had their own names wrote model=line for a line.
OLD_MODELS = (("line", "linear"),)


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
        Choice("model", "model (mlp: 1-16-16-1, tanh)", toy.MODELS, "linear", aliases=OLD_MODELS),
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
        checks.number(v, "points: every coordinate", -100, 100)
    if not all(isinstance(o, bool) for o in out):
        raise ValueError("points: outlier marks must be true/false")
    return {"x": [float(v) for v in xs], "y": [float(v) for v in ys], "outlier": list(out)}


def reg_setup(values: dict, points: dict) -> toy.ToySetup:
    data = toy.LineData(torch.tensor(points["x"], dtype=torch.float64), torch.tensor(points["y"], dtype=torch.float64),
                        torch.tensor(points["outlier"], dtype=torch.bool), 1.0, 0.0, values["shape"])
    hidden = toy.REGRESSION_MLP if values["model"] == "mlp" else ()
    return toy.regression_setup(data, values["losses"], hidden=hidden, activation="tanh", lr=values["lr"])




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

