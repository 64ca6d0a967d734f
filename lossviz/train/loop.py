"""The epoch loop: ``train_epoch`` / ``evaluate`` for M models side by side, and ``compare_here``.

Read it as d2l's ``train_epoch_ch3`` / ``evaluate_accuracy`` pair, grown to train several losses
at once: every loss starts from the same initial weights and sees the same minibatches in the
same order; the M models' weights sit side by side so one matrix product serves all; gradients
are closed forms from the registry (the same ``grad`` functions the figures draw). Functions
return typed records and never print; ``runs`` writes them, the CLI shows progress.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field, fields
from typing import Callable

import torch

from lossviz import stable
from lossviz.registry import get_loss
from lossviz.train import models
from lossviz.train.config import TrainConfig, resolve_device

ECE_BINS = 15


# --- typed records ----------------------------------------------------------------------------


@dataclass
class EpochRecord:
    """One loss's results after one epoch of one seed: a line of the run's metrics.jsonl.

    Metrics are None for a model that diverged (its training loss turned NaN/inf)."""

    seed: int
    epoch: int
    loss: str
    status: str  # "ok" or "diverged"
    diverged_epoch: int | None
    train_loss: float | None  # mean per-example loss over the epoch's minibatches (d2l's)
    train_acc: float | None  # accuracy of the predictions made during the epoch
    test_loss: float | None
    test_acc: float | None
    test_ece: float | None  # expected calibration error, 15 bins
    seconds: float  # wall time of the epoch, shared by the models trained side by side
    confusion: list | None = None  # test confusion matrix, true x predicted

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: object) -> "EpochRecord":
        """A record from plain data, every field checked (``ValueError`` naming the field)."""
        if not isinstance(d, dict):
            raise ValueError(f"a metrics record must be a JSON object, got {type(d).__name__}")
        names = [f.name for f in fields(cls)]
        missing = [n for n in names if n not in d and n != "confusion"]
        if missing:
            raise ValueError(f"metrics record lacks {', '.join(missing)}")
        rec = cls(**{n: d.get(n) for n in names})
        for name in ("seed", "epoch"):
            v = getattr(rec, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise ValueError(f"metrics record: {name} must be a non-negative integer, got {v!r}")
        if not isinstance(rec.loss, str) or rec.status not in ("ok", "diverged"):
            raise ValueError(f"metrics record: bad loss {rec.loss!r} or status {rec.status!r}")
        for name in ("train_loss", "train_acc", "test_loss", "test_acc", "test_ece", "seconds"):
            v = getattr(rec, name)
            if v is None and name != "seconds" and rec.status == "diverged":
                continue
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise ValueError(f"metrics record: {name} must be a number, got {v!r}")
        if rec.confusion is not None and not (isinstance(rec.confusion, list) and all(isinstance(r, list) for r in rec.confusion)):
            raise ValueError("metrics record: confusion must be a matrix (a list of lists)")
        return rec


@dataclass
class Checkpoint:
    """Where a comparison stands after an epoch: what ``compare(checkpoint=...)`` resumes from.

    ``seed_index`` counts seeds from ``config.seed``; ``epoch`` is the last finished epoch of
    that seed (0: the seed has not started, ``params`` empty)."""

    seed_index: int
    epoch: int = 0
    diverged: dict[str, int] = field(default_factory=dict)  # loss -> epoch it diverged
    params: dict[str, torch.Tensor] = field(default_factory=dict)  # the stacked weights, on the CPU
    test_pred: dict[str, list[int]] = field(default_factory=dict)  # first test predictions per loss

    def to_dict(self) -> dict:
        return {"seed_index": self.seed_index, "epoch": self.epoch, "diverged": dict(self.diverged),
                "params": dict(self.params), "test_pred": dict(self.test_pred)}

    @classmethod
    def from_dict(cls, d: object) -> "Checkpoint":
        if not isinstance(d, dict):
            raise ValueError(f"a checkpoint must be a mapping, got {type(d).__name__}")
        ck = cls(d.get("seed_index"), d.get("epoch", 0), d.get("diverged") or {}, d.get("params") or {}, d.get("test_pred") or {})
        for name in ("seed_index", "epoch"):
            v = getattr(ck, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise ValueError(f"checkpoint: {name} must be a non-negative integer, got {v!r}")
        if not (isinstance(ck.params, dict) and all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in ck.params.items())):
            raise ValueError("checkpoint: params must map names to tensors")
        if not (isinstance(ck.diverged, dict) and isinstance(ck.test_pred, dict)):
            raise ValueError("checkpoint: diverged and test_pred must be mappings")
        return ck


# --- losses on model outputs ------------------------------------------------------------------


@dataclass(frozen=True)
class LossHead:
    """One compared loss, ready to apply: the registry's own functions, parameters validated once."""

    name: str
    kind: str  # "classification" or "regression"
    value: Callable[..., torch.Tensor]
    grad: Callable[..., torch.Tensor]
    params: dict


