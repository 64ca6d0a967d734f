"""Training speed: lossviz's side-by-side trainer against the d2l reference loop, same run.

(a) the d2l loop: torchvision FashionMNIST + ToTensor + DataLoader(batch_size=256, shuffle=True,
    num_workers=4), from-scratch model with autograd and d2l's sgd; one epoch of training plus
    test accuracy;
(b) lossviz: the four losses side by side, 10 epochs (train + test metrics every epoch).
Each side runs --runs times, alternating (this 2-core machine is shared and its speed drifts by
10-20 % within a minute), and the medians are compared. Prints seconds per loss-epoch and the
ratio, for softmax regression and the MLP, the softmax comparison on 2 threads beside the default
1, and the peak memory of the 4-loss softmax comparison. Targets:
>= 100x per loss-epoch, the 4-loss x 10-epoch softmax comparison under 5 s of training, peak
memory (PSS over its processes) under 1.5 GB; the MLP >= 20x; the whole default `lossviz compare` in a
fresh process <= 3 s with peak RSS <= 700 MB; `lossviz --help` and malformed arguments <= 0.3 s.

    python bench/bench_train.py [--data-root DIR] [--runs 3]     (default: $LOSSVIZ_DATA)
"""

from __future__ import annotations

import argparse
import gzip
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
import warnings

warnings.filterwarnings("ignore", message="This DataLoader will create")
warnings.filterwarnings("ignore", message="Converting a tensor with requires_grad")  # d2l calls float(l.sum())

LOSSES = ("cross_entropy", "l2", "l1", "huber")


def d2l_epoch(root: Path, model: str) -> float:
    """One epoch of d2l's from-scratch training loop + test accuracy; returns seconds."""
    import torchvision
    from torch.utils.data import DataLoader
    from torchvision import transforms

    trans = transforms.ToTensor()
    train_set = torchvision.datasets.FashionMNIST(root=str(root), train=True, transform=trans, download=False)
    test_set = torchvision.datasets.FashionMNIST(root=str(root), train=False, transform=trans, download=False)
    train_iter = DataLoader(train_set, 256, shuffle=True, num_workers=4)
    test_iter = DataLoader(test_set, 256, shuffle=False, num_workers=4)
    if model == "softmax":
        params = [torch.normal(0, 0.01, size=(784, 10), requires_grad=True), torch.zeros(10, requires_grad=True)]

        def net(x):
            return x.reshape(-1, 784) @ params[0] + params[1]
    else:
        params = [torch.normal(0, 0.01, size=(784, 256), requires_grad=True), torch.zeros(256, requires_grad=True),
                  torch.normal(0, 0.01, size=(256, 10), requires_grad=True), torch.zeros(10, requires_grad=True)]

        def net(x):
            h = torch.relu(x.reshape(-1, 784) @ params[0] + params[1])
            return h @ params[2] + params[3]

    # d2l v0.17.6, chapter 3.6 (softmax regression from scratch) / 4.2 (MLP from scratch).
    def softmax(o):
        e = torch.exp(o)
        return e / e.sum(1, keepdim=True)

    def cross_entropy(y_hat, y):
        return -torch.log(y_hat[range(len(y_hat)), y])

    def accuracy(y_hat, y):
        return float((y_hat.argmax(axis=1).type(y.dtype) == y).type(y.dtype).sum())

    class Accumulator:
        def __init__(self, n):
            self.data = [0.0] * n

        def add(self, *args):
            self.data = [a + float(b) for a, b in zip(self.data, args)]

    def updater(batch_size):
        with torch.no_grad():
            for p in params:
                p -= 0.1 * p.grad / batch_size
                p.grad.zero_()

    start = time.perf_counter()
    metric = Accumulator(3)
    for x, y in train_iter:  # train_epoch_ch3
        y_hat = softmax(net(x))
        loss = cross_entropy(y_hat, y)
        loss.sum().backward()
        updater(x.shape[0])
        metric.add(float(loss.sum()), accuracy(y_hat, y), y.numel())
    test = Accumulator(2)
    with torch.no_grad():  # evaluate_accuracy
        for x, y in test_iter:
            test.add(accuracy(net(x), y), y.numel())
    return time.perf_counter() - start


