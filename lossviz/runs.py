"""The run folder of ``lossviz compare``: write it as training goes, read it, resume it, draw it.

Layout of ``runs/NAME/``:
    config.json        the TrainConfig
    metrics.jsonl      one JSON line per (seed, epoch, loss) with that epoch's test confusion
                       matrix, appended and flushed each epoch
    state.pt           the latest weights and position, for --resume (replaced atomically)
    confusion.json     latest confusion matrices per loss (replaced atomically)
    predictions.json   the first test images with true and predicted labels (for the grid)
    results.json       the final table, written when the run finishes
    figures/           comparison.{png,svg} and predictions.{png,svg}
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import torch

from lossviz.export import DEFAULT_FORMATS, prepare_out_dir, write_atomic
from lossviz.train import TrainConfig

METRICS = ("train_loss", "train_acc", "test_acc", "test_loss", "test_ece")
N_GRID = 18


class RunError(ValueError):
    """A run folder that cannot be used as asked (exists, missing, or from another config)."""


def _dump(obj) -> bytes:
    return (json.dumps(obj, indent=1, allow_nan=False) + "\n").encode()


def check_out(out: Path, resume: bool) -> None:
    """Can ``out`` hold this run? A new run needs a missing or empty folder; a resume needs a run."""
    out = Path(out)
    if resume:
        if not (out / "config.json").is_file():
            raise RunError(f"nothing to resume in {out}: no config.json")
    elif out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise RunError(f"run folder {out} already exists; pass --resume to continue it or choose another --out")


class RunWriter:
    """Writes a run folder as ``train.compare`` reports epochs; see the module docstring."""

    def __init__(self, out: Path, config: TrainConfig, *, resume: bool = False):
        self.out = Path(out)
        self.config = config
        self.state: dict | None = None
        check_out(self.out, resume)
        if resume:
            saved = TrainConfig.from_dict(json.loads((self.out / "config.json").read_text()))
            if saved.to_dict() != config.to_dict():
                raise RunError(f"{self.out} was started with another configuration; resume it with the same options or start a new --out")
            if (self.out / "state.pt").is_file():
                self.state = torch.load(self.out / "state.pt", weights_only=True)
            self._truncate_metrics()
        else:
            prepare_out_dir(self.out)
            write_atomic(self.out / "config.json", _dump(config.to_dict()))

    def _done(self, rec: dict) -> bool:
        s = self.state or {}
        if "params" not in s:  # finished seeds only
            return rec["seed"] - self.config.seed < s.get("seed_index", 0)
        pos = (s["seed_index"], s["epoch"])
        return (rec["seed"] - self.config.seed, rec["epoch"]) <= pos

    def _truncate_metrics(self) -> None:
        """Keep only the lines the checkpoint covers (an interrupt may fall between the two writes)."""
        kept = [r for r in read_metrics(self.out) if self._done(r)]
        write_atomic(self.out / "metrics.jsonl", b"".join(json.dumps(r).encode() + b"\n" for r in kept))

    def on_epoch(self, records: list[dict], state: dict) -> None:
        with open(self.out / "metrics.jsonl", "ab") as f:
            f.write(b"".join(json.dumps(r).encode() + b"\n" for r in records))
            f.flush()
            os.fsync(f.fileno())
        write_atomic(self.out / "confusion.json", _dump({r["loss"]: r["confusion"] for r in records}))
        tmp = self.out / ".state.pt.tmp"
        torch.save(state, tmp)
        os.replace(tmp, self.out / "state.pt")
        self.state = state

    def finish(self, test_images: torch.Tensor, test_labels: torch.Tensor) -> dict:
        """Write results.json, predictions.json and the figures; returns the results."""
        results = summarize(read_metrics(self.out), self.config)
        write_atomic(self.out / "results.json", _dump(results))
        preds = (self.state or {}).get("test_pred", {})
        write_atomic(self.out / "predictions.json", _dump({
            "images": test_images[:N_GRID].to(torch.uint8).tolist(),
            "labels": test_labels[:N_GRID].tolist(),
            "pred": {k: v[:N_GRID] for k, v in preds.items()},
        }))
        export_run_figures(self.out)
        return results


def read_metrics(run: Path) -> list[dict]:
    path = Path(run) / "metrics.jsonl"
    if not path.is_file():
        return []
    out = []
    for line in path.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:  # a line cut by a crash: the checkpoint decides what counts
            break
    return out


def read_run(run: Path) -> tuple[TrainConfig, list[dict]]:
    run = Path(run)
    if not (run / "config.json").is_file():
        raise RunError(f"{run} is not a lossviz run folder (no config.json)")
    return TrainConfig.from_dict(json.loads((run / "config.json").read_text())), read_metrics(run)


def _mean_std(values: list[float]) -> tuple[float, float]:
    m = sum(values) / len(values)
    return m, math.sqrt(sum((v - m) ** 2 for v in values) / len(values))


def curves_by_loss(metrics: list[dict], config: TrainConfig) -> dict:
    """{loss: {metric: (epochs, mean, std)}} over the seeds that have a value at each epoch."""
    out = {}
    for name in config.losses:
        rows = [r for r in metrics if r["loss"] == name]
        per = {}
        for key in METRICS:
            epochs, means, stds = [], [], []
            for e in sorted({r["epoch"] for r in rows}):
                vals = [r[key] for r in rows if r["epoch"] == e and r[key] is not None]
                if vals:
                    m, s = _mean_std(vals)
                    epochs.append(e), means.append(m), stds.append(s)
            per[key] = (epochs, means, stds)
        out[name] = per
    return out


def summarize(metrics: list[dict], config: TrainConfig) -> dict:
    """The final table: per loss, the last epoch's metrics (mean and std over seeds)."""
    table = {}
    for name in config.losses:
        rows = [r for r in metrics if r["loss"] == name]
        last = [r for r in rows if r["epoch"] == config.epochs]
        ok = [r for r in last if r["status"] == "ok"]
        row = {"status": "ok" if last and len(ok) == len(last) else ("diverged" if last else "incomplete"),
               "diverged_seeds": [r["seed"] for r in last if r["status"] == "diverged"],
               "seconds": sum({(r["seed"], r["epoch"]): r["seconds"] for r in metrics}.values())}
        for key in METRICS:
            vals = [r[key] for r in ok]
            row[key], row[key + "_std"] = _mean_std(vals) if vals else (None, None)
        table[name] = row
    return {"config": config.to_dict(), "losses": table}


