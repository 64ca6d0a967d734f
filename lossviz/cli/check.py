"""``lossviz check FILE | NAME ...``: each entry's hand-written gradient against autograd of its value."""

from __future__ import annotations

import argparse
from pathlib import Path

from lossviz.cli.shell import UsageError, load_torch


def add_parser(sub) -> None:
    p = sub.add_parser("check", help="check hand-written gradients against autograd (a plugin file's entries, or names)",
                       description="For each entry (those a plugin FILE registers, or the NAMEs given): its gradient "
                       "against torch.autograd of its value on a dense grid over the default range and on random points, "
                       "each parameter at its default and both ends of its range, in float32 and float64; values finite, "
                       "dtype and shape kept, and exp(-loss) integrating to its stated normalizer. A mismatch only at a "
                       "kink (gone a tiny step away on both sides) is a subgradient choice, not an error. One row per "
                       "entry; exit status 1 when any entry is wrong, 0 otherwise.")
    p.add_argument("targets", nargs="+", metavar="FILE|NAME",
                   help="a plugin file (its entries are checked) or a registered loss or activation name")
    p.set_defaults(func=cmd_check)


def names_to_check(targets: list[str]) -> list[str]:
    """The entries named on the command line: a ``.py`` file (or any existing file) stands for the
    entries it registers, loaded as a plugin; anything else is a registry name."""
    from lossviz import plugins, registry

    names: list[str] = []
    for t in targets:
        if t.endswith(".py") or Path(t).is_file():
            plugins.load_plugin(t)  # (already loaded through --plugin: nothing happens)
            found = plugins.names_from(t)
            if not found:
                raise UsageError(f"plugin {t}: registers no loss or activation")
            names += found
        else:
            registry.get(t)  # ValueError listing the valid names
            names.append(t)
    return list(dict.fromkeys(names))


def cmd_check(args: argparse.Namespace) -> int:
    load_torch()
    from lossviz import gradcheck

    names = names_to_check(args.targets)
    reports = gradcheck.check(names)
    print(gradcheck.format_reports(reports))
    return 1 if any(r.wrong for r in reports) else 0
