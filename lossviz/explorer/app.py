"""The explorer app: ``create_app()`` builds a fresh Dash app (tests call it once per app).

Callbacks are registered on the app inside the factory, not with module-level
``@dash.callback`` (Dash 4 hands those to the first app created in a process).

Layout and controls are dash-mantine-components (see the README for why); responses are
compressed (flask-compress); requests are checked against a Host/Origin allow-list of
loopback names (``allow_hosts`` adds names, as Jupyter's ``allow_origin``), bodies are capped,
and an error never answers with a traceback.
"""

from __future__ import annotations

import functools
import logging
import re
import threading
import traceback
from pathlib import Path
from urllib.parse import urlsplit

import dash
import torch
import dash_mantine_components as dmc
from dash import ClientsideFunction, Input, Output, State, dcc, html
from flask import Flask, has_request_context, jsonify, request
from werkzeug.exceptions import HTTPException

from lossviz.explorer import controls, pages, plotly_bundle, state
from lossviz.explorer.jobs import JobManager
from lossviz.explorer.pages import activations, classification, losses, playground, softmax, training

PAGES = (losses, activations, classification, softmax, playground)  # the training page needs a runs folder
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
PLOTLY_ROUTE = "/plotly-bundle/"  # the cartesian plotly.js bundle (plotly_bundle), a static file
MAX_BODY = 256 * 1024  # bytes of a request body; a crafted list of 100,000 names does not fit

CSS = """
html, body { margin: 0; overflow-x: hidden; }
.shell { max-width: 1600px; margin: 0 auto; padding: 0 16px 40px; }
.topbar { display: flex; flex-wrap: wrap; gap: 8px 24px; align-items: center; padding: 10px 0; border-bottom: 1px solid #dee2e6; margin-bottom: 12px; }
.topbar .brand { font-weight: 800; font-size: 1.15rem; color: #0072B2; }
.nav { display: flex; flex-wrap: wrap; gap: 4px 6px; }
.nav a { padding: 6px 12px; border-radius: 6px; font-weight: 600; text-decoration: none; color: #1c7ed6; }
.nav a.active { background: #1c7ed6; color: white; }
.nav a:hover:not(.active) { background: #e7f5ff; }
.controls { margin: 8px 0 4px; }
.control { min-width: 0; }
.graph { width: 100%; min-width: 0; contain: layout paint; }  /* a redraw re-lays out the graph, not the page */
.formulas { contain: content; }
.formulas, .formula { max-width: 100%; overflow-x: auto; }
.formula p { margin: .3em 0; }
.coincide-note { color: #495057; font-size: .9rem; min-height: 1.2em; }
.export-row { margin: 12px 0 24px; }
.export-message { color: #d9480f; }
.message { margin: 6px 0; }
.page-title { margin: 4px 0 8px; font-size: 1.5rem; }
.readout { font-family: ui-monospace, monospace; font-size: .95rem; overflow-wrap: anywhere; white-space: pre-line; }
.job-bar:empty { display: none; }
.pred-grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(128px, 1fr)); gap: 10px; }
.pred-cell { border: 1px solid #e9ecef; border-radius: 6px; padding: 6px; text-align: center; }
.pred-img { width: 84px; height: 84px; image-rendering: pixelated; display: block; margin: 0 auto 4px; }
.pred-true { font-weight: 700; }
.pred-line { font-size: .85rem; }
.mode-link { padding: 4px 10px; border-radius: 6px; font-weight: 600; text-decoration: none; color: #1c7ed6; border: 1px solid #a5d8ff; }
.mode-link.active { background: #e7f5ff; }
.map-stack { position: relative; }
.map-overlay { position: absolute; inset: 0; pointer-events: none; }
@media (max-width: 700px) { .shell { padding: 0 8px 32px; } .page-title { font-size: 1.2rem; } }
"""

THEME = {"primaryColor": "blue", "fontFamily": "system-ui, -apple-system, Segoe UI, Roboto, sans-serif"}


class AssetCache:
    """flask-compress's cache: the compressed JavaScript and CSS, one entry per URL.

    Dash's script URLs carry a fingerprint, so a URL's content never changes; compressing the
    4.6 MB of plotly.js once instead of on every page load is what keeps the first load fast on
    a loopback connection. Other responses (callback answers) get the empty key: not kept.
    """

    def __init__(self):
        self._entries: dict[str, bytes] = {}

    def get(self, key: str):
        return self._entries.get(key)

    def set(self, key: str, value: bytes) -> None:
        if not key.endswith(";") and len(self._entries) < 256:
            self._entries[key] = value


