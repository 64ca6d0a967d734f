"""Controls built from a page's state schema, and the wiring that makes them follow the hand.

Every curve page is a schema (``state.Number`` / ``Names`` / ``Flag`` / ``Choice``), a
``compute(values, notes)`` that returns its outputs (figures first), and a ``frames(values,
key, steps)`` that returns the outputs' changes at each step of one slider. ``wire`` registers:

- the settling callback (server): every control is an input; the values are validated against
  the schema (a typed value out of range is clamped, one that is not a number refused, each
  with a note), the page is computed, and the slider, its number box, the state store (hence the
  URL) and the parameter sliders shown are set to what was used, so they always agree;
- the sweep (server): when a slider is grabbed, the page's outputs at every step of that
  slider (``curves.sweep``, float32) go into the page's sweep store, in one answer;
- the drag (clientside, ``assets/lossviz.js``): while the hand moves a slider (its
  ``drag_value``), the step under the hand is shown from the sweep store: no request while
  dragging; on release, the settling callback draws the exact value.
"""

from __future__ import annotations

import json
import re
import traceback
import uuid
from urllib.parse import parse_qsl
from typing import Callable

import dash
import dash_mantine_components as dmc
from dash import ClientsideFunction, Input, Output, State, dcc, html

from lossviz.explorer import state
from lossviz.explorer.state import Choice, Flag, Names, Number

# Animation options of a dcc.Graph (the playground's).
ANIMATION = {"frame": {"duration": 0, "redraw": False}, "transition": {"duration": 0}, "mode": "immediate"}
SWEEP_STEPS = 121  # at most this many steps of a slider in a sweep (a drag shows the nearest; release draws the exact value)
SWEEP_BYTES = 600_000  # at most about this much JSON in one sweep (one answer per grab)
SWEEP_MIN_STEPS = 11  # ... but never fewer steps than this


def safe_id(page: str, key: str) -> str:
    """A Dash id for a state key (ids may not contain dots)."""
    return f"{page}-" + re.sub(r"[^A-Za-z0-9_-]", "-", key)


def wrap_id(page: str, key: str) -> str:
    return f"{page}-wrap-" + re.sub(r"[^A-Za-z0-9_-]", "-", key)


