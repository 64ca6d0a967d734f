"""Calibration: reliability diagrams, ECE / MCE / Brier per loss, and temperature scaling.

A classifier is calibrated when, among the examples it gives confidence p (its largest softmax
probability), a fraction p is right (Guo, Pleiss, Sun & Weinberger, ICML 2017). Confidences go
into 15 equal-width bins; per bin, accuracy against mean confidence is the reliability diagram;

    ECE = sum_b |B_b| / N * |acc(B_b) - conf(B_b)|,     MCE = max_b |acc(B_b) - conf(B_b)|,

and the Brier score is the mean squared distance of the probability vector from the one-hot
label, sum_c (p_c - y_c)^2, in [0, 2] (Brier 1950). The bins and the ECE are the trainer's
(``lossviz.train.metrics``, torchmetrics' ``multiclass_calibration_error(n_bins=15, norm="l1")``
convention): bin b holds confidences in [b/15, (b+1)/15), boundaries from float32 ``linspace``; a
confidence of exactly 1 lies on the last boundary and forms a group of its own in the ECE and
MCE (the diagram draws it in the last bin).

Temperature scaling divides every logit by one T > 0 fitted to minimise the negative
log-likelihood on held-out data: the predicted classes (and the accuracy) do not change, only
the confidences. Here the held-out data is the part of the training set the run did not train
on (``--holdout N``: the last N training images, with their clean labels).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from lossviz import checks
from lossviz.train.metrics import ECE_BINS, calibration_bins, calibration_errors
from lossviz.train.stats import mean_std

N_BINS = ECE_BINS
T_RANGE = (0.01, 100.0)  # temperatures searched; a fit at either end is reported as such
RESULTS_FILE = "calibration.json"


@dataclass
class Reliability:
    """Calibration of one model's probabilities on one data set."""

    count: list[int]  # examples per bin (15 bins; confidence 1 in the last)
    accuracy: list[float | None]  # per bin, None where empty
    confidence: list[float | None]  # mean confidence per bin, None where empty
    ece: float
    mce: float
    brier: float
    nll: float  # mean negative log-likelihood of the true class
    acc: float  # overall accuracy
    n: int

    def to_dict(self) -> dict:
        return asdict(self)


def _tensor(x, dtype=None) -> torch.Tensor:
    t = torch.as_tensor(np.asarray(x)) if not isinstance(x, torch.Tensor) else x
    return t.to(dtype) if dtype is not None else t


def reliability(probs, labels, n_bins: int = N_BINS) -> Reliability:
    """Reliability bins, ECE, MCE, Brier score and NLL of class probabilities (N, C) for labels (N,).

    Confidence and correctness as torchmetrics computes them (float32 confidences, the argmax
    as the prediction), binned by the trainer's ``calibration_bins``; the sums in float64.
    """
    probs = _tensor(probs).detach().cpu()
    labels = _tensor(labels).detach().cpu().long()
    if probs.dim() != 2 or labels.shape != probs.shape[:1] or len(labels) == 0:
        raise ValueError(f"expected probabilities (N, C) and labels (N,), got {tuple(probs.shape)} and {tuple(labels.shape)}")
    n_bins = checks.integer(n_bins, "n_bins", 1, 10_000)
    conf, pred = probs.max(-1)
    hit = pred == labels
    # The trainer's binning (torchmetrics'): groups 0..n_bins-1, and n_bins for a confidence of exactly 1.
    size, hits, conf_sum = (t[0] for t in calibration_bins(conf[:, None], hit[:, None], n_bins))
    n = len(labels)
    ece = calibration_errors(conf[:, None], hit[:, None], n_bins).item()
    gap = hits - conf_sum
    filled = size > 0
    mce = (gap[filled].abs() / size[filled]).max().item()
    # The diagram's bins: the group "confidence exactly 1" drawn in the last bin.
    size_d, hits_d, conf_d = (torch.cat([t[:n_bins - 1], t[n_bins - 1:].sum(0, keepdim=True)]) for t in (size, hits, conf_sum))
    p64 = probs.double()
    onehot = torch.nn.functional.one_hot(labels, probs.shape[1]).double()
    brier = ((p64 - onehot) ** 2).sum(-1).mean().item()
    p_true = p64.gather(1, labels[:, None]).squeeze(1)
    nll = (-torch.log(p_true.clamp_min(1e-300))).mean().item()

    def per_bin(sums):
        return [(s / c).item() if c > 0 else None for s, c in zip(sums, size_d)]

    return Reliability(size_d.long().tolist(), per_bin(hits_d), per_bin(conf_d), ece, mce, brier, nll,
                       hit.double().mean().item(), n)


def nll_grad(logits: torch.Tensor, labels: torch.Tensor, beta: float) -> float:
    """d/d beta of the mean NLL of softmax(beta * z): mean over examples of E_p[z] - z_y,
    increasing in beta (the NLL is convex in beta: its second derivative is Var_p[z] >= 0)."""
    p = torch.softmax(beta * logits, -1)
    return ((p * logits).sum(-1) - logits.gather(1, labels[:, None]).squeeze(1)).mean().item()