def format_table(results: dict) -> str:
    head = f"{'loss':<15}{'status':<10}{'train loss':>11}{'train acc':>11}{'test acc':>10}{'test ECE':>10}{'seconds':>9}"
    lines = [head, "-" * len(head)]

    def f(v, d=4):
        return f"{v:.{d}f}" if v is not None else "-"

    for name, r in results["losses"].items():
        lines.append(f"{name:<15}{r['status']:<10}{f(r['train_loss']):>11}{f(r['train_acc']):>11}{f(r['test_acc']):>10}{f(r['test_ece']):>10}{r['seconds']:>9.1f}")
    lines.append("(seconds: wall time of the whole side-by-side run, shared by all losses)")
    return "\n".join(lines)


def export_run_figures(run: Path, *, out: Path | None = None, formats=DEFAULT_FORMATS, dpi: int = 150, style: str = "light") -> list[Path]:
    """Draw a run's comparison curves and prediction grid into ``run/figures`` (or ``out``)."""
    from lossviz import export, plot_mpl

    run = Path(run)
    config, metrics = read_run(run)
    if not metrics:
        raise RunError(f"{run} has no finished epoch yet")
    entries = [export.FigureEntry("comparison", "Training curves per loss", "", tuple(config.losses),
                                  lambda: plot_mpl.training_figure(curves_by_loss(metrics, config), title=run_title(config)))]
    pred_path = run / "predictions.json"
    if pred_path.is_file():
        grid = json.loads(pred_path.read_text())
        entries.append(export.FigureEntry("predictions", "Test predictions per loss", "", tuple(config.losses),
                                          lambda: plot_mpl.predictions_figure(grid)))
    return export.export(entries, out or run / "figures", formats=formats, dpi=dpi, style=style, index=False)


def run_title(config: TrainConfig) -> str:
    model = "softmax regression" if config.model == "softmax" else f"MLP ({config.hidden} {config.activation})"
    seeds = f", {config.seeds} seeds (mean ± std)" if config.seeds > 1 else ""
    return f"Fashion-MNIST, {model}, lr {config.lr:g}, batch {config.batch_size}{seeds}"
