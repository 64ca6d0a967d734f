"""Training page: compare run folders, and train a comparison live in a background process.

The page's view (runs overlaid, smoothing, the loss and epoch of the confusion matrix) is in the
URL; the form is built from the registries (losses and their parameters, models, activations)
and ``TrainConfig`` validates what it sends. A live job shows its progress at the top, and its
curves, confusion matrix and prediction grid fill in as epochs land.
"""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import dash
import dash_mantine_components as dmc
import numpy as np
from dash import ClientsideFunction, Input, Output, State, dcc, html

from lossviz import data, export, plot_mpl
from lossviz.data import CLASSES
from lossviz.explorer import controls, figures, state
from lossviz.explorer.jobs import JobManager, JobRefused
from lossviz.registry import activations, get_activation, get_loss, get_model, losses, models
from lossviz.style import color_of
from lossviz.train import runs
from lossviz.train.config import TARGET_DEFAULTS, TrainConfig

PAGE, PATH, TITLE = "training", "/training", "Training"
PANELS = (("train_loss", "train loss"), ("train_acc", "train accuracy"), ("test_acc", "test accuracy"))
DASHES = ("solid", "dash", "dot", "dashdot")
MAX_RUNS = 4  # runs overlaid at once
MAX_EPOCHS = 100  # from the explorer; the command line has no such limit
MAX_SEEDS = 10
HIDE_KEYS = ("runs", "smoothing", "confusion", "grid", "form", "export", "nav", "present")
RIGHT, WRONG = "#007A5E", "#D55E00"  # as the exported prediction grid (Okabe-Ito)


def list_runs(runs_dir: Path) -> list[str]:
    """Run folders (those with a config.json), newest first."""
    runs_dir = Path(runs_dir)
    if not runs_dir.is_dir():
        return []
    found = [p for p in runs_dir.iterdir() if p.is_dir() and (p / "config.json").is_file()]
    return [p.name for p in sorted(found, key=lambda p: p.stat().st_mtime, reverse=True)]


def _run_path(runs_dir: Path, name: str) -> Path:
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
    traces, waiting = [], []
    for r, name in enumerate(names):
        config, metrics = runs.read_run(_run_path(runs_dir, name))
        by_loss = runs.curves_by_loss(metrics, config)
        same = runs.coinciding(by_loss)
        if not metrics:
            waiting.append(name)
        for loss, per in by_loss.items():
            label = (f"{loss} · {name}" if len(names) > 1 else loss) + (f" (= {same[loss]})" if loss in same else "")
            dash_style = "dash" if loss in same else DASHES[r % len(DASHES)]
            for j, (key, _) in enumerate(PANELS):
                epochs, mean, std = (np.asarray(v, dtype=float) for v in per[key])
                if not len(epochs):
                    continue
                m = smooth(mean, smoothing) if smoothing else mean
                xa, ya = figures.axis_names(j)
                if std.any():
                    traces.append({"type": "scatter", "x": np.concatenate([epochs, epochs[::-1]]).tolist(),
                                   "y": np.concatenate([m + std, (m - std)[::-1]]).tolist(), "fill": "toself", "fillcolor": color_of(loss),
                                   "opacity": 0.2, "line": {"width": 0}, "hoverinfo": "skip", "name": f"{label} ± std over seeds",
                                   "legendgroup": label, "showlegend": j == 0, "xaxis": xa, "yaxis": ya, "meta": [name, loss, key, "band"]})
                traces.append({"type": "scatter", "x": epochs.tolist(), "y": m.tolist(), "name": label, "legendgroup": label,
                               "showlegend": j == 0, "mode": "lines+markers", "xaxis": xa, "yaxis": ya, "meta": [name, loss, key],
                               "line": {"color": color_of(loss), "dash": dash_style, "width": lk["width"]},
                               "marker": {"size": 9 if loss in same else 6, "symbol": "circle-open" if loss in same else "circle"}})
    if waiting:
        layout["annotations"].append({"text": f"{', '.join(waiting)}: waiting for the first epoch…", "xref": "paper", "yref": "paper",
                                      "x": 0.5, "y": 0.5, "showarrow": False, "font": {"size": lk["title"]}})
    return {"data": traces, "layout": layout}


