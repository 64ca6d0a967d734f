"""``lossviz figures``: the notes-ready figure set and its gallery, or a run folder's figures."""

from __future__ import annotations

import argparse
from pathlib import Path

from lossviz.cli.shell import figure_formats, load_torch, out_path


def add_parser(sub) -> None:
    p = sub.add_parser("figures", help="write notes-ready figures (PNG/SVG/PDF) and a gallery index.md")
    p.add_argument("--out", help="output folder (default: figures/ at the repository root; for --run: RUN/figures)")
    p.add_argument("--format", default="png,svg", help="comma-separated formats among png, svg, pdf (default: png,svg)")
    p.add_argument("--only", nargs="+", metavar="NAME", help="only these figures: a file stem (loss_huber) or a loss/activation name (default: all)")
    p.add_argument("--param", action="append", metavar="NAME.PARAM=VALUE", help="override a parameter, e.g. huber.delta=0.5 (repeatable)")
    p.add_argument("--dpi", type=int, default=150, help="resolution of PNG files (default: 150)")
    p.add_argument("--style", choices=["light", "dark", "print"], default="light", help="colour style (default: light)")
    p.add_argument("--run", metavar="DIR", help="redraw the figures of a `lossviz compare` run folder (and its studies) "
                   "or of a `lossviz study noise` folder instead")
    p.add_argument("--playground", action="store_true",
                   help="also the playground's figures: fits with outliers and decision maps per loss (trains small models, ~10 s)")
    p.add_argument("--html", action="store_true",
                   help="also the interactive set for course pages: OUT/html/<page>.html and one per loss with parameters, "
                   "sliders that work offline, an index.html (not in the default run)")
    p.set_defaults(func=cmd_figures)


def cmd_figures(args: argparse.Namespace) -> int:
    import time

    formats = figure_formats(args.format)
    out = out_path(args.out)
    load_torch()
    from lossviz import export

    start = time.perf_counter()
    if args.run:
        from lossviz.studies import figures

        written = figures.export_figures(Path(args.run), out=out, formats=formats, dpi=args.dpi, style=args.style)
    else:
        out = out or export.default_out_dir()
        entries = export.select(export.catalogue(export.parse_params(args.param), playground=args.playground), args.only)
        # The gallery lists what was drawn: the whole set, or the playground's (--only playground);
        # a partial export (--only) leaves index.md as it is.
        whole = not args.only or (args.playground and args.only == ["playground"])
        written = export.export(entries, out, formats=formats, dpi=args.dpi, style=args.style, index=whole)
        if args.html:
            from lossviz import views

            written += views.write_set(out / "html")
    print(f"wrote {len(written)} files to {written[0].parent if written else out} in {time.perf_counter() - start:.1f} s")
    return 0
