"""The ``lossviz`` command: a thin shell over the library's functions.

A user mistake prints one line ``lossviz: error: ...`` and exits with status 2.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

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


def _csv(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def cmd_figures(args: argparse.Namespace) -> int:
    import time

    from lossviz import export

    start = time.perf_counter()
    out = Path(args.out) if args.out else export.default_out_dir()
    if args.run:
        from lossviz import runs

        written = runs.export_run_figures(Path(args.run), out=Path(args.out) if args.out else None,
                                          formats=_csv(args.format), dpi=args.dpi, style=args.style)
    else:
        entries = export.select(export.catalogue(export.parse_params(args.param)), args.only)
        written = export.export(entries, out, formats=_csv(args.format), dpi=args.dpi, style=args.style)
    print(f"wrote {len(written)} files to {written[0].parent if written else out} in {time.perf_counter() - start:.1f} s")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="lossviz", description="See how losses and activations behave, and what they do to training.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    p = sub.add_parser("list", help="print every loss and activation with parameters and formulas")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("figures", help="write notes-ready figures (PNG/SVG/PDF) and a gallery index.md")
    p.add_argument("--out", help="output folder (default: figures/ at the repository root; for --run: RUN/figures)")
    p.add_argument("--format", default="png,svg", help="comma-separated formats among png, svg, pdf (default: png,svg)")
    p.add_argument("--only", nargs="+", metavar="NAME", help="only these figures: a file stem (loss_huber) or a loss/activation name (default: all)")
    p.add_argument("--param", action="append", metavar="NAME.PARAM=VALUE", help="override a parameter, e.g. huber.delta=0.5 (repeatable)")
    p.add_argument("--dpi", type=int, default=150, help="resolution of PNG files (default: 150)")
    p.add_argument("--style", choices=["light", "dark", "print"], default="light", help="colour style (default: light)")
    p.add_argument("--run", metavar="DIR", help="redraw the figures of a `lossviz compare` run folder instead")
    p.set_defaults(func=cmd_figures)
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