def confusion_figure(runs_dir: Path, name: str, loss: str, epoch: int | None, *, present: bool = False) -> dict:
    """The test confusion matrix (true x predicted) of one loss at one epoch (default: the last)."""
    config, metrics = runs.read_run(_run_path(runs_dir, name))
    rows = [r.to_dict() for r in metrics if r.loss == loss and r.confusion]
    final = _run_path(runs_dir, name) / "confusion.json"
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
    config, metrics = runs.read_run(_run_path(runs_dir, name))
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


def prediction_grid(runs_dir: Path, name: str):
    """d2l's predict_ch3 grid as HTML: each test image, its true label, and each loss's guess
    coloured (and marked ✓/✗) by its own correctness. Written when a run finishes."""
    path = _run_path(runs_dir, name) / "predictions.json"
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
        cells.append(html.Div([html.Img(src=_png(img), alt=f"test image {i}: {CLASSES[label]}", className="pred-img"), *lines],
                              className="pred-cell"))
    return html.Div(cells, className="pred-grid", id="training-grid-cells")


STUDY_FIGURES = (("reliability", "Calibration: reliability diagrams (lossviz study calibration)"),
                 ("landscape_2d", "Loss landscape: 2-D slice (lossviz landscape)"),
                 ("landscape_1d", "Loss landscape: from initial to trained weights"),
                 ("landscape_3d", "Loss landscape: surface"),
                 ("noise", "Label noise: test accuracy against the noise rate (lossviz study noise)"))


def study_views(runs_dir: Path, name: str):
    """The studies of a run (calibration, landscapes, label noise), as their figures: the
    files `lossviz study` / `lossviz landscape` wrote into the run's figures/ folder."""
    folder = _run_path(runs_dir, name) / "figures"
    views = []
    for stem, caption in STUDY_FIGURES:
        path = folder / f"{stem}.png"
        if stem == "noise" and (Path(runs_dir) / "noise.json").is_file():
            # `lossviz explore --runs STUDY` on a noise study: its runs are the rates, its figure is the study's
            path = Path(runs_dir) / "figures" / "noise.png"
        if path.is_file() and path.stat().st_size < 8 * 2**20:
            src = "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode()
            views.append(html.Figure([html.Img(src=src, alt=caption, style={"maxWidth": "100%"}), html.Figcaption(caption)],
                                     id=f"training-study-{stem}"))
    if not views:
        return dmc.Text(f"No studies of this run yet: try `lossviz study calibration runs/{name}` or "
                        f"`lossviz landscape runs/{name}`.", c="dimmed", size="sm")
    return html.Div(views)


# --- the form ----------------------------------------------------------------------------------


def loss_param_fields() -> list[tuple[str, object]]:
    return [(n, p) for n in losses() for p in get_loss(n).params]


def elementwise() -> list[str]:
    return [a for a in activations() if get_activation(a).kind == "elementwise"]


def act_param_fields() -> list[tuple[str, object]]:
    return [(a, p) for a in elementwise() for p in get_activation(a).params]


def form_default(loss: str, p) -> float:
    """A loss parameter's form default: the trainer's default on probabilities (TARGET_DEFAULTS)."""
    return TARGET_DEFAULTS.get("probs", {}).get(loss, {}).get(p.name, p.default)


def _integer(v, what: str, lo: int, hi: int) -> int:
    x = state.check_number(v, what, lo, hi)
    if x != int(x):
        raise ValueError(f"{what} must be a whole number, got {v!r}")
    return int(x)


