"""Training page: compare run folders, and train a comparison live in a background process."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import dash
import numpy as np
import plotly.graph_objects as go
from dash import Input, Output, State, dcc, html
from plotly.subplots import make_subplots

from lossviz.explorer import state
from lossviz.explorer.jobs import JobManager, JobRefused
from lossviz import data
from lossviz.train import runs
from lossviz.data import CLASSES
from lossviz.registry import activations, get_activation, get_model, losses, models
from lossviz.style import color_of
from lossviz.train.config import TrainConfig

PAGE, PATH, TITLE = "training", "/training", "Training"
PANELS = (("train_loss", "train loss"), ("train_acc", "train accuracy"), ("test_acc", "test accuracy"))
DASHES = ("solid", "dash", "dot", "dashdot")


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
        raise ValueError(f"unknown run {name!r}")
    return Path(runs_dir) / name


def smooth(values: np.ndarray, weight: float) -> np.ndarray:
    """Exponential moving average (TensorBoard's smoothing), weight in [0, 1)."""
    out = np.empty_like(values)
    acc = values[0]
    for i, v in enumerate(values):
        acc = weight * acc + (1 - weight) * v
        out[i] = acc
    return out


def curves_figure(runs_dir: Path, names: list[str], smoothing: float = 0.0) -> go.Figure:
    """Per loss and run: train loss / train acc / test acc per epoch, mean +- std over seeds."""
    fig = make_subplots(rows=1, cols=3, subplot_titles=[t for _, t in PANELS], horizontal_spacing=0.06)
    for r, name in enumerate(names):
        config, metrics = runs.read_run(_run_path(runs_dir, name))
        for loss, per in runs.curves_by_loss(metrics, config).items():
            for j, (key, _) in enumerate(PANELS):
                epochs, mean, std = (np.asarray(v, dtype=float) for v in per[key])
                if not len(epochs):
                    continue
                m = smooth(mean, smoothing) if smoothing else mean
                color = color_of(loss)
                label = f"{loss} · {name}" if len(names) > 1 else loss
                if std.any():
                    fig.add_trace(go.Scatter(x=np.concatenate([epochs, epochs[::-1]]), y=np.concatenate([m + std, (m - std)[::-1]]),
                                             fill="toself", fillcolor=color, opacity=0.2, line=dict(width=0), hoverinfo="skip",
                                             showlegend=False, legendgroup=label, meta=[name, loss, key, "band"]), row=1, col=j + 1)
                fig.add_trace(go.Scatter(x=epochs, y=m, name=label, legendgroup=label, showlegend=j == 0, mode="lines+markers",
                                         line=dict(color=color, dash=DASHES[r % len(DASHES)]), meta=[name, loss, key]), row=1, col=j + 1)
    fig.update_layout(template="plotly_white", margin=dict(l=50, r=20, t=60, b=45), hovermode="x unified",
                      legend=dict(orientation="h", yanchor="bottom", y=1.08, x=0))
    fig.update_xaxes(title_text="epoch")
    return fig


def confusion_figure(runs_dir: Path, name: str, loss: str, epoch: int | None) -> go.Figure:
    """The test confusion matrix (true x predicted) of one loss at one epoch (default: the last)."""
    config, metrics = runs.read_run(_run_path(runs_dir, name))
    rows = [r.to_dict() for r in metrics if r.loss == loss and r.confusion]
    final = _run_path(runs_dir, name) / "confusion.json"
    if not rows and final.is_file():  # older runs keep only the final matrices
        last = max((r.to_dict() for r in metrics if r.loss == loss), key=lambda r: (r["seed"], r["epoch"]), default=None)
        matrix = json.loads(final.read_text()).get(loss)
        rows = [{**last, "confusion": matrix}] if last and matrix else []
    if not rows:
        raise ValueError(f"no confusion matrix for {loss} in {name}")
    if epoch is not None:
        rows = [r for r in rows if r["epoch"] == int(epoch)] or rows
    row = rows[-1]
    z = np.asarray(row["confusion"])
    fig = go.Figure(go.Heatmap(z=z, x=list(CLASSES), y=list(CLASSES), colorscale="Blues", meta=[name, loss, row["epoch"]],
                               hovertemplate="true %{y}<br>predicted %{x}<br>%{z}<extra></extra>"))
    fig.update_layout(title=f"{loss}, epoch {row['epoch']} (seed {row['seed']}): test accuracy {np.trace(z) / z.sum():.4f}",
                      xaxis_title="predicted", yaxis_title="true", yaxis_autorange="reversed", template="plotly_white",
                      margin=dict(l=100, r=20, t=60, b=100))
    return fig


def describe(runs_dir: Path, name: str) -> str:
    config, metrics = runs.read_run(_run_path(runs_dir, name))
    done = max((r.epoch for r in metrics), default=0)
    return (f"{name}: {get_model(config.model).title}" + (f" ({'-'.join(map(str, config.hidden))} {config.activation})" if config.hidden else "")
            + f", losses {', '.join(config.losses)}, lr {config.lr:g}, batch {config.batch_size}, {config.seeds} seed(s), "
            f"epochs {done}/{config.epochs}, regression target {config.regression_target}"
            + "".join(f", {loss} " + ", ".join(f"{k} {v:g}" for k, v in p.items()) for loss, p in config.loss_params.items()))


def form_config(chosen, model, activation, epochs, lr, batch_size, seed, subset) -> TrainConfig:
    """The form's values as a validated TrainConfig (ValueError with a clear sentence otherwise)."""
    def integer(v, what):
        if v is None or isinstance(v, bool) or float(v) != int(float(v)):
            raise ValueError(f"{what} must be a whole number")
        return int(float(v))

    try:
        cfg = TrainConfig(losses=tuple(chosen or ()), model=model, activation=activation or "relu",
                          epochs=integer(epochs, "epochs"), lr=state.check_number(lr, "learning rate", 1e-6, 100),
                          batch_size=integer(batch_size, "batch size"), seed=integer(seed, "seed"),
                          train_subset=integer(subset, "training subset") if subset not in (None, "") else None)
    except (TypeError, ValueError) as e:
        raise ValueError(str(e)) from None
    if cfg.epochs > 100:
        raise ValueError("epochs must be at most 100 from the explorer")
    return cfg.validate()


def data_message(data_root) -> str:
    if data.locate(data_root) is not None:
        return ""
    looked = ", ".join(str(p) for p in data.candidate_roots(data_root))
    return f"Fashion-MNIST not found (looked in: {looked}); {data.HOW_TO_GET}. The rest of the explorer keeps working."


def layout(query: dict, runs_dir: Path, data_root=None):
    names = list_runs(runs_dir)
    chosen = [n for n in (query.get("runs") or "").split(",") if n in names] or names[:1]
    elementwise = [a for a in activations() if get_activation(a).kind == "elementwise"]
    return html.Div([
        html.H2("Training: what the losses do on Fashion-MNIST"),
        html.Div([
            html.Div([html.Label("runs (overlay several)", className="control-label"),
                      dcc.Dropdown(id="training-runs", options=names, value=chosen, multi=True)], className="control"),
            html.Div([html.Label("smoothing", className="control-label"),
                      dcc.Slider(id="training-smoothing", min=0, max=0.9, step=0.05, value=state.number(query.get("smoothing"), 0, 0, 0.9), marks=None)],
                     className="control"),
        ], className="controls"),
        html.Pre(id="training-config", className="loss-readout"),
        html.Div(id="training-message", className="message"),
        dcc.Graph(id="training-curves"),
        html.Div([
            html.Div([html.Label("confusion matrix of", className="control-label"), dcc.Dropdown(id="training-cm-loss", clearable=False)], className="control"),
            html.Div([html.Label("epoch", className="control-label"), dcc.Dropdown(id="training-cm-epoch", clearable=False)], className="control"),
        ], className="controls"),
        html.Div([dcc.Graph(id="training-confusion", style={"flex": "1"}), html.Img(id="training-grid", style={"maxWidth": "50%"})],
                 style={"display": "flex", "gap": "1em"}),
        html.H3("Train now"),
        html.Div(data_message(data_root), id="training-data-message", className="message"),
        html.Div([
            html.Div([html.Label("losses", className="control-label"),
                      dcc.Checklist(id="training-form-losses", options=losses(), value=["cross_entropy", "l2", "l1", "huber"], inline=True)], className="control"),
            html.Div([html.Label("model", className="control-label"), dcc.Dropdown(id="training-form-model", options=[{"label": get_model(m).title, "value": m} for m in models()], value="softmax", clearable=False)], className="control"),
            html.Div([html.Label("MLP activation", className="control-label"), dcc.Dropdown(id="training-form-activation", options=elementwise, value="relu", clearable=False)], className="control"),
            html.Div([html.Label("epochs", className="control-label"), dcc.Input(id="training-form-epochs", type="number", value=10, min=1, max=100, step=1)], className="control"),
            html.Div([html.Label("learning rate", className="control-label"), dcc.Input(id="training-form-lr", type="number", value=0.1, min=0, step="any")], className="control"),
            html.Div([html.Label("batch size", className="control-label"), dcc.Input(id="training-form-batch", type="number", value=256, min=1, step=1)], className="control"),
            html.Div([html.Label("seed", className="control-label"), dcc.Input(id="training-form-seed", type="number", value=0, min=0, step=1)], className="control"),
            html.Div([html.Label("training images (empty: all 60,000)", className="control-label"), dcc.Input(id="training-form-subset", type="number", min=1, step=1)], className="control"),
        ], className="controls"),
        html.Div([html.Button("Start training", id="training-start", n_clicks=0), html.Button("Cancel", id="training-cancel", n_clicks=0),
                  html.Progress(id="training-progress", value="0", max="100", style={"width": "20em"}),
                  html.Span(id="training-status")], className="export-row"),
        dcc.Interval(id="training-poll", interval=1000),
        dcc.Store(id="training-drawn"),
    ])


def run_signature(runs_dir: Path, name: str) -> list:
    """What changes when a run folder gains an epoch or its final figures."""
    run = Path(runs_dir) / name
    out = [name]
    for f in (run / "metrics.jsonl", run / "figures" / "predictions.png"):
        try:
            st = f.stat()
            out += [st.st_mtime_ns, st.st_size]
        except OSError:
            out += [None, None]
    return out


def grid_image(runs_dir: Path, name: str) -> str:
    path = _run_path(runs_dir, name) / "figures" / "predictions.png"
    if not path.is_file():
        return ""
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode()


def register(app, runs_dir: Path, jobs: JobManager, data_root=None):
    runs_dir = Path(runs_dir)

    @app.callback(Output("training-runs", "options"), Input("training-poll", "n_intervals"), State("training-runs", "options"))
    def refresh(_, current):
        names = list_runs(runs_dir)
        return dash.no_update if names == current else names

    @app.callback(Output("training-curves", "figure"), Output("training-config", "children"), Output("training-message", "children"),
                  Output("training-cm-loss", "options"), Output("training-cm-epoch", "options"), Output("training-grid", "src"),
                  Output("training-drawn", "data"),
                  Input("training-runs", "value"), Input("training-smoothing", "value"), Input("training-poll", "n_intervals"),
                  State("training-drawn", "data"))
    def draw(names, smoothing, _, drawn):
        names = [n for n in (names or []) if isinstance(n, str)]
        # The poll fires every second: redraw (and resend figures) only when a run folder changed.
        signature = [smoothing, *[run_signature(runs_dir, n) for n in names]]
        if signature == drawn:
            return (dash.no_update,) * 7
        if not names:
            return curves_figure(runs_dir, []), "", "no run selected: start one below or with `lossviz compare`", [], [], "", signature
        try:
            w = state.check_number(smoothing if smoothing is not None else 0, "smoothing", 0, 0.9)
            fig = curves_figure(runs_dir, names, w)
            config, metrics = runs.read_run(_run_path(runs_dir, names[0]))
        except (ValueError, OSError, json.JSONDecodeError) as e:
            return dash.no_update, dash.no_update, str(e), dash.no_update, dash.no_update, dash.no_update, dash.no_update
        epochs = sorted({r.epoch for r in metrics})
        return (fig, "\n".join(describe(runs_dir, n) for n in names), "", list(config.losses),
                [{"label": f"epoch {e}", "value": e} for e in epochs], grid_image(runs_dir, names[0]), signature)

    @app.callback(Output("training-cm-loss", "value"), Input("training-cm-loss", "options"), State("training-cm-loss", "value"))
    def default_loss(options, current):
        return current if current in (options or []) else ((options or [None])[0])

    @app.callback(Output("training-cm-epoch", "value"), Input("training-cm-epoch", "options"), State("training-cm-epoch", "value"))
    def default_epoch(options, current):
        values = [o["value"] for o in options or []]
        return current if current in values else (values[-1] if values else None)

    @app.callback(Output("training-confusion", "figure"), Input("training-runs", "value"), Input("training-cm-loss", "value"), Input("training-cm-epoch", "value"))
    def confusion(names, loss, epoch):
        if not names or not loss:
            return go.Figure()
        try:
            return confusion_figure(runs_dir, names[0], loss, epoch)
        except (ValueError, OSError):
            return dash.no_update

    @app.callback(Output("training-status", "children", allow_duplicate=True), Output("training-runs", "value", allow_duplicate=True),
                  Input("training-start", "n_clicks"), State("training-form-losses", "value"), State("training-form-model", "value"),
                  State("training-form-activation", "value"), State("training-form-epochs", "value"), State("training-form-lr", "value"),
                  State("training-form-batch", "value"), State("training-form-seed", "value"), State("training-form-subset", "value"),
                  prevent_initial_call=True)
    def start(n, *form):
        if not n:
            return dash.no_update, dash.no_update
        try:
            config = form_config(*form)
        except ValueError as e:
            return f"not started: {e}", dash.no_update
        missing = data_message(data_root)
        if missing:
            return f"not started: {missing}", dash.no_update
        try:
            out = jobs.start(config)
        except JobRefused as e:
            return f"not started: {e}", dash.no_update
        return f"started {out.name}", [out.name]

    @app.callback(Output("training-status", "children", allow_duplicate=True), Input("training-cancel", "n_clicks"), prevent_initial_call=True)
    def cancel(n):
        return "cancelling..." if n and jobs.cancel() else "no job is running"

    @app.callback(Output("training-progress", "value"), Output("training-status", "children"), Input("training-poll", "n_intervals"))
    def poll(_):
        s = jobs.status()
        if s["state"] == "idle":
            return "0", dash.no_update
        pct = int(100 * s["done"] / s["total"]) if s["total"] else 0
        if s["state"] == "finished":
            pct = 100
        text = f"{s['run']}: {s['state']} {pct}%" + (f" — {s['message']}" if s["message"] else "")
        return str(pct), text
