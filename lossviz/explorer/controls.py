"""Controls built from a page's state schema (dash-mantine-components), and the live wiring.

Every page is a schema (``state.Number`` / ``Names`` / ``Flag`` / ``Choice``) plus a server
function. ``wire`` registers, for one page:

- the browser-side gate (``assets/lossviz.js``): control changes -> one request in flight at a
  time, always the newest values (a slider drag never queues stale requests);
- the server callback: validate the request against the schema, compute, answer with the
  figure (or a partial update) and the canonical state, which becomes the URL.
"""

from __future__ import annotations

import re
import time
import traceback
from typing import Callable

import dash
import dash_mantine_components as dmc
from dash import ClientsideFunction, Input, Output, State, dcc, html

from lossviz.explorer import figures, state
from lossviz.explorer.state import Choice, Flag, Names, Number


# A partial update of an animated graph (see ``wire``): applied at once, lines and markers only.
ANIMATION = {"frame": {"duration": 0, "redraw": False}, "transition": {"duration": 0}, "mode": "immediate"}


class Frame(dash.Patch):
    """A partial update that an animated graph may apply without a redraw: new trace data
    (scatter, bar), axis ranges and annotation text only. A plain ``dash.Patch`` redraws."""


def safe_id(page: str, key: str) -> str:
    """A Dash id for a state key (ids may not contain dots)."""
    return f"{page}-" + re.sub(r"[^A-Za-z0-9_-]", "-", key)


def wrap_id(page: str, key: str) -> str:
    return f"{page}-wrap-" + re.sub(r"[^A-Za-z0-9_-]", "-", key)


def control(page: str, field, value, hide: set[str], description: str = ""):
    """One labelled control for a schema field; hidden in teacher mode when its key is in ``_hide``."""
    cid = safe_id(page, field.key)
    label = dmc.Text(field.label, size="sm", fw=600, c="dimmed", className="control-label")
    if isinstance(field, Number):
        body = dmc.Group([
            # Drag values reach the server through the thumb (assets/lossviz.js), not Dash.
            dmc.Slider(id=cid, min=field.lo, max=field.hi, step=field.step, value=value, updatemode="mouseup",
                       label=None, size="lg", style={"flex": 1}, **{"aria-label": field.label}),
            dmc.NumberInput(id=f"{cid}-num", value=value, step=field.step, debounce=True, clampBehavior="none",
                            w=96, size="sm", hideControls=True, allowDecimal=not field.integer,
                            **{"aria-label": f"{field.label} (type a value)"}),
        ], gap="sm", wrap="nowrap")
    elif isinstance(field, Names):
        body = dmc.MultiSelect(id=cid, data=list(field.options), value=list(value), clearable=True, searchable=True,
                               **{"aria-label": field.label})
    elif isinstance(field, Flag):
        body = dmc.Switch(id=cid, checked=bool(value), label=description or field.label, size="md")
        label = None
    elif isinstance(field, Choice):
        body = dmc.Select(id=cid, data=[str(o) for o in field.options], value=str(value), allowDeselect=False,
                          **{"aria-label": field.label})
    else:
        raise TypeError(field)
    children = [c for c in (label, body) if c is not None]
    if description and not isinstance(field, Flag):
        children.append(dmc.Text(description, size="xs", c="dimmed"))
    return html.Div(children, id=wrap_id(page, field.key), className="control",
                    style={"display": "none"} if field.key in hide else {})


def input_specs(page: str, schema) -> tuple[list, list, list[dict]]:
    """The gate's inputs (in schema order), its control outputs, and the browser-side config."""
    inputs, slider_out, box_out, cfg = [], [], [], []
    for f in schema:
        cid = "present" if f.key == "present" else safe_id(page, f.key)
        if isinstance(f, Number):
            inputs += [Input(cid, "value"), Input(f"{cid}-num", "value")]
            slider_out.append(Output(cid, "value", allow_duplicate=True))
            box_out.append(Output(f"{cid}-num", "value", allow_duplicate=True))
            cfg.append({"key": f.key, "kind": "number", "id": cid})
        elif isinstance(f, Flag):
            inputs.append(Input(cid, "checked"))
            cfg.append({"key": f.key, "kind": "flag", "id": cid})
        else:
            inputs.append(Input(cid, "value"))
            cfg.append({"key": f.key, "kind": "other", "id": cid})
    return inputs, slider_out + box_out, cfg