def lossviz_run(data_root: str, model: str, epochs: int, threads: int | None = None) -> tuple[float, float]:
    from lossviz.data import load_fashion_mnist
    from lossviz.train import TrainConfig, compare, prepare

    cfg = TrainConfig(losses=LOSSES, model=model, epochs=epochs).validate()
    prep = prepare(cfg, load_fashion_mnist(data_root, allow_download=False))
    start = time.perf_counter()
    hist = compare(cfg, prep, threads=threads)  # threads=None: the trainer's default (one)
    seconds = time.perf_counter() - start
    acc = [r.test_acc for r in hist if r.epoch == epochs and r.loss == "cross_entropy"][0]
    return seconds, acc


def memory_of(fn) -> tuple[int, int, int]:
    """Run fn; return the peak PSS (kB, sampled every 10 ms) of this process and its children
    together, and the peak RSS (kB) of this process and of its largest child. PSS splits
    shared pages among the processes sharing them, so the sum is the memory really used."""
    import threading

    me, peak, done = os.getpid(), [0], threading.Event()

    def pss(pid: int) -> int:
        try:
            with open(f"/proc/{pid}/smaps_rollup") as f:
                return next(int(line.split()[1]) for line in f if line.startswith("Pss:"))
        except (OSError, StopIteration):
            return 0

    def children() -> list[int]:
        try:
            with open(f"/proc/{me}/task/{me}/children") as f:
                return [int(p) for p in f.read().split()]
        except OSError:
            return []

    def watch() -> None:
        while not done.wait(0.01):
            peak[0] = max(peak[0], sum(pss(p) for p in [me, *children()]))

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        fn()
    finally:
        done.set()
        watcher.join()
    return (peak[0], resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
            resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)


def command_seconds(argv: list[str]) -> tuple[float, int]:
    """Wall seconds of a fresh ``lossviz`` process, and the peak RSS (kB) of its largest process."""
    probe = ("import resource, subprocess, sys, time; t = time.perf_counter(); "
             "r = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL); "
             "print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, r.returncode)")
    out = subprocess.run([sys.executable, "-c", probe, sys.executable, "-m", "lossviz.cli", *argv],
                         capture_output=True, text=True, check=True).stdout.split()
    if out[2] not in ("0", "2"):
        raise RuntimeError(f"lossviz {' '.join(argv)} failed with status {out[2]}")
    return float(out[0]), int(out[1])


