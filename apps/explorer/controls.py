"""Small layout helpers shared by the pages: labelled controls that teacher mode can hide."""

from __future__ import annotations

from dash import dcc, html

from lossviz.explorer import state


def box(page: str, key: str, label: str, control, hide: set[str]):
    """A labelled control; hidden when ``key`` is in the URL's ``_hide`` list."""
    return html.Div([html.Label(label, className="control-label"), control], id=f"{page}-box-{key}",
                    className="control", style={"display": "none"} if key in hide else {})


def slider(cid: str, lo: float, hi: float, step: float, value: float):
    return dcc.Slider(id=cid, min=lo, max=hi, step=step, value=value, marks=None,
                      tooltip={"placement": "bottom", "always_visible": False}, updatemode="drag")


def export_row(page: str):
    return html.Div([
        html.Button("Export for notes", id=f"{page}-export", n_clicks=0),
        dcc.Dropdown(id=f"{page}-export-format", options=["svg", "pdf", "png"], value="svg", clearable=False, style={"width": "6em"}),
        dcc.Download(id=f"{page}-download"),
    ], className="export-row")


def param_key(name: str, param: str) -> str:
    return f"{name}.{param}"


def param_id(page: str, name: str, param: str) -> str:
    return f"{page}-param-{name}-{param}"


def param_sliders(page: str, declared, query: dict, hide: set[str]) -> list:
    """One slider per registry parameter [(name, Param), ...], its value from the URL if valid."""
    out = []
    for name, p in declared:
        key = param_key(name, p.name)
        lo, hi = p.slider_range
        value = state.number(query.get(key), p.default, lo, hi)
        out.append(box(page, key, f"{name} {p.name} — {p.description}", slider(param_id(page, name, p.name), lo, hi, p.ui_step, value), hide))
    return out


X_LIMIT = 20.0


def x_range(page: str, label: str, query: dict, default: tuple[float, float], hide: set[str]):
    """The x-range RangeSlider (id ``{page}-xrange``), its value from ``xmin``/``xmax`` in the URL."""
    lo = state.number(query.get("xmin"), default[0], -X_LIMIT, X_LIMIT)
    hi = state.number(query.get("xmax"), default[1], -X_LIMIT, X_LIMIT)
    return box(page, "xrange", label, dcc.RangeSlider(id=f"{page}-xrange", min=-X_LIMIT, max=X_LIMIT, step=0.5, value=[lo, hi],
                                                      marks=None, tooltip={"placement": "bottom"}), hide)
