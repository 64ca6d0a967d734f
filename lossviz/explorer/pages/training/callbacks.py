"""The Training page's callbacks: the poll that redraws a run as its epochs land, the view in
the URL, the form's start and cancel, and "Export curves for notes"."""

from __future__ import annotations

import json
from pathlib import Path

import dash
from dash import ClientsideFunction, Input, Output, State, dcc, html

from lossviz import export, plot_mpl
from lossviz.explorer import controls, state
from lossviz.explorer.jobs import JobManager, JobRefused
from lossviz.explorer.pages.training.form import data_message, form_config
from lossviz.explorer.pages.training.layout import job_bar
from lossviz.explorer.pages.training.views import (chosen_runs, confusion_figure, curves_figure, describe, empty_figure, export_errors, list_runs,
                                                   prediction_grid, run_path, run_signature, study_views)
from lossviz.registry import losses
from lossviz.train.models import get_model
from lossviz.train import runs


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
            config, metrics = runs.read_run(run_path(runs_dir, names[0]))
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
        config, metrics = runs.read_run(run_path(runs_dir, names[0]))
        if not metrics:
            return dash.no_update, "nothing to export yet: the run has no finished epoch"
        by_loss = runs.curves_by_loss(metrics, config)
        fmt = fmt if fmt in export.FORMATS else "svg"
        with plot_mpl.style("light"):
            data_bytes = export.render(plot_mpl.training_figure(by_loss, title=export.run_title(config), same_as=runs.coinciding(by_loss)), fmt)
        return dcc.send_bytes(data_bytes, f"lossviz-training-{names[0]}.{fmt}"), ""


    app.callback(Output("training-download", "data"), Output("training-export-message", "children"), Input("training-export", "n_clicks"),
                 State("training-export-format", "value"), State("training-runs", "value"), prevent_initial_call=True)(
        controls.guarded(export_errors(export_curves), 2))
