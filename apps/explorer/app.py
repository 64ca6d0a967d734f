"""The explorer app: ``create_app()`` builds a fresh Dash app (tests call it once per app).

Callbacks are registered on the app inside the factory, not with module-level
``@dash.callback`` (Dash 4 hands those to the first app created in a process).
"""

from __future__ import annotations

import dash
from dash import Input, Output, State, dcc, html

from pathlib import Path

from lossviz.explorer import state
from lossviz.explorer.jobs import JobManager
from lossviz.explorer.pages import activations, losses, softmax, training

PAGES = (losses, activations, softmax)  # the curve pages; the training page needs a runs folder

CSS = """
body { font-family: system-ui, sans-serif; margin: 0 1.5em; color: #222; }
nav a { margin-right: 1.2em; font-weight: 600; text-decoration: none; color: #0072B2; }
nav { padding: .8em 0; border-bottom: 1px solid #ddd; margin-bottom: .5em; }
.controls { display: grid; grid-template-columns: repeat(auto-fill, minmax(260px, 1fr)); gap: .4em 1.5em; }
.control-label { font-size: .85em; color: #555; }
.message { color: #D55E00; min-height: 1.2em; font-weight: 600; }
.loss-readout { font-family: monospace; margin: .3em 0; }
.export-row { display: flex; gap: .8em; align-items: center; margin: .5em 0 2em; }
"""


def create_app(runs_dir: str | Path = "runs", data_root: str | None = None) -> dash.Dash:
    """The explorer; ``runs_dir`` holds `lossviz compare` run folders, ``data_root`` the data."""
    runs_dir = Path(runs_dir)
    jobs = JobManager(runs_dir, data_root)
    app = dash.Dash(__name__, title="lossviz explorer", suppress_callback_exceptions=True, update_title=None)
    app.index_string = app.index_string.replace("</head>", f"<style>{CSS}</style></head>")
    app.layout = html.Div([
        dcc.Location(id="url", refresh=False),
        dcc.Store(id="hidden-controls", data=[]),
        html.Nav([dcc.Link(p.TITLE, href=p.PATH, id=f"nav-{p.PAGE}") for p in (*PAGES, training)]),
        html.Div(id="page"),
    ])

    @app.callback(Output("page", "children"), Output("hidden-controls", "data"), Input("url", "pathname"), State("url", "search"))
    def render(pathname, search):
        query = state.parse_query(search)
        for page in PAGES:
            if pathname == page.PATH:
                return page.layout(query), sorted(state.hidden(query))
        if pathname == training.PATH:
            return training.layout(query, runs_dir, data_root), []
        if pathname in ("/", "", None):
            return losses.layout(query), sorted(state.hidden(query))
        return html.Div([html.H2("Page not found"), html.P(f"No page at {pathname}.")]), []

    for page in PAGES:
        inputs, to_query = page.register(app)

        def sync_url(*values, _to_query=to_query):
            # The page's controls -> the query string; the teacher-mode _hide list is kept.
            *values, hidden = values
            return state.to_query(_to_query(*values), hide=hidden)

        app.callback(Output("url", "search", allow_duplicate=True), *inputs, State("hidden-controls", "data"),
                     prevent_initial_call=True)(sync_url)
    training.register(app, runs_dir, jobs, data_root)
    app.jobs = jobs  # tests and the CLI reach the job manager through the app
    return app