def asset_cache_key(req) -> str:
    if req.method == "GET" and req.path.startswith(("/_dash-component-suites/", "/assets/", PLOTLY_ROUTE)):
        return req.full_path
    return ""


def host_allowed(value: str | None, allowed: set[str]) -> bool:
    """Is the host of a Host header ("name:port", "[::1]:port") or Origin URL one we serve?"""
    if not value:
        return False
    if "://" in value:
        host = urlsplit(value).hostname
    else:
        host = urlsplit("//" + value).hostname
    return bool(host) and host.lower().rstrip(".") in allowed


def allowed_hosts(extra=(), bind_host: str | None = None) -> set[str]:
    names = set(LOOPBACK_NAMES)
    for h in (*extra, bind_host):
        if h and h not in ("0.0.0.0", "::"):  # "every address" is not a name a browser sends
            names.add(str(h).strip("[]").lower().rstrip("."))
    return names


# Scripts a page loads after the index page (dcc's lazy chunks and plotly.js), by URL.
LAZY_SCRIPTS = ("dash/dcc/async-graph.js", "dash/dcc/async-markdown.js", "dash/dcc/async-mathjax.js",
                "dash/dcc/async-highlight.js", "plotly/package_data/plotly.min.js")


def warm_compressed_scripts(app: dash.Dash) -> None:
    """Compress every script a first load fetches into the cache, so the first visitor does not
    wait for it (plotly.js alone takes ~0.5 s to compress on a busy 2-core machine)."""
    client = app.server.test_client()
    prefix = app.config.requests_pathname_prefix
    html_page = client.get(prefix, headers={"Host": "localhost"}).get_data(as_text=True)
    urls = {u for u in re.findall(r'(?:src|href)="([^"]+\.(?:js|css)[^"]*)"', html_page) if u.startswith(prefix)}
    urls |= {f"{prefix}_dash-component-suites/{u}" for u in LAZY_SCRIPTS}
    for url in sorted(urls):
        for encoding in ("zstd", "br", "gzip"):
            client.get(url, headers={"Host": "localhost", "Accept-Encoding": encoding})


