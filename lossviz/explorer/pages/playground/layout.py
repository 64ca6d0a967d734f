"""The Playground page's layout: the mode links, the buttons, one control per schema field, the
graphs (with the first frame already drawn), the export row and the tab's stores."""

from __future__ import annotations

import dash_mantine_components as dmc
from dash import dcc, html

from lossviz.explorer import controls, state
from lossviz.explorer.pages.playground import capacity
from lossviz.explorer.pages.playground.schema import ALL_MODES, OPTION_LABELS, PAGE, mode_of, points_from_query, schema
from lossviz.explorer.pages.playground.tick import tick
from lossviz.explorer.state import Choice, Names, Number

TICK_MS = 250  # the watchdog interval's period (the answers themselves pace the frames)


def control(mode: str, field, value, hide: set[str]):
    """A labelled control (a slider shows its value; the server clamps what arrives)."""
    cid = controls.safe_id(f"{PAGE}-{mode[0]}", field.key)
    label = dmc.Text(field.label, size="sm", fw=600, c="dimmed", className="control-label")
    if isinstance(field, Number):
        body = dmc.Slider(id=cid, min=field.lo, max=field.hi, step=field.step, value=value, updatemode="mouseup", size="lg",
                          labelAlwaysOn=False, **{"aria-label": field.label})
        label = dmc.Text([field.label, ": ", html.Span(state.fmt_number(value), id=f"{cid}-show")], size="sm", fw=600, c="dimmed",
                         className="control-label")
    elif isinstance(field, Names):
        body = dmc.MultiSelect(id=cid, data=list(field.options), value=list(value), clearable=True, searchable=True,
                               **{"aria-label": field.label})
    elif isinstance(field, Choice):
        body = dmc.Select(id=cid, data=[{"value": str(o), "label": OPTION_LABELS.get((field.key, o), str(o))} for o in field.options],
                          value=str(value), allowDeselect=False, **{"aria-label": field.label})
    else:
        raise TypeError(field)
    return html.Div([label, body], id=controls.wrap_id(f"{PAGE}-{mode[0]}", field.key), className="control",
                    style={"display": "none"} if field.key in hide else {})


def control_fields(mode: str) -> list:
    return [f for f in schema(mode) if f.key not in ("mode", "present")]


def layout(query: dict):
    hide = state.hidden(query)
    mode = mode_of(query)
    p = f"{PAGE}-{mode[0]}"
    tabs = dmc.Group([
        html.A("Regression with outliers", href="/playground?mode=regression", id=f"{PAGE}-to-regression",
               className="mode-link" + (" active" if mode == "regression" else "")),
        html.A("Classification in 2-D", href="/playground?mode=classification", id=f"{PAGE}-to-classification",
               className="mode-link" + (" active" if mode == "classification" else "")),
        html.A("Capacity (polynomials)", href="/playground?mode=capacity", id=f"{PAGE}-to-capacity",
               className="mode-link" + (" active" if mode == "capacity" else "")),
    ], gap="sm", id=f"{PAGE}-modes", style={"display": "none"} if "mode" in hide else {})
    if mode == "capacity":
        return capacity.layout(query, ALL_MODES, tabs, hide)
    values, notes = state.from_query(schema(mode), query)
    hide_list = sorted(hide)[: state.MAX_LIST]
    points = points_from_query(query, values, notes) if mode == "regression" else None
    first = tick(mode, "load", {k: v for k, v in values.items()}, None, None, hide_list, False, points=points)
    store, main, side, msg, url, read, *extra = first
    buttons = dmc.Group([
        dmc.Button("Play", id=f"{p}-play", n_clicks=0, color="green"),
        dmc.Button("Pause", id=f"{p}-pause", n_clicks=0, variant="outline"),
        dmc.Button("Step", id=f"{p}-step", n_clicks=0, variant="outline"),
        dmc.Button("Reset", id=f"{p}-reset", n_clicks=0, variant="outline", color="red"),
        html.Span(read, id=f"{p}-readout", className="readout"),
    ], gap="sm", className="controls")
    graph_cfg = {"responsive": True, "displaylogo": False, "toImageButtonOptions": {"format": "png", "filename": f"lossviz-{PAGE}"}}
    title = "Playground: regression with outliers" if mode == "regression" else "Playground: classification in 2-D"
    ctl = [control(mode, f, values[f.key], hide) for f in control_fields(mode)]
    if mode == "classification":
        overlay = {**graph_cfg, "staticPlot": True}
        graphs = [html.Div([dcc.Graph(id=f"{p}-main", figure=main, config=graph_cfg, className="graph"),
                            html.Div(dcc.Graph(id=f"{p}-points", figure=extra[0], config=overlay, className="graph"),
                                     className="map-overlay")], className="map-stack"),
                  dcc.Graph(id=f"{p}-side", figure=side, config=graph_cfg, className="graph"),
                  dcc.Graph(id=f"{p}-grads", figure=extra[1], config=graph_cfg, className="graph")]
    else:
        graphs = [dcc.Graph(id=f"{p}-main", figure=main, config=graph_cfg, className="graph", animate=False,
                            animation_options=controls.ANIMATION)]
    return html.Div([
        *controls.page_header(p, title, notes, hide),
        tabs,
        buttons,
        dmc.SimpleGrid(ctl, cols={"base": 1, "sm": 2, "lg": 4}, spacing="lg", verticalSpacing="sm", className="controls"),
        html.Div(msg, id=f"{p}-message"),
        *([html.Div(extra[2], id=f"{p}-hint", className="readout")] if mode == "classification" else []),
        *graphs,
        html.Div(dmc.Group([
            dmc.Button("Export for notes", id=f"{p}-export", n_clicks=0, variant="filled"),
            dmc.SegmentedControl(id=f"{p}-export-format", data=["svg", "pdf", "png", "gif"], value="svg"),
            dcc.Download(id=f"{p}-download"),
            html.Span(id=f"{p}-export-message", className="export-message"),
        ], gap="md"), id=f"{p}-export-row", className="export-row", style={"display": "none"} if "export" in hide else {}),
        dcc.Store(id=f"{p}-store", data=store),
        dcc.Store(id=f"{p}-tick"), dcc.Store(id=f"{p}-ack"), dcc.Store(id=f"{p}-search", data=url), dcc.Store(id=f"{p}-url-done"),
        dcc.Interval(id=f"{p}-interval", interval=TICK_MS, disabled=True),
    ])