def form_config(form: dict) -> dict:
    """The form's values -> a validated config (plain data, as ``JobManager.start`` takes it).

    ``ValueError`` with one clear sentence for anything the trainer or the explorer refuses.
    """
    chosen, _ = (form.get("losses"), None)
    if not isinstance(chosen, list) or not all(isinstance(n, str) for n in chosen) or len(chosen) > len(losses()):
        raise ValueError("choose the losses from the list")
    chosen = list(dict.fromkeys(chosen))
    hidden_text = form.get("hidden")
    model = form.get("model")
    try:
        cfg = {
            "losses": chosen, "model": model if isinstance(model, str) else "",
            "activation": form.get("activation") if isinstance(form.get("activation"), str) else "",
            "epochs": _integer(form.get("epochs"), "epochs", 1, MAX_EPOCHS),
            "lr": state.check_number(form.get("lr"), "learning rate", 1e-6, 100),
            "batch_size": _integer(form.get("batch_size"), "batch size", 1, 60_000),
            "weight_decay": state.check_number(form.get("weight_decay") or 0, "weight decay", 0, 10),
            "seeds": _integer(form.get("seeds"), "seeds", 1, MAX_SEEDS),
            "seed": _integer(form.get("seed"), "seed", 0, 2**31 - 1),
            "regression_target": form.get("target") if form.get("target") in ("probs", "logits") else "probs",
            "loss_params": {}, "activation_params": {},
        }
        subset = form.get("subset")
        if subset not in (None, ""):
            cfg["train_subset"] = _integer(subset, "training images", 1, 60_000)
        params = form.get("params") if isinstance(form.get("params"), dict) else {}
        # A parameter the form does not send keeps the trainer's default (TrainConfig resolves it).
        for n, p in loss_param_fields():
            if n in chosen and params.get(f"{n}.{p.name}") is not None:
                lo, hi = p.slider_range
                cfg["loss_params"].setdefault(n, {})[p.name] = state.check_number(params.get(f"{n}.{p.name}"), f"{n} {p.name}", lo, hi)
        for a, p in act_param_fields():
            if a == cfg["activation"] and params.get(f"{a}.{p.name}") is not None:
                lo, hi = p.slider_range
                cfg["activation_params"][p.name] = state.check_number(params.get(f"{a}.{p.name}"), f"{a} {p.name}", lo, hi)
        spec = get_model(cfg["model"])
        if spec.hidden is not None and isinstance(hidden_text, str) and hidden_text.strip():
            from lossviz.train.config import int_list

            cfg["hidden"] = list(int_list(hidden_text[:100]))
        if spec.hidden is None:
            cfg["activation_params"] = {}
        return TrainConfig.from_dict(cfg).to_dict()
    except state.InputError as e:
        raise ValueError(str(e)) from None


def data_message(data_root) -> str:
    if data.locate(data_root) is not None:
        return ""
    looked = ", ".join(str(p) for p in data.candidate_roots(data_root))
    return f"Fashion-MNIST not found (looked in: {looked}); {data.HOW_TO_GET}. The rest of the explorer keeps working."


def _wrap(key: str, children, hide: set, **kw):
    return html.Div(children, id=f"training-wrap-{key}", style={"display": "none"} if key in hide else {}, **kw)


