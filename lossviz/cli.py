"""The ``lossviz`` command: a thin shell over the library's functions.

A user mistake prints one line ``lossviz: error: ...`` and exits with status 2.
"""

from __future__ import annotations

import argparse
import os
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
        # The gallery lists the whole set: a partial export (--only) leaves index.md as it is.
        written = export.export(entries, out, formats=_csv(args.format), dpi=args.dpi, style=args.style, index=not args.only)
    print(f"wrote {len(written)} files to {written[0].parent if written else out} in {time.perf_counter() - start:.1f} s")
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    import datetime
    import json
    import time

    from lossviz import data, export, runs, train

    params = export.parse_params(args.param)
    act_params = params.pop(args.activation, {})
    for name in params:
        if name not in _csv(args.losses):
            raise UsageError(f"--param {name}.*: {name} is neither a compared loss nor the activation {args.activation}")
    config = train.TrainConfig(
        losses=tuple(_csv(args.losses)), model=args.model, activation=args.activation, hidden=args.hidden,
        epochs=args.epochs, lr=args.lr, batch_size=args.batch_size, seeds=args.seeds, seed=args.seed,
        regression_target=args.regression_target, loss_params=params, activation_params=act_params,
        device=args.device, train_subset=args.train_subset, test_subset=args.test_subset,
    ).validate()
    out = Path(args.out) if args.out else Path("runs") / datetime.datetime.now().strftime(f"{config.model}-%Y%m%d-%H%M%S")
    # Cheap checks, then the data, then the folder: a missing data set leaves no empty run folder.
    train.check_workers(args.workers)
    runs.check_out(out, args.resume)
    fmnist = data.load_fashion_mnist(args.data_root)
    writer = runs.RunWriter(out, config, resume=args.resume)
    huber = config.loss_params.get("huber", {}).get("delta", 1.0)
    if "huber" in config.losses and config.regression_target == "probs" and huber >= 1:
        print(f"note: on probabilities every residual is within [-1, 1], so Huber with delta={huber:g} equals L2; "
              "try --param huber.delta=0.1 or --regression-target logits", file=sys.stderr)
    prep = train.prepare(config, fmnist)
    print(f"training {', '.join(config.losses)} side by side: {config.model}, {config.epochs} epochs x {config.seeds} seed(s), "
          f"{len(prep.train_y)} training images, device {prep.train_x.device}; run folder {out}", file=sys.stderr)
    per_epoch = train.batches_per_epoch(len(prep.train_y), config.batch_size)
    progress = {"done": 0, "total": per_epoch * config.epochs * config.seeds, "written": 0.0}
    if writer.state and "epoch" in writer.state:  # resumed: the finished epochs count as done
        progress["done"] = (writer.state["seed_index"] * config.epochs + writer.state["epoch"]) * per_epoch
    bar = _progress(progress["total"], progress["done"])

    def on_epoch(records, state):
        writer.on_epoch(records, state)
        if bar is not None:
            bar.set_postfix_str(_epoch_summary(records, config))

    def on_batch(i, n):
        progress["done"] += 1
        if bar is not None:
            bar.update(1)
        if args.progress_file and (time.monotonic() - progress["written"] > 0.25 or progress["done"] == progress["total"]):
            progress["written"] = time.monotonic()
            export.write_atomic(Path(args.progress_file), json.dumps({"done": progress["done"], "total": progress["total"]}).encode())

    try:
        train.compare(config, prep, state=writer.state, on_epoch=on_epoch, on_batch=on_batch, workers=args.workers)
    except KeyboardInterrupt:
        print(f"\ninterrupted: {out} holds every finished epoch; continue with the same options plus --resume --out {out}", file=sys.stderr)
        return 130
    finally:
        if bar is not None:
            bar.close()
    results = writer.finish(fmnist.test_images[: config.test_subset], fmnist.test_labels[: config.test_subset])
    print(runs.format_table(results))
    print(f"run folder: {out} (figures in {out / 'figures'})")
    return 0


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

    app = create_app(runs_dir=args.runs, data_root=args.data_root, allow_hosts=args.allow_host, bind_host=args.host)
    shown = f"[{args.host}]" if ":" in args.host else args.host
    print(f"lossviz explorer: http://{shown}:{args.port}/  (Ctrl-C stops it)", flush=True)
    app.run(host=args.host, port=args.port, debug=args.debug, dev_tools_hot_reload=False)
    return 0


def _epoch_summary(records: list[dict], config) -> str:
    """Train loss / test accuracy per loss after an epoch, for the progress bar."""
    seed = f"seed {records[0]['seed']} " if config.seeds > 1 else ""
    return f"{seed}epoch {records[0]['epoch']}/{config.epochs}: train loss/test acc " + ", ".join(
        f"{r['loss']} {r['train_loss']:.3f}/{r['test_acc']:.3f}" if r["status"] == "ok" else f"{r['loss']} diverged"
        for r in records)


def _progress(total: int, done: int):
    """A tqdm bar on a terminal (or with LOSSVIZ_PROGRESS=1); None otherwise."""
    if not sys.stderr.isatty() and os.environ.get("LOSSVIZ_PROGRESS") != "1":
        return None
    from tqdm import tqdm

    return tqdm(total=total, initial=done, unit="batch", file=sys.stderr, dynamic_ncols=True)


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

    p = sub.add_parser("compare", help="train several losses side by side on Fashion-MNIST and compare them")
    p.add_argument("--losses", default="cross_entropy,l2,l1,huber", help="comma-separated registry losses (default: cross_entropy,l2,l1,huber)")
    p.add_argument("--model", default="softmax", choices=["softmax", "mlp"], help="softmax regression or a one-hidden-layer MLP (default: softmax)")
    p.add_argument("--activation", default="relu", help="the MLP's hidden activation (default: relu)")
    p.add_argument("--hidden", type=int, default=256, help="MLP hidden units (default: 256)")
    p.add_argument("--epochs", type=int, default=10, help="epochs (default: 10)")
    p.add_argument("--lr", type=float, default=0.1, help="SGD learning rate (default: 0.1)")
    p.add_argument("--batch-size", type=int, default=256, help="minibatch size (default: 256)")
    p.add_argument("--seeds", type=int, default=1, help="independent repeats for mean +- std (default: 1)")
    p.add_argument("--seed", type=int, default=0, help="first seed (default: 0)")
    p.add_argument("--regression-target", default="probs", choices=["probs", "logits"],
                   help="L1/L2/Huber on softmax probabilities or on raw logits, against one-hot targets (default: probs)")
    p.add_argument("--param", action="append", metavar="NAME.PARAM=VALUE", help="loss or activation parameter, e.g. huber.delta=0.1 (repeatable)")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda[:N] (default: auto)")
    p.add_argument("--workers", type=int, help="CPU: train the losses in this many processes, a group each "
                   "(default: one per core, at most one per loss; 1 = one process)")
    p.add_argument("--data-root", help="folder with the Fashion-MNIST IDX files (default: $LOSSVIZ_DATA, cache, Debian's package, download)")
    p.add_argument("--train-subset", type=int, help="use only the first N training images")
    p.add_argument("--test-subset", type=int, help="evaluate on the first N test images only")
    p.add_argument("--out", help="run folder (default: runs/MODEL-DATE-TIME)")
    p.add_argument("--resume", action="store_true", help="continue an interrupted run in --out")
    p.add_argument("--progress-file", help=argparse.SUPPRESS)  # the explorer's training page reads it
    p.set_defaults(func=cmd_compare)

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
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        return args.func(args)
    except (UsageError, ValueError, FileNotFoundError) as e:
        print(f"lossviz: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("lossviz: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
