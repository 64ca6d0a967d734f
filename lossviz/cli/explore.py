"""``lossviz explore``: the explorer's web server, on this machine only unless told otherwise."""

from __future__ import annotations

import argparse
import sys

from lossviz import checks
from lossviz.cli.shell import UsageError


def add_parser(sub) -> None:
    p = sub.add_parser("explore", help="start the explorer in the browser")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1, this machine only)")
    p.add_argument("--port", type=int, default=8050, help="port (default: 8050)")
    p.add_argument("--debug", action="store_true", help="Dash debug mode (runs a code-executing debugger; off by default)")
    p.add_argument("--runs", default="runs", help="folder of `lossviz compare` run folders for the Training page (default: runs)")
    p.add_argument("--data-root", help="Fashion-MNIST for training from the page (default: $LOSSVIZ_DATA, cache, Debian's package, download)")
    p.add_argument("--allow-host", action="append", default=[], metavar="NAME",
                   help="also answer requests whose Host/Origin is NAME (repeatable; default: only localhost, 127.0.0.1, ::1 "
                        "and the --host address, which stops DNS-rebinding pages)")
    p.add_argument("--no-browser", dest="browser", action="store_false",
                   help="do not open a browser (default: open one where a desktop browser is available)")
    p.set_defaults(func=cmd_explore)


def desktop_browser() -> bool:
    """Is there a browser to open that is not this terminal's? Python's webbrowser falls back to
    console browsers (lynx, w3m) that would take over the terminal the server logs to; on Linux
    a desktop session (DISPLAY / WAYLAND_DISPLAY) or an explicit $BROWSER is required."""
    import os
    import webbrowser

    if sys.platform.startswith("linux") or sys.platform.startswith("freebsd"):
        if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY") or os.environ.get("BROWSER")):
            return False
    try:
        webbrowser.get()
    except webbrowser.Error:
        return False
    return True


def quiet_server(app, host: str, port: int):
    """A threaded WSGI server that logs errors only: no development-server banner, no line per
    request (werkzeug's request log is an INFO record; its errors stay)."""
    import logging

    from werkzeug.serving import WSGIRequestHandler, make_server

    class Handler(WSGIRequestHandler):
        def log_request(self, code="-", size="-"):  # one line per request is noise in a classroom
            if str(code).startswith("5"):
                super().log_request(code, size)

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    return make_server(host, port, app.server, threaded=True, request_handler=Handler)


def cmd_explore(args: argparse.Namespace) -> int:
    import ipaddress
    import socket

    checks.integer(args.port, "--port", 1, 65535)
    try:
        loopback = args.host == "localhost" or ipaddress.ip_address(args.host).is_loopback
    except ValueError:
        raise UsageError(f"--host must be an IP address or localhost, got {checks.shown(args.host)}") from None
    with socket.socket(socket.AF_INET6 if ":" in args.host else socket.AF_INET) as probe:
        try:
            probe.bind((args.host, args.port))
        except OSError as e:
            raise UsageError(f"cannot listen on {args.host}:{args.port}: {e.strerror} (is another explorer running? try --port)") from None
    if args.debug and not loopback:
        print(f"warning: --debug on {args.host} lets anyone who can reach this port run code through Dash's debugger", file=sys.stderr)
    from lossviz.explorer import create_app

    app = create_app(runs_dir=args.runs, data_root=args.data_root, allow_hosts=args.allow_host, bind_host=args.host, warm=True)
    shown = f"[{args.host}]" if ":" in args.host else args.host
    if args.host in ("0.0.0.0", "::"):  # every address: the browser here opens the loopback one
        shown = "127.0.0.1" if args.host == "0.0.0.0" else "[::1]"
    url = f"http://{shown}:{args.port}/"
    if app.server.config.get("LOSSVIZ_PLOTLY_BUNDLE") is None:
        print("note: plotly.js's cartesian bundle is not in the cache, so pages load the full plotly.js (first loads ~0.7 s "
              "slower); fetch it with `python -m lossviz.explorer.plotly_bundle`", file=sys.stderr)
    if args.debug:  # Dash's debugger and its dev tools need Dash's own runner (which logs every request)
        print(f"lossviz explorer: {url}  (debug mode; Ctrl-C stops it)", flush=True)
        app.run(host=args.host, port=args.port, debug=True, dev_tools_hot_reload=False)
        return 0
    server = quiet_server(app, args.host, args.port)
    opened = args.browser and desktop_browser()
    print(f"lossviz explorer: {url}  ({'opening it in your browser; ' if opened else ''}Ctrl-C stops it)", flush=True)
    if opened:
        import threading
        import webbrowser

        threading.Thread(target=webbrowser.open, args=(url,), daemon=True).start()  # the socket already listens
    try:
        server.serve_forever()  # Ctrl-C: "lossviz: interrupted" (cli.main), as every command
    finally:
        server.server_close()
    return 0
