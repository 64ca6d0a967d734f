"""``lossviz compare``: train several losses side by side into a run folder, then draw its figures."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from lossviz import checks
from lossviz.cli.shell import UsageError, figure_formats, file_errors, load_torch, out_path, progress, typed


def training_flags(p, skip: tuple[str, ...] = (), losses_help: str | None = None) -> None:
    """Every TrainConfig field as a flag (``lossviz.train.config.cli_fields``), less ``skip``."""
    from lossviz.train.config import cli_fields

    for f, flag, parse, metavar, text in cli_fields():
        if f.name in skip:
            continue
        if f.name == "losses" and losses_help:
            text = losses_help
        # No default here: the dataclass holds the defaults, so a flag left out never hides a --config value.
        p.add_argument(flag, dest=f.name, type=parse if parse in (int, float, str) else typed(parse), metavar=metavar,
                       default=argparse.SUPPRESS, help=text)


def threads_flag(p, what: str = "training") -> None:
    # (the default is lossviz.train.loop.DEFAULT_THREADS, not imported here: it loads torch)
    p.add_argument("--threads", type=int, metavar="N", help=f"torch's threads while {what}: a runtime choice, the numbers "
                   "do not depend on it (default: 1, which keeps its speed beside other work on a shared CPU)")


def add_parser(sub) -> None:
    p = sub.add_parser("compare", help="train several losses side by side on Fashion-MNIST and compare them",
                       description="Train several losses side by side on Fashion-MNIST: the same initial weights and "
                       "minibatches for each. Every training flag is a field of lossviz.train.TrainConfig; --config FILE "
                       "reads them from a JSON file (flags given here win).")
    training_flags(p)
    from lossviz.train.config import TARGET_DEFAULTS

    on_probs = ", ".join(f"{loss}.{k}={v:g}" for loss, ps in TARGET_DEFAULTS["probs"].items() for k, v in ps.items())
    p.add_argument("--param", action="append", metavar="NAME.PARAM=VALUE",
                   help="a loss's or the activation's parameter, e.g. huber.delta=0.1 (repeatable). Defaults: the "
                   f"registry's (lossviz list), except with --regression-target probs: {on_probs}, because every "
                   "residual of a probability lies in [-1, 1], where Huber with delta >= 1 is exactly L2")
    p.add_argument("--config", metavar="FILE", help="training settings from a JSON file (any TrainConfig fields)")
    threads_flag(p)
    p.add_argument("--data-root", help="the folder holding the Fashion-MNIST IDX files, used as given (default: $LOSSVIZ_DATA, "
                   "then the cache, Debian's dataset-fashion-mnist, a download)")
    p.add_argument("--out", help="run folder (default: runs/MODEL-DATE-TIME)")
    p.add_argument("--resume", action="store_true", help="continue an interrupted run in --out")
    p.add_argument("--figures", default="png", metavar="FORMATS",
                   help="formats of the run's figures, among png, svg, pdf, or none (default: png; "
                   "`lossviz figures --run DIR` draws more later)")
    p.add_argument("--progress-file", help=argparse.SUPPRESS)  # the explorer's training page reads it
    p.set_defaults(func=cmd_compare)


def check_threads(args: argparse.Namespace) -> int | None:
    """``--threads`` checked before anything is loaded or created (None: the trainer's default)."""
    return None if args.threads is None else checks.integer(args.threads, "--threads", 1, 1024)


def compare_config(args: argparse.Namespace):
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


@file_errors
def cmd_compare(args: argparse.Namespace) -> int:
    import datetime

    from lossviz.train import runs

    out = out_path(args.out)
    if out is not None:  # a taken folder is refused before torch is loaded (2 s)
        runs.check_out(out, args.resume)
    formats = figure_formats(args.figures, allow_none=True)
    threads = check_threads(args)
    config = compare_config(args)
    out = out if out is not None else Path("runs") / datetime.datetime.now().strftime(f"{config.model}-%Y%m%d-%H%M%S")
    # Every check before anything is created: a refused run leaves nothing behind.
    runs.check_out(out, args.resume)
    code = _train(args, config, out, threads)
    if code:
        return code
    if formats:  # the trainer records; the exporter draws the run's figures from those records
        from lossviz import export

        export.run_figures(out, formats=formats)
        print(f"run folder: {out} (figures in {out / 'figures'}: {', '.join(formats)})")
    else:
        print(f"run folder: {out} (no figures: draw them with `lossviz figures --run {out}`)")
    return 0


def _train(args: argparse.Namespace, config, out: Path, threads: int | None) -> int:
    """Train ``config`` into the run folder ``out`` (``lossviz.train.recorded.train_into``) and print
    the results table; 0, or 130 when interrupted (every finished epoch kept, resumable)."""
    import json
    import time

    from lossviz import data, train
    from lossviz.files import write_atomic
    from lossviz.train import recorded, runs

    fmnist = data.load_fashion_mnist(args.data_root)
    check_fits(config, fmnist)
    for a, b in train.identical_losses(config):
        print(f"note: {b} equals {a} with these parameters (its curve lies under {a}'s); "
              "see `lossviz compare --help` for the defaults", file=sys.stderr)
    state = {"done": 0, "total": 0, "written": 0.0, "bar": None}

    def write_progress(force: bool = False):
        if args.progress_file and (force or time.monotonic() - state["written"] > 0.25 or state["done"] == state["total"]):
            state["written"] = time.monotonic()
            write_atomic(Path(args.progress_file), json.dumps({"done": state["done"], "total": state["total"]}).encode())

    def on_start(writer, prep):
        if writer.rebuilt:
            print(f"note: {writer.rebuilt}", file=sys.stderr)
        model = config.model + (f" {'-'.join(map(str, config.hidden))} {config.activation}" if config.hidden else "")
        print(f"training {', '.join(config.losses)} side by side: {model}, {config.epochs} epochs x {config.seeds} seed(s), "
              f"{len(prep.train_y)} training images from {fmnist.source}, device {prep.train_x.device}; run folder {out}",
              file=sys.stderr)
        state["done"], state["total"] = recorded.progress_span(config, len(prep.train_y), writer.checkpoint)
        state["bar"] = progress(state["total"], state["done"])
        write_progress(force=True)

    def on_epoch(records, checkpoint):
        if state["bar"] is not None:
            state["bar"].set_postfix_str(recorded.epoch_summary(records, config))
        write_progress(force=True)

    def on_batch(i, n):
        state["done"] += 1
        if state["bar"] is not None:
            state["bar"].update(1)
        write_progress()

    try:
        try:
            results = recorded.train_into(config, fmnist, out, resume=args.resume, threads=threads, on_start=on_start,
                                          on_epoch=on_epoch, on_batch=on_batch)
        finally:
            if state["bar"] is not None:
                state["bar"].close()
    except KeyboardInterrupt:
        if (out / "metrics.jsonl").is_file():
            print(f"\ninterrupted: {out} holds every finished epoch; continue with `lossviz compare --resume --out {out}` "
                  "and the same options", file=sys.stderr)
        else:
            print("\ninterrupted before the first epoch finished", file=sys.stderr)
            if not args.resume:  # train_into removed what the new run had written
                print(f"nothing kept: {out} had no finished epoch", file=sys.stderr)
        return 130
    print(runs.format_table(results), flush=True)
    return 0


def check_fits(config, fmnist) -> None:
    """What the config asks of the data, checked before a run folder is created (one line, exit 2)."""
    from lossviz.train.recorded import check_fits as fits

    try:
        fits(config, fmnist, holdout_name="--holdout")
    except ValueError as e:
        raise UsageError(str(e)) from None

