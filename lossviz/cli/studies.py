"""``lossviz study noise``, ``lossviz study calibration`` and ``lossviz landscape``: studies of
trained models, each writing its results and figures beside the runs."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from lossviz.cli.compare import check_fits, check_threads, compare_config, threads_flag, training_flags
from lossviz.cli.shell import Parser, UsageError, figure_formats, file_errors, out_path, progress

_RAY_HELP = "(needs `pip install 'lossviz[ray]'`)"


def add_parsers(sub) -> None:
    study = sub.add_parser("study", help="studies of trained models: label noise, calibration",
                           description="Studies no other tool offers: robustness to label noise, calibration.")
    studies = study.add_subparsers(dest="study", metavar="STUDY", parser_class=Parser)
    studies.required = True
    p = studies.add_parser("noise", help="one run per label-noise rate; test accuracy against the rate per loss",
                           description="Train the losses side by side once per label-noise rate (training labels "
                           "corrupted, the same for every loss; test labels clean), then plot final test accuracy "
                           "against the rate per loss (mean +- std over --seeds). Every `lossviz compare` training "
                           "flag applies to each run.")
    p.add_argument("--rates", default="0,0.2,0.4,0.6", help="comma-separated noise rates in [0, 1) (default: 0,0.2,0.4,0.6)")
    training_flags(p, skip=("label_noise", "noise"),
                   losses_help="comma-separated registry losses (default: cross_entropy,l1,l2, and gce when registered)")
    p.add_argument("--noise", dest="noise_kind", choices=["symmetric", "pairflip"], default="symmetric",
                   help="symmetric: a wrong label is any other class, uniformly; pairflip: class c becomes c + 1 "
                   "(default: symmetric)")
    p.add_argument("--param", action="append", metavar="NAME.PARAM=VALUE", help="a loss's or the activation's parameter (repeatable)")
    p.add_argument("--config", metavar="FILE", help="training settings from a JSON file (any TrainConfig fields)")
    threads_flag(p, "training each run (here, or in each Ray task)")
    p.add_argument("--data-root", help="the folder holding the Fashion-MNIST IDX files (default: as for compare)")
    p.add_argument("--out", help="study folder (default: runs/noise-DATE-TIME)")
    p.add_argument("--figures", default="png", metavar="FORMATS", help="formats of the study's and each run's figures, "
                   "among png, svg, pdf, or none (default: png)")
    p.add_argument("--ray", nargs="?", const="", default=None, metavar="ADDRESS",
                   help="run each rate as a Ray task: on the cluster at ADDRESS (e.g. ray://head:10001 or auto), or "
                   f"on a local Ray without ADDRESS {_RAY_HELP}")
    p.set_defaults(func=cmd_study_noise)

    p = studies.add_parser("calibration", help="reliability diagrams, ECE / MCE / Brier per loss, temperature scaling",
                           description="Calibration of every model of a `lossviz compare` run, from its test predictions: "
                           "reliability diagrams (15 bins), ECE, MCE and Brier score per loss; then temperature scaling "
                           "(Guo et al. 2017), T fitted on the training images the run did not train on (train with "
                           "--holdout N), and the same numbers again.")
    p.add_argument("run", metavar="RUN", help="a run folder of `lossviz compare`")
    p.add_argument("--no-temperature", action="store_true", help="only the calibration before temperature scaling")
    p.add_argument("--data-root", help="the run's Fashion-MNIST (default: the data source recorded in the run)")
    p.add_argument("--figures", default="png", metavar="FORMATS", help="formats of the figures, among png, svg, pdf, or none (default: png)")
    p.set_defaults(func=cmd_study_calibration)

    p = sub.add_parser("landscape", help="each trained model's loss from init to trained weights and on a 2-D slice",
                       description="Loss landscapes of a `lossviz compare` run (first seed): each model's own training "
                       "loss and cross-entropy along the line from its initial to its trained weights (Goodfellow et al. "
                       "2015) and on a 2-D slice through its trained weights spanned by two filter-normalised random "
                       "directions (Li et al. 2018), the same directions for every loss.")
    p.add_argument("run", metavar="RUN", help="a run folder of `lossviz compare`")
    p.add_argument("--grid", type=int, default=41, help="points per axis of the 2-D slice (default: 41)")
    p.add_argument("--span", type=float, default=1.0, help="the slice covers [-SPAN, SPAN] along each direction (default: 1.0)")
    p.add_argument("--subset", type=int, default=10_000, help="the first N training images the run trained on (default: 10000)")
    p.add_argument("--data-root", help="the run's Fashion-MNIST (default: the data source recorded in the run)")
    p.add_argument("--figures", default="png", metavar="FORMATS", help="formats of the figures, among png, svg, pdf, or none (default: png)")
    p.add_argument("--ray", nargs="?", const="", default=None, metavar="ADDRESS",
                   help="compute the 2-D slice's points as Ray tasks: on the cluster at ADDRESS, or on a local Ray without "
                   f"ADDRESS {_RAY_HELP}")
    p.set_defaults(func=cmd_landscape)


def _study_config(args: argparse.Namespace, default_losses):
    """A study's base TrainConfig: as ``lossviz compare`` reads it, with the study's default losses."""
    if not hasattr(args, "losses"):
        from_file = {}
        if args.config:
            import json

            try:
                from_file = json.loads(Path(args.config).read_text())
            except (OSError, ValueError):
                from_file = {}  # TrainConfig.from_file reports it properly
        if not (isinstance(from_file, dict) and "losses" in from_file):
            args.losses = default_losses
    return compare_config(args)


def _ray_runner(args: argparse.Namespace, threads: int | None):
    """None without --ray; else a function bar -> runner(cells, data, out) sending cells to Ray."""
    if args.ray is None:
        return None
    from lossviz.studies import ray_grid

    address = ray_grid.check_address(args.ray) if args.ray else None
    ray_grid.check_ray()
    if address:
        ray_grid.check_reachable(address)  # before any loading, not minutes of Ray's retries
    return lambda bar: ray_grid.runner(address, threads=threads,
                                       on_cell=(lambda cell, results: bar.update(1)) if bar is not None else None)


def _run_and_data(args: argparse.Namespace, need_data: bool):
    """(the run folder, its config, Fashion-MNIST from --data-root or None): the folder is read
    first, so a wrong one is named before any loading."""
    from lossviz.train import runs

    run = Path(args.run)
    config, _ = runs.read_config(run)
    if not need_data or args.data_root is None:
        return run, config, None
    from lossviz import data as data_module

    return run, config, data_module.load_fashion_mnist(args.data_root)


@file_errors
def cmd_study_noise(args: argparse.Namespace) -> int:
    import datetime
    import time

    from lossviz.files import created_folders
    from lossviz.studies import noise

    out = out_path(args.out)
    rates = noise.parse_rates(args.rates)
    formats = figure_formats(args.figures, allow_none=True)
    threads = check_threads(args)
    config = _study_config(args, noise.default_losses())
    if config.label_noise:
        raise UsageError("--label-noise is set per run by --rates; leave it out")
    out = out if out is not None else Path("runs") / datetime.datetime.now().strftime("noise-%Y%m%d-%H%M%S")
    noise.check_study_out(out)
    runner = _ray_runner(args, threads)
    from lossviz import data
    from lossviz.studies import figures, grid

    fmnist = data.load_fashion_mnist(args.data_root)
    check_fits(config, fmnist)  # before the study folder is created
    cells = noise.noise_cells(config, rates, args.noise_kind)
    print(f"noise study: {len(cells)} runs ({', '.join(c.name for c in cells)}) of {', '.join(config.losses)} side by side, "
          f"{config.model}, {config.epochs} epochs x {config.seeds} seed(s), {args.noise_kind} noise; "
          f"{'on Ray' if runner else 'here'}; study folder {out}", file=sys.stderr)
    start = time.perf_counter()
    bar = progress(sum(grid.batches_of(c, fmnist) for c in cells), 0) if runner is None else progress(len(cells), 0, "run")
    made = created_folders(out)
    try:
        summary = noise.study_noise(config, rates, fmnist, out, kind=args.noise_kind, threads=threads, figures=formats,
                                    runner=runner(bar) if runner else None,
                                    on_batch=(lambda: bar.update(1)) if bar is not None and runner is None else None)
    except BaseException:
        noise.remove_unstarted(out, made)  # a study that failed before any run finished an epoch leaves nothing
        raise
    finally:
        if bar is not None:
            bar.close()
    print(noise.format_noise_table(summary))
    if formats:
        figures.export_figures(out, formats=formats)
    print(f"study folder: {out} ({len(cells)} run folders; figures in {out / 'figures'}) in {time.perf_counter() - start:.1f} s")
    return 0


@file_errors
def cmd_study_calibration(args: argparse.Namespace) -> int:
    formats = figure_formats(args.figures, allow_none=True)
    run, _, data = _run_and_data(args, need_data=not args.no_temperature)
    from lossviz.studies import calibration, figures

    results = calibration.study_calibration(run, data, temperature=not args.no_temperature)
    print(calibration.format_calibration_table(results))
    if formats:
        figures.export_figures(run, formats=formats)
    print(f"results in {run / calibration.RESULTS_FILE}" + (f"; figures in {run / 'figures'}" if formats else ""))
    return 0


@file_errors
def cmd_landscape(args: argparse.Namespace) -> int:
    import time

    from lossviz.studies import landscape

    landscape.check_args(args.grid, args.span, args.subset)
    formats = figure_formats(args.figures, allow_none=True)
    evaluate = None
    if args.ray is not None:
        from lossviz.studies import ray_grid

        if args.ray:
            ray_grid.check_address(args.ray)
        evaluate = ray_grid.landscape_evaluator(args.ray or None)
        if args.ray:
            ray_grid.check_reachable(args.ray)
    run, config, data = _run_and_data(args, need_data=True)
    from lossviz.studies import figures

    total = args.grid * args.grid + landscape.ALPHAS[2]
    print(f"landscape of {', '.join(config.losses)} ({config.model}): {args.grid} x {args.grid} slice, span {args.span:g}, "
          f"and {landscape.ALPHAS[2]} points from the initial to the trained weights, on {args.subset} training images",
          file=sys.stderr)
    bar = progress(total, 0, "point")
    start = time.perf_counter()
    try:
        ls = landscape.run_landscape(run, data, grid=args.grid, span=args.span, subset=args.subset, evaluate=evaluate,
                                     on_points=bar.update if bar is not None else None)
    finally:
        if bar is not None:
            bar.close()
    centre = args.grid // 2
    for m, name in enumerate(ls.losses):
        print(f"{name:<15} own loss at the trained point {ls.surface_own[m, centre, centre]:.4f}, "
              f"slice range {ls.surface_own[m].min():.4f}..{ls.surface_own[m].max():.4g}; "
              f"cross-entropy {ls.surface_ce[m, centre, centre]:.4f}")
    print(f"{args.grid}x{args.grid} slice for {len(ls.losses)} models in {ls.seconds_2d:.2f} s, line in {ls.seconds_1d:.2f} s "
          f"(total {time.perf_counter() - start:.1f} s with loading)")
    if formats:
        figures.export_figures(run, formats=formats)
    print(f"results in {run / landscape.RESULTS_FILE}" + (f"; figures in {run / 'figures'}" if formats else ""))
    return 0
