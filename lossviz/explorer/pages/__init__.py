"""The explorer's pages, registered with Dash Pages by ``create_app`` (``register``).

A page is a module with ``PAGE`` (its id prefix, e.g. "losses"), ``PATH`` ("/losses"),
``TITLE`` (the nav's text), ``layout(query: dict) -> component`` (``query``: the URL's query
string as {key: str}; validate it with ``state``) and ``register(app)`` (its callbacks, on the
app: ``app.callback`` / ``app.clientside_callback``, never module-level ``dash.callback``).
``create_app`` calls ``register(module, order)`` for it, then ``module.register(app)``; a page
whose layout needs more (the Training page's runs folder) passes ``layout=`` a partial.

A page that writes its state into the URL (``history.pushState`` from a clientside callback,
``assets/lossviz.js``'s ``writeUrl``) records it in the ``url-shown`` store, so that Dash
Pages, told of the new URL, leaves the page as it is (``layout`` answers ``no_update``), while
Back and Forward to another query re-render the page from that query.
"""

from __future__ import annotations

import dash
from dash import Input, Output, dcc

HOME = "lossviz.explorer.pages.home"  # the registry entry of "/" (the first page again)
SHOWN = "_lossviz_shown"  # the routing input that carries the url-shown store (app.py)


def register(module, order: int, layout=None) -> None:
    """Register a page module with Dash Pages (see the module docstring)."""
    build = layout or module.layout

    def page_layout(**kwargs):
        shown = kwargs.pop(SHOWN, None)
        query = {k: v if isinstance(v, str) else str(v[-1]) for k, v in kwargs.items() if isinstance(v, (str, list)) and v}
        query.update({k: "" for k, v in kwargs.items() if v == ""})
        if isinstance(shown, dict) and shown.get("path") in (module.PATH, "/") and shown.get("query") == query:
            return dash.no_update  # the page on screen wrote this URL itself: nothing to render
        return build(query)

    dash.register_page(module.__name__, path=module.PATH, name=module.TITLE, title=f"{module.TITLE} · lossviz explorer",
                       order=order, layout=page_layout)
    if order == 0:  # the first page also answers "/" (Dash serves its index there: no redirect)
        dash.register_page(HOME, path="/", name=module.TITLE, title=f"{module.TITLE} · lossviz explorer", order=-1,
                           layout=page_layout)


def nav() -> list:
    """The nav's links, from ``dash.page_registry`` in page order."""
    return [dcc.Link(p["name"], href=p["relative_path"], id=f"nav-{p['module'].split('.')[-1]}")
            for p in sorted(dash.page_registry.values(), key=lambda p: p["order"]) if p["module"] != HOME]


def wire_nav(app: dash.Dash) -> None:
    """The active page's link is highlighted."""
    for p in dash.page_registry.values():
        if p["module"] == HOME:
            continue
        app.clientside_callback(f"(path) => path === {p['path']!r} || (path === '/' && {p['order']} === 0) ? 'active' : ''",
                                Output(f"nav-{p['module'].split('.')[-1]}", "className"), Input("_pages_location", "pathname"))
