"""The Playground page's callbacks: the tick (server), the play/pause pump and URL writer
(clientside), and "Export for notes" (the current frame drawn by matplotlib)."""

from __future__ import annotations

import traceback

import dash
from dash import ClientsideFunction, Input, Output, State, dcc

from lossviz import export, plot_mpl
from lossviz.explorer import controls, state
from lossviz.explorer.pages.playground.layout import control_fields
from lossviz.explorer.pages.playground import capacity
from lossviz.explorer.pages.playground.schema import ALL_MODES, MODES, PAGE, PRESET_KEYS, check_points, class_setup, reg_setup, schema
from lossviz.explorer.pages.playground.tick import GRID, restore, tick
from lossviz.explorer.state import Number


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


def register(app):
    for mode in MODES:
        _register(app, mode)
    capacity.register(app, ALL_MODES)


def _register(app, mode: str):
    p = f"{PAGE}-{mode[0]}"
    fields = control_fields(mode)
    ids = {f.key: controls.safe_id(p, f.key) for f in fields}
    # The pacing of play (one tick in flight, a watchdog interval) and the URL: assets/playground.js.
    app.clientside_callback(ClientsideFunction("playground", "pump"), Output(f"{p}-tick", "data"), Input(f"{p}-interval", "n_intervals"),
                            State(f"{p}-interval", "disabled"), prevent_initial_call=True)
    app.clientside_callback(ClientsideFunction("playground", "ack"), Output(f"{p}-ack", "data"), Input(f"{p}-store", "data"),
                            State(f"{p}-interval", "disabled"), State(f"{p}-tick", "id"), prevent_initial_call=True)
    app.clientside_callback(ClientsideFunction("playground", "play"), Output(f"{p}-interval", "disabled"), Input(f"{p}-play", "n_clicks"),
                            Input(f"{p}-pause", "n_clicks"), prevent_initial_call=True)
    # Also on load: the link that opened the page becomes the canonical URL (every field).
    app.clientside_callback(ClientsideFunction("playground", "url"), Output(f"{p}-url-done", "data"), Input(f"{p}-search", "data"))
    for f in fields:
        if isinstance(f, Number):
            app.clientside_callback(ClientsideFunction("playground", "show"), Output(f"{ids[f.key]}-show", "children"),
                                    Input(ids[f.key], "value"), prevent_initial_call=True)
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
        outputs += [Output(f"{p}-points", "figure"), Output(f"{p}-grads", "figure"), Output(f"{p}-hint", "children")]
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
