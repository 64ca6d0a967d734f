"""The trainer as a small library: several losses trained side by side, fairly and fast.

    config.py    TrainConfig, the one source of truth for a run's settings (CLI, jobs, config.json)
    models.py    the model registry (softmax regression, MLPs) and their closed-form backprop
    loop.py      train_epoch / evaluate for M models side by side; typed records and checkpoints
    parallel.py  optional process groups (forked, one per core) apart from the plain loop
    runs.py      the run folder: write, lock, read, resume, draw

>>> from lossviz import train
>>> config = train.TrainConfig(losses=("cross_entropy", "l2"), epochs=2).validate()
>>> history = train.compare(config, lossviz.data.load_fashion_mnist())   # doctest: +SKIP
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    from lossviz.train.loop import Checkpoint, EpochRecord

# Loaded on first use, so that `lossviz.train.config` (the command line's flags) imports no torch.
_LAZY = {
    "config": ("REGRESSION_TARGETS", "TrainConfig", "resolve_device"),
    "loop": ("ECE_BINS", "Checkpoint", "EpochRecord", "Evaluation", "Prepared", "batch_order", "batches_per_epoch",
             "calibration_errors", "compare_here", "evaluate", "expected_calibration_error", "identical_losses",
             "logit_grads", "loss_values", "one_hot", "prepare", "train_epoch"),
    "parallel": ("check_workers", "compare_in_groups", "n_workers"),
}
_WHERE = {name: module for module, names in _LAZY.items() for name in names}


def __getattr__(name: str):
    if name in _WHERE:
        return getattr(importlib.import_module(f"lossviz.train.{_WHERE[name]}"), name)
    raise AttributeError(f"module 'lossviz.train' has no attribute {name!r}")


def compare(config, data, *, checkpoint: "Checkpoint | None" = None,
            on_epoch: Callable[[list["EpochRecord"], "Checkpoint"], None] | None = None,
            on_batch: Callable[[int, int], None] | None = None, workers: int | None = None) -> list["EpochRecord"]:
    """Train ``config.losses`` side by side for ``config.epochs`` (x ``config.seeds``).

    Calls ``on_epoch(records, checkpoint)`` after every epoch: one ``EpochRecord`` per loss and
    the ``Checkpoint`` that ``compare(checkpoint=...)`` resumes after. Returns all records. A
    model whose training loss turns NaN/inf is marked "diverged" and frozen; the others go on.

    ``workers``: on a Linux CPU, the models are split into this many groups, each trained side
    by side in its own forked process (sharing the data) on its share of the cores; the results
    are merged epoch by epoch. Default: one group per core (torch's thread count), at most one
    per loss; 1 keeps everything in this process.
    """
    import torch

    from lossviz.train.loop import Checkpoint, Prepared, compare_here, prepare
    from lossviz.train.parallel import compare_in_groups, n_workers

    config.validate()
    prep = data if isinstance(data, Prepared) else prepare(config, data)
    checkpoint = checkpoint or Checkpoint(0)
    n = n_workers(config, prep.train_x.device, workers)
    with torch.inference_mode():  # gradients are closed forms: no autograd bookkeeping on any op
        if n > 1:
            return compare_in_groups(config, prep, checkpoint, on_epoch, on_batch, n)
        return compare_here(config, prep, checkpoint, on_epoch, on_batch)


__all__ = [  # noqa: F822 - loaded lazily by __getattr__
    "ECE_BINS", "REGRESSION_TARGETS", "Checkpoint", "EpochRecord", "Evaluation", "Prepared", "TrainConfig",
    "batch_order", "batches_per_epoch", "calibration_errors", "check_workers", "compare", "evaluate",
    "expected_calibration_error", "identical_losses", "logit_grads", "loss_values", "one_hot", "prepare", "resolve_device", "train_epoch",
]
