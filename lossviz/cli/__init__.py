"""The ``lossviz`` command: a thin shell over the library's functions, one module per command.

    shell.py     what the commands share: the one-line error, --plugin, torch loaded with Ctrl-C held back
    listing.py   lossviz list
    figures.py   lossviz figures
    compare.py   lossviz compare (train, then draw the run's figures through the exporter)
    studies.py   lossviz study noise | calibration, lossviz landscape
    explore.py   lossviz explore
    serve.py     lossviz serve (the explorer for a class, under gunicorn)
    check.py     lossviz check (a hand-written gradient against autograd)
    download.py  lossviz download (Fashion-MNIST, resumed, retried, checksummed)

Every command takes ``--plugin FILE`` (repeatable) and reads ``LOSSVIZ_PLUGINS``: the plugins
are loaded after parsing and before the command runs, so the names they register are valid
wherever a command checks a loss or activation name.

Arguments are parsed (and --help answered) before torch is imported. A user mistake prints one
line ``lossviz: error: ...`` and exits with status 2.
"""

from __future__ import annotations

import argparse
import sys

from lossviz.cli import check, compare, download, explore, figures, listing, serve, studies
from lossviz.cli.shell import Parser, UsageError, add_plugin_option, load_plugins, load_torch  # noqa: F401 - the CLI's API too


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="lossviz", description="See how losses and activations behave, and what they do to training.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    sub.required = True
    listing.add_parser(sub)
    figures.add_parser(sub)
    download.add_parser(sub)
    compare.add_parser(sub)
    studies.add_parsers(sub)
    explore.add_parser(sub)
    serve.add_parser(sub)
    check.add_parser(sub)
    add_plugin_option(parser)  # --plugin FILE on every command
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command; its exit status (2 for a user mistake, 130 when interrupted)."""
    try:
        args = build_parser().parse_args(argv)  # (a Ctrl-C while the parser is built: "interrupted" too)
        load_plugins(args)  # before any name of a loss or activation is checked
        return args.func(args)
    except (UsageError, ValueError, FileNotFoundError) as e:
        print(f"lossviz: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("lossviz: interrupted", file=sys.stderr)
        return 130


def run() -> None:
    """The ``lossviz`` console command."""
    sys.exit(main())
