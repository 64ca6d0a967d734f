"""``lossviz serve``: the explorer for a whole class, under gunicorn (``pip install 'lossviz[serve]'``).

Pages keep their state in the browser (URL, stores) and training jobs keep theirs in the runs
folder, so any worker answers any request, and a worker that dies is replaced by gunicorn's
master while the others go on answering.
"""

from __future__ import annotations

import argparse

from lossviz import checks
from lossviz.cli.shell import UsageError

DEFAULT_BIND = "127.0.0.1:8050"


def add_parser(sub) -> None:
    p = sub.add_parser("serve", help="serve the explorer to a class (gunicorn, several worker processes)")
    p.add_argument("--bind", default=DEFAULT_BIND, metavar="HOST:PORT",
                   help=f"address to listen on (default: {DEFAULT_BIND}, this machine only; 0.0.0.0:8050 for a class, "
                        "which also lets in requests naming this machine's host name and addresses)")
    p.add_argument("--workers", type=int, default=2, help="worker processes (default: 2)")
    p.add_argument("--threads", type=int, default=4, help="threads per worker (default: 4)")
    p.add_argument("--runs", default="runs", help="folder of `lossviz compare` run folders for the Training page (default: runs)")
    p.add_argument("--data-root", help="Fashion-MNIST for training from the page (default: $LOSSVIZ_DATA, cache, Debian's package, download)")
    p.add_argument("--allow-host", action="append", default=[], metavar="NAME",
                   help="also answer requests whose Host/Origin is NAME, e.g. a proxy's public name (repeatable)")
    p.add_argument("--allow-training", action="store_true",
                   help="let visitors start training jobs from the Training page (default: off)")
    p.add_argument("--max-jobs", type=int, default=4,
                   help="with --allow-training: jobs running or waiting at once, one per visitor; one trains at a time (default: 4)")
    p.set_defaults(func=cmd_serve)


def parse_bind(bind: str) -> tuple[str, int]:
    host, sep, port = bind.rpartition(":")
    if not sep or not port.isdigit():
        raise UsageError(f"--bind must be HOST:PORT, got {checks.shown(bind)}")
    host = host.strip("[]")
    checks.integer(int(port), "--bind's port", 1, 65535)
    return host, int(port)


def loopback(host: str) -> bool:
    import ipaddress

    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def machine_names(host: str) -> list[str]:
    """The names a browser in the room may send for this machine when the server listens on
    ``host`` (not loopback): its host name, fully qualified name and their addresses."""
    import socket

    names = {host} if host not in ("0.0.0.0", "::") else set()
    for name in {socket.gethostname(), socket.getfqdn()}:
        names.add(name)
        try:
            names |= {info[4][0] for info in socket.getaddrinfo(name, None)}
        except OSError:
            pass
    return sorted(n for n in names if n)


def shared_url(host: str, port: int) -> str:
    """The address to give the class."""
    import socket

    if host in ("0.0.0.0", "::"):
        host = socket.getfqdn() or socket.gethostname()
    return f"http://{'[' + host + ']' if ':' in host else host}:{port}/"


def build_app(args: argparse.Namespace, host: str):
    """The explorer's Dash app, configured for serving (the Host check, the jobs' policy)."""
    from lossviz.explorer import create_app

    extra = list(args.allow_host) + ([] if loopback(host) else machine_names(host))
    app = create_app(runs_dir=args.runs, data_root=args.data_root, allow_hosts=extra, bind_host=host)
    app.jobs.allow = args.allow_training
    app.jobs.max_jobs = args.max_jobs
    app.jobs.per_visitor = True
    return app


def cmd_serve(args: argparse.Namespace) -> int:
    import socket

    host, port = parse_bind(args.bind)
    checks.integer(args.workers, "--workers", 1, 64)
    checks.integer(args.threads, "--threads", 1, 64)
    checks.integer(args.max_jobs, "--max-jobs", 1, 1000)
    try:
        from gunicorn.app.base import BaseApplication
    except ImportError:
        raise UsageError("lossviz serve needs gunicorn: pip install 'lossviz[serve]'") from None
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        try:
            probe.bind((host, port))
        except OSError as e:
            raise UsageError(f"cannot listen on {args.bind}: {e.strerror} (is another server running? try another port)") from None

    # Preloaded: the master imports torch and builds the app once, then forks the workers, which
    # share those pages; a killed worker's replacement answers within a fraction of a second
    # instead of after a fresh import of torch and Dash (seconds on a busy 2-core machine).
    app = build_app(args, host)
    from lossviz.explorer.app import warm_compressed_scripts

    warm_compressed_scripts(app)  # in the master, before forking: every worker has the compressed scripts

    class Server(BaseApplication):
        def load_config(self):
            for key, value in {"bind": [f"[{host}]:{port}" if ":" in host else f"{host}:{port}"], "workers": args.workers,
                               "threads": args.threads, "worker_class": "gthread", "preload_app": True,
                               "timeout": 60, "graceful_timeout": 10, "keepalive": 5,
                               "accesslog": None, "errorlog": "-", "loglevel": "warning"}.items():
                self.cfg.set(key, value)

        def load(self):
            return app.server

    print(f"lossviz explorer for a class: {shared_url(host, port)}  ({args.workers} workers; training from the page "
          f"{'on, ' + str(args.max_jobs) + ' jobs at most' if args.allow_training else 'off'}; Ctrl-C stops it)", flush=True)
    Server().run()
    return 0