def fit_temperature(logits, labels, *, iterations: int = 100) -> float:
    """The temperature T minimising the held-out NLL of softmax(logits / T) (Guo et al. 2017).

    The NLL is convex in beta = 1 / T, so its derivative is increasing: bisection (in log beta)
    for the zero of the derivative over T in ``T_RANGE``, deterministic and without a step size.
    Returns T (an end of ``T_RANGE`` when the minimum lies beyond it).
    """
    logits = _tensor(logits).detach().cpu().double()
    labels = _tensor(labels).detach().cpu().long()
    if logits.dim() != 2 or labels.shape != logits.shape[:1] or len(labels) == 0:
        raise ValueError(f"expected logits (N, C) and labels (N,), got {tuple(logits.shape)} and {tuple(labels.shape)}")
    lo, hi = math.log(1 / T_RANGE[1]), math.log(1 / T_RANGE[0])  # log beta
    if nll_grad(logits, labels, math.exp(lo)) >= 0:
        return T_RANGE[1]
    if nll_grad(logits, labels, math.exp(hi)) <= 0:
        return T_RANGE[0]
    for _ in range(iterations):
        mid = 0.5 * (lo + hi)
        if nll_grad(logits, labels, math.exp(mid)) < 0:
            lo = mid
        else:
            hi = mid
    return 1 / math.exp(0.5 * (lo + hi))


def heldout_range(config, n_train_images: int) -> tuple[int, int]:
    """[start, stop) of the training images the run did not train on: the last ``holdout``
    ones, else those past ``train_subset``; (n, n) when it trained on every image."""
    if config.holdout:
        return n_train_images - config.holdout, n_train_images
    used = min(config.train_subset or n_train_images, n_train_images)
    return used, n_train_images


def study_calibration(run: Path, data=None, *, temperature: bool = True) -> dict:
    """Calibration of every model of a run (each loss, each seed), written to ``run/calibration.json``.

    Before: the run's predictions.npz (test set). With ``temperature``: T fitted per model on the
    held-out training images (``heldout_range``), then the test set again with logits / T.
    ``data``: the run's Fashion-MNIST (default: loaded from the run's recorded data source).
    """
    from lossviz.files import json_bytes, write_atomic
    from lossviz.train import outputs, predict, runs

    run = Path(run)
    config, source = runs.read_config(run)
    pred = outputs.read_predictions(run, config)  # every array checked: keys, shapes, dtypes, labels, probabilities
    labels = pred["labels"]
    weights = outputs.read_final_weights(run, config) if temperature else {}
    lacking = [int(s) for s in pred["seeds"] if temperature and int(s) not in weights]
    if lacking:
        raise runs.RunError(f"{run / 'weights.pt'}: no weights for seed {lacking[0]}, which predictions.npz has")
    n_classes = pred[config.losses[0]].shape[1]
    for seed, w in weights.items():
        if w[f"b{len(w) // 2}"].shape[-1] != n_classes:
            raise runs.RunError(f"{run / 'weights.pt'}: seed {seed}'s models have {w[f'b{len(w) // 2}'].shape[-1]} classes, "
                                f"predictions.npz {n_classes}")
    heldout = None
    if temperature:
        if data is None:
            from lossviz.data import load_fashion_mnist

            if source is None:
                raise ValueError(f"{run} does not record its data source; pass --data-root")
            data = load_fashion_mnist(source, allow_download=False)
        start, stop = heldout_range(config, len(data.train_labels))
        if stop - start < 100:
            raise ValueError(f"temperature scaling needs training images the run did not train on, and {run} trained on "
                             f"all but {stop - start}; train with --holdout 5000 (or pass --no-temperature)")
        heldout = (start, stop)
        test_n = len(labels)
        pixels = data.train_images[0].numel() if len(data.train_images) else 0
        if any(w["w1"].shape[-1] != pixels for w in weights.values()):
            raise ValueError(f"the data given is not the data {run} was trained on (its images have {pixels} pixels, "
                             f"the weights expect {next(iter(weights.values()))['w1'].shape[-1]})")
        if test_n > len(data.test_labels):
            raise ValueError(f"the data given is not the data {run} was trained on (it has {len(data.test_labels)} test "
                             f"images, the run's predictions {test_n})")
        if not np.array_equal(data.test_labels[:test_n].numpy(), labels):
            raise ValueError(f"the data given is not the data {run} was trained on (its test labels differ)")
    seeds = [int(s) for s in pred["seeds"]]
    out = {"n_bins": N_BINS, "heldout": None if heldout is None else {"start": heldout[0], "stop": heldout[1]},
           "losses": {}}
    for name in config.losses:
        out["losses"][name] = {"seeds": {}}
    for seed in seeds:
        if temperature:
            model = predict.stacked_model(config, weights[seed])
            z_held = predict.logits(model, data.train_images[heldout[0]:heldout[1]]).double()
            y_held = data.train_labels[heldout[0]:heldout[1]]
            z_test = predict.logits(model, data.test_images[:len(labels)]).double()
        for m, name in enumerate(config.losses):
            key = name if seed == config.seed else f"{name}@{seed}"
            entry = {"before": reliability(pred[key], labels).to_dict()}
            if temperature:
                t = fit_temperature(z_held[:, m], y_held)
                entry["temperature"] = t
                entry["temperature_at_bound"] = t in T_RANGE
                entry["heldout_before"] = reliability(torch.softmax(z_held[:, m], -1), y_held).to_dict()
                entry["after"] = reliability(torch.softmax(z_test[:, m] / t, -1), labels).to_dict()
            out["losses"][name]["seeds"][str(seed)] = entry
    for name, row in out["losses"].items():
        for phase in ("before", "after"):
            for metric in ("ece", "mce", "brier", "nll", "acc"):
                vals = [e[phase][metric] for e in row["seeds"].values() if phase in e]
                if vals:
                    row[f"{phase}_{metric}"], row[f"{phase}_{metric}_std"] = mean_std(vals)
        ts = [e["temperature"] for e in row["seeds"].values() if "temperature" in e]
        if ts:
            row["temperature"] = mean_std(ts)[0]
    write_atomic(run / RESULTS_FILE, json_bytes(out))
    return out