def loss_heads(config: TrainConfig) -> tuple[LossHead, ...]:
    heads = []
    for name in config.losses:
        spec = get_loss(name)
        heads.append(LossHead(name, spec.kind, spec.value_fn, spec.grad_fn, spec.resolve(config.loss_params.get(name, {}))))
    return tuple(heads)


def head_outputs(config: TrainConfig, logits: torch.Tensor, heads: tuple[LossHead, ...]) -> torch.Tensor:
    """What the regression losses compare with the one-hot target: the softmax probabilities
    (one softmax serves every model) or, with ``regression_target="logits"`` or no regression
    loss, the logits themselves."""
    return stable.softmax(logits) if _on_probs(config, heads) else logits


def _on_probs(config: TrainConfig, heads: tuple[LossHead, ...]) -> bool:
    return config.regression_target == "probs" and any(h.kind == "regression" for h in heads)


def loss_values(config: TrainConfig, logits: torch.Tensor, onehot: torch.Tensor,
                heads: tuple[LossHead, ...] | None = None, outputs: torch.Tensor | None = None) -> torch.Tensor:
    """Per-example loss (B, M) for logits (B, M, C) and one-hot targets (B, C): model m's loss m.

    - classification losses take the logits and the one-hot target (a probability target: the
      same numbers as class indices, without re-checking them);
    - regression losses compare, class by class, the one-hot target with the softmax
      probabilities (``regression_target="probs"``; L2 there is half the Brier score) or with
      the raw logits (``"logits"``), summed over the classes.

    ``outputs``: ``head_outputs`` of these logits, when already at hand.
    """
    heads = heads or loss_heads(config)
    outputs = head_outputs(config, logits, heads) if outputs is None else outputs
    loss = logits.new_empty(logits.shape[:2])
    for m, h in enumerate(heads):
        if h.kind == "regression":
            loss[:, m] = h.value(outputs[:, m], onehot, **h.params).sum(-1)
        else:
            loss[:, m] = h.value(logits[:, m], onehot, **h.params)
    return loss


def logit_grads(config: TrainConfig, logits: torch.Tensor, onehot: torch.Tensor,
                heads: tuple[LossHead, ...] | None = None, outputs: torch.Tensor | None = None) -> torch.Tensor:
    """d loss / d logits (B, M, C) of ``loss_values``, from the registry's closed forms."""
    heads = heads or loss_heads(config)
    outputs = head_outputs(config, logits, heads) if outputs is None else outputs
    d = torch.empty_like(logits)
    for m, h in enumerate(heads):
        if h.kind == "regression":
            d[:, m] = h.grad(outputs[:, m], onehot, **h.params)
    if _on_probs(config, heads):
        # Chain rule through softmax, all models at once: d l / d o = J^T g with
        # J = diag(p) - p p^T, i.e. p * (g - p.g). Classification columns are overwritten below.
        d = outputs * (d - (outputs * d).sum(-1, keepdim=True))
    for m, h in enumerate(heads):
        if h.kind == "classification":
            d[:, m] = h.grad(logits[:, m], onehot, **h.params)
    return d


def identical_losses(config: TrainConfig, n_classes: int = 10) -> list[tuple[str, str]]:
    """Pairs (a, b) of compared losses that train identically with these parameters: the same
    value and gradient on every output they can see (e.g. Huber with delta >= 1 and L2 on
    probabilities, where every residual lies in [-1, 1]). Checked numerically on random logits,
    through the same ``loss_values`` / ``logit_grads`` the trainer runs."""
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(512, 1, n_classes, generator=g, dtype=torch.float64) * 4
    logits = logits.expand(-1, len(config.losses), -1).contiguous()
    labels = torch.randint(0, n_classes, (512,), generator=g)
    onehot = one_hot(labels, logits, n_classes)
    heads = loss_heads(config)
    values, grads = loss_values(config, logits, onehot, heads), logit_grads(config, logits, onehot, heads)
    pairs = []
    for j in range(len(config.losses)):
        for i in range(j):
            if torch.allclose(values[:, i], values[:, j], rtol=1e-9, atol=1e-12) and \
                    torch.allclose(grads[:, i], grads[:, j], rtol=1e-9, atol=1e-12):
                pairs.append((config.losses[i], config.losses[j]))
                break
    return pairs