def _fmt(times: list[float]) -> str:
    return ", ".join(f"{t:.2f}" for t in times)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-root", default=os.environ.get("LOSSVIZ_DATA"))
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--runs", type=int, default=3, help="runs per side; the median is reported (default: 3)")
    ap.add_argument("--rss-only", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if not args.data_root:
        print("bench_train: set --data-root or LOSSVIZ_DATA to the folder with Fashion-MNIST", file=sys.stderr)
        return 2
    if args.rss_only:  # child process: the 4-loss softmax comparison alone, for its memory
        print(*memory_of(lambda: lossviz_run(args.data_root, "softmax", args.epochs)))
        return 0

    from lossviz.data import SPLITS, locate

    files = locate(args.data_root)
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "FashionMNIST" / "raw"
        raw.mkdir(parents=True)
        for stem, path in files.items():  # torchvision's FashionMNIST reads decompressed files
            opener = gzip.open if path.suffix == ".gz" else open
            with opener(path, "rb") as src, open(raw / stem, "wb") as dst:
                shutil.copyfileobj(src, dst)
        assert {s for pair in SPLITS.values() for s in pair} == set(files)
        print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} cores")
        ok, d2l_softmax = True, float("nan")
        for model in ("softmax", "mlp"):
            # Each side: the median of --runs runs, alternating, so a noisy moment hits both alike.
            ours, ref = [], []
            for _ in range(args.runs):
                # lossviz first: the d2l loop's DataLoader workers may still be exiting right after it.
                seconds, acc = lossviz_run(args.data_root, model, args.epochs)
                ours.append(seconds)
                ref.append(d2l_epoch(Path(tmp), model))
            ours_s, ref_s = statistics.median_high(ours), statistics.median_high(ref)
            if model == "softmax":
                d2l_softmax = ref_s
            per_loss_epoch = ours_s / (len(LOSSES) * args.epochs)
            ratio = ref_s / per_loss_epoch
            print(f"[{model}] d2l loop, 1 loss x 1 epoch:              {ref_s:6.2f} s  (runs: {_fmt(ref)})")
            print(f"[{model}] lossviz, {len(LOSSES)} losses x {args.epochs} epochs side by side: {ours_s:6.2f} s  (runs: {_fmt(ours)}; "
                  f"cross-entropy test acc {acc:.4f})")
            if model == "softmax":
                two, _ = lossviz_run(args.data_root, model, args.epochs, threads=2)
                print(f"[{model}]   the same run on 2 threads (default 1): {two:6.2f} s")
            print(f"[{model}] per loss-epoch: {per_loss_epoch:.4f} s -> {ratio:.0f}x faster than the d2l loop")
            if model == "softmax":
                ok &= ratio >= 100 and ours_s < 5
                print(f"[softmax] targets: >= 100x ({'OK' if ratio >= 100 else 'MISSED'}), "
                      f"4x10 comparison < 5 s ({'OK' if ours_s < 5 else 'MISSED'})")
            else:
                ok &= ratio >= 20
                print(f"[mlp] target: >= 20x ({'OK' if ratio >= 20 else 'MISSED'})")
    # The whole default command, from Enter to the prompt: a fresh process, its run folder and its
    # figures included, against 40 epochs (4 losses x 10) of the d2l loop.
    whole, rss = [], []
    with tempfile.TemporaryDirectory() as runs_dir:
        for i in range(args.runs):
            seconds, peak = command_seconds(["compare", "--data-root", args.data_root, "--out", f"{runs_dir}/run{i}"])
            whole.append(seconds)
            rss.append(peak)
    whole_s = statistics.median_high(whole)
    print(f"[command] lossviz compare (defaults: 4 losses x 10 epochs, run folder, PNG figures), fresh process: "
          f"{whole_s:.2f} s (runs: {_fmt(whole)}); target <= 3 s: {'OK' if whole_s <= 3 else 'MISSED'}")
    print(f"[command] against 40 epochs of the d2l loop ({40 * d2l_softmax:.1f} s): {40 * d2l_softmax / whole_s:.0f}x; "
          f"peak RSS of its largest process {max(rss) / 1024:.0f} MB (target <= 700 MB: {'OK' if max(rss) <= 700 * 1024 else 'MISSED'})")
    ok &= whole_s <= 3 and max(rss) <= 700 * 1024
    for argv, what in ((["--help"], "lossviz --help"), (["compare", "--help"], "lossviz compare --help"),
                       (["compare", "--epochs", "x"], "lossviz compare --epochs x (malformed)"), (["list"], "lossviz list")):
        t = statistics.median_high(command_seconds(argv)[0] for _ in range(args.runs))
        target = "" if argv == ["list"] else f" (target <= 0.3 s: {'OK' if t <= 0.3 else 'MISSED'})"
        ok &= bool(target == "" or t <= 0.3)
        print(f"[cli] {what}: {t:.2f} s{target}")
    out = subprocess.run([sys.executable, __file__, "--rss-only", "--data-root", args.data_root, "--epochs", str(args.epochs)],
                         capture_output=True, text=True, check=True).stdout.split()
    pss_mb, rss_mb = (int(v) / 1024 for v in out[-3:-1])
    print(f"[softmax] peak memory of the 4-loss comparison: {pss_mb:.0f} MB PSS "
          f"(target < 1536 MB: {'OK' if pss_mb < 1536 else 'MISSED'}); peak RSS {rss_mb:.0f} MB")
    ok &= pss_mb < 1536
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