def first_view(page: str, schema, compute: Callable, n_outputs: int, values: dict, hide: set[str]) -> tuple:
    """The page's first answer, computed while its layout is built: (state, message, outputs).

    The first figure then arrives with the layout (one round trip less on a first load); the
    browser's gate starts from this state and sends nothing until a control moves.
    """
    ordered = {f.key: values[f.key] for f in schema}
    st, msg, *outputs = answer(page, schema, compute, n_outputs, {"seq": 0, "values": ordered, "shown": None}, sorted(hide))
    outputs = [None if o is dash.no_update else o for o in outputs]
    return st, msg, outputs


def live_stores(page: str, schema, first: dict | None = None, formulas: str | bool | None = None, hide: set[str] = frozenset(),
                frames: bool = True):
    """The page's gate config, request and state stores (a fresh nonce resets the gate).

    ``formulas``: the key of the names whose formulas the page typesets after its first draw
    (True: the page's formulas do not depend on its state);
    ``hide``: the teacher mode's hidden keys (sent with the drag frames, which skip Dash);
    ``frames``: whether the page's drags go through the frame route (``wire`` with ``animate``).
    """
    cfg = {"page": page, "nonce": time.time_ns(), "controls": input_specs(page, schema)[2], "formulas": formulas,
           "hide": sorted(hide)[: state.MAX_LIST], "frames": frames}
    if first and first.get("shown"):
        cfg["initial"] = {**first["shown"]["values"], "_narrow": False}
        cfg["shown"] = first["shown"]
    return [dcc.Store(id=f"{page}-cfg", data=cfg),
            dcc.Store(id=f"{page}-req0"), dcc.Store(id=f"{page}-req1"), dcc.Store(id=f"{page}-gate"),
            dcc.Store(id=f"{page}-state", data=first), dcc.Store(id=f"{page}-ack"), dcc.Store(id=f"{page}-formula-req")]


def wire(app: dash.Dash, page: str, schema, compute: Callable, outputs: list, animate: tuple[str, ...] = ()):
    """Register the gate and the server callback of a page.

    ``compute(values, shown, notes, corrected)`` returns a tuple for ``outputs`` (figure first);
    it may adjust ``values`` (adding a note and, for a number, the value to ``corrected``), or
    raise ``state.InputError`` for a view it refuses (shown as the message, the last good figure
    kept). ``shown`` is the state the browser currently draws (for partial updates); what
    ``compute`` puts in ``values["_view"]`` (a dict) comes back as ``shown["view"]`` with the
    next request (unchecked: the browser sends it).

    ``animate``: ids of graphs whose partial updates of the ``Frame`` kind (new trace data, axis
    ranges, annotation text) are applied with ``Plotly.animate`` and no redraw, which moves the
    lines without recomputing and redrawing the axes, legend and text of the figure (a drag
    frame in a few ms instead of 40-100 ms here). The page must then set its y ranges itself
    (an animated frame does not autorange). When the gate goes idle after a frame that changed
    legend names or line dashes, the browser redraws the graph once (``Plotly.redraw``), so
    they catch up.
    """
    inputs, _, _ = input_specs(page, schema)
    figure_at = {o.component_id: i for i, o in enumerate(outputs) if o.component_property == "figure"}
    if any(g not in figure_at for g in animate):
        raise ValueError(f"animate: {animate} must name graphs whose figure is among the outputs")
    app.clientside_callback(ClientsideFunction("lossviz", "gate"), Output(f"{page}-gate", "data"), *inputs, State(f"{page}-cfg", "data"))
    # The answer unblocks the gate (assets/lossviz.js); it is a separate callback because Dash
    # does not run callback cycles (gate -> request -> answer -> gate).
    app.clientside_callback(ClientsideFunction("lossviz", "ack"), Output(f"{page}-ack", "data"), Input(f"{page}-state", "data"),
                            State(f"{page}-cfg", "data"))

    def serve(req, hide_keys):
        st, msg, *out = answer(page, schema, compute, len(outputs), req, hide_keys)
        flags = [isinstance(out[figure_at[g]], Frame) if out[figure_at[g]] is not dash.no_update else dash.no_update
                 for g in animate]
        if animate:  # the animated graphs whose legend or line styles changed: redrawn once the hand stops
            st = {**st, "settle": [g for g, f in zip(animate, flags) if f is True and _restyled(out[figure_at[g]])]}
        return (st, msg, *out, *flags)

    # Two identical server callbacks, fed alternately by the gate (see post() in assets/lossviz.js).
    dup = [Output(o.component_id, o.component_property, allow_duplicate=True) for o in outputs]
    dup += [Output(g, "animate", allow_duplicate=True) for g in animate]
    for k in (0, 1):
        app.callback(Output(f"{page}-state", "data", allow_duplicate=True), Output(f"{page}-message", "children", allow_duplicate=True),
                     *dup, Input(f"{page}-req{k}", "data"), State("hidden-controls", "data"), prevent_initial_call=True)(serve)
    if animate:
        targets = [(f"{page}-message", "children"), *((o.component_id, o.component_property) for o in outputs)]

        def frame(req):
            st, *out = answer(page, schema, compute, len(outputs), req, req.get("hide") if isinstance(req, dict) else None)
            return drag_frame(st, targets, out, animate)

        app.server.config.setdefault("LOSSVIZ_FRAMES", {})[page] = frame