def form_layout(hide: set):
    model_data = [{"label": get_model(m).title, "value": m} for m in models()]
    param_inputs = []
    for n, p in loss_param_fields():
        lo, hi = p.slider_range
        param_inputs.append(html.Div(dmc.NumberInput(id={"type": "training-param", "key": f"{n}.{p.name}"}, label=f"{n} {p.name}",
                                                     description=p.description, value=form_default(n, p), min=lo, max=hi, step=p.ui_step),
                                     id={"type": "training-param-wrap", "key": f"{n}.{p.name}"}, **{"data-owner": n}))
    for a, p in act_param_fields():
        lo, hi = p.slider_range
        param_inputs.append(html.Div(dmc.NumberInput(id={"type": "training-param", "key": f"{a}.{p.name}"}, label=f"{a} {p.name}",
                                                     description=p.description, value=p.default, min=lo, max=hi, step=p.ui_step),
                                     id={"type": "training-param-wrap", "key": f"{a}.{p.name}"}, **{"data-owner": a}))
    return _wrap("form", dmc.Paper([
        dmc.Title("Train now", order=3),
        dmc.SimpleGrid([
            dmc.MultiSelect(id="training-form-losses", label="losses", data=losses(), value=["cross_entropy", "l2", "l1", "huber"],
                            clearable=True),
            dmc.Select(id="training-form-model", label="model", data=model_data, value="softmax", allowDeselect=False),
            dmc.TextInput(id="training-form-hidden", label="hidden widths (MLP)", placeholder="256 or 256,128", value=""),
            dmc.Select(id="training-form-activation", label="hidden activation (MLP)", data=elementwise(), value="relu", allowDeselect=False),
            *param_inputs,
            dmc.NumberInput(id="training-form-epochs", label="epochs", value=10, min=1, max=MAX_EPOCHS, step=1, allowDecimal=False),
            dmc.NumberInput(id="training-form-lr", label="learning rate", value=0.1, min=1e-6, max=100, step=0.05, decimalScale=6),
            dmc.NumberInput(id="training-form-batch", label="batch size", value=256, min=1, max=60000, step=1, allowDecimal=False),
            dmc.NumberInput(id="training-form-decay", label="weight decay λ", value=0, min=0, max=10, step=0.0001, decimalScale=6),
            dmc.NumberInput(id="training-form-seeds", label="seeds (mean ± std bands)", value=1, min=1, max=MAX_SEEDS, step=1, allowDecimal=False),
            dmc.NumberInput(id="training-form-seed", label="first seed", value=0, min=0, step=1, allowDecimal=False),
            dmc.NumberInput(id="training-form-subset", label="training images (empty: all 60,000)", min=1, max=60000, step=1, allowDecimal=False),
            html.Div([dmc.Text("regression losses compare the one-hot target with", size="sm", fw=500),
                      dmc.SegmentedControl(id="training-form-target", data=[{"label": "probabilities", "value": "probs"},
                                                                           {"label": "logits", "value": "logits"}], value="probs")]),
        ], cols={"base": 1, "sm": 2, "lg": 4}, spacing="md", verticalSpacing="sm"),
        dmc.Group([dmc.Button("Start training", id="training-start", n_clicks=0),
                   dmc.Text(id="training-form-message", c="orange.8", size="sm")], mt="md"),
    ], withBorder=True, p="md", radius="md", mt="lg"), hide)


def layout(query: dict, runs_dir: Path, data_root=None):
    hide = state.hidden(query)
    names, notes = chosen_runs(query.get("runs", None), runs_dir)
    if "runs" not in query:
        names = list_runs(runs_dir)[:1]
    smoothing, note = state.check_field(state.Number("smoothing", "smoothing", 0, 0.9, 0.05, 0.0), query.get("smoothing", "0"), 0.0, source="url")
    notes += [note] if note else []
    want = {"loss": query.get("loss") if isinstance(query.get("loss"), str) else None,
            "epoch": query.get("epoch") if isinstance(query.get("epoch"), str) else None}
    return html.Div([
        *controls.page_header(PAGE, "Training: what the losses do on Fashion-MNIST", notes, hide),
        html.Div(id="training-job", className="job-bar"),
        html.Div(data_message(data_root), id="training-data-message", className="export-message"),
        dmc.SimpleGrid([
            _wrap("runs", dmc.MultiSelect(id="training-runs", label=f"runs (overlay up to {MAX_RUNS})", data=list_runs(runs_dir), value=names,
                                          clearable=True, maxValues=MAX_RUNS, searchable=True), hide),
            _wrap("smoothing", html.Div([dmc.Text("smoothing (moving average)", size="sm", fw=500),
                                         dmc.Slider(id="training-smoothing", min=0, max=0.9, step=0.05, value=smoothing, updatemode="mouseup")]),
                  hide),
        ], cols={"base": 1, "md": 2}, spacing="lg", className="controls"),
        html.Div(id="training-config", className="readout"),
        html.Div(id="training-message"),
        dcc.Graph(id="training-curves", config={"responsive": True, "displaylogo": False}, className="graph"),
        dmc.Grid([
            dmc.GridCol(_wrap("confusion", [
                dmc.Group([dmc.Select(id="training-cm-loss", label="confusion matrix of", allowDeselect=False, w=180),
                           dmc.Select(id="training-cm-epoch", label="epoch", allowDeselect=False, w=140)]),
                dcc.Graph(id="training-confusion", config={"responsive": True, "displaylogo": False}, className="graph"),
            ], hide), span={"base": 12, "lg": 5}),
            dmc.GridCol(_wrap("grid", [dmc.Title("Test images and each loss's guess", order=4),
                                       html.Div(id="training-grid")], hide), span={"base": 12, "lg": 7}),
        ], gutter="lg"),
        _wrap("studies", [dmc.Title("Studies of this run", order=4), html.Div(id="training-studies")], hide),
        form_layout(hide),
        html.Div(dmc.Group([
            dmc.Button("Export curves for notes", id="training-export", n_clicks=0),
            dmc.SegmentedControl(id="training-export-format", data=["svg", "pdf", "png"], value="svg"),
            dcc.Download(id="training-download"),
            html.Span(id="training-export-message", className="export-message"),
        ]), id="training-export-row", className="export-row", style={"display": "none"} if "export" in hide else {}),
        dcc.Interval(id="training-poll", interval=1000),
        dcc.Store(id="training-drawn"),
        dcc.Store(id="training-want", data=want),
        dcc.Store(id="training-cm-seen"),
        dcc.Store(id="training-url"),
        dcc.Store(id="training-cfg", data={"page": PAGE, "nonce": __import__("time").time_ns(), "controls": []}),
    ])


