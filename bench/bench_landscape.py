"""Loss-landscape speed: lossviz's batched grid against the one-point-at-a-time loop of the
reference implementation (tomgoldstein/loss-landscape), on the same grid, same run.

(a) the reference loop, as ``plot_surface.py`` does it: for every grid point and every model,
    set the weights of a torch ``nn.Module`` to theta + a d1 + b d2 (``net_plotter.set_weights``),
    then ``evaluation.eval_loss``: the data in minibatches of 128 (its default ``--batch_size``),
    ``nn.CrossEntropyLoss`` and the accuracy per batch, under ``torch.no_grad()``. Kinder to it than
    the original: the minibatches are ready-made tensors (no DataLoader).
(b) lossviz: ``landscape.losses_at`` over all grid points, every model's own training loss *and*
    cross-entropy (the reference computes one loss).
Both use the same filter-normalised directions; the cross-entropies are checked equal. Target: a
41 x 41 slice for the four softmax-regression models of a run on 10,000 images in < 30 s.

    python bench/bench_landscape.py [--run RUN | --data-root DIR] [--grid 41] [--subset 10000] [--points N]

Without --run, a 4-loss softmax run (2 epochs) is trained into a temporary folder first.
``--points N`` times the reference on the first N grid points only and extrapolates (said so).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lossviz.studies import landscape  # noqa: E402
from lossviz.train import outputs, runs  # noqa: E402


def reference_loop(config, params, directions, coords, x, y, batch_size=128):
    """The loss-landscape loop: one grid point and one model at a time. Returns (M, P) CE."""
    m = params["w1"].shape[0]
    if config.model != "softmax":
        raise SystemExit("the reference loop here is written for softmax regression (one nn.Linear)")
    out = torch.empty(m, len(coords), dtype=torch.float64)
    criterion = torch.nn.CrossEntropyLoss()
    batches = list(zip(x.split(batch_size), y.split(batch_size)))
    for k in range(m):
        net = torch.nn.Linear(x.shape[1], params["w1"].shape[1])
        weights = [params["w1"][k], params["b1"][k]]
        dx = [directions[0]["w1"][k], directions[0]["b1"][k]]
        dy = [directions[1]["w1"][k], directions[1]["b1"][k]]
        for p, (a, b) in enumerate(coords.tolist()):
            for param, w, d0, d1 in zip(net.parameters(), weights, dx, dy):  # net_plotter.set_weights
                param.data = w + (d0 * a + d1 * b)
            total_loss, total, correct = 0.0, 0, 0
            with torch.no_grad():  # evaluation.eval_loss
                for inputs, targets in batches:
                    outputs = net(inputs)
                    loss = criterion(outputs, targets)
                    total_loss += loss.item() * len(targets)
                    total += len(targets)
                    correct += outputs.max(1)[1].eq(targets).sum().item()
            out[k, p] = total_loss / total
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", help="a softmax run folder of `lossviz compare` (default: train one)")
    parser.add_argument("--data-root", default=os.environ.get("LOSSVIZ_DATA"), help="Fashion-MNIST (default: $LOSSVIZ_DATA)")
    parser.add_argument("--grid", type=int, default=41)
    parser.add_argument("--span", type=float, default=1.0)
    parser.add_argument("--subset", type=int, default=10_000)
    parser.add_argument("--points", type=int, help="time the reference on the first N grid points only")
    args = parser.parse_args()
    from lossviz.data import load_fashion_mnist

    data = load_fashion_mnist(args.data_root, allow_download=False) if args.data_root else None
    tmp = None
    run = Path(args.run) if args.run else None
    if run is None:
        if data is None:
            raise SystemExit("give --run RUN or --data-root DIR")
        from lossviz.studies.grid import train_run
        from lossviz.train import TrainConfig

        tmp = tempfile.TemporaryDirectory()
        run = Path(tmp.name) / "run"
        t = time.perf_counter()
        train_run(TrainConfig(losses=("cross_entropy", "l2", "l1", "huber"), epochs=2).validate(), data, run, figures=())
        print(f"trained a 4-loss softmax run (2 epochs) in {time.perf_counter() - t:.1f} s")
    config, source = runs.read_config(run)
    data = data or load_fashion_mnist(source, allow_download=False)
    params = {k: v.float() for k, v in outputs.read_final_weights(run)[config.seed].items()}
    x, y = landscape.training_inputs(config, data, args.subset)
    dirs = landscape.random_directions(params)
    c = torch.linspace(-args.span, args.span, args.grid, dtype=torch.float64)
    b, a = torch.meshgrid(c, c, indexing="ij")
    coords = torch.stack([a.reshape(-1), b.reshape(-1)], 1)
    m, p = params["w1"].shape[0], len(coords)
    print(f"{config.model}, {m} models ({', '.join(config.losses)}), {args.grid} x {args.grid} = {p} grid points, "
          f"{len(y)} images; lossviz on 1 thread (its default), the reference on torch's {torch.get_num_threads()}")

    from lossviz.train import intra_op_threads

    t = time.perf_counter()
    with intra_op_threads():  # the trainer's thread policy, as `lossviz landscape` runs it
        own, ce = landscape.losses_at(config, params, dirs, coords, x, y)
    ours = time.perf_counter() - t
    print(f"lossviz (batched grid, own loss + cross-entropy): {ours:.2f} s  "
          f"({'meets' if ours < 30 else 'MISSES'} the < 30 s target)")

    n_ref = min(p, args.points or p)
    t = time.perf_counter()
    ref = reference_loop(config, params, dirs, coords[:n_ref].float(), x, y)
    ref_s = time.perf_counter() - t
    full = ref_s * p / n_ref
    note = f" ({n_ref} points timed, extrapolated to {p})" if n_ref < p else ""
    print(f"reference loop (one point at a time, cross-entropy only): {full:.2f} s{note}")
    diff = (ref - ce[:, :n_ref]).abs().max().item()
    print(f"cross-entropies agree to {diff:.2e} (max abs difference)")
    print(f"ratio: {full / ours:.1f}x faster than the one-point-at-a-time loop")
    if tmp is not None:
        tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