def create_app(runs_dir: str | Path = "runs", data_root: str | None = None, allow_hosts=(), bind_host: str | None = None,
               warm: bool = False) -> dash.Dash:
    """The explorer; ``runs_dir`` holds `lossviz compare` run folders, ``data_root`` the data.

    ``allow_hosts``: host names besides the loopback ones (and ``bind_host``) that the Host and
    Origin headers may carry (a DNS-rebinding page arrives with its own name and is refused).
    ``warm``: compress the scripts into the cache in a background thread right away.
    """
    # The explorer's arrays are small (a few thousand numbers): torch's intra-op threads only add
    # waiting for a busy core (a 2,001-point tanh took 3 ms with 2 threads under load, 0.02 ms with 1).
    torch.set_num_threads(1)
    runs_dir = Path(runs_dir)
    jobs = JobManager(runs_dir, data_root)
    server = Flask(__name__)
    server.config.update(COMPRESS_CACHE_BACKEND=AssetCache, COMPRESS_CACHE_KEY=asset_cache_key)
    app = dash.Dash(__name__, server=server, title="lossviz explorer", suppress_callback_exceptions=True, update_title=None,
                    compress=True, serve_locally=True, use_pages=True, pages_folder="",
                    routing_callback_inputs={pages.SHOWN: State("url-shown", "data")})
    prefix = app.config.requests_pathname_prefix
    bundle = plotly_bundle.available()
    server.config["LOSSVIZ_PLOTLY_BUNDLE"] = bundle  # (version, path) or None, for `lossviz explore`'s note
    if bundle is not None:
        # plotly.js's cartesian bundle (1.5 MB instead of 4.8 MB; see plotly_bundle), defined
        # before Dash's scripts: dcc.Graph then uses window.Plotly instead of loading the full one.
        version, path = bundle
        script = path.read_bytes()
        route = f"{PLOTLY_ROUTE}plotly-cartesian-{version}.min.js"

        @server.get(route)
        def plotly_cartesian():
            return script, 200, {"Content-Type": "application/javascript; charset=utf-8",
                                 "Cache-Control": "public, max-age=31536000, immutable"}

        url = prefix + route.lstrip("/")
        app.index_string = app.index_string.replace("{%scripts%}", f'<script src="{url}"></script>{{%scripts%}}')
    else:
        # plotly.js (4.8 MB) is fetched by the first graph; preloading it lets the browser fetch
        # and compile it while Dash is still laying out the page.
        url = f"{prefix}_dash-component-suites/plotly/package_data/plotly.min.js"
    preload = f'<link rel="preload" href="{url}" as="script">'
    app.index_string = app.index_string.replace("</head>", f"{preload}<style>{CSS}</style></head>")
    server.config["MAX_CONTENT_LENGTH"] = MAX_BODY
    hosts = allowed_hosts(allow_hosts, bind_host)
    server.config["LOSSVIZ_ALLOWED_HOSTS"] = hosts

    @server.before_request
    def check_host():
        if not host_allowed(request.host, hosts):
            return jsonify(error=f"host {request.host[:80]!r} is not allowed; start the explorer with --allow-host NAME"), 403
        origin = request.headers.get("Origin")
        if origin and origin != "null" and not host_allowed(origin, hosts):
            return jsonify(error="cross-origin request refused"), 403
        return None

    @server.errorhandler(Exception)
    def no_tracebacks(e):
        # A crafted request (a body Dash cannot read, inputs that match no callback) is the
        # client's error: answer 400 with one line; the traceback goes to the server log only.
        if isinstance(e, HTTPException):
            return jsonify(error=e.description), e.code
        logging.getLogger("lossviz.explorer").warning("refused request to %s: %s", request.path, "".join(
            traceback.format_exception_only(type(e), e)).strip()[:300])
        return jsonify(error="bad request"), 400

    # Dash Pages: every page registered here (not at import: Dash 4 hands module-level
    # registrations to the first app), the nav built from dash.page_registry.
    for order, page in enumerate(PAGES):
        pages.register(page, order)
    pages.register(training, len(PAGES), layout=functools.partial(training.layout, runs_dir=runs_dir, data_root=data_root))

    def serve_layout():
        # The first load's URL (the Referer of Dash's layout request) sets the shell: the
        # presentation switch and teacher mode's hidden nav. The page itself comes from Dash Pages.
        query = {}
        if has_request_context() and request.referrer:
            ref = urlsplit(request.referrer)
            if ref.netloc == request.host:
                query = state.parse_query("?" + ref.query if ref.query else "")
        hide = state.hidden(query)
        present, _ = state.check_field(state.Flag("present", "presentation"), query.get("present", "0"), False, source="url")
        return dmc.MantineProvider(html.Div([
            dcc.Store(id="hidden-controls", data=sorted(hide)[: state.MAX_LIST]),
            dcc.Store(id="narrow"),  # a phone-width window (set in the browser)
            dcc.Store(id="url-shown"),  # the path and query the page on screen shows (pages.py)
            html.Header([
                html.Span("lossviz", className="brand"),
                html.Nav(pages.nav(), id="nav", className="nav", style={"display": "none"} if "nav" in hide else {}),
                html.Div(dmc.Switch(id="present", label="presentation (large type)", checked=present, size="md"), id="present-wrap",
                         style={"display": "none"} if "present" in hide else {}),
            ], className="topbar", id="topbar", style={"display": "none"} if {"nav", "present"} <= hide else {}),
            html.Main(dash.page_container, id="page"),
        ], className="shell" + (" present" if present else ""), id="shell"), theme=THEME)

    app.layout = serve_layout
    app.clientside_callback(f"(path) => window.innerWidth < {controls.NARROW_PX}", Output("narrow", "data"),
                            Input("_pages_location", "pathname"))
    pages.wire_nav(app)
    app.clientside_callback(ClientsideFunction("lossviz", "presentation"), Output("shell", "className"), Input("present", "checked"))

    @app.callback(Output("hidden-controls", "data"), Input("_pages_location", "search"), prevent_initial_call=True)
    def hidden_controls(search):
        return sorted(state.hidden(state.parse_query(search)))[: state.MAX_LIST]

    for page in PAGES:
        page.register(app)
    training.register(app, runs_dir, jobs, data_root)
    app.jobs = jobs  # tests and the CLI reach the job manager through the app
    if warm:  # the command line's server: compress the scripts while the browser opens
        threading.Thread(target=warm_compressed_scripts, args=(app,), daemon=True).start()
    return app