def run_signature(runs_dir: Path, name: str) -> list:
    """What changes when a run folder gains an epoch or its final files."""
    run = Path(runs_dir) / name
    out = [name]
    studies = [run / "figures" / f"{stem}.png" for stem, _ in STUDY_FIGURES]
    for f in (run / "metrics.jsonl", run / "predictions.json", *studies):
        try:
            st = f.stat()
            out += [st.st_mtime_ns, st.st_size]
        except OSError:
            out += [None, None]
    return out


def job_bar(s: dict):
    """The live job at the top of the page: state, progress, cancel."""
    if s["state"] == "idle":
        return None
    running = s["state"] == "running"
    pct = 100 if s["state"] == "finished" else (int(100 * s["done"] / s["total"]) if s["total"] else 0)
    if running and not s["total"]:
        text = f"{s['run']}: starting (loading torch and the data)…"
    else:
        text = f"{s['run']}: {s['state']} {pct}%" + (f" — {s['message']}" if s["message"] else "")
    color = {"running": "blue", "finished": "teal", "failed": "red", "cancelled": "gray"}.get(s["state"], "blue")
    return dmc.Paper(dmc.Group([
        dmc.Text(text, id="training-status", fw=600, style={"flex": "1 1 16em"}),
        dmc.Progress(value=pct if s["total"] or not running else 100, striped=running, animated=running, color=color, size="xl",
                     id="training-progress", style={"flex": "2 1 12em"}, **{"data-value": str(pct)}),
        dmc.Button("Cancel", id="training-cancel", color="red", variant="light", n_clicks=0, disabled=not running),
    ], wrap="wrap"), withBorder=True, p="sm", radius="md", mb="sm")


