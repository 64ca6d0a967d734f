"""The trainer as a small library: several losses trained side by side, in one process.

    config.py    TrainConfig, the one source of truth for a run's settings (CLI, jobs, config.json)
    models.py    the model registry (softmax regression, MLPs): get_model, model_names; closed-form backprop
    heads.py     the compared losses on model outputs: values and d loss / d logits, M models at once
    loop.py      prepare, train_epoch / evaluate side by side, compare_here; the thread policy
    records.py   EpochRecord, Checkpoint, Evaluation: what training returns, as plain data
    metrics.py   accuracy, top-k accuracy, confusion matrices, the expected calibration error
    health.py    gradient health of a minibatch: per-layer gradient norms, dead / saturated units
    stalls.py    gradient health over a run; which losses stall, and the causes measured
    decisions.py a threshold on one class's probability: recall and false alarms per loss
    stats.py     mean +- std over repeats (no torch)
    runs.py      the run folder: write, lock, read, resume (records only)

>>> from lossviz import train
>>> config = train.TrainConfig(losses=("cross_entropy", "l2"), epochs=2).validate()
>>> history = train.compare(config, lossviz.data.load_fashion_mnist())   # doctest: +SKIP
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    from lossviz.train.records import Checkpoint, EpochRecord

# Loaded on first use, so that `lossviz.train.config` (the command line's flags) imports no torch.
_LAZY = {
    "config": ("REGRESSION_TARGETS", "TrainConfig", "resolve_device"),
    "models": ("get_model", "model_names"),
    "heads": ("LossHead", "head_outputs", "identical_losses", "logit_grads", "loss_heads", "loss_values", "on_probs",
              "one_hot"),
    "records": ("Checkpoint", "EpochRecord", "Evaluation"),
    "metrics": ("ECE_BINS", "accuracy", "calibration_bins", "calibration_errors", "confusion_matrices",
                "expected_calibration_error", "top_k_accuracy"),
    "health": ("BatchHealth", "batch_health"),
    "stalls": ("health_curves", "stall_notes"),
    "decisions": ("DecisionCurve", "decision_curve", "run_decisions"),
    "stats": ("mean_std",),
    "loop": ("DEFAULT_THREADS", "Prepared", "batch_order", "batches_per_epoch", "compare_here", "evaluate",
             "intra_op_threads", "prepare", "train_epoch"),
}
_WHERE = {name: module for module, names in _LAZY.items() for name in names}


def __getattr__(name: str):
    if name in _WHERE:
        return getattr(importlib.import_module(f"lossviz.train.{_WHERE[name]}"), name)
    raise AttributeError(f"module 'lossviz.train' has no attribute {name!r}")


def compare(config, data, *, checkpoint: "Checkpoint | None" = None,
            on_epoch: Callable[[list["EpochRecord"], "Checkpoint"], None] | None = None,
            on_batch: Callable[[int, int], None] | None = None, threads: int | None = None) -> list["EpochRecord"]:
    """Train ``config.losses`` side by side for ``config.epochs`` (x ``config.seeds``), here.

    Calls ``on_epoch(records, checkpoint)`` after every epoch: one ``EpochRecord`` per loss and
    the ``Checkpoint`` that ``compare(checkpoint=...)`` resumes after. Returns all records. A
    model whose training loss turns NaN/inf is marked "diverged" and frozen; the others go on.

    ``threads``: torch's intra-op threads while training (default ``DEFAULT_THREADS``, one: a
    shared CPU does not slow one thread down as it does a team that waits for its slowest
    member), restored afterwards. A runtime option, not part of the config: the numbers do not
    depend on it (tests train the same config on 1 and 2 threads and compare bit for bit).
    """
    import torch

    from lossviz.train.loop import DEFAULT_THREADS, Prepared, compare_here, intra_op_threads, prepare
    from lossviz.train.records import Checkpoint

    config.validate()
    with intra_op_threads(DEFAULT_THREADS if threads is None else threads):
        prep = data if isinstance(data, Prepared) else prepare(config, data)
        with torch.inference_mode():  # gradients are closed forms: no autograd bookkeeping on any op
            return compare_here(config, prep, checkpoint or Checkpoint(0), on_epoch, on_batch)


__all__ = sorted(["compare", *_WHERE])  # noqa: F822 - loaded lazily by __getattr__
