"""The Playground page's state: its two schemas (the URL and the controls), the set-ups they
define (``lossviz.toy``), and the regression points a tab holds (validated, capped, edited by clicks)."""

from __future__ import annotations

import functools
import math

import torch

from lossviz import checks, toy
from lossviz.explorer import state
from lossviz.explorer.state import Choice, Flag, Names, Number
from lossviz.registry import activations, get_activation, get_loss, losses

PAGE, PATH, TITLE = "playground", "/playground", "Playground"
MODES = ("regression", "classification")  # the modes that train live, tick by tick
ALL_MODES = MODES + ("capacity",)  # and the capacity mode (polynomial fits, on change: pages/playground/capacity.py)
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


# What a choice's option is, where its name alone does not say (the URL keeps the names).
OPTION_LABELS = {("model", "linear"): "a line: y = a·x + b", ("model", "mlp"): "an MLP: 1-16-16-1, tanh",
                 ("shape", "line"): "line: y = x", ("shape", "wave"): "wave: y = x + 2 sin 1.2x"}

# Settings that learn the spiral (measured: 0.80-0.87 test accuracy for each default loss after
# 3,000 steps; the page's defaults, 2 x 8 units, stay near 0.6): it needs depth and many steps.
SPIRAL_LEARNS = {"layers": 3, "units": 16, "activation": "tanh", "lr": 0.1, "batch": 10, "speed": 20}

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
        Choice("model", "model", toy.MODELS, "linear", aliases=OLD_MODELS),
        Number("outliers", "outlier fraction", 0, 0.5, 0.05, 0.2),
        Number("size", "outlier size", 0, 15, 0.5, 6.0),
        Number("noise", "noise", 0, 3, 0.1, 0.3),
        Names("losses", "losses", regression_names(), ("l2", "l1", "huber")),
        Number("lr", "learning rate", 0.001, 0.5, 0.001, 0.05),
    ] + tail


def mode_of(query: dict) -> str:
    return query.get("mode") if query.get("mode") in ALL_MODES else "regression"


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
    """The set-up's points; ``src`` is each point's index among them (-1: added by a click)."""
    d = toy.line_data(N_POINTS, noise=values["noise"], outlier_frac=values["outliers"], outlier_size=values["size"], seed=0,
                      shape=values["shape"])
    return {"x": d.x.tolist(), "y": d.y.tolist(), "outlier": d.outlier.tolist(), "src": list(range(N_POINTS))}


# --- the points' edits in the URL: ``add=x:y,x:y`` (clicked points), ``drop=i,j`` (removed preset points)


def points_query(points: dict) -> dict[str, str]:
    """The clicks that made ``points`` from the preset's, as URL parameters (none when unedited)."""
    src = points.get("src") or [-1] * len(points["x"])
    add = [f"{state.fmt_number(x)}:{state.fmt_number(y)}" for x, y, i in zip(points["x"], points["y"], src) if i < 0]
    kept = {i for i in src if i >= 0}
    drop = [str(i) for i in range(N_POINTS) if i not in kept]
    return {k: ",".join(v) for k, v in (("add", add), ("drop", drop)) if v}


def points_from_query(query: dict, values: dict, notes: list[str]) -> dict:
    """The preset's points with a link's ``drop`` and ``add`` applied: at most MAX_POINTS in all,
    every added point on the plot; what does not check out is left out with a note."""
    pts = preset_points(values)
    drop_raw, add_raw = query.get("drop"), query.get("add")
    if isinstance(drop_raw, str) and drop_raw:
        items = drop_raw.split(",")[: N_POINTS + 1]
        drop = {int(i) for i in items if i.isdigit() and int(i) < N_POINTS}
        if len(drop) != len(items):
            notes.append(f"drop={_shown(drop_raw)}: only indices 0 to {N_POINTS - 1} of the preset's points; others ignored")
        drop = sorted(drop)[: N_POINTS - MIN_POINTS]
        keep = [i for i in range(N_POINTS) if i not in set(drop)]
        pts = {k: [v[i] for i in keep] for k, v in pts.items()}
    if isinstance(add_raw, str) and add_raw:
        items = add_raw.split(",")
        room = MAX_POINTS - len(pts["x"])
        over = max(0, len(items) - MAX_POINTS)
        bad = 0
        for item in items[:MAX_POINTS]:
            try:
                x, y = (float(v) for v in item.split(":"))
            except ValueError:
                bad += 1
                continue
            if not (math.isfinite(x) and math.isfinite(y)) or not X_RANGE[0] <= x <= X_RANGE[1] or abs(y) > 100:
                bad += 1
            elif room > 0:
                room -= 1
                pts["x"].append(round(x, 3)), pts["y"].append(round(y, 3)), pts["outlier"].append(False), pts["src"].append(-1)
            else:
                over += 1
        if bad:
            notes.append(f"add=: {bad} point(s) not of the form x:y on the plot (x in [{X_RANGE[0]}, {X_RANGE[1]}], |y| <= 100) ignored")
        if over:
            notes.append(f"add=: at most {MAX_POINTS} points in all; {over} left out")
    return pts


def _shown(raw: str) -> str:
    return raw[:40] + ("…" if len(raw) > 40 else "")


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
    src = raw.get("src", [-1] * len(xs))
    if not (isinstance(src, list) and len(src) == len(xs)
            and all(isinstance(i, int) and not isinstance(i, bool) and -1 <= i < N_POINTS for i in src)):
        raise ValueError(f"points: src must be one index in [-1, {N_POINTS}) per point")
    kept = [i for i in src if i >= 0]
    if len(set(kept)) != len(kept):
        raise ValueError("points: a preset point listed twice")
    return {"x": [float(v) for v in xs], "y": [float(v) for v in ys], "outlier": list(out), "src": list(src)}


def reg_setup(values: dict, points: dict) -> toy.ToySetup:
    data = toy.LineData(torch.tensor(points["x"], dtype=torch.float64), torch.tensor(points["y"], dtype=torch.float64),
                        torch.tensor(points["outlier"], dtype=torch.bool), 1.0, 0.0, values["shape"])
    hidden = toy.REGRESSION_MLP if values["model"] == "mlp" else ()
    return toy.regression_setup(data, values["losses"], hidden=hidden, activation="tanh", lr=values["lr"])




def apply_click(points: dict, click, notes: list[str], n_losses: int) -> dict:
    """A click on a point removes it; a click elsewhere on the fits panel adds one there. The
    traces are [catcher, clean, fits..., points, outliers, pulls...] (``regression_figure``);
    plotly's click data names the trace. A click on the pull panel (its markers are the pulls,
    not points of the data) changes nothing."""
    try:
        p = click["points"][0]
        curve, x, y = p.get("curveNumber"), float(p["x"]), float(p["y"])
    except (TypeError, KeyError, IndexError, ValueError):
        notes.append("could not read that click")
        return points
    if not isinstance(curve, int) or isinstance(curve, bool) or not 0 <= curve < 4 + n_losses:
        notes.append("the pull panel shows each point's pull; click the fits panel to add a point, a point to remove it")
        return points
    on_point = curve in (2 + n_losses, 3 + n_losses)
    pts = {k: list(v) for k, v in points.items()}
    pts.setdefault("src", [-1] * len(pts["x"]))
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
        pts["src"].append(-1)
    return pts

