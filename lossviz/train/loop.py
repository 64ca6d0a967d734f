"""The epoch loop: ``prepare`` the data, ``train_epoch`` / ``evaluate`` for M models side by side,
and ``compare_here``, the whole comparison in this process.

Read it as d2l's ``train_epoch_ch3`` / ``evaluate_accuracy`` pair, grown to train several losses
at once: every loss starts from the same initial weights and sees the same minibatches in the
same order; the M models' weights sit side by side so one matrix product serves all; gradients
are closed forms from the registry (the same ``grad`` functions the figures draw). Functions
return typed records (``records``) and never print; ``runs`` writes them, the CLI shows progress.
"""

from __future__ import annotations

import math
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable

import torch

from lossviz.checks import integer
from lossviz.train import models
from lossviz.train.config import TrainConfig, resolve_device
from lossviz.train.health import batch_health
from lossviz.train.heads import LossHead, head_outputs, logit_grads, loss_heads, loss_values, on_probs, one_hot
from lossviz.train.metrics import accuracy, calibration_errors, confusion_matrices, top_k_accuracy
from lossviz.train.records import Checkpoint, EpochRecord, Evaluation


# --- one epoch, one evaluation ----------------------------------------------------------------


def batch_order(n: int, seed: int, epoch: int) -> torch.Tensor:
    """The minibatch order of one epoch: a permutation that depends only on (seed, epoch),
    so every loss sees the same batches, and a resumed run sees what it would have seen."""
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed * 100_003 + epoch))


def batches_per_epoch(n: int, batch_size: int) -> int:
    """Minibatches in one pass over n examples (the last one may be smaller)."""
    return math.ceil(n / batch_size)


def train_epoch(model: models.StackedModel, config: TrainConfig, images: torch.Tensor, labels: torch.Tensor,
                order: torch.Tensor, lr: torch.Tensor, on_batch: Callable[[int, int], None] | None = None,
                n_classes: int = 10, *, health: bool = False):
    """One pass of minibatch SGD for all M models; returns (mean loss (M,), accuracy (M,)), and
    with ``health=True`` a third item: the ``health.BatchHealth`` of the epoch's last minibatch
    (per-layer gradient norms, dead and saturated units, logit-gradient norms), measured from
    its closed-form gradients before its step.

    As d2l's ``train_epoch_ch3``: the loss is the mean per-example loss over the epoch and the
    accuracy is that of the predictions made during the epoch (before each step's update).
    ``lr`` is (M,): 0 freezes a model (a diverged one). With ``config.weight_decay`` the
    weights also shrink by lr * lambda * w each step (the penalty is not in the reported loss).

    The minibatch loop does only what the updates need (gather, forward, softmax, gradient,
    update); the logits and probabilities it makes are kept, and the epoch's losses and hits
    are computed from them once at the end, on large tensors, instead of ~25 small operations
    per minibatch.
    """
    n, bs = len(order), config.batch_size
    heads = loss_heads(config)
    order = order.to(images.device)
    y = labels.index_select(0, order)  # the epoch's labels in batch order
    # The minibatch as floats in [0, 1], refilled in place: a fresh 800 KB tensor per batch costs
    # page faults. uint8 pixels are gathered first, then divided by 255 (as torchvision's ToTensor).
    pixels = images.dtype == torch.uint8
    x_buf = torch.empty(min(n, bs), images.shape[1], dtype=torch.float32 if pixels else images.dtype, device=images.device)
    raw_buf = images.new_empty(x_buf.shape) if pixels else None
    onehot = one_hot(y, x_buf, n_classes)
    # Every prediction of the epoch (and its softmax), scored at the end. (Copying each batch in
    # while it is in the cache is cheaper than one torch.cat of 235 pieces at the end.)
    logits = x_buf.new_empty(n, model.n_models, n_classes)
    probs_out = on_probs(config, heads)
    probs = torch.empty_like(logits) if probs_out else logits
    # Mean over the batch, as d2l's sgd divides by batch_size (the last batch may be smaller).
    steps = {size: lr / size for size in {min(n, bs), n % bs or bs}}
    decay = lr * config.weight_decay if config.weight_decay else None
    n_batches = batches_per_epoch(n, bs)
    for i in range(n_batches):
        rows = slice(i * bs, min(n, (i + 1) * bs))
        size = rows.stop - rows.start
        if pixels:
            x = torch.div(torch.index_select(images, 0, order[rows], out=raw_buf[:size]), 255.0, out=x_buf[:size])
        else:
            x = torch.index_select(images, 0, order[rows], out=x_buf[:size])
        out, cache = models.forward(model, x)
        outputs = head_outputs(config, out, heads)
        logits[rows] = out
        if probs_out:
            probs[rows] = outputs
        d_logits = logit_grads(config, out, onehot[rows], heads, outputs)
        if health and i == n_batches - 1:
            measured = batch_health(model, cache, d_logits, out, onehot[rows])
        models.sgd_step(model, cache, d_logits, steps[size], decay)
        if on_batch is not None:
            on_batch(i + 1, n_batches)
    scores = _scores(config, logits, y, heads, outputs=probs, onehot=onehot, confidence=False)
    loss, acc = scores.loss.sum(0, dtype=torch.float64).cpu() / n, scores.hit.sum(0).double().cpu() / n
    return (loss, acc, measured) if health else (loss, acc)


