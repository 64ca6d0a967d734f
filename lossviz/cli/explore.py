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
    p.set_defaults(func=cmd_explore)


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
    print(f"lossviz explorer: http://{shown}:{args.port}/  (Ctrl-C stops it)", flush=True)
    if app.server.config.get("LOSSVIZ_PLOTLY_BUNDLE") is None:
        print("note: plotly.js's cartesian bundle is not in the cache, so pages load the full plotly.js (first loads ~0.7 s "
              "slower); fetch it with `python -m lossviz.explorer.plotly_bundle`", file=sys.stderr)
    app.run(host=args.host, port=args.port, debug=args.debug, dev_tools_hot_reload=False)
    return 0