def control(page: str, field, value, hide: set[str], description: str = "", shown: bool = True):
    """One labelled control for a schema field; hidden in teacher mode when its key is in
    ``_hide``, and while it acts on nothing (``shown`` False: a parameter of a loss not chosen)."""
    cid = safe_id(page, field.key)
    label = dmc.Text(field.label, size="sm", fw=600, c="dimmed", className="control-label")
    if isinstance(field, Number):
        body = dmc.Group([
            # value: on release (the settling callback); drag_value: under the hand (the sweep).
            # data-lv-*: the slider a hand reaches for; its sweep is fetched before the grab (assets/lossviz.js).
            html.Div(dcc.Slider(id=cid, min=field.lo, max=field.hi, step=field.step, value=value, updatemode="mouseup", marks=None,
                                allow_direct_input=False), style={"flex": 1, "minWidth": 0}, className="lv-slider",
                     **{"data-lv-page": page, "data-lv-key": field.key}),
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
    return html.Div(children, id=wrap_id(page, field.key), className="control", style=control_style(field.key, hide, shown))


def control_style(key: str, hide, shown: bool) -> dict:
    return {"display": "none"} if key in hide or not shown else {}


def acting(schema, values: dict) -> dict[str, bool]:
    """Which parameter sliders act: "name.param" only while ``name`` is chosen (in a Names field)."""
    chosen = set()
    for f in schema:
        if isinstance(f, Names):
            chosen |= set(values.get(f.key) or ())
    return {f.key: f.key.split(".")[0] in chosen for f in schema if isinstance(f, Number) and "." in f.key}


def numbers(schema) -> list:
    return [f for f in schema if isinstance(f, Number)]


def steps_of(field: Number, limit: int = SWEEP_STEPS) -> list[float]:
    """The values a sweep of a slider draws: every step, or ``limit`` evenly spread ones (both ends in)."""
    n = int(round((field.hi - field.lo) / field.step)) + 1
    idx = range(n) if n <= limit else sorted({round(i * (n - 1) / (limit - 1)) for i in range(limit)})
    return [round(field.lo + i * field.step, 10) for i in idx]


def new_state(page: str, schema, values: dict, hide, narrow: bool) -> dict:
    canonical = {f.key: values[f.key] for f in schema}
    hide = sorted(h for h in hide if isinstance(h, str))[: state.MAX_LIST]
    return {"page": page, "values": canonical, "hide": hide, "narrow": bool(narrow),
            "search": state.query_of(schema, canonical, hide)}


def stamp(out: list) -> list:
    """A fresh ``layout.datarevision`` on each figure a server callback draws in full: plotly's
    react then reads the new arrays, while a figure the browser set to the step it already drew
    (assets/lossviz.js, release) keeps its revision and costs no recomputation."""
    token = uuid.uuid4().hex[:12]
    for o in out:
        if isinstance(o, dict) and isinstance(o.get("layout"), dict) and "data" in o:
            o["layout"]["datarevision"] = token
    return out


def run_compute(compute: Callable, values: dict, notes: list, n_outputs: int) -> list:
    """The page's outputs, or no_update for each when it refuses the view (its reason becomes a note)."""
    try:
        return stamp(list(compute(values, notes)))
    except state.InputError as e:
        notes.append(str(e))
    except Exception:  # a bug must show as a message, never as a traceback page
        traceback.print_exc()
        notes.append("internal error while drawing this view (the server log has the details)")
    return [dash.no_update] * n_outputs


def first_view(page: str, schema, compute: Callable, n_outputs: int, query: dict) -> tuple:
    """A page's first drawing from its URL: (values, URL notes, state, message, outputs)."""
    hide = state.hidden(query)
    values, url_notes = state.from_query(schema, query)
    values["_narrow"], values["_hide"] = False, hide
    notes: list[str] = []
    out = run_compute(compute, values, notes, n_outputs)
    out = [None if o is dash.no_update else o for o in out]
    return values, url_notes, {**new_state(page, schema, values, hide, False), "first": True}, message(notes), out


def same_but(a, b, key: str) -> bool:
    """Two state searches that differ at most in ``key``."""
    if not isinstance(a, str) or not isinstance(b, str):
        return False
    da, db = dict(parse_qsl(a.lstrip("?"), keep_blank_values=True)), dict(parse_qsl(b.lstrip("?"), keep_blank_values=True))
    da.pop(key, None), db.pop(key, None)
    return da == db


def light(fig: dict) -> dash.Patch:
    """A settle on a step the browser already drew (assets/lossviz.js, release): the figure's
    traces (their arrays are the step's: the store catches up with the screen), y ranges,
    shapes and annotations, as a Patch that keeps ``layout.datarevision``, so plotly.react
    recomputes no curve and the release costs one redraw (legend names, ranges, bands)."""
    p = dash.Patch()
    p["data"] = fig["data"]
    lay = fig["layout"]
    for ax, spec in lay.items():
        if ax.startswith("yaxis") and isinstance(spec, dict) and "range" in spec:
            p["layout"][ax]["range"] = spec["range"]
    for k in ("shapes", "annotations"):
        p["layout"][k] = lay.get(k, [])
    return p


NARROW_PX = 700  # a window narrower than this is a phone's: panels stacked


def report_narrow(app: dash.Dash, store: str, trigger: Input) -> None:
    """A page is drawn for a wide window on the server; when ``trigger`` fires in a phone-width
    window the browser sets ``store`` to true once, and the page redraws its panels stacked."""
    app.clientside_callback(f"(t, cur) => (window.innerWidth < {NARROW_PX} && cur !== true) ? true : window.dash_clientside.no_update",
                            Output(store, "data"), trigger, State(store, "data"))


def wire(app: dash.Dash, page: str, schema, compute: Callable, outputs: list, frames: Callable | None = None,
         drag_outputs: list | None = None, extra_outputs: list | None = None, extra: Callable | None = None,
         preview: tuple[str, ...] = ()):
    """Register a page's settling callback, its sweep and its drag (see the module docstring).

    ``outputs``: what ``compute`` returns; ``frames(values, key, steps)``: one dict per step,
    {output id: {"traces": {index: {attribute: value}}, "layout": {"a.b": value}}} for a graph or
    the text for a text output, among ``drag_outputs`` ((id, property) pairs, graphs first);
    ``extra_outputs`` / ``extra(values)``: more outputs of the settling callback (e.g. the
    logit boxes a number of classes shows); ``preview``: sliders whose sweep is coarser than
    the settled view (its release draws the figure in full).
    """
    nums = numbers(schema)
    inputs, slider_out, box_out = [], [], []
    for f in schema:
        cid = "present" if f.key == "present" else safe_id(page, f.key)
        if isinstance(f, Number):
            inputs += [Input(cid, "value"), Input(f"{cid}-num", "value")]
        elif isinstance(f, Flag):
            inputs.append(Input(cid, "checked"))
        else:
            inputs.append(Input(cid, "value"))
    for f in nums:
        slider_out.append(Output(safe_id(page, f.key), "value"))
        box_out.append(Output(f"{safe_id(page, f.key)}-num", "value"))
    params = [f for f in nums if "." in f.key]
    wraps = [Output(wrap_id(page, f.key), "style") for f in params]
    extra_outputs = extra_outputs or []

    key_of = {safe_id(page, f.key): f.key for f in nums}

    def settle(*args):
        ctl, narrow, st, have = args[: len(inputs)], args[len(inputs)], args[len(inputs) + 1], args[len(inputs) + 2]
        trig = dash.ctx.triggered_id
        prev = st.get("values") if isinstance(st, dict) else None
        hide = {h for h in st["hide"] if isinstance(h, str)} if isinstance(st, dict) and isinstance(st.get("hide"), list) else set()
        raw, sliders, boxes, i = {}, {}, {}, 0
        for f in schema:
            if isinstance(f, Number):
                sliders[f.key], boxes[f.key] = ctl[i], ctl[i + 1]
                raw[f.key] = ctl[i + 1] if trig == f"{safe_id(page, f.key)}-num" else ctl[i]
                i += 2
            else:
                raw[f.key] = ctl[i]
                i += 1
        values, notes, _ = state.from_request(schema, raw, prev)
        values["_narrow"], values["_hide"], values["_prev"] = narrow is True, hide, prev
        out = run_compute(compute, values, notes, len(outputs))
        st_new = new_state(page, schema, values, hide, narrow is True)
        # The slider and its box show the value used (a typed value moves the slider; a clamped
        # or refused one is put right in both).
        sync = [values[f.key] if sliders[f.key] != values[f.key] else dash.no_update for f in nums]
        sync += [values[f.key] if boxes[f.key] != values[f.key] else dash.no_update for f in nums]
        act = acting(schema, values)
        styles = [control_style(f.key, hide, act[f.key]) for f in params]
        more = list(extra(values)) if extra else []
        if isinstance(prev, dict) and out and all(prev.get(f.key) == values[f.key] for f in schema if isinstance(f, Names)) \
                and len(out) >= 3 and outputs[2].component_property == "children" and outputs[2].component_id.endswith("-formula"):
            out[2] = dash.no_update  # the same formulas: not typeset again
        # A release on a step of the sweep the browser holds: the browser has drawn these curves
        # already (assets/lossviz.js, release); only legend, ranges, shapes and notes change.
        k = key_of.get(trig)
        if (k is not None and k not in preview and isinstance(have, dict) and have.get("key") == k and isinstance(prev, dict)
                and isinstance(st, dict) and same_but(have.get("search"), st.get("search"), k)
                and same_but(st_new["search"], st.get("search"), k) and sliders[k] == values[k]
                and values[k] in (have.get("values") or [])):
            out = [light(o) if isinstance(o, dict) and outputs[j].component_property == "figure" else o for j, o in enumerate(out)]
        return (st_new, message(notes), *out, *sync, *styles, *more)

    app.callback(Output(f"{page}-state", "data"), Output(f"{page}-message", "children"), *outputs, *slider_out, *box_out, *wraps,
                 *extra_outputs, *inputs, Input(f"{page}-narrow", "data"), State(f"{page}-state", "data"),
                 State(f"{page}-sweep-have", "data"), prevent_initial_call=True)(settle)
    report_narrow(app, f"{page}-narrow", Input(f"{page}-cfg", "data"))
    app.clientside_callback(ClientsideFunction("lossviz", "url"), Output(f"{page}-url", "data"), Input(f"{page}-state", "data"))
    if frames is None:
        return

    def sweep(req, st):
        if not isinstance(req, dict) or not isinstance(st, dict) or not isinstance(st.get("values"), dict):
            return dash.no_update
        field = next((f for f in nums if f.key == req.get("key")), None)
        if field is None:
            return dash.no_update
        values, notes, _ = state.from_request(schema, st["values"], None)
        values["_narrow"], values["_hide"] = st.get("narrow") is True, set()
        try:
            steps, parts = sweep_steps(frames, values, field)
        except (ValueError, state.InputError):
            return dash.no_update
        sig = req.get("sig") if isinstance(req.get("sig"), str) else ""  # the browser's cache key (assets/lossviz.js)
        return {"page": page, "key": field.key, "sig": sig[: state.MAX_QUERY], "search": st.get("search") if isinstance(st.get("search"), str) else "",
                "values": steps, **parts}

    app.callback(Output(f"{page}-sweep", "data"), Input(f"{page}-sweep-req", "data"), State(f"{page}-state", "data"),
                 prevent_initial_call=True)(sweep)
    drag_outputs = drag_outputs or []
    figs = [(i, p) for i, p in drag_outputs if p == "figure"]
    texts = [(i, p) for i, p in drag_outputs if p != "figure"]
    # The sweep that arrived, decoded once and kept in the browser; what it holds, for the settle.
    app.clientside_callback(ClientsideFunction("lossviz", "keep"), Output(f"{page}-sweep-have", "data"), Input(f"{page}-sweep", "data"),
                            prevent_initial_call=True)
    # Under the hand: the step drawn with one Plotly.update of the traces that change (no request).
    app.clientside_callback(ClientsideFunction("lossviz", "drag"), Output(f"{page}-drag", "data"),
                            *[Output(i, p, allow_duplicate=True) for i, p in texts],
                            *[Input(safe_id(page, f.key), "drag_value") for f in nums],
                            State(f"{page}-cfg", "data"), State(f"{page}-state", "data"),
                            *[State(safe_id(page, f.key), "value") for f in nums], prevent_initial_call=True)
    # On release (or a key press): the step is drawn at once from the sweep; the settle's Patch
    # then brings the stored figure to it (``light``) with one redraw.
    app.clientside_callback(ClientsideFunction("lossviz", "release"), Output(f"{page}-drag", "data", allow_duplicate=True),
                            *[Input(safe_id(page, f.key), "value") for f in nums],
                            State(f"{page}-cfg", "data"), State(f"{page}-state", "data"), prevent_initial_call=True)


def sweep_steps(frames: Callable, values: dict, field: Number) -> tuple[list[float], dict]:
    """A slider's steps and its sweep (``factor``ed), with as many steps as fit in SWEEP_BYTES.

    Three steps (both ends and the middle) are drawn first to price one step; a slider whose
    steps move every curve of a page (the Losses page's y: ~37 KB a step) gets fewer steps, so
    a grab costs one bounded answer; release draws the exact value anyway."""
    steps = steps_of(field)
    if len(steps) > SWEEP_MIN_STEPS:
        probe = factor(frames(values, field.key, [steps[0], steps[len(steps) // 2], steps[-1]]))
        base, per = len(json.dumps(probe["base"])), max(len(json.dumps(s)) for s in probe["steps"])
        fit = int((SWEEP_BYTES / 1.25 - base) / max(per, 1))  # 1.25: more steps share fewer of their points
        if fit < len(steps):
            steps = steps_of(field, max(SWEEP_MIN_STEPS, fit))
    out = factor(overall_ranges(frames(values, field.key, steps)))
    size = len(json.dumps(out))
    if size > SWEEP_BYTES and len(steps) > SWEEP_MIN_STEPS:  # the probe underestimated (a kink that moves adds points): fewer steps
        steps = steps_of(field, max(SWEEP_MIN_STEPS, int(len(steps) * SWEEP_BYTES / size * 0.9)))
        out = factor(overall_ranges(frames(values, field.key, steps)))
    return steps, out


def overall_ranges(per_step: list[dict]) -> list[dict]:
    """Each panel's y range over the whole sweep at every step: the axes hold while the hand
    moves (no relayout per step); the settle sets the range of the value released."""
    spans: dict = {}
    for step in per_step:
        for gid, part in step.items():
            if isinstance(part, dict):
                for k, r in (part.get("layout") or {}).items():
                    if k.endswith(".range") and isinstance(r, list) and len(r) == 2:
                        lo, hi = spans.get((gid, k), (r[0], r[1]))
                        spans[gid, k] = (min(lo, r[0]), max(hi, r[1]))
    for step in per_step:
        for (gid, k), (lo, hi) in spans.items():
            if k in (step.get(gid) or {}).get("layout", {}):
                step[gid]["layout"][k] = [lo, hi]
    return per_step


def factor(per_step: list[dict]) -> dict:
    """Per-step output changes -> {"base": what every step shares, "steps": what differs}: an
    x shared by every step is sent once."""
    base, steps = {}, [{} for _ in per_step]
    same = lambda get: all(json.dumps(get(f), sort_keys=True) == json.dumps(get(per_step[0]), sort_keys=True) for f in per_step)  # noqa: E731
    for out_id, first in per_step[0].items():
        if not isinstance(first, dict):
            if same(lambda f: f[out_id]):
                base[out_id] = first
            else:
                for s, f in enumerate(per_step):
                    steps[s][out_id] = f[out_id]
            continue
        for part in ("traces", "layout"):
            for k, attrs in (first.get(part) or {}).items():
                items = attrs.items() if part == "traces" else [(None, attrs)]
                for a, val in items:
                    get = (lambda f, k=k, a=a: f[out_id][part][k][a]) if part == "traces" else (lambda f, k=k: f[out_id][part][k])
                    targets = [base] if same(get) else steps
                    for s, t in enumerate(targets):
                        v = get(per_step[s]) if targets is steps else val
                        node = t.setdefault(out_id, {"traces": {}, "layout": {}})[part]
                        if part == "traces":
                            node.setdefault(str(k), {})[a] = v
                        else:
                            node[k] = v
    return {"base": base, "steps": steps}


def drag_stores(page: str, st: dict, schema, drag_outputs: list):
    """The page's stores: its state (what is drawn; the URL follows it), the sweep and its
    request, and the drag's config (the sliders in ``wire``'s order, the outputs it draws)."""
    nums = numbers(schema)
    cfg = {"page": page, "ids": [safe_id(page, f.key) for f in nums], "keys": [f.key for f in nums],
           "figs": [o[0] for o in drag_outputs if o[1] == "figure"], "texts": [o[0] for o in drag_outputs if o[1] != "figure"]}
    # {page}-drag: the output the drag and release callbacks need (a callback has one); never written
    return [dcc.Store(id=f"{page}-state", data=st), dcc.Store(id=f"{page}-url"), dcc.Store(id=f"{page}-sweep"),
            dcc.Store(id=f"{page}-sweep-req"), dcc.Store(id=f"{page}-cfg", data=cfg), dcc.Store(id=f"{page}-narrow"),
            dcc.Store(id=f"{page}-sweep-have"), dcc.Store(id=f"{page}-drag")]


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
    if isinstance(st, dict) and isinstance(st.get("values"), dict):
        return st["values"]
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




def curve_page(page: str, title: str, query: dict, schema, compute: Callable, descriptions: dict):
    """A curve page (Losses, Activations, Classification) from its URL query: the title, the
    graph first (a classroom sees it without scrolling), the line on coinciding curves, the
    controls (each with its parameter's description; parameters of what is not chosen hidden),
    the formulas, the export row and the page's stores. ``compute(values, notes)`` returns
    (figure, note, formulas)."""
    values, url_notes, st, msg, (fig, note, formulas) = first_view(page, schema, compute, 3, query)
    hide = values["_hide"]
    act = acting(schema, values)
    controls_ = [control(page, f, values[f.key], hide, descriptions.get(f.key, ""), act.get(f.key, True))
                 for f in schema if f.key != "present"]
    return html.Div([
        *page_header(page, title, url_notes, hide),
        html.Div(msg, id=f"{page}-message"),
        graph(f"{page}-graph", fig, page),
        html.Div(note, id=f"{page}-coincide", className="coincide-note"),
        dmc.SimpleGrid(controls_, cols={"base": 1, "sm": 2, "lg": 4}, spacing="lg", verticalSpacing="sm", className="controls"),
        html.Div(formulas, id=f"{page}-formula", className="formulas"),
        export_row(page, hide),
        *drag_stores(page, st, schema, [(f"{page}-graph", "figure")]),
    ])


def graph(gid: str, fig, page: str):
    """A graph whose titles may hold LaTeX (MathJax); the toolbar (modebar) below the legend's corner."""
    return dcc.Graph(id=gid, figure=fig, mathjax=True, className="graph",
                     config={"responsive": True, "displaylogo": False,
                             "toImageButtonOptions": {"format": "png", "filename": f"lossviz-{page}"}})


def wire_curve_page(app: dash.Dash, page: str, schema, compute: Callable, frames: Callable, preview: tuple[str, ...] = ()) -> None:
    wire(app, page, schema, compute, [Output(f"{page}-graph", "figure"), Output(f"{page}-coincide", "children"),
                                      Output(f"{page}-formula", "children")],
         frames=frames, drag_outputs=[(f"{page}-graph", "figure")], preview=preview)


def hand_step(lo: float, hi: float, step: float, integer: bool = False) -> float:
    """A slider step fine enough that a drag across the track (~1 s) changes value >= 20 times
    a second where the parameter allows it: at least 60 steps (1, 2, 2.5 or 5 x 10^k)."""
    if integer or (hi - lo) / step >= 60:
        return step
    for s in sorted({m * 10.0 ** e for m in (1, 2, 2.5, 5) for e in range(-4, 3)}, reverse=True):
        if s <= step and (hi - lo) / s >= 60 and abs((hi - lo) / s - round((hi - lo) / s)) < 1e-6:
            return round(s, 10)
    return step