def drag_frame(st: dict, targets: list[tuple[str, str]], values: list, animate: tuple[str, ...]) -> dict:
    """A drag step for the browser to apply itself, without Dash (the app's frame route,
    ``assets/lossviz.js``): per graph of ``animate``, a ``Frame`` as ``Plotly.animate`` arguments
    (``{"animate": ...}``) or another partial update as its assignments (``{"assign": [[location,
    value], ...]}``, drawn with ``Plotly.react``); the other outputs that changed as (id,
    property, value); and, as the Dash callback's ``settle``, the animated graphs whose legend
    names or dashes changed. ``{"dash": true}`` when the step needs Dash: a whole new figure, an
    update that is not plain assignments, or a value the server corrected."""
    via_dash = {"seq": st["seq"], "dash": True}
    if st.get("corrected"):
        return via_dash
    frames, props, settle = {}, [], []
    for (cid, prop), value in zip(targets, values):
        if value is dash.no_update:
            continue
        if prop == "figure":
            update = graph_update(value) if cid in animate else None
            if update is None:
                return via_dash
            frames[cid] = update
            if "animate" in update and _restyled(value):
                settle.append(cid)
        else:
            props.append([cid, prop, value])
    return {"seq": st["seq"], "state": st, "frames": frames, "props": props, "settle": settle}


def graph_update(value) -> dict | None:
    """A graph's partial update for the browser (see ``drag_frame``), or None."""
    if not isinstance(value, dash.Patch):
        return None
    if isinstance(value, Frame):
        anim = animation_of(value)
        if anim is not None:
            return {"animate": anim}
    ops = value.to_plotly_json()["operations"]
    if not all(op["operation"] == "Assign" and op["location"] and op["location"][0] in ("data", "layout") for op in ops):
        return None
    return {"assign": [[op["location"], op["params"]["value"]] for op in ops]}


def animation_of(frame: Frame) -> dict | None:
    """A Frame's operations as ``Plotly.animate(gd, {data, traces, layout})`` arguments; None
    when an operation is not a plain assignment of a trace's or the layout's attribute."""
    traces: dict[int, dict] = {}
    layout: dict = {}
    for op in frame.to_plotly_json()["operations"]:
        loc = op["location"]
        if op["operation"] != "Assign" or len(loc) < 2:
            return None
        if loc[0] == "data" and isinstance(loc[1], int) and len(loc) > 2:
            target, keys = traces.setdefault(loc[1], {}), loc[2:]
        elif loc[0] == "layout":
            target, keys = layout, loc[1:]
        else:
            return None
        if not all(isinstance(k, str) for k in keys):
            return None  # e.g. one annotation of a list: an animation would replace the whole list
        for k in keys[:-1]:
            target = target.setdefault(k, {})
        target[keys[-1]] = op["params"]["value"]
    order = sorted(traces)
    return {"data": [traces[i] for i in order], "traces": order, "layout": layout}


def wire_formulas(app: dash.Dash, page: str, schema, key: str, blocks: Callable) -> None:
    """The formulas of a first load, asked for by the browser once the first graph is drawn."""
    field = next(f for f in schema if f.key == key)

    def formulas(names):
        chosen, note = state.check_field(field, names, [], source="input")
        return blocks(chosen) if note is None else dash.no_update

    app.callback(Output(f"{page}-formula", "children", allow_duplicate=True), Input(f"{page}-formula-req", "data"),
                 prevent_initial_call=True)(formulas)


