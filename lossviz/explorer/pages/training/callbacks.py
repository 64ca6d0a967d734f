"""The Training page's callbacks: the poll that redraws a run as its epochs land, the view in
the URL, the form's start and cancel, and "Export curves for notes"."""

from __future__ import annotations

import functools
import json
from pathlib import Path

import dash
import dash_mantine_components as dmc
from dash import ClientsideFunction, Input, Output, State, dcc, html

from lossviz import export, plot_mpl
from lossviz.explorer import controls, state
from lossviz.explorer.jobs import JobManager, JobRefused
from lossviz.explorer.pages.training.form import data_message, form_config
from lossviz.explorer.pages.training.layout import job_bar
from lossviz.explorer.pages.training.views import (chosen_runs, confusion_figure, curves_figure, decision_data, decision_figure,
                                                   decision_readout, describe, empty_figure, export_errors, health_figure, list_runs,
                                                   prediction_grid, run_path, run_signature, stall_view, study_views)
from lossviz.registry import losses
from lossviz.train.models import get_model
from lossviz.train import runs


def visitor_id(value) -> str | None:
    """The page's random visitor id (form.py's store), used only to count one job per visitor."""
    return value if isinstance(value, str) and 8 <= len(value) <= 64 else None


def register(app, runs_dir: Path, jobs: JobManager, data_root=None):
    runs_dir = Path(runs_dir)

    @app.callback(Output("training-runs", "data"), Input("training-poll", "n_intervals"), State("training-runs", "data"))
    def refresh(_, current):
        names = list_runs(runs_dir)
        return dash.no_update if names == current else names

    @app.callback(Output("training-curves", "figure"), Output("training-config", "children"), Output("training-message", "children"),
                  Output("training-cm-loss", "data"), Output("training-cm-epoch", "data"), Output("training-grid", "children"),
                  Output("training-drawn", "data"), Output("training-studies", "children"),
                  Output("training-health", "figure"), Output("training-health-wrap", "style"), Output("training-stalls", "children"),
                  Input("training-runs", "value"), Input("training-smoothing", "value"), Input("training-poll", "n_intervals"),
                  Input("present", "checked"), Input("narrow", "data"), Input("training-top3", "checked"), State("training-drawn", "data"))
    def draw(names, smoothing, _, present, narrow, top3, drawn):
        names, notes = chosen_runs(names if isinstance(names, list) else [], runs_dir)
        present = present is True
        w = state.number(smoothing, 0.0, 0.0, 0.9)
        # The poll fires every second: redraw (and resend figures) only when a run folder changed.
        narrow = narrow is True
        top3 = top3 is True
        signature = [w, present, narrow, top3, *[run_signature(runs_dir, n) for n in names]]
        if signature == drawn:
            return (dash.no_update,) * 11
        if not names:
            return (empty_figure("no run selected: start one below or with `lossviz compare`"), "", controls.message(notes), [], [],
                    None, signature, None, empty_figure("no run selected"), {"display": "none"}, None)
        try:
            fig = curves_figure(runs_dir, names, w, present=present, narrow=narrow)
            config, metrics = runs.read_run(run_path(runs_dir, names[0]))
            grid = prediction_grid(runs_dir, names[0], top3=top3)
            studies = study_views(runs_dir, names[0])
            # Gradient health and stall notes of the first run, as its epochs land (for MLP runs:
            # a softmax regression has one layer and no hidden units, its panel is hidden).
            health, mlp = health_figure(runs_dir, names[0], present=present, narrow=narrow)
            stalls = stall_view(runs_dir, names[0])
        except (ValueError, OSError, json.JSONDecodeError, KeyError, IndexError) as e:
            return (dash.no_update, dash.no_update, controls.message([*notes, str(e)]), *(dash.no_update,) * 8)
        epochs = sorted({r.epoch for r in metrics})
        return (fig, [html.Div(describe(runs_dir, n)) for n in names], controls.message(notes), list(config.losses),
                [{"label": f"epoch {e}", "value": str(e)} for e in epochs], grid, signature, studies,
                health, {} if mlp else {"display": "none"}, stalls)

    @functools.lru_cache(maxsize=16)
    def decisions_of(name: str, stamp: str, cls):
        return decision_data(runs_dir, name, cls)

    @app.callback(Output("training-decisions", "figure"), Output("training-dec-readout", "children"), Output("training-dec-class", "value"),
                  Output("training-dec-t-show", "children"),
                  Input("training-runs", "value"), Input("training-dec-class", "value"), Input("training-dec-threshold", "value"),
                  Input("training-drawn", "data"), State("present", "checked"), State("narrow", "data"))
    def decisions(names, cls, threshold, _, present, narrow):
        t = state.number(threshold, 0.5, 0.0, 1.0)
        shown = f"{t:.2f}"
        names, _ = chosen_runs(names if isinstance(names, list) else [], runs_dir)
        if not names:
            return empty_figure("no run selected"), None, dash.no_update, shown
        c = int(cls) if isinstance(cls, str) and cls.isdigit() and int(cls) < 10 else None
        path = run_path(runs_dir, names[0]) / "predictions.npz"
        try:
            st = path.stat()
            found, curves = decisions_of(names[0], f"{st.st_mtime_ns}:{st.st_size}", c)
        except OSError:
            return empty_figure("the decision view appears when the run finishes (it reads predictions.npz)"), None, dash.no_update, shown
        except ValueError as e:
            return empty_figure(f"no decisions: {str(e)[:120]}"), None, dash.no_update, shown
        fig = decision_figure(curves, t, present=present is True, narrow=narrow is True)
        return fig, decision_readout(curves, t), (str(found) if str(found) != cls else dash.no_update), shown

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
                  Input("training-top3", "checked"), Input("training-dec-class", "value"), Input("training-dec-threshold", "value"),
                  State("hidden-controls", "data"))
    def url(names, smoothing, loss, epoch, present, top3, cls, threshold, hide):
        names, _ = chosen_runs(names if isinstance(names, list) else [], runs_dir)
        values = {"runs": names, "smoothing": state.fmt_number(state.number(smoothing, 0.0, 0.0, 0.9)),
                  "loss": loss if isinstance(loss, str) and loss in losses() else None,
                  "epoch": epoch if isinstance(epoch, str) and epoch.isdigit() else None, "present": "1" if present is True else "0",
                  "top3": "1" if top3 is True else None, "class": cls if isinstance(cls, str) and cls.isdigit() and int(cls) < 10 else None,
                  "t": state.fmt_number(round(state.number(threshold, 0.5, 0.0, 1.0), 2))}
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
                  State({"type": "training-param", "key": dash.ALL}, "id"), State("training-visitor", "data"), prevent_initial_call=True)
    def start(n, chosen, model, hidden, activation, epochs, lr, batch, decay, seeds, seed, subset, target, param_values, param_ids,
              visitor=None):
        if not n:
            return dash.no_update, dash.no_update, dash.no_update
        if not jobs.allow:  # lossviz serve without --allow-training: said before anything else is checked
            return "not started: training from this page is off on this server (--allow-training)", dash.no_update, dash.no_update
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
            out = jobs.start(config, visitor=visitor_id(visitor))
        except (JobRefused, ValueError) as e:
            return f"not started: {e}", dash.no_update, dash.no_update
        if isinstance(out, int):  # queued behind other visitors' jobs (lossviz serve --allow-training)
            return f"queued: place {out} (one job trains at a time)", dash.no_update, 0
        # The new run is shown at once (its curves fill in as epochs land; no stale views).
        return f"started {out.name}", [out.name], 0

    @app.callback(Output("training-form-message", "children", allow_duplicate=True), Input("training-cancel", "n_clicks"),
                  State("training-visitor", "data"), prevent_initial_call=True)
    def cancel(n, visitor=None):
        if not n:
            return dash.no_update
        return "cancelling…" if jobs.cancel(visitor=visitor_id(visitor)) else "no job of yours is running"

    @app.callback(Output("training-job", "children"), Output("training-poll", "interval"), Output("training-start", "disabled"),
                  Output("training-start", "children"), Input("training-poll", "n_intervals"), State("training-job", "children"),
                  State("training-visitor", "data"))
    def poll(_, shown, visitor=None):
        s = jobs.status(visitor=visitor_id(visitor))
        bar = job_bar(s)
        if not jobs.allow:  # lossviz serve without --allow-training: the form says so
            bar = [bar, dmc.Alert("Training from this page is off on this server (its operator can start it with "
                                  "--allow-training); the runs already here can still be viewed.", id="training-off", color="gray")]
        elif s.get("place"):
            bar = [bar, dmc.Alert(f"Your job is queued: place {s['place']} of {s['queued']} (one job trains at a time).",
                                  id="training-queue-place", color="blue")]
        label = "Training is off on this server" if not jobs.allow else "Start training"
        return bar, 500 if s["state"] == "running" else 1000, not jobs.allow, label

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