def read_calibration(run: Path) -> dict | None:
    """The run's calibration.json, or None when it has none; ``ValueError`` naming the file if it
    is damaged: at most 32 losses, each with its seeds' reliability ("before", and "after"
    where fitted) over ``n_bins`` bins, the numbers the figure draws."""
    path = Path(run) / RESULTS_FILE
    if not path.is_file():
        return None
    try:
        from lossviz.files import read_bounded

        d = json.loads(read_bounded(path, 64 << 20, "calibration results").decode())
        _check_results(d)
        return d
    except RecursionError:
        raise ValueError(f"{path}: cannot read (nested too deeply)") from None
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise ValueError(f"{path}: cannot read ({checks.shown(str(e), 160)[1:-1]})") from None


def _check_results(d: object) -> None:
    if not isinstance(d, dict) or not isinstance(d.get("losses"), dict) or not d["losses"]:
        raise ValueError("expected an object with losses")
    n_bins = checks.integer(d.get("n_bins"), "n_bins", 1, 1000)
    if len(d["losses"]) > 32:
        raise ValueError(f"{len(d['losses'])} losses; a run compares at most 32")
    for name, row in d["losses"].items():
        seeds = row.get("seeds") if isinstance(row, dict) else None
        if not isinstance(seeds, dict) or not seeds or not all(isinstance(e, dict) for e in seeds.values()):
            raise ValueError(f"loss {checks.shown(name)}: expected its seeds' results")
        for e in seeds.values():
            if "before" not in e:
                raise ValueError(f"loss {checks.shown(name)}: a seed without 'before'")
            for phase in ("before", "after"):
                if phase not in e:
                    continue
                r = e[phase]
                if not isinstance(r, dict):
                    raise ValueError(f"loss {checks.shown(name)}: {phase} is not an object")
                for key in ("count", "accuracy", "confidence"):
                    v = r.get(key)
                    if not (isinstance(v, list) and len(v) == n_bins and all(
                            x is None or (isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)) for x in v)):
                        raise ValueError(f"loss {checks.shown(name)}: {phase} {key} must be {n_bins} numbers")
                for key in ("ece", "mce", "brier"):
                    checks.number(r.get(key), f"loss {checks.shown(name)}: {phase} {key}")
            if "after" in e:
                checks.number(e.get("temperature"), f"loss {checks.shown(name)}: temperature", 0, math.inf, low_open=True)


def format_calibration_table(results: dict) -> str:
    """ECE / MCE / Brier per loss, before and after temperature scaling (mean over seeds)."""
    after = any("after_ece" in r for r in results["losses"].values())
    head = f"{'loss':<15}{'test acc':>9}{'ECE':>8}{'MCE':>8}{'Brier':>8}{'NLL':>8}"
    if after:
        head += f"{'T':>8}{'ECE(T)':>8}{'MCE(T)':>8}{'Brier(T)':>9}{'NLL(T)':>8}"
    lines = [f"calibration on the test set, {results['n_bins']} bins (mean over seeds); (T): after temperature scaling",
             head, "-" * len(head)]
    for name, r in results["losses"].items():
        line = f"{name:<15}{r['before_acc']:>9.4f}{r['before_ece']:>8.4f}{r['before_mce']:>8.4f}{r['before_brier']:>8.4f}{r['before_nll']:>8.3f}"
        if after:
            line += (f"{r['temperature']:>8.3f}{r['after_ece']:>8.4f}{r['after_mce']:>8.4f}{r['after_brier']:>9.4f}"
                     f"{r['after_nll']:>8.3f}")
        lines.append(line)
    if results.get("heldout"):
        h = results["heldout"]
        lines.append(f"(T fitted per model on training images {h['start']}..{h['stop'] - 1}, which the run did not train on)")
    return "\n".join(lines)