def answer(page, schema, compute, n_outputs, req, hide_keys):
    """The server side of one gate request: never raises (an error becomes the message)."""
    req = req if isinstance(req, dict) else {}
    seq = req.get("seq") if isinstance(req.get("seq"), int) and not isinstance(req.get("seq"), bool) else 0
    shown = req.get("shown") if isinstance(req.get("shown"), dict) else None
    raw = req.get("values") if isinstance(req.get("values"), dict) else {}
    previous_values = shown.get("values") if shown else None
    values, notes, corrected = state.from_request(schema, raw, previous_values)
    values["_narrow"] = raw.get("_narrow") is True
    hide = [h for h in (hide_keys or []) if isinstance(h, str)][: state.MAX_LIST] if isinstance(hide_keys, list) else []
    values["_hide"] = set(hide)
    try:
        out = compute(values, shown, notes, corrected)
    except state.InputError as e:
        notes.append(str(e))
        return ({"seq": seq, "shown": _noted(shown), "corrected": corrected, "search": None}, message(notes),
                *([dash.no_update] * n_outputs))
    except Exception:  # a bug must show as a message, never as a traceback page or a stuck gate
        traceback.print_exc()
        notes.append("internal error while drawing this view (the server log has the details)")
        return ({"seq": seq, "shown": _noted(shown), "corrected": corrected, "search": None}, message(notes),
                *([dash.no_update] * n_outputs))
    canonical = {k: v for k, v in values.items() if not k.startswith("_")}
    shown_now = {"values": canonical, "narrow": values["_narrow"], "noted": bool(notes)}
    if isinstance(values.get("_view"), dict):  # what compute noted of the drawing (e.g. its axis ranges)
        shown_now["view"] = values["_view"]
    new_state = {"seq": seq, "shown": shown_now,
                 "corrected": corrected, "search": state.query_of(schema, canonical, hide)}
    # No message now and none shown: nothing to re-render (a drag answers ~15 times a second).
    msg = dash.no_update if not notes and shown is not None and shown.get("noted") is False else message(notes)
    return (new_state, msg, *out)


def _restyled(frame: Frame) -> bool:
    """Does an animated update change what an animation does not redraw (legend names, dashes)?"""
    return any(op["location"][-1] in ("name", "dash") for op in frame.to_plotly_json()["operations"])


def coincide_note(notes: list[str], shown: dict | None):
    """The note on coinciding curves, or ``no_update`` when the browser already shows exactly
    these notes (``shown["view"]["coincide"]``; the page records them in ``values["_view"]``)."""
    if figures.shown_view(shown).get("coincide") == notes:
        return dash.no_update
    return html.Div([html.Div(n) for n in notes]) if notes else None


def curve_update(curves: list, keys: tuple[str, ...], shown: dict, dashed: dict, ranges: list, label: Callable,
                 animate: bool = True) -> dash.Patch:
    """A curve page's drag step (same structure as ``shown``): new points and legend name for
    each curve whose parameters changed (trace ``len(keys) * curve + panel``), the dashes where
    which lines coincide changed, and the y ranges where they changed. A ``Frame`` (animated by
    ``wire``) when the axes stay and ``animate``, else a plain Patch that redraws."""
    view, shown_values = figures.shown_view(shown), shown.get("values") or {}
    same_axes = figures.shown_ranges(shown) == ranges
    new_dashes = view.get("dashed") != figures.dash_keys(dashed)  # a dash redraws the legend: only when it changed
    patch = Frame() if same_axes and animate else dash.Patch()
    for ci, c in enumerate(curves):
        changed = any(shown_values.get(f"{c.name}.{k}") != v for k, v in c.params.items())
        idx = figures.keep_points([c.series[k] for k in keys]) if changed else None
        for j, key in enumerate(keys):
            t = len(keys) * ci + j
            if changed:
                patch["data"][t]["x"] = figures.b64(c.x[idx])
                patch["data"][t]["y"] = figures.b64(c.series[key][idx])
                patch["data"][t]["name"] = label(c.name, c.params)
            if new_dashes:
                patch["data"][t]["line"]["dash"] = dashed.get((ci, j), "solid")
    if not same_axes:
        figures.set_y_ranges(patch["layout"], ranges)
    return patch


def _noted(shown: dict | None) -> dict | None:
    """The shown state, now with a message on screen (the next answer must clear it)."""
    return {**shown, "noted": True} if isinstance(shown, dict) else shown


def message(notes: list[str]):
    if not notes:
        return None
    return dmc.Alert([html.Div(n) for n in notes], color="orange", variant="light", title="Note", className="message")


