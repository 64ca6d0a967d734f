"""The ``lossviz`` command: a thin shell over the library's functions.

A user mistake prints one line ``lossviz: error: ...`` and exits with status 2.
"""

from __future__ import annotations

import argparse
import sys

from lossviz.registry import activations, get_activation, get_loss, losses


class UsageError(Exception):
    """A mistake in what the user asked for: reported in one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one clear line instead of usage + message
        raise UsageError(message)


def _describe(spec) -> list[str]:
    lines = [f"  {spec.name:<15} {spec.title}: {spec.summary}"]
    for p in spec.params:
        lines.append(f"      --param {spec.name}.{p.name}=X   {p.description} (default: {p.default:g}, range: {p.range_text})")
    lines.append(f"      value: {spec.formula.value}")
    lines.append(f"      grad:  {spec.formula.grad}")
    return lines


def cmd_list(args: argparse.Namespace) -> int:
    out = ["Losses:"]
    for name in losses():
        out += _describe(get_loss(name))
    out.append("")
    out.append("Activations:")
    for name in activations():
        out += _describe(get_activation(name))
    print("\n".join(out))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="lossviz", description="See how losses and activations behave, and what they do to training.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    p = sub.add_parser("list", help="print every loss and activation with parameters and formulas")
    p.set_defaults(func=cmd_list)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        return args.func(args)
    except (UsageError, ValueError) as e:
        print(f"lossviz: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("lossviz: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
