"""The ``lossviz`` command: a thin shell over the library's functions.

A user mistake prints one line ``lossviz: error: ...`` and exits with status 2.
"""

from __future__ import annotations

import argparse
import atexit
import os
import sys
from pathlib import Path

# Nothing heavy at the top: arguments are parsed (and --help answered) before torch is imported.


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
    from lossviz.registry import activations, get_activation, get_loss, get_model, losses, models

    out = ["Losses:"]
    for name in losses():
        out += _describe(get_loss(name))
    out.append("")
    out.append("Activations:")
    for name in activations():
        out += _describe(get_activation(name))
    out.append("")
    out.append("Models (lossviz compare --model NAME):")
    for name in models():
        spec = get_model(name)
        layers = f"; hidden layers: --hidden (default: {','.join(map(str, spec.hidden))}), --activation" if spec.hidden else ""
        out.append(f"  {spec.name:<15} {spec.title}: {spec.summary}{layers}")
    print("\n".join(out))
    return 0


def _csv(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def _formats(text: str, *, allow_none: bool = False) -> tuple[str, ...]:
    """``"png,svg"`` -> ("png", "svg"); every name checked, none twice; "none" -> () where allowed."""
    from lossviz.files import FIGURE_FORMATS as FORMATS  # not lossviz.export: that imports matplotlib

    if allow_none and text.strip().lower() == "none":
        return ()
    names = _csv(text)
    if not names:
        raise UsageError(f"no format given in {text!r}; choose among {', '.join(FORMATS)}" + (" or none" if allow_none else ""))
    for name in names:
        if name not in FORMATS:
            raise UsageError(f"unknown format {name!r}; valid formats: {', '.join(FORMATS)}" + (", none" if allow_none else ""))
    return tuple(dict.fromkeys(names))


def cmd_figures(args: argparse.Namespace) -> int:
    import time

    formats = _formats(args.format)
    if args.out is not None and not args.out.strip():
        raise UsageError("--out must name a folder, got an empty path")
    load_torch()
    from lossviz import export

    start = time.perf_counter()
    out = Path(args.out) if args.out else export.default_out_dir()
    if args.run:
        from lossviz.studies import figures

        written = figures.export_figures(Path(args.run), out=Path(args.out) if args.out else None,
                                         formats=formats, dpi=args.dpi, style=args.style)
    else:
        entries = export.select(export.catalogue(export.parse_params(args.param), playground=args.playground), args.only)
        # The gallery lists the whole set: a partial export (--only) leaves index.md as it is.
        # The gallery lists what was drawn: the whole set, or the playground's (--only playground).
        whole = not args.only or (args.playground and args.only == ["playground"])
        written = export.export(entries, out, formats=formats, dpi=args.dpi, style=args.style, index=whole)
    print(f"wrote {len(written)} files to {written[0].parent if written else out} in {time.perf_counter() - start:.1f} s")
    return 0


def load_torch() -> None:
    """Import torch with Ctrl-C held back until it has loaded, then honoured.

    torch's import swallows a KeyboardInterrupt raised inside some of the imports it makes
    (numpy's, at ~0.8 s here) and goes on with that module half loaded: the command then
    either ignored the Ctrl-C and ran to the end, or failed later with an AttributeError
    from numpy. Held back, a Ctrl-C during the 1.5 s import stops the command cleanly."""
    import signal
    import threading

    if "torch" in sys.modules or threading.current_thread() is not threading.main_thread():
        import torch  # noqa: F401
        return
    pressed = []
    previous = signal.signal(signal.SIGINT, lambda *_: pressed.append(True))
    try:
        import torch  # noqa: F401
    finally:
        signal.signal(signal.SIGINT, previous)
    if pressed:
        raise KeyboardInterrupt


def _compare_config(args: argparse.Namespace):
    """The run's TrainConfig: the --config file (if any), then the flags given, then defaults."""
    load_torch()
    from lossviz.registry import parse_params
    from lossviz.train.config import TrainConfig, cli_fields

    given = {f.name: getattr(args, f.name) for f, *_ in cli_fields() if hasattr(args, f.name)}
    base = {}
    if args.config:
        base = TrainConfig.from_file(args.config).to_dict()
        if "model" in given:  # the file's widths were resolved for its own model
            base.pop("hidden")
    settings = {**base, **given}
    params = parse_params(args.param)
    activation = settings.get("activation", "relu")
    loss_names = settings.get("losses", TrainConfig.losses)
    loss_names = [loss_names] if isinstance(loss_names, str) else list(loss_names)
    if params:
        loss_params = {k: dict(v) for k, v in settings.get("loss_params", {}).items()}
        act_params = dict(settings.get("activation_params", {}))
        for name, p in params.items():
            if name == activation:
                act_params.update(p)
            elif name in loss_names:
                loss_params.setdefault(name, {}).update(p)
            else:
                raise UsageError(f"--param {name}.*: {name} is neither a compared loss nor the activation {activation}")
        settings["loss_params"], settings["activation_params"] = loss_params, act_params
    return TrainConfig.from_dict(settings)


def cmd_compare(args: argparse.Namespace) -> int:
    if args.out is not None and not args.out.strip():
        raise UsageError("--out must name a folder, got an empty path")
    from lossviz.train import runs

    if args.out is not None:  # a taken folder is refused before torch is loaded (2 s)
        runs.check_out(Path(args.out), args.resume)
    formats = _formats(args.figures, allow_none=True)
    # The run's figures are drawn by processes started now: they load matplotlib on the other
    # core while this one loads torch, and draw both figures at once when training is done.
    renderers = None
    if formats:
        from lossviz.render import Renderers

        renderers = Renderers(2)
    try:
        return _compare(args, formats, renderers)
    finally:
        if renderers is not None:
            renderers.close()


def _compare(args: argparse.Namespace, formats, renderers) -> int:
    import datetime
    import json
    import time

    from lossviz.train import runs

    config = _compare_config(args)
    from lossviz import data, train
    from lossviz.files import write_atomic

    train.check_workers(args.workers)
    out = Path(args.out) if args.out is not None else Path("runs") / datetime.datetime.now().strftime(f"{config.model}-%Y%m%d-%H%M%S")
    # Every check before anything is created: a refused run leaves nothing behind.
    runs.check_out(out, args.resume)
    fmnist = data.load_fashion_mnist(args.data_root)
    for a, b in train.identical_losses(config):
        print(f"note: {b} equals {a} with these parameters (its curve lies under {a}'s); "
              "see `lossviz compare --help` for the defaults", file=sys.stderr)
    with runs.RunWriter(out, config, resume=args.resume, data_source=str(Path(fmnist.source).resolve())) as writer:
        prep = train.prepare(config, fmnist)
        writer.record_label_noise(prep)
        model = config.model + (f" {'-'.join(map(str, config.hidden))} {config.activation}" if config.hidden else "")
        print(f"training {', '.join(config.losses)} side by side: {model}, {config.epochs} epochs x {config.seeds} seed(s), "
              f"{len(prep.train_y)} training images from {fmnist.source}, device {prep.train_x.device}; run folder {out}",
              file=sys.stderr)
        per_epoch = train.batches_per_epoch(len(prep.train_y), config.batch_size)
        ck = writer.checkpoint
        progress = {"done": (ck.seed_index * config.epochs + ck.epoch) * per_epoch,  # resumed: finished epochs count
                    "total": per_epoch * config.epochs * config.seeds, "written": 0.0}
        bar = _progress(progress["total"], progress["done"])

        def write_progress(force: bool = False):
            if args.progress_file and (force or time.monotonic() - progress["written"] > 0.25 or progress["done"] == progress["total"]):
                progress["written"] = time.monotonic()
                write_atomic(Path(args.progress_file), json.dumps({"done": progress["done"], "total": progress["total"]}).encode())

        def on_epoch(records, checkpoint):
            writer.on_epoch(records, checkpoint)
            if bar is not None:
                bar.set_postfix_str(_epoch_summary(records, config))
            write_progress(force=True)

        def on_batch(i, n):
            progress["done"] += 1
            if bar is not None:
                bar.update(1)
            write_progress()

        write_progress(force=True)
        try:
            train.compare(config, prep, checkpoint=writer.checkpoint, on_epoch=on_epoch, on_batch=on_batch, workers=args.workers)
        except KeyboardInterrupt:
            print(f"\ninterrupted: {out} holds every finished epoch; continue with `lossviz compare --resume --out {out}` "
                  "and the same options", file=sys.stderr)
            return 130
        finally:
            if bar is not None:
                bar.close()
        results = writer.finish(fmnist.test_images[: config.test_subset], fmnist.test_labels[: config.test_subset], figures=())
        print(runs.format_table(results), flush=True)
        if formats:
            runs.export_run_figures(out, formats=formats, renderers=renderers)
            print(f"run folder: {out} (figures in {out / 'figures'}: {', '.join(formats)})")
        else:
            print(f"run folder: {out} (no figures: draw them with `lossviz figures --run {out}`)")
    return 0


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
    return _compare_config(args)


def cmd_study_noise(args: argparse.Namespace) -> int:
    import datetime
    import time

    from lossviz.studies import noise

    if args.out is not None and not args.out.strip():
        raise UsageError("--out must name a folder, got an empty path")
    rates = noise.parse_rates(args.rates)
    formats = _formats(args.figures, allow_none=True)
    config = _study_config(args, noise.default_losses())
    if config.label_noise:
        raise UsageError("--label-noise is set per run by --rates; leave it out")
    if args.workers is not None:
        from lossviz.train.parallel import check_workers

        check_workers(args.workers)
    out = Path(args.out) if args.out is not None else Path("runs") / datetime.datetime.now().strftime("noise-%Y%m%d-%H%M%S")
    noise.check_study_out(out)
    runner = _ray_runner(args)
    from lossviz import data
    from lossviz.studies import figures, grid

    fmnist = data.load_fashion_mnist(args.data_root)
    cells = noise.noise_cells(config, rates, args.noise_kind)
    print(f"noise study: {len(cells)} runs ({', '.join(c.name for c in cells)}) of {', '.join(config.losses)} side by side, "
          f"{config.model}, {config.epochs} epochs x {config.seeds} seed(s), {args.noise_kind} noise; "
          f"{'on Ray' if runner else 'here'}; study folder {out}", file=sys.stderr)
    start = time.perf_counter()
    bar = _progress(sum(grid.batches_of(c, fmnist) for c in cells), 0) if runner is None else _progress(len(cells), 0, "run")
    try:
        summary = noise.study_noise(config, rates, fmnist, out, kind=args.noise_kind, workers=args.workers, figures=formats,
                                    runner=runner(bar) if runner else None,
                                    on_batch=(lambda: bar.update(1)) if bar is not None and runner is None else None)
    finally:
        if bar is not None:
            bar.close()
    print(noise.format_noise_table(summary))
    if formats:
        figures.export_figures(out, formats=formats)
    print(f"study folder: {out} ({len(cells)} run folders; figures in {out / 'figures'}) in {time.perf_counter() - start:.1f} s")
    return 0


def cmd_study_calibration(args: argparse.Namespace) -> int:
    run = Path(args.run)
    from lossviz.train import runs

    runs.read_config(run)  # a run folder, before any loading
    formats = _formats(args.figures, allow_none=True)
    from lossviz.studies import calibration, figures

    data = None
    if not args.no_temperature and args.data_root is not None:
        from lossviz import data as data_module

        data = data_module.load_fashion_mnist(args.data_root)
    results = calibration.study_calibration(run, data, temperature=not args.no_temperature)
    print(calibration.format_calibration_table(results))
    if formats:
        figures.export_figures(run, formats=formats)
    print(f"results in {run / calibration.RESULTS_FILE}" + (f"; figures in {run / 'figures'}" if formats else ""))
    return 0


def cmd_landscape(args: argparse.Namespace) -> int:
    import time

    from lossviz.studies import landscape

    landscape.check_args(args.grid, args.span, args.subset)
    formats = _formats(args.figures, allow_none=True)
    evaluate = None
    if args.ray is not None:
        from lossviz.studies import ray_grid

        evaluate = ray_grid.landscape_evaluator(args.ray or None)
        if args.ray:
            ray_grid.check_reachable(args.ray)
    run = Path(args.run)
    from lossviz.train import runs

    config, _ = runs.read_config(run)  # a run folder, before any loading
    data = None
    if args.data_root is not None:
        from lossviz import data as data_module

        data = data_module.load_fashion_mnist(args.data_root)
    from lossviz.studies import figures

    total = args.grid * args.grid + landscape.ALPHAS[2]
    print(f"landscape of {', '.join(config.losses)} ({config.model}): {args.grid} x {args.grid} slice, span {args.span:g}, "
          f"and {landscape.ALPHAS[2]} points from the initial to the trained weights, on {args.subset} training images",
          file=sys.stderr)
    bar = _progress(total, 0, "point")
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


def _ray_runner(args: argparse.Namespace):
    """None without --ray; else a function bar -> runner(cells, data, out) sending cells to Ray."""
    if getattr(args, "ray", None) is None:
        return None
    from lossviz.studies import ray_grid

    ray_grid.check_ray()
    address = args.ray or None
    if address:
        ray_grid.check_reachable(address)  # before any loading, not minutes of Ray's retries
    return lambda bar: ray_grid.runner(address, workers=args.workers,
                                       on_cell=(lambda cell, results: bar.update(1)) if bar is not None else None)


def cmd_explore(args: argparse.Namespace) -> int:
    import ipaddress
    import socket

    if not 1 <= args.port <= 65535:
        raise UsageError(f"--port must be in [1, 65535], got {args.port}")
    try:
        loopback = args.host == "localhost" or ipaddress.ip_address(args.host).is_loopback
    except ValueError:
        raise UsageError(f"--host must be an IP address or localhost, got {args.host!r}") from None
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


def _epoch_summary(records, config) -> str:
    """Train loss / test accuracy per loss after an epoch, for the progress bar."""
    seed = f"seed {records[0].seed} " if config.seeds > 1 else ""
    return f"{seed}epoch {records[0].epoch}/{config.epochs}: train loss/test acc " + ", ".join(
        f"{r.loss} {r.train_loss:.3f}/{r.test_acc:.3f}" if r.status == "ok" else f"{r.loss} diverged"
        for r in records)


def _progress(total: int, done: int, unit: str = "batch"):
    """A tqdm bar on a terminal (or with LOSSVIZ_PROGRESS=1); None otherwise."""
    if not sys.stderr.isatty() and os.environ.get("LOSSVIZ_PROGRESS") != "1":
        return None
    from tqdm import tqdm

    return tqdm(total=total, initial=done, unit=unit, file=sys.stderr, dynamic_ncols=True)


def _typed(parse):
    """A parse function whose ValueError text becomes argparse's one-line message."""
    def typed(text: str):
        try:
            return parse(text)
        except ValueError as e:
            raise argparse.ArgumentTypeError(str(e)) from None

    typed.__name__ = parse.__name__
    return typed


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
    p.add_argument("--run", metavar="DIR", help="redraw the figures of a `lossviz compare` run folder (and its studies) "
                   "or of a `lossviz study noise` folder instead")
    p.add_argument("--playground", action="store_true",
                   help="also the playground's figures: fits with outliers and decision maps per loss (trains small models, ~10 s)")
    p.set_defaults(func=cmd_figures)

    p = sub.add_parser("compare", help="train several losses side by side on Fashion-MNIST and compare them",
                       description="Train several losses side by side on Fashion-MNIST: the same initial weights and "
                       "minibatches for each. Every training flag is a field of lossviz.train.TrainConfig; --config FILE "
                       "reads them from a JSON file (flags given here win).")
    from lossviz.train.config import cli_fields

    for f, flag, parse, metavar, text in cli_fields():
        # No default here: the dataclass holds the defaults, so a flag left out never hides a --config value.
        p.add_argument(flag, dest=f.name, type=parse if parse in (int, float, str) else _typed(parse), metavar=metavar,
                       default=argparse.SUPPRESS, help=text)
    from lossviz.train.config import TARGET_DEFAULTS

    on_probs = ", ".join(f"{loss}.{k}={v:g}" for loss, ps in TARGET_DEFAULTS["probs"].items() for k, v in ps.items())
    p.add_argument("--param", action="append", metavar="NAME.PARAM=VALUE",
                   help="a loss's or the activation's parameter, e.g. huber.delta=0.1 (repeatable). Defaults: the "
                   f"registry's (lossviz list), except with --regression-target probs: {on_probs}, because every "
                   "residual of a probability lies in [-1, 1], where Huber with delta >= 1 is exactly L2")
    p.add_argument("--config", metavar="FILE", help="training settings from a JSON file (any TrainConfig fields)")
    p.add_argument("--workers", type=int, help="CPU: train the losses in this many processes, a group each "
                   "(default: one per core, at most one per loss; 1 = one process)")
    p.add_argument("--data-root", help="the folder holding the Fashion-MNIST IDX files, used as given (default: $LOSSVIZ_DATA, "
                   "then the cache, Debian's dataset-fashion-mnist, a download)")
    p.add_argument("--out", help="run folder (default: runs/MODEL-DATE-TIME)")
    p.add_argument("--resume", action="store_true", help="continue an interrupted run in --out")
    p.add_argument("--figures", default="png", metavar="FORMATS",
                   help="formats of the run's figures, among png, svg, pdf, or none (default: png; "
                   "`lossviz figures --run DIR` draws more later)")
    p.add_argument("--progress-file", help=argparse.SUPPRESS)  # the explorer's training page reads it
    p.set_defaults(func=cmd_compare)

    study = sub.add_parser("study", help="studies of trained models: label noise, calibration",
                           description="Studies no other tool offers: robustness to label noise, calibration.")
    studies = study.add_subparsers(dest="study", metavar="STUDY", parser_class=_Parser)
    studies.required = True
    p = studies.add_parser("noise", help="one run per label-noise rate; test accuracy against the rate per loss",
                           description="Train the losses side by side once per label-noise rate (training labels "
                           "corrupted, the same for every loss; test labels clean), then plot final test accuracy "
                           "against the rate per loss (mean +- std over --seeds). Every `lossviz compare` training "
                           "flag applies to each run.")
    p.add_argument("--rates", default="0,0.2,0.4,0.6", help="comma-separated noise rates in [0, 1) (default: 0,0.2,0.4,0.6)")
    for f, flag, parse, metavar, text in cli_fields():
        if f.name in ("label_noise", "noise"):
            continue
        if f.name == "losses":
            text = "comma-separated registry losses (default: cross_entropy,l1,l2, and gce when registered)"
        p.add_argument(flag, dest=f.name, type=parse if parse in (int, float, str) else _typed(parse), metavar=metavar,
                       default=argparse.SUPPRESS, help=text)
    p.add_argument("--noise", dest="noise_kind", choices=["symmetric", "pairflip"], default="symmetric",
                   help="symmetric: a wrong label is any other class, uniformly; pairflip: class c becomes c + 1 "
                   "(default: symmetric)")
    p.add_argument("--param", action="append", metavar="NAME.PARAM=VALUE", help="a loss's or the activation's parameter (repeatable)")
    p.add_argument("--config", metavar="FILE", help="training settings from a JSON file (any TrainConfig fields)")
    p.add_argument("--workers", type=int, help="CPU: processes per run (as for compare); with --ray: CPUs per Ray task "
                   "(default: one per core here; 1 per task on Ray)")
    p.add_argument("--data-root", help="the folder holding the Fashion-MNIST IDX files (default: as for compare)")
    p.add_argument("--out", help="study folder (default: runs/noise-DATE-TIME)")
    p.add_argument("--figures", default="png", metavar="FORMATS", help="formats of the study's and each run's figures, "
                   "among png, svg, pdf, or none (default: png)")
    p.add_argument("--ray", nargs="?", const="", default=None, metavar="ADDRESS",
                   help="run each rate as a Ray task: on the cluster at ADDRESS (e.g. ray://head:10001 or auto), or "
                   "on a local Ray without ADDRESS (needs `pip install 'lossviz[ray]'`)")
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
                   "ADDRESS (needs `pip install 'lossviz[ray]'`)")
    p.set_defaults(func=cmd_landscape)

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
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)  # (a Ctrl-C while the parser is built: "interrupted" too)
        return args.func(args)
    except (UsageError, ValueError, FileNotFoundError) as e:
        print(f"lossviz: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("lossviz: interrupted", file=sys.stderr)
        return 130


def run() -> None:
    """The ``lossviz`` command: ``main()``, then an exit that skips the interpreter's teardown.

    Once torch is loaded, the teardown (freeing every module and object one by one, the
    libraries' destructors) took 0.3-0.6 s of the user's wait here and raised the peak memory by
    60-130 MB. Everything is written and flushed by then: the atexit handlers still run (this
    one, registered first, runs last), then the process ends with ``main()``'s code.
    """
    code = [1]  # an uncaught exception: Python has printed it; the exit code stays 1

    def quick_exit() -> None:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):  # a closed pipe or stream: nothing more can be said
                pass
        os._exit(code[0])

    atexit.register(quick_exit)
    try:
        code[0] = main()
    except SystemExit as e:  # --help, --version: argparse exits by itself
        code[0] = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        if not isinstance(e.code, (int, type(None))):
            print(e.code, file=sys.stderr)
    sys.exit(code[0])


if __name__ == "__main__":
    run()