def export_row(page: str, hide: set[str]):
    return html.Div(dmc.Group([
        dmc.Button("Export for notes", id=f"{page}-export", n_clicks=0, variant="filled"),
        dmc.SegmentedControl(id=f"{page}-export-format", data=["svg", "pdf", "png"], value="svg"),
        dcc.Download(id=f"{page}-download"),
        html.Span(id=f"{page}-export-message", className="export-message"),
    ], gap="md"), id=f"{page}-export-row", className="export-row", style={"display": "none"} if "export" in hide else {})


def export_shown(page: str, schema, n_clicks, fmt, st, draw: Callable, required: tuple[str, str] | None = None):
    """'Export for notes' of a page with a gate: the view the state store says is shown,
    validated again, drawn by ``draw(values)`` (a matplotlib figure from the exporter's builders)
    in ``fmt``. ``required``: (key, what) of a list that must not be empty, e.g. ("losses", "loss").
    Returns (download, message)."""
    if not n_clicks:
        return dash.no_update, dash.no_update
    values, notes, _ = state.from_request(schema, shown_values(st), None)
    if required and not notes and not values[required[0]]:
        notes = [f"choose at least one {required[1]}"]
    if notes:
        return dash.no_update, "nothing to export: " + "; ".join(notes)
    from lossviz import export, plot_mpl

    fmt = fmt if fmt in export.FORMATS else "svg"
    with plot_mpl.style("light"):
        data = export.render(draw(values), fmt)
    return dcc.send_bytes(data, f"lossviz-{page}.{fmt}"), ""


def wire_export(app: dash.Dash, page: str, export_file: Callable) -> None:
    """The export row's callback: ``export_file(n_clicks, format, state)`` -> (download, message)."""
    app.callback(Output(f"{page}-download", "data"), Output(f"{page}-export-message", "children"), Input(f"{page}-export", "n_clicks"),
                 State(f"{page}-export-format", "value"), State(f"{page}-state", "data"), prevent_initial_call=True)(
        guarded(export_file, 2))


def page_header(page: str, title: str, notes: list[str], hide: set[str]):
    """The title and the notes on bad URL values (each names the value and what is used)."""
    return [dmc.Title(title, order=2, className="page-title"),
            html.Div(message([f"In the link: {n}" for n in notes]) if notes else None, id=f"{page}-url-message")]


def shown_values(st) -> dict | None:
    """The values a page's state store says the browser shows (unchecked: pass to from_request)."""
    if isinstance(st, dict) and isinstance(st.get("shown"), dict) and isinstance(st["shown"].get("values"), dict):
        return st["shown"]["values"]
    return None


def guarded(fn: Callable, n_outputs: int) -> Callable:
    """A callback that never raises: an unexpected error becomes a message in its last output."""
    def run(*args):
        try:
            return fn(*args)
        except state.InputError as e:
            return (*([dash.no_update] * (n_outputs - 1)), str(e))
        except Exception:
            traceback.print_exc()
            return (*([dash.no_update] * (n_outputs - 1)), "internal error (the server log has the details)")
    run.__name__ = fn.__name__
    run.__doc__ = fn.__doc__
    return run


def curve_page(page: str, title: str, query: dict, schema, compute: Callable, descriptions: dict, formulas: str,
               frames: bool = True):
    """A curve page (Losses, Activations, Classification) from its URL query: header, controls
    (each with its parameter's description), message, the graph drawn at first load, the note on
    coinciding curves, the formulas (typeset after the first graph is drawn: MathJax's 2 MB would
    slow the first load by ~0.8 s), the export row and the page's stores. ``formulas``: the key of
    the names whose formulas are shown."""
    hide = state.hidden(query)
    values, notes = state.from_query(schema, query)
    first, msg, (fig, note, _) = first_view(page, schema, compute, 3, values, hide)
    controls_ = [control(page, f, values[f.key], hide, descriptions.get(f.key, "")) for f in schema if f.key != "present"]
    return html.Div([
        *page_header(page, title, notes, hide),
        dmc.SimpleGrid(controls_, cols={"base": 1, "sm": 2, "lg": 4}, spacing="lg", verticalSpacing="sm", className="controls"),
        html.Div(msg, id=f"{page}-message"),
        dcc.Graph(id=f"{page}-graph", figure=fig, config={"responsive": True, "displaylogo": False,
                                                    "toImageButtonOptions": {"format": "png", "filename": f"lossviz-{page}"}},
                  className="graph", animate=False, animation_options=ANIMATION),
        html.Div(note, id=f"{page}-coincide", className="coincide-note"),
        html.Div(id=f"{page}-formula", className="formulas"),
        export_row(page, hide),
        *live_stores(page, schema, first, formulas=formulas, hide=hide, frames=frames),
    ])