def register(app, runs_dir: Path, jobs: JobManager, data_root=None):
    runs_dir = Path(runs_dir)

    @app.callback(Output("training-runs", "data"), Input("training-poll", "n_intervals"), State("training-runs", "data"))
    def refresh(_, current):
        names = list_runs(runs_dir)
        return dash.no_update if names == current else names

    @app.callback(Output("training-curves", "figure"), Output("training-config", "children"), Output("training-message", "children"),
                  Output("training-cm-loss", "data"), Output("training-cm-epoch", "data"), Output("training-grid", "children"),
                  Output("training-drawn", "data"), Output("training-studies", "children"),
                  Input("training-runs", "value"), Input("training-smoothing", "value"), Input("training-poll", "n_intervals"),
                  Input("present", "checked"), Input("narrow", "data"), State("training-drawn", "data"))
    def draw(names, smoothing, _, present, narrow, drawn):
        names, notes = chosen_runs(names if isinstance(names, list) else [], runs_dir)
        present = present is True
        w = state.number(smoothing, 0.0, 0.0, 0.9)
        # The poll fires every second: redraw (and resend figures) only when a run folder changed.
        narrow = narrow is True
        signature = [w, present, narrow, *[run_signature(runs_dir, n) for n in names]]
        if signature == drawn:
            return (dash.no_update,) * 8
        if not names:
            return (empty_figure("no run selected: start one below or with `lossviz compare`"), "", controls.message(notes), [], [],
                    None, signature, None)
        try:
            fig = curves_figure(runs_dir, names, w, present=present, narrow=narrow)
            config, metrics = runs.read_run(_run_path(runs_dir, names[0]))
            grid = prediction_grid(runs_dir, names[0])
            studies = study_views(runs_dir, names[0])
        except (ValueError, OSError, json.JSONDecodeError, KeyError, IndexError) as e:
            return (dash.no_update, dash.no_update, controls.message([*notes, str(e)]), dash.no_update, dash.no_update, dash.no_update,
                    dash.no_update, dash.no_update)
        epochs = sorted({r.epoch for r in metrics})
        return (fig, [html.Div(describe(runs_dir, n)) for n in names], controls.message(notes), list(config.losses),
                [{"label": f"epoch {e}", "value": str(e)} for e in epochs], grid, signature, studies)

    @app.callback(Output("training-cm-loss", "value"), Input("training-cm-loss", "data"), State("training-cm-loss", "value"),
                  State("training-want", "data"))
    def default_loss(options, current, want):
        options = [o for o in options if isinstance(o, str)] if isinstance(options, list) else []
        wanted = want.get("loss") if isinstance(want, dict) else None
        if current in options:
            return current
        return wanted if wanted in options else (options[0] if options else None)

    @app.callback(Output("training-cm-epoch", "value"), Output("training-cm-seen", "data"), Input("training-cm-epoch", "data"),
                  State("training-cm-epoch", "value"), State("training-want", "data"), State("training-cm-seen", "data"))
    def default_epoch(options, current, want, seen):
        values = [o.get("value") for o in options if isinstance(o, dict)] if isinstance(options, list) else []
        seen = seen if isinstance(seen, list) else []
        wanted = want.get("epoch") if isinstance(want, dict) else None
        if current is None and wanted in values:
            return wanted, values
        # A live run: an epoch landed while the newest one was shown: show the new newest.
        if current in values and not (len(values) > len(seen) and seen and current == seen[-1]):
            return current, values
        return (values[-1] if values else None), values

    @app.callback(Output("training-confusion", "figure"), Input("training-runs", "value"), Input("training-cm-loss", "value"),
                  Input("training-cm-epoch", "value"), Input("training-drawn", "data"), State("present", "checked"))
    def confusion(names, loss, epoch, _, present):
        names, _ = chosen_runs(names if isinstance(names, list) else [], runs_dir)
        if not names or not isinstance(loss, str):
            return empty_figure("no confusion matrix yet")
        e = state.number(epoch, None, 1, 10_000) if epoch is not None else None
        try:
            return confusion_figure(runs_dir, names[0], loss, int(e) if e is not None else None, present=present is True)
        except (ValueError, OSError, json.JSONDecodeError, KeyError):
            return empty_figure(f"no confusion matrix for {loss[:40]} yet")

    @app.callback(Output("training-url", "data"), Input("training-runs", "value"), Input("training-smoothing", "value"),
                  Input("training-cm-loss", "value"), Input("training-cm-epoch", "value"), Input("present", "checked"),
                  State("hidden-controls", "data"))
    def url(names, smoothing, loss, epoch, present, hide):
        names, _ = chosen_runs(names if isinstance(names, list) else [], runs_dir)
        values = {"runs": names, "smoothing": state.fmt_number(state.number(smoothing, 0.0, 0.0, 0.9)),
                  "loss": loss if isinstance(loss, str) and loss in losses() else None,
                  "epoch": epoch if isinstance(epoch, str) and epoch.isdigit() else None, "present": "1" if present is True else "0"}
        hide = [h for h in (hide or []) if isinstance(h, str)][: state.MAX_LIST] if isinstance(hide, list) else []
        return {"search": state.to_query(values, hide=sorted(hide) or None)}

    app.clientside_callback(ClientsideFunction("lossviz", "url"), Output("training-cfg", "data"), Input("training-url", "data"),
                            State("training-cfg", "data"), prevent_initial_call=True)

    @app.callback(Output({"type": "training-param-wrap", "key": dash.ALL}, "style"), Input("training-form-losses", "value"),
                  Input("training-form-model", "value"), Input("training-form-activation", "value"),
                  State({"type": "training-param-wrap", "key": dash.ALL}, "id"))
    def param_visibility(chosen, model, activation, ids):
        chosen = {n for n in chosen if isinstance(n, str)} if isinstance(chosen, list) else set()
        try:
            mlp = get_model(model).hidden is not None
        except ValueError:
            mlp = False
        # One style per output (the browser's list of parameter boxes), whatever the state says.
        owners = [str(o["id"].get("key", "")).split(".")[0] if isinstance(o.get("id"), dict) else "" for o in dash.ctx.outputs_list]
        return [{} if (o in chosen or (mlp and o == activation)) else {"display": "none"} for o in owners]

    @app.callback(Output("training-form-message", "children"), Output("training-runs", "value", allow_duplicate=True),
                  Output("training-poll", "n_intervals", allow_duplicate=True),
                  Input("training-start", "n_clicks"), State("training-form-losses", "value"), State("training-form-model", "value"),
                  State("training-form-hidden", "value"), State("training-form-activation", "value"), State("training-form-epochs", "value"),
                  State("training-form-lr", "value"), State("training-form-batch", "value"), State("training-form-decay", "value"),
                  State("training-form-seeds", "value"), State("training-form-seed", "value"), State("training-form-subset", "value"),
                  State("training-form-target", "value"), State({"type": "training-param", "key": dash.ALL}, "value"),
                  State({"type": "training-param", "key": dash.ALL}, "id"), prevent_initial_call=True)
    def start(n, chosen, model, hidden, activation, epochs, lr, batch, decay, seeds, seed, subset, target, param_values, param_ids):
        if not n:
            return dash.no_update, dash.no_update, dash.no_update
        params = {}
        if isinstance(param_values, list) and isinstance(param_ids, list):
            params = {i["key"]: v for i, v in zip(param_ids[:200], param_values) if isinstance(i, dict) and isinstance(i.get("key"), str)}
        form = {"losses": chosen, "model": model, "hidden": hidden, "activation": activation, "epochs": epochs, "lr": lr,
                "batch_size": batch, "weight_decay": decay, "seeds": seeds, "seed": seed, "subset": subset, "target": target, "params": params}
        try:
            config = form_config(form)
        except ValueError as e:
            return f"not started: {e}", dash.no_update, dash.no_update
        missing = data_message(data_root)
        if missing:
            return f"not started: {missing}", dash.no_update, dash.no_update
        try:
            out = jobs.start(config)
        except (JobRefused, ValueError) as e:
            return f"not started: {e}", dash.no_update, dash.no_update
        # The new run is shown at once (its curves fill in as epochs land; no stale views).
        return f"started {out.name}", [out.name], 0

    @app.callback(Output("training-form-message", "children", allow_duplicate=True), Input("training-cancel", "n_clicks"),
                  prevent_initial_call=True)
    def cancel(n):
        if not n:
            return dash.no_update
        return "cancelling…" if jobs.cancel() else "no job is running"

    @app.callback(Output("training-job", "children"), Output("training-poll", "interval"), Input("training-poll", "n_intervals"),
                  State("training-job", "children"))
    def poll(_, shown):
        s = jobs.status()
        bar = job_bar(s)
        return bar, 500 if s["state"] == "running" else 1000

    def export_curves(n, fmt, names):
        if not n:
            return dash.no_update, dash.no_update
        names, _ = chosen_runs(names if isinstance(names, list) else [], runs_dir)
        if not names:
            return dash.no_update, "nothing to export: choose a run"
        config, metrics = runs.read_run(_run_path(runs_dir, names[0]))
        if not metrics:
            return dash.no_update, "nothing to export yet: the run has no finished epoch"
        by_loss = runs.curves_by_loss(metrics, config)
        fmt = fmt if fmt in export.FORMATS else "svg"
        with plot_mpl.style("light"):
            data_bytes = export.render(plot_mpl.training_figure(by_loss, title=runs.run_title(config), same_as=runs.coinciding(by_loss)), fmt)
        return dcc.send_bytes(data_bytes, f"lossviz-training-{names[0]}.{fmt}"), ""


    app.callback(Output("training-download", "data"), Output("training-export-message", "children"), Input("training-export", "n_clicks"),
                 State("training-export-format", "value"), State("training-runs", "value"), prevent_initial_call=True)(
        controls.guarded(export_curves, 2))