@dataclass
class Scores:
    """Per example (N) and model (M): the loss, the predicted class, whether it is right, and
    the confidence (the largest softmax probability)."""

    loss: torch.Tensor
    pred: torch.Tensor
    hit: torch.Tensor
    conf: torch.Tensor | None  # only where asked for


def _scores(config: TrainConfig, logits: torch.Tensor, labels: torch.Tensor, heads: tuple[LossHead, ...], *,
            outputs: torch.Tensor | None = None, onehot: torch.Tensor | None = None, confidence: bool = True,
            chunk: int = 8192) -> Scores:
    """Scores of logits (N, M, C), in chunks that stay in the cache (8192 x 4 x 10 floats).
    ``outputs`` and ``onehot``: the logits' ``head_outputs`` and the labels' one-hot rows, when
    already at hand."""
    n, c = len(labels), logits.shape[-1]
    loss = logits.new_empty(logits.shape[:2])
    conf = logits.new_empty(logits.shape[:2]) if confidence else None
    pred = torch.empty(logits.shape[:2], dtype=torch.long, device=logits.device)
    for i in range(0, n, chunk):
        rows = slice(i, i + chunk)
        lg = logits[rows]
        target = one_hot(labels[rows], lg, c) if onehot is None else onehot[rows]
        loss[rows] = loss_values(config, lg, target, heads, None if outputs is None else outputs[rows])
        top, pred[rows] = lg.max(-1)
        if confidence:  # max_c softmax(o)_c = 1 / sum_c exp(o_c - max o): finite, no full softmax
            conf[rows] = torch.exp(lg - top.unsqueeze(-1)).sum(-1).reciprocal_()
    return Scores(loss, pred, pred == labels[:, None], conf)


@torch.no_grad()
def evaluate(model: models.StackedModel, config: TrainConfig, images: torch.Tensor, labels: torch.Tensor,
             chunk: int = 16384) -> list[Evaluation]:
    """Per model: mean loss, accuracy, top-3 accuracy, ECE and the confusion matrix (true x
    predicted) on a set."""
    parts = [models.forward(model, images[i:i + chunk])[0] for i in range(0, len(labels), chunk)]
    logits = parts[0] if len(parts) == 1 else torch.cat(parts)
    s = _scores(config, logits, labels, loss_heads(config))
    m, c = model.n_models, logits.shape[-1]
    confusion = confusion_matrices(labels, s.pred, c).cpu().tolist()
    loss, acc = s.loss.double().mean(0).tolist(), accuracy(s.pred, labels).tolist()
    ece = calibration_errors(s.conf, s.hit).tolist()
    top3 = top_k_accuracy(logits, labels, 3).tolist()
    return [Evaluation(loss[k], acc[k], ece[k], confusion[k], s.pred[:, k], top3[k]) for k in range(m)]


# --- the data on the device -------------------------------------------------------------------


@dataclass
class Prepared:
    """The data on the device, flattened: the training images as uint8 pixels (a quarter of the
    memory, and of the bytes each minibatch gathers; ``train_epoch`` turns each gathered batch
    into floats in [0, 1]), the test images as floats in [0, 1]."""

    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    n_classes: int
    clean_train_y: torch.Tensor | None = None  # the labels before --label-noise corrupted train_y

    @property
    def n_inputs(self) -> int:
        return self.train_x.shape[1]


def prepare(config: TrainConfig, data) -> Prepared:
    """Any data with ``train_images`` / ``train_labels`` / ``test_images`` / ``test_labels``
    (uint8 pixels or floats in [0, 1]; ``n_classes`` or ``classes`` if it has them)."""
    dev = resolve_device(config.device)

    def to_device(images, labels, limit):
        images, labels = images[:limit], labels[:limit]
        return images.to(dev).reshape(len(images), -1).contiguous(), labels.to(dev)

    n_train = len(data.train_labels) - config.holdout  # --holdout: the last images stay out of training
    if n_train < 1:
        raise ValueError(f"holdout {config.holdout} leaves no training image of {len(data.train_labels)}")
    train_x, train_y = to_device(data.train_images[:n_train], data.train_labels[:n_train], config.train_subset)
    test_x, test_y = to_device(data.test_images, data.test_labels, config.test_subset)
    if test_x.dtype == torch.uint8:
        test_x = test_x.float().div_(255.0)
    n_classes = getattr(data, "n_classes", None) or len(getattr(data, "classes", ()))
    if not n_classes:
        n_classes = int(max(train_y.max(), test_y.max())) + 1
    clean_train_y = None
    if config.label_noise:
        from lossviz.train.noise import corrupt_labels

        clean_train_y = train_y
        train_y = corrupt_labels(train_y, config.label_noise, config.noise, n_classes=n_classes, seed=config.seed)
    return Prepared(train_x, train_y, test_x, test_y, n_classes, clean_train_y)


