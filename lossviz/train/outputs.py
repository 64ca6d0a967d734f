"""A finished run's outputs read back checked: the final weights (weights.pt) and the test
predictions (predictions.npz) that the studies start from; ``RunError`` naming the file when one
is missing or damaged."""

from __future__ import annotations

from pathlib import Path

from lossviz import checks
from lossviz.train.config import TrainConfig


class RunError(ValueError):
    """A run folder that cannot be used as asked (exists, missing, locked, damaged, other config)."""


def read_final_weights(run: Path, config: TrainConfig | None = None) -> dict[int, dict]:
    """{seed: the stacked final weights} from the run's weights.pt; ``RunError`` if damaged: not
    a weights file, no seed, and (with the run's ``config``) a seed outside the run, weights
    that are not float tensors of the run's model's shapes, or NaN/inf weights."""
    import pickle

    import torch

    path = Path(run) / "weights.pt"
    if not path.is_file():
        raise RunError(f"{run} has no final weights (weights.pt): the run has not finished a seed, "
                       "or was trained by an older lossviz; train it again")
    try:
        d = torch.load(path, weights_only=True)
        if not isinstance(d, dict):
            raise ValueError(f"a mapping of seeds is expected, got {type(d).__name__}")
        out = {int(str(k).removeprefix("seed_")): v for k, v in d.items()}
        if not all(isinstance(p, dict) and all(isinstance(t, torch.Tensor) for t in p.values()) for p in out.values()):
            raise ValueError("weights must map names to tensors")
        if not out:
            raise ValueError("it holds no seed's weights")
        if config is not None:
            for seed, params in out.items():
                _check_weights(params, seed, config)
        return {s: {k: t.contiguous() for k, t in p.items()} for s, p in out.items()}
    except (OSError, RuntimeError, EOFError, pickle.UnpicklingError, ValueError, AttributeError, TypeError) as e:
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise RunError(f"{path}: not a lossviz weights file ({checks.shown(reason, 160)[1:-1]})") from None


def _check_weights(params: dict, seed: int, config: TrainConfig) -> None:
    """A seed's stacked weights against the run's model: layers w1, b1, ..., float, finite, and
    shaped (M, out, in) / (M, out) with M the number of losses and the run's hidden widths."""
    import torch

    if not 0 <= seed - config.seed < config.seeds:
        raise ValueError(f"seed {seed} is not one of the run's seeds")
    layers = len(config.hidden or ()) + 1
    if set(params) != {f"{k}{i}" for i in range(1, layers + 1) for k in "wb"}:
        raise ValueError(f"seed {seed}: layers {', '.join(sorted(map(str, params)))[:80]}, expected w1, b1 ... w{layers}, b{layers}")
    m = len(config.losses)
    widths = [params["w1"].shape[-1] if params["w1"].dim() == 3 else -1, *(config.hidden or ()), None]
    for i in range(1, layers + 1):
        w, b = params[f"w{i}"], params[f"b{i}"]
        out_w = widths[i] if widths[i] is not None else (b.shape[-1] if b.dim() == 2 else -1)
        if (tuple(w.shape) != (m, out_w, widths[i - 1]) or tuple(b.shape) != (m, out_w) or not 2 <= params[f"b{layers}"].shape[-1] <= 1000):
            raise ValueError(f"seed {seed}: w{i} {tuple(w.shape)}, b{i} {tuple(b.shape)} do not fit the run's model "
                             f"({m} losses, hidden {list(config.hidden or ())})")
        for name, t in ((f"w{i}", w), (f"b{i}", b)):
            if not t.is_floating_point():
                raise ValueError(f"seed {seed}: {name} is {t.dtype}, not floating point")
            if not torch.isfinite(t).all():
                raise ValueError(f"seed {seed}: {name} holds NaN or infinite values")


def read_predictions(run: Path, config: TrainConfig | None = None) -> dict:
    """The run's predictions.npz as {name: numpy array}; ``RunError`` if missing or damaged. With
    the run's ``config`` every array is checked: integer labels (N,) in [0, C), and for each seed
    (in the run's range) and loss, probabilities (N, C) in [0, 1] with no NaN."""
    import numpy as np

    from lossviz.files import read_npz

    path = Path(run) / "predictions.npz"
    if not path.is_file():
        raise RunError(f"{run} has no test predictions (predictions.npz): the run has not finished")
    try:
        arrays = read_npz(path)
    except ValueError as e:
        raise RunError(str(e)) from None
    if config is None:
        return arrays

    def bad(why: str):
        return RunError(f"{path}: {why}")

    for key in ("labels", "seeds"):
        if key not in arrays:
            raise bad(f"no {key!r} array")
        if arrays[key].ndim != 1 or arrays[key].dtype.kind not in "iu":
            raise bad(f"{key!r} must be a 1-D integer array, got {arrays[key].dtype} {arrays[key].shape}")
    labels, seeds = arrays["labels"], arrays["seeds"]
    if len(labels) == 0:
        raise bad("no test labels")
    if len(seeds) == 0 or len(set(seeds.tolist())) != len(seeds) or not all(0 <= s - config.seed < config.seeds for s in seeds.tolist()):
        raise bad(f"seeds {checks.shown(seeds.tolist())} are not seeds of the run ({config.seed}..{config.seed + config.seeds - 1})")
    n_classes = None
    for s in seeds.tolist():
        for name in config.losses:
            key = name if s == config.seed else f"{name}@{s}"
            if key not in arrays:
                raise bad(f"no probabilities {key!r}")
            a = arrays[key]
            if a.ndim != 2 or a.shape[0] != len(labels) or a.dtype.kind != "f" or not 2 <= a.shape[1] <= 1000:
                raise bad(f"{key!r} must be float probabilities ({len(labels)}, C), got {a.dtype} {a.shape}")
            if n_classes is not None and a.shape[1] != n_classes:
                raise bad(f"{key!r} has {a.shape[1]} classes, another array {n_classes}")
            n_classes = a.shape[1]
            if not np.isfinite(a).all() or (a < 0).any() or (a > 1 + 1e-3).any():
                raise bad(f"{key!r} holds values that are not probabilities (NaN, inf, or outside [0, 1])")
    if labels.min() < 0 or labels.max() >= n_classes:
        raise bad(f"labels outside [0, {n_classes}): {int(labels.min())}..{int(labels.max())}")
    return arrays