def one_hot(labels: torch.Tensor, like: torch.Tensor, n_classes: int) -> torch.Tensor:
    """Class indices (N,) -> one-hot rows (N, C) in ``like``'s dtype: the regression losses' target."""
    return torch.nn.functional.one_hot(labels, n_classes).to(like.dtype)


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
                n_classes: int = 10):
    """One pass of minibatch SGD for all M models; returns (mean loss (M,), accuracy (M,)).

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
    on_probs = _on_probs(config, heads)
    probs = torch.empty_like(logits) if on_probs else logits
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
        if on_probs:
            probs[rows] = outputs
        models.sgd_step(model, cache, logit_grads(config, out, onehot[rows], heads, outputs), steps[size], decay)
        if on_batch is not None:
            on_batch(i + 1, n_batches)
    scores = _scores(config, logits, y, heads, outputs=probs, onehot=onehot, confidence=False)
    return scores.loss.sum(0, dtype=torch.float64).cpu() / n, scores.hit.sum(0).double().cpu() / n


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


def calibration_errors(conf: torch.Tensor, hit: torch.Tensor, n_bins: int = ECE_BINS) -> torch.Tensor:
    """ECE (Guo et al. 2017) of each column of conf / hit (N, M): confidence in ``n_bins``
    equal-width bins on [0, 1]; sum over bins of (bin size / N) * |accuracy in bin - mean
    confidence in bin|. Returns (M,) in float64."""
    n, m = conf.shape
    conf = conf.double()
    # Bin b holds confidences in (b/n_bins, (b+1)/n_bins]; 0 goes to the first bin.
    bins = torch.clamp((conf * n_bins).ceil().long() - 1, 0, n_bins - 1)
    bins += torch.arange(m, device=conf.device) * n_bins  # one bincount for all M models
    gap = torch.bincount(bins.view(-1), weights=(hit.double() - conf).view(-1), minlength=m * n_bins)
    # sum_b |B_b|/N * |acc_b - conf_b| = sum_b |sum_{i in b} (hit_i - conf_i)| / N
    return gap.view(m, n_bins).abs().sum(-1) / n


def expected_calibration_error(probs: torch.Tensor, labels: torch.Tensor, n_bins: int = ECE_BINS) -> float:
    """ECE of class probabilities (N, C) for labels (N,); confidence = the max probability."""
    conf, pred = probs.max(-1)
    return calibration_errors(conf[:, None], (pred == labels)[:, None], n_bins).item()


@dataclass
class Evaluation:
    """One model's scores on a data set (d2l's ``evaluate_accuracy``, plus loss, ECE, confusion)."""

    loss: float
    acc: float
    ece: float
    confusion: list[list[int]]  # true x predicted
    pred: torch.Tensor  # predicted class per example


@torch.no_grad()
def evaluate(model: models.StackedModel, config: TrainConfig, images: torch.Tensor, labels: torch.Tensor,
             chunk: int = 16384) -> list[Evaluation]:
    """Per model: mean loss, accuracy, ECE and the confusion matrix (true x predicted) on a set."""
    parts = [models.forward(model, images[i:i + chunk])[0] for i in range(0, len(labels), chunk)]
    logits = parts[0] if len(parts) == 1 else torch.cat(parts)
    s = _scores(config, logits, labels, loss_heads(config))
    m, c = model.n_models, logits.shape[-1]
    # All M confusion matrices in one bincount: cell (model, true, predicted).
    cells = (torch.arange(m, device=labels.device) * c * c + labels[:, None] * c + s.pred).view(-1)
    confusion = torch.bincount(cells, minlength=m * c * c).view(m, c, c).cpu().tolist()
    loss, acc = s.loss.double().mean(0).tolist(), s.hit.double().mean(0).tolist()
    ece = calibration_errors(s.conf, s.hit).tolist()
    return [Evaluation(loss[k], acc[k], ece[k], confusion[k], s.pred[:, k]) for k in range(m)]


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
            train_loss, train_acc = train_epoch(model, config, prep.train_x, prep.train_y,
                                                batch_order(len(prep.train_y), seed, epoch), lr, on_batch, prep.n_classes)
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
                    seconds=seconds, confusion=e.confusion if ok else None))
            history += records
            checkpoint = Checkpoint(s, epoch, dict(diverged),
                                    {k: v.detach().cpu().clone() for k, v in model.params.items()},
                                    {name: evals[m].pred[:64].cpu().tolist() for m, name in enumerate(config.losses)})
            if on_epoch is not None:
                on_epoch(records, checkpoint)
        checkpoint = Checkpoint(s + 1)
    return history