# --- the comparison in this process -----------------------------------------------------------


def new_model(config: TrainConfig, prep: Prepared, n_models: int, seed: int) -> models.StackedModel:
    return models.init_model(config.model, n_models, n_inputs=prep.n_inputs, n_classes=prep.n_classes,
                             hidden=config.hidden, activation=config.activation,
                             activation_params=config.activation_params, seed=seed, device=prep.train_x.device)


def compare_here(config: TrainConfig, prep: Prepared, checkpoint: Checkpoint,
                 on_epoch: Callable[[list[EpochRecord], Checkpoint], None] | None,
                 on_batch: Callable[[int, int], None] | None) -> list[EpochRecord]:
    """The comparison in this process: all models stacked, one pass over the data per epoch."""
    dev = prep.train_x.device
    history: list[EpochRecord] = []
    for s in range(checkpoint.seed_index, config.seeds):
        seed = config.seed + s
        model = new_model(config, prep, len(config.losses), seed)
        first_epoch, diverged = 1, {}
        if checkpoint.seed_index == s and checkpoint.params:
            shapes = {k: tuple(v.shape) for k, v in model.params.items()}
            if {k: tuple(v.shape) for k, v in checkpoint.params.items()} != shapes:
                raise ValueError("the saved weights do not fit this model (a run folder from another lossviz version?); "
                                 "start a new run with another --out")
            model.params = {k: v.to(device=dev, dtype=model.params[k].dtype) for k, v in checkpoint.params.items()}
            first_epoch, diverged = checkpoint.epoch + 1, dict(checkpoint.diverged)
        for epoch in range(first_epoch, config.epochs + 1):
            start = time.perf_counter()
            lr = torch.tensor([0.0 if name in diverged else config.lr for name in config.losses], device=dev)
            train_loss, train_acc, health = train_epoch(model, config, prep.train_x, prep.train_y,
                                                        batch_order(len(prep.train_y), seed, epoch), lr, on_batch,
                                                        prep.n_classes, health=True)
            for m, name in enumerate(config.losses):
                if name not in diverged and not math.isfinite(train_loss[m].item()):
                    diverged[name] = epoch
                    for p in model.select(m).values():  # frozen at zero: finite, harmless
                        p.zero_()
            evals = evaluate(model, config, prep.test_x, prep.test_y)
            seconds = time.perf_counter() - start
            records = []
            for m, name in enumerate(config.losses):
                ok, e = name not in diverged, evals[m]
                records.append(EpochRecord(
                    seed=seed, epoch=epoch, loss=name, status="ok" if ok else "diverged",
                    diverged_epoch=diverged.get(name),
                    train_loss=train_loss[m].item() if ok else None, train_acc=train_acc[m].item() if ok else None,
                    test_loss=e.loss if ok else None, test_acc=e.acc if ok else None, test_ece=e.ece if ok else None,
                    seconds=seconds, confusion=e.confusion if ok else None,
                    test_top3_acc=e.top3_acc if ok else None, **(health.of(m) if ok else {})))
            history += records
            checkpoint = Checkpoint(s, epoch, dict(diverged),
                                    {k: v.detach().cpu().clone() for k, v in model.params.items()},
                                    {name: evals[m].pred[:64].cpu().tolist() for m, name in enumerate(config.losses)})
            if on_epoch is not None:
                on_epoch(records, checkpoint)
        checkpoint = Checkpoint(s + 1)
    return history


# --- the thread policy ------------------------------------------------------------------------

DEFAULT_THREADS = 1  # intra-op threads of a training run or a landscape (see ``intra_op_threads``)


@contextmanager
def intra_op_threads(n: int = DEFAULT_THREADS):
    """torch's intra-op thread count set to ``n`` for the block, then restored.

    One thread by default: the trainer's products are thin (a batch of 256 against 10-256
    outputs) and its loss gradients are many small operations, so a second thread gains little
    alone, while beside another job a team of OpenMP threads waits for its slowest member
    (measured on 2 cores: 2 threads 1.8-1.95 s alone and 4.4-8.2 s beside a 2-thread torch job;
    1 thread 1.76-2.0 s alone and 2.9-4.2 s beside)."""
    n = integer(n, "threads", 1, 1024)
    saved = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield n
    finally:
        torch.set_num_threads(saved)
