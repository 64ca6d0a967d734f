"""The Training page's layout: the job bar, the runs and smoothing controls, the curves, the
confusion matrix, the prediction grid, the studies, the form and the export row."""

from __future__ import annotations

import time
from pathlib import Path

import dash_mantine_components as dmc
from dash import dcc, html

from lossviz.explorer import controls, state
from lossviz.explorer.pages.training.form import data_message, form_layout, wrap
from lossviz.data import CLASSES
from lossviz.explorer.pages.training.views import MAX_RUNS, SCALE_NOTE, chosen_runs, list_runs

PAGE, PATH, TITLE = "training", "/training", "Training"


def layout(query: dict, runs_dir: Path, data_root=None):
    hide = state.hidden(query)
    names, notes = chosen_runs(query.get("runs", None), runs_dir)
    if "runs" not in query:
        names = list_runs(runs_dir)[:1]
    smoothing, note = state.check_field(state.Number("smoothing", "smoothing", 0, 0.9, 0.05, 0.0), query.get("smoothing", "0"), 0.0, source="url")
    notes += [note] if note else []
    threshold, note = state.check_field(state.Number("t", "threshold", 0, 1, 0.01, 0.5), query.get("t", "0.5"), 0.5, source="url")
    notes += [note] if note else []
    cls = query.get("class")
    if cls is not None and not (isinstance(cls, str) and cls.isdigit() and int(cls) < len(CLASSES)):
        notes.append(f"class={str(cls)[:20]} is not a class index 0-{len(CLASSES) - 1}; using the hardest class")
        cls = None
    top3 = query.get("top3") == "1"
    want = {"loss": query.get("loss") if isinstance(query.get("loss"), str) else None,
            "epoch": query.get("epoch") if isinstance(query.get("epoch"), str) else None}
    return html.Div([
        *controls.page_header(PAGE, "Training: what the losses do on Fashion-MNIST", notes, hide),
        html.Div(id="training-job", className="job-bar"),
        html.Div(data_message(data_root), id="training-data-message", className="export-message", style={"overflowWrap": "anywhere"}),
        dmc.SimpleGrid([
            wrap("runs", dmc.MultiSelect(id="training-runs", label=f"runs (overlay up to {MAX_RUNS})", data=list_runs(runs_dir), value=names,
                                          clearable=True, maxValues=MAX_RUNS, searchable=True), hide),
            wrap("smoothing", html.Div([dmc.Text("smoothing (moving average)", size="sm", fw=500),
                                         dmc.Slider(id="training-smoothing", min=0, max=0.9, step=0.05, value=smoothing, updatemode="mouseup")]),
                  hide),
        ], cols={"base": 1, "md": 2}, spacing="lg", className="controls"),
        html.Div(id="training-config", className="readout"),
        html.Div(id="training-message"),
        dcc.Graph(id="training-curves", config={"responsive": True, "displaylogo": False}, className="graph"),
        dmc.Text(SCALE_NOTE, id="training-scale-note", size="sm", c="dimmed"),
        dmc.Grid([
            dmc.GridCol(wrap("confusion", [
                dmc.Group([dmc.Select(id="training-cm-loss", label="confusion matrix of", allowDeselect=False, w=180),
                           dmc.Select(id="training-cm-epoch", label="epoch", allowDeselect=False, w=140)]),
                dcc.Graph(id="training-confusion", config={"responsive": True, "displaylogo": False}, className="graph"),
            ], hide), span={"base": 12, "lg": 5}),
            dmc.GridCol(wrap("grid", [dmc.Group([dmc.Title("Test images and each loss's guess", order=4),
                                                  dmc.Switch(id="training-top3", label="top-3 classes with probabilities", checked=top3)],
                                                 justify="space-between"),
                                       html.Div(id="training-grid")], hide), span={"base": 12, "lg": 7}),
        ], gutter="lg"),
        wrap("decisions", [
            dmc.Title("Is the top class always the answer? A threshold per class", order=4),
            dmc.Text("Flag an image as the chosen class when its probability is at least t: a low t catches more of the class and "
                     "raises more false alarms. Where each loss's curve lies depends on how its probabilities are calibrated.",
                     size="sm", c="dimmed"),
            dmc.SimpleGrid([
                dmc.Select(id="training-dec-class", label="class", allowDeselect=False, value=cls,
                           data=[{"label": c, "value": str(i)} for i, c in enumerate(CLASSES)]),
                html.Div([dmc.Text(["threshold t: ", html.Span(f"{threshold:.2f}", id="training-dec-t-show")], size="sm", fw=500),
                          dmc.Slider(id="training-dec-threshold", min=0, max=1, step=0.01, value=threshold, updatemode="drag",
                                     **{"aria-label": "threshold"})]),
            ], cols={"base": 1, "md": 2}, spacing="lg", className="controls"),
            dcc.Graph(id="training-decisions", config={"responsive": True, "displaylogo": False}, className="graph"),
            html.Div(id="training-dec-readout"),
        ], hide),
        wrap("health", [
            dmc.Title("Gradient health and why a loss stalls", order=4),
            html.Div(dcc.Graph(id="training-health", config={"responsive": True, "displaylogo": False}, className="graph"),
                     id="training-health-wrap"),
            html.Div(id="training-stalls"),
        ], hide),
        wrap("studies", [dmc.Title("Studies of this run", order=4), html.Div(id="training-studies")], hide),
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
        dcc.Store(id="training-cfg", data={"page": PAGE, "nonce": time.time_ns(), "controls": []}),
    ])


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
