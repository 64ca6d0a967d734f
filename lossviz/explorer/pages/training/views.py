"""The Training page's views of run folders: the runs a folder holds, their curves (mean +- std
over seeds), a confusion matrix, the prediction grid and the study figures, read from the
records (``lossviz.train.runs``) and the files the studies wrote."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import dash_mantine_components as dmc
import numpy as np
from dash import html

from lossviz.data import CLASSES
from lossviz.explorer import figures
from lossviz.studies.figures import STUDY_FIGURES
from lossviz.style import color_of
from lossviz.train import runs
from lossviz.train.models import get_model

# Each loss is in its own units (cross-entropy in nats, L2 on probabilities, ...), so their raw
# heights on one axis compare nothing: the loss panels divide each loss by its own train loss at
# the first epoch (how fast each falls, in its own terms; train and test on one scale, so the
# gap shows); accuracy is the yardstick all losses share. The raw value is in the hover.
PANELS = (("train_loss", "train loss ÷ its epoch-1 value"), ("test_loss", "test loss ÷ train loss at epoch 1"),
          ("train_acc", "train accuracy"), ("test_acc", "test accuracy"))
LOSS_KEYS = ("train_loss", "test_loss")
SCALE_NOTE = ("Each loss is in its own units (cross-entropy in nats, L2 and L1 on probabilities, …), so their heights "
              "cannot be compared: the loss panels divide each loss by its own train loss at epoch 1 (1 = where it "
              "started; the hover shows the raw value). Accuracy is the yardstick every loss shares.")
DASHES = ("solid", "dash", "dot", "dashdot")
MAX_RUNS = 4  # runs overlaid at once
RIGHT, WRONG = "#007A5E", "#D55E00"  # as the exported prediction grid (Okabe-Ito)


def list_runs(runs_dir: Path) -> list[str]:
    """Run folders (those with a config.json), newest first."""
    runs_dir = Path(runs_dir)
    if not runs_dir.is_dir():
        return []
    found = [p for p in runs_dir.iterdir() if p.is_dir() and (p / "config.json").is_file()]
    return [p.name for p in sorted(found, key=lambda p: p.stat().st_mtime, reverse=True)]


def run_path(runs_dir: Path, name: str) -> Path:
    """A run folder inside runs_dir; names from the browser never leave it."""
    if not isinstance(name, str) or name not in list_runs(runs_dir):
        raise ValueError(f"unknown run {str(name)[:60]!r}")
    return Path(runs_dir) / name


def chosen_runs(raw, runs_dir: Path) -> tuple[list[str], list[str]]:
    """Run names from the browser or the URL: known, deduplicated, at most MAX_RUNS; and notes."""
    known = list_runs(runs_dir)
    items = raw.split(",") if isinstance(raw, str) else raw if isinstance(raw, list) else []
    out, bad = [], []
    for n in items[: 4 * MAX_RUNS]:
        if isinstance(n, str) and n in known:
            if n not in out:
                out.append(n)
        elif n not in ("", None):
            bad.append(str(n)[:40])
    notes = [f"runs: unknown {', '.join(bad[:3])} ignored"] if bad else []
    if len(out) > MAX_RUNS:
        notes.append(f"runs: at most {MAX_RUNS} overlaid; showing {', '.join(out[:MAX_RUNS])}")
        out = out[:MAX_RUNS]
    return out, notes


def smooth(values: np.ndarray, weight: float) -> np.ndarray:
    """Exponential moving average (TensorBoard's smoothing), weight in [0, 1)."""
    out = np.empty_like(values)
    acc = values[0]
    for i, v in enumerate(values):
        acc = weight * acc + (1 - weight) * v
        out[i] = acc
    return out


def curves_figure(runs_dir: Path, names: list[str], smoothing: float = 0.0, *, present: bool = False, narrow: bool = False) -> dict:
    """Per loss and run: train loss / train acc / test acc per epoch, mean +- std over seeds.

    A curve that repeats an earlier one (``runs.coinciding``) is dashed and says so in the legend.
    """
    lk = figures.look(present)
    layout = figures.panels_layout([t for _, t in PANELS], "epoch", present=present, narrow=narrow, height=400 if not present else 480)
    layout["hovermode"] = "x unified"
    traces, waiting, last_epoch = [], [], 1
    for r, name in enumerate(names):
        config, metrics = runs.read_run(run_path(runs_dir, name))
        by_loss = runs.curves_by_loss(metrics, config)
        same = runs.coinciding(by_loss)
        if not metrics:
            waiting.append(name)
        for loss, per in by_loss.items():
            label = (f"{loss} · {name}" if len(names) > 1 else loss) + (f" (= {same[loss]})" if loss in same else "")
            dash_style = "dash" if loss in same else DASHES[r % len(DASHES)]
            first = per["train_loss"][1][0] if per["train_loss"][1] else None
            for j, (key, _) in enumerate(PANELS):
                epochs, mean, std = (np.asarray(v, dtype=float) for v in per[key])
                if not len(epochs):
                    continue
                last_epoch = max(last_epoch, int(epochs.max()))
                m = smooth(mean, smoothing) if smoothing else mean
                raw = m
                if key in LOSS_KEYS:
                    scale = first if first and np.isfinite(first) and first > 0 else 1.0
                    m, std = m / scale, std / scale
                xa, ya = figures.axis_names(j)
                if std.any():
                    traces.append({"type": "scatter", "x": np.concatenate([epochs, epochs[::-1]]).tolist(),
                                   "y": np.concatenate([m + std, (m - std)[::-1]]).tolist(), "fill": "toself", "fillcolor": color_of(loss),
                                   "opacity": 0.2, "line": {"width": 0}, "hoverinfo": "skip", "name": f"{label} ± std over seeds",
                                   "legendgroup": label, "showlegend": j == 0, "xaxis": xa, "yaxis": ya, "meta": [name, loss, key, "band"]})
                hover = (f"{loss} %{{customdata:.4g}} (%{{y:.3f}} × epoch 1)<extra></extra>" if key in LOSS_KEYS
                         else f"{loss} %{{y:.4f}}<extra></extra>")
                traces.append({"type": "scatter", "x": epochs.tolist(), "y": m.tolist(), "name": label, "legendgroup": label,
                               "showlegend": j == 0, "mode": "lines+markers", "xaxis": xa, "yaxis": ya, "meta": [name, loss, key],
                               "customdata": raw.tolist(), "hovertemplate": hover,
                               "line": {"color": color_of(loss), "dash": dash_style, "width": lk["width"]},
                               "marker": {"size": 9 if loss in same else 6, "symbol": "circle-open" if loss in same else "circle"}})
    # Whole epochs only (plotly's automatic ticks put 1.2, 1.4, ... between two epochs).
    dtick = max(1, int(np.ceil(last_epoch / 8)))
    for j in range(len(PANELS)):
        layout[f"xaxis{'' if j == 0 else j + 1}"].update(tick0=1 if dtick == 1 else 0, dtick=dtick, tickformat="d")
    if waiting:
        layout["annotations"].append({"text": f"{', '.join(waiting)}: waiting for the first epoch…", "xref": "paper", "yref": "paper",
                                      "x": 0.5, "y": 0.5, "showarrow": False, "font": {"size": lk["title"]}})
    return {"data": traces, "layout": layout}


def confusion_figure(runs_dir: Path, name: str, loss: str, epoch: int | None, *, present: bool = False) -> dict:
    """The test confusion matrix (true x predicted) of one loss at one epoch (default: the last)."""
    config, metrics = runs.read_run(run_path(runs_dir, name))
    rows = [r.to_dict() for r in metrics if r.loss == loss and r.confusion]
    final = run_path(runs_dir, name) / "confusion.json"
    if not rows and final.is_file():  # older runs keep only the final matrices
        last = max((r.to_dict() for r in metrics if r.loss == loss), key=lambda r: (r["seed"], r["epoch"]), default=None)
        matrix = json.loads(final.read_text()).get(loss)
        rows = [{**last, "confusion": matrix}] if last and matrix else []
    if not rows:
        raise ValueError(f"no confusion matrix for {loss} in {name} yet")
    if epoch is not None:
        rows = [r for r in rows if r["epoch"] == int(epoch)] or rows
    row = rows[-1]
    z = np.asarray(row["confusion"])
    lk = figures.look(present)
    short = [c.split("/")[0][:8] for c in CLASSES]
    return {"data": [{"type": "heatmap", "z": z.tolist(), "x": short, "y": short, "colorscale": "Blues", "reversescale": True, "meta": [name, loss, row["epoch"]],
                      "showscale": False, "texttemplate": "%{z}", "textfont": {"size": max(10, lk["tick"] - 3)},
                      "hovertemplate": "true %{y}<br>predicted %{x}<br>%{z}<extra></extra>"}],
            "layout": {"title": {"text": f"{loss}, epoch {row['epoch']} (seed {row['seed']}): test accuracy {np.trace(z) / z.sum():.4f}",
                                 "font": {"size": lk["title"]}},
                       "xaxis": {"title": {"text": "predicted"}, "tickfont": {"size": lk["tick"] - 2}, "tickangle": -45},
                       "yaxis": {"title": {"text": "true"}, "autorange": "reversed", "tickfont": {"size": lk["tick"] - 2}},
                       "template": "plotly_white", "height": 460 if not present else 560, "font": {"size": lk["font"]},
                       "margin": {"l": 80, "r": 10, "t": 50, "b": 80}}}


def empty_figure(text: str) -> dict:
    return {"data": [], "layout": {"xaxis": {"visible": False}, "yaxis": {"visible": False}, "height": 220, "template": "plotly_white",
                                   "annotations": [{"text": text, "showarrow": False, "xref": "paper", "yref": "paper", "x": 0.5, "y": 0.5,
                                                    "font": {"size": 16}}]}}


def describe(runs_dir: Path, name: str) -> str:
    config, metrics = runs.read_run(run_path(runs_dir, name))
    done = max((r.epoch for r in metrics), default=0)
    return (f"{name}: {get_model(config.model).title}" + (f" ({'-'.join(map(str, config.hidden))} {config.activation})" if config.hidden else "")
            + f", losses {', '.join(config.losses)}, lr {config.lr:g}, batch {config.batch_size}, {config.seeds} seed(s), "
            f"epochs {done}/{config.epochs}, regression target {config.regression_target}"
            + "".join(f", {loss} " + ", ".join(f"{k} {v:g}" for k, v in p.items()) for loss, p in config.loss_params.items()))


def _png(img) -> str:
    from PIL import Image

    buf = io.BytesIO()
    # dark garment on white, as the exported grid draws it (matplotlib's gray_r)
    Image.fromarray(255 - np.asarray(img, dtype=np.uint8)).save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def prediction_grid(runs_dir: Path, name: str, top3: bool = False):
    """d2l's predict_ch3 grid as HTML: each test image, its true label, and each loss's guess
    coloured (and marked ✓/✗) by its own correctness. Written when a run finishes. ``top3``:
    under each guess, the loss's three most probable classes with their probabilities
    (predictions.json's "top3"; the true class in bold)."""
    path = run_path(runs_dir, name) / "predictions.json"
    if not path.is_file():
        return dmc.Text("The prediction grid appears when the run finishes.", c="dimmed")
    grid = json.loads(path.read_text())
    images, labels, preds = grid.get("images") or [], grid.get("labels") or [], grid.get("pred") or {}
    cells = []
    for i, (img, label) in enumerate(zip(images, labels)):
        lines = [html.Div(CLASSES[label], className="pred-true")]
        for loss, p in preds.items():
            ok = p[i] == label
            lines.append(html.Div(f"{'✓' if ok else '✗'} {loss}: {CLASSES[p[i]]}", className="pred-line",
                                  style={"color": RIGHT if ok else WRONG}, **{"data-ok": "1" if ok else "0", "data-loss": loss}))
            best = top3_lines(grid, loss, i) if top3 else None
            if best:
                lines.append(html.Div([html.Span([html.B(c) if c == CLASSES[label] else c, f" {q:.0%}"]) if k == 0 else
                                       html.Span([" · ", html.B(c) if c == CLASSES[label] else c, f" {q:.0%}"])
                                       for k, (c, q) in enumerate(best)], className="pred-top3",
                                      style={"fontSize": "0.75em", "color": "#444", "paddingLeft": "1em"},
                                      **{"data-loss": loss, "data-top3": json.dumps([[c, round(q, 6)] for c, q in best])}))
        cells.append(html.Div([html.Img(src=_png(img), alt=f"test image {i}: {CLASSES[label]}", className="pred-img"), *lines],
                              className="pred-cell"))
    note = None
    if top3 and not grid.get("top3"):
        note = dmc.Text("This run's predictions.json has no top-3 classes (an older run).", c="dimmed", size="sm")
    cells = html.Div(cells, className="pred-grid", id="training-grid-cells")
    return html.Div([note, cells]) if note else cells


def study_views(runs_dir: Path, name: str):
    """The studies of a run (calibration, landscapes, label noise), as their figures: the
    files `lossviz study` / `lossviz landscape` wrote into the run's figures/ folder."""
    folder = run_path(runs_dir, name) / "figures"
    views = []
    for stem, caption in STUDY_FIGURES:  # the exporter's catalogue of study figures
        path = folder / f"{stem}.png"
        if stem == "noise" and (Path(runs_dir) / "noise.json").is_file():
            # `lossviz explore --runs STUDY` on a noise study: its runs are the rates, its figure is the study's
            path = Path(runs_dir) / "figures" / "noise.png"
        if path.is_file() and path.stat().st_size < 8 * 2**20:
            src = "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode()
            views.append(html.Figure([html.Img(src=src, alt=caption, style={"maxWidth": "100%"}), html.Figcaption(caption)],
                                     id=f"training-study-{stem}"))
    if not views:
        # The folder this explorer reads (`lossviz explore --runs`), as the user would type it.
        folder = Path(runs_dir) / name
        return dmc.Text(f"No studies of this run yet: try `lossviz study calibration {folder}` or "
                        f"`lossviz landscape {folder}`.", c="dimmed", size="sm", style={"overflowWrap": "anywhere"})
    return html.Div(views)


def run_signature(runs_dir: Path, name: str) -> list:
    """What changes when a run folder gains an epoch or its final files."""
    run = Path(runs_dir) / name
    out = [name]
    studies = [run / "figures" / f"{stem}.png" for stem, _ in STUDY_FIGURES]
    for f in (run / "metrics.jsonl", run / "predictions.json", *studies):
        try:
            st = f.stat()
            # A string: the signature goes to the browser and back, and a JavaScript number cannot
            # hold a time in nanoseconds (~1.8e18 > 2**53) exactly, so an int never compared equal.
            out.append(f"{st.st_mtime_ns}:{st.st_size}")
        except OSError:
            out.append(None)
    return out


def export_errors(fn):
    """The export callback ``fn`` (outputs: download, message) with a run it cannot draw (a
    broken config.json, damaged records, an unreadable file) answered by what is wrong in the
    message, instead of "internal error"."""
    import functools

    import dash

    @functools.wraps(fn)
    def run(*args):
        try:
            return fn(*args)
        except (ValueError, OSError) as e:  # runs.RunError is a ValueError: it names the file
            from lossviz.checks import shown

            return dash.no_update, f"cannot export: {shown(str(e), 300)[1:-1]}"
    return run


# --- gradient health, stall notes, top-3 and decisions (issues 26 and 28) --------------------------


def health_figure(runs_dir: Path, name: str, *, present: bool = False, narrow: bool = False) -> tuple[dict, bool]:
    """Per loss, the gradient health its records hold at the last epoch (``stalls.health_curves``,
    means over seeds): the weight-gradient norm of each layer (log scale, input layer first), and
    per hidden layer the share of dead and of saturated units. Also whether the run has hidden
    layers (a softmax regression has one layer and no units to die: the panel is hidden)."""
    from lossviz.train.stalls import health_curves

    config, metrics = runs.read_run(run_path(runs_dir, name))
    curves = health_curves(metrics, config)
    mlp = bool(config.hidden) and get_model(config.model).hidden is not None
    lk = figures.look(present)
    titles = ["weight-gradient norm per layer (log)", "dead units (f′ = 0 on every example)", "saturated units (mean |f′| < 0.01)"]
    layout = figures.panels_layout(titles, "layer", present=present, narrow=narrow, height=380 if not present else 460)
    layout["hovermode"] = "closest"
    layout["yaxis"]["type"] = "log"
    layout["yaxis"]["exponentformat"] = "power"
    for sfx in ("2", "3"):
        layout[f"yaxis{sfx}"].update(range=[-0.03, 1.03], tickformat=".0%")
        layout[f"xaxis{sfx}"]["title"]["text"] = "hidden layer" if not narrow or sfx == "3" else ""
    traces = []
    for loss, h in curves.items():
        style = {"color": color_of(loss), "width": lk["width"]}
        g = np.asarray(h["grad_norm"], dtype=float)
        if len(g):
            traces.append({"type": "scatter", "mode": "lines+markers", "x": list(range(1, len(g) + 1)), "y": g.tolist(), "name": loss,
                           "legendgroup": loss, "line": style, "meta": [name, loss, "grad_norm"],
                           "hovertemplate": f"{loss}: layer %{{x}} ‖∇W‖ %{{y:.3g}}<extra></extra>"})
        for j, key in ((2, "dead_fraction"), (3, "saturated_fraction")):
            f = np.asarray(h[key], dtype=float)
            if len(f):
                traces.append({"type": "scatter", "mode": "lines+markers", "x": list(range(1, len(f) + 1)), "y": f.tolist(), "name": loss,
                               "legendgroup": loss, "showlegend": False, "line": {**style, "dash": "dot" if j == 3 else "solid"},
                               "xaxis": f"x{j}", "yaxis": f"y{j}", "meta": [name, loss, key],
                               "hovertemplate": f"{loss}: hidden layer %{{x}} %{{y:.0%}}<extra></extra>"})
    for sfx in ("", "2", "3"):
        layout[f"xaxis{sfx}"].update(dtick=1, tickformat="d")
    epoch = max((h["epoch"] for h in curves.values()), default=None)
    if epoch is not None:
        layout["annotations"].append({"text": f"epoch {epoch}, measured on its last minibatch (mean over seeds)", "xref": "paper",
                                      "yref": "paper", "x": 1, "y": -0.2, "xanchor": "right", "showarrow": False,
                                      "font": {"size": lk["tick"] - 2, "color": "#666"}})
    else:
        layout["annotations"].append({"text": "no gradient health recorded yet", "xref": "paper", "yref": "paper", "x": 0.5, "y": 0.5,
                                      "showarrow": False, "font": {"size": lk["title"]}})
    return {"data": traces, "layout": layout}, mlp


def stall_notes(runs_dir: Path, name: str) -> tuple[dict, str]:
    """{loss: note} of the losses that stalled, and where they came from: results.json's
    "stalls" (a finished run) or ``lossviz.train.stalls.stall_notes`` over the records so far
    (a run in progress: the same function the summary uses)."""
    from lossviz.train.stalls import stall_notes as notes_of

    run = run_path(runs_dir, name)
    results = run / "results.json"
    if results.is_file():
        try:
            data = json.loads(results.read_text())
        except (OSError, ValueError):
            data = None
        if isinstance(data, dict) and isinstance(data.get("stalls"), dict):
            return {k: v for k, v in data["stalls"].items() if isinstance(v, dict) and isinstance(v.get("text"), str)}, "results.json"
    config, metrics = runs.read_run(run)
    return notes_of(metrics, config), "the records so far"


def stall_view(runs_dir: Path, name: str):
    """Why a loss stalls, in words measured from the run (or "no loss stalled")."""
    notes, source = stall_notes(runs_dir, name)
    if not notes:
        return dmc.Text(f"No loss stalled: every loss's train loss moved (from {source}; a stall is a change below 1 % "
                        "of its epoch-1 value, needs at least 2 epochs).", c="dimmed", size="sm", id="training-stalls-none")
    items = [html.Li([html.B(loss, style={"color": color_of(loss)}), ": ", note["text"].split(": ", 1)[-1] if note["text"].startswith(loss)
                      else note["text"]], **{"data-loss": loss}, className="stall-note") for loss, note in notes.items()]
    return html.Div([dmc.Text(f"Why these losses stall (measured from the run: {source}):", size="sm", fw=600),
                     html.Ul(items, id="training-stalls-list")])


def top3_lines(grid: dict, loss: str, i: int) -> list[tuple[str, float]] | None:
    """Image i's three most probable classes under ``loss`` with their probabilities, or None."""
    try:
        t = grid["top3"][loss]
        return [(CLASSES[int(c)], float(p)) for c, p in zip(t["classes"][i], t["probs"][i])]
    except (KeyError, IndexError, TypeError, ValueError):
        return None


def decision_data(runs_dir: Path, name: str, cls: int | None):
    """(class, {loss: DecisionCurve}) from the run's predictions.npz (``lossviz.train.decisions``);
    class None: the class the losses find hardest."""
    from lossviz.train.decisions import run_decisions

    curves = run_decisions(run_path(runs_dir, name), cls)
    return next(iter(curves.values())).cls, curves


def decision_figure(curves: dict, threshold: float, *, present: bool = False, narrow: bool = False) -> dict:
    """Left: against the threshold t on p(class), the share of the class's images caught (solid)
    and of the other images flagged (dotted), per loss, t marked; right: the trade-off itself
    (false alarms against caught, as t sweeps), each loss's point at t marked."""
    lk = figures.look(present)
    cls = next(iter(curves.values())).cls if curves else 0
    label = CLASSES[cls]
    layout = figures.panels_layout([f"flag “{label}” when p({label}) ≥ t", "what t trades: caught against false alarms"], "",
                                   present=present, narrow=narrow, height=400 if not present else 480)
    layout["hovermode"] = "closest"
    layout["xaxis"]["title"]["text"] = "threshold t"
    layout["xaxis2"]["title"]["text"] = "false alarms (share of other images flagged)"
    layout["yaxis"].update(range=[-0.02, 1.02], tickformat=".0%")
    layout["yaxis2"].update(range=[-0.02, 1.02], tickformat=".0%", title={"text": f"{label} images caught", "standoff": 2})
    layout["xaxis"]["range"] = [0, 1]
    layout["xaxis2"].update(range=[-0.02, 1.02], tickformat=".0%")
    traces = []
    for loss, c in curves.items():
        col = color_of(loss)
        t = np.asarray(c.thresholds)
        traces.append({"type": "scatter", "mode": "lines", "x": t.tolist(), "y": np.nan_to_num(c.recall).tolist(), "name": loss,
                       "legendgroup": loss, "line": {"color": col, "width": lk["width"]}, "meta": [loss, "recall"],
                       "hovertemplate": f"{loss}: t %{{x:.2f}} caught %{{y:.1%}}<extra></extra>"})
        traces.append({"type": "scatter", "mode": "lines", "x": t.tolist(), "y": np.nan_to_num(c.false_alarm).tolist(),
                       "name": f"{loss} false alarms", "legendgroup": loss, "showlegend": False, "meta": [loss, "false_alarm"],
                       "line": {"color": col, "width": lk["width"] * 0.8, "dash": "dot"},
                       "hovertemplate": f"{loss}: t %{{x:.2f}} false alarms %{{y:.1%}}<extra></extra>"})
        traces.append({"type": "scatter", "mode": "lines", "x": np.nan_to_num(c.false_alarm).tolist(), "y": np.nan_to_num(c.recall).tolist(),
                       "name": loss, "legendgroup": loss, "showlegend": False, "xaxis": "x2", "yaxis": "y2", "meta": [loss, "tradeoff"],
                       "line": {"color": col, "width": lk["width"] * 0.8}, "hoverinfo": "skip"})
        r, f = decision_at(c, threshold)
        traces.append({"type": "scatter", "mode": "markers", "x": [f], "y": [r], "name": loss, "legendgroup": loss, "showlegend": False,
                       "xaxis": "x2", "yaxis": "y2", "meta": [loss, "at"], "marker": {"color": col, "size": 13, "line": {"color": "white", "width": 1.5}},
                       "hovertemplate": f"{loss} at t = {threshold:.2f}: caught %{{y:.1%}}, false alarms %{{x:.1%}}<extra></extra>"})
    layout["shapes"] = [{"type": "line", "xref": "x", "yref": "y domain", "x0": threshold, "x1": threshold, "y0": 0, "y1": 1,
                         "line": {"color": "#333", "width": 1.5, "dash": "dash"}}]
    layout["annotations"].append({"text": "solid: caught · dotted: false alarms", "xref": "x domain", "yref": "y domain", "x": 0.98, "y": 0.98,
                                  "xanchor": "right", "yanchor": "top", "showarrow": False, "bgcolor": "rgba(255,255,255,0.8)",
                                  "font": {"size": lk["tick"] - 1}})
    return {"data": traces, "layout": layout}


def decision_at(curve, threshold: float) -> tuple[float, float]:
    """(caught, false alarms) of the rule p >= threshold: the curve's value at the largest grid
    threshold not above it (the grid is 0, 0.01, ..., 1)."""
    t = np.asarray(curve.thresholds)
    k = int(np.clip(np.searchsorted(t, threshold + 1e-12, side="right") - 1, 0, len(t) - 1))
    return float(np.nan_to_num(curve.recall[k])), float(np.nan_to_num(curve.false_alarm[k]))


def decision_readout(curves: dict, threshold: float):
    """A line per loss: at t, the share of the class's images caught and of the others flagged."""
    if not curves:
        return None
    label = CLASSES[next(iter(curves.values())).cls]
    rows = []
    for loss, c in curves.items():
        r, f = decision_at(c, threshold)
        rows.append(html.Tr([html.Td(loss, style={"color": color_of(loss), "fontWeight": 600}), html.Td(f"{r:.1%}"), html.Td(f"{f:.1%}")],
                            **{"data-loss": loss, "data-caught": f"{r:.6f}", "data-false": f"{f:.6f}"}))
    head = html.Tr([html.Th("loss"), html.Th(f"{label} caught"), html.Th("false alarms")])
    return html.Div([dmc.Text(f"At t = {threshold:.2f} (flag an image as {label} when its probability is at least t; the top-class rule "
                              "flags it only when it is the most probable):", size="sm"),
                     html.Table([html.Thead(head), html.Tbody(rows)], className="decision-table", id="training-decision-table")])
