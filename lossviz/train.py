"""The shared trainer: several losses trained side by side on Fashion-MNIST, fairly and fast.

Fair: every loss starts from the same initial weights and sees the same minibatches in the
same order. Fast: the data lives in memory as one tensor, one shuffle per epoch, the M models'
weights sit side by side so one matrix product serves all, and gradients are closed forms from
the registry (the same ``grad`` functions the figures draw); on a CPU with several cores,
groups of losses train in parallel processes (see "several processes" below). The trainer
returns plain data and never prints; ``runs`` writes it to disk and the CLI shows progress.
"""

from __future__ import annotations

import math
import pickle
import time
from dataclasses import asdict, dataclass, field, replace
from typing import Callable

import torch

from lossviz import models, stable
from lossviz.registry import activations, get_activation, get_loss, losses

ECE_BINS = 15
REGRESSION_TARGETS = ("probs", "logits")


@dataclass
class TrainConfig:
    losses: tuple[str, ...] = ("cross_entropy", "l2", "l1", "huber")  # compared side by side
    model: str = "softmax"  # "softmax" (784 -> 10) or "mlp" (784 -> hidden -> 10)
    activation: str = "relu"  # the MLP's hidden activation, any elementwise registry activation
    hidden: int = 256  # MLP hidden units
    epochs: int = 10
    lr: float = 0.1  # plain minibatch SGD, as d2l's sgd
    batch_size: int = 256
    seeds: int = 1  # independent repeats (seed, seed + 1, ...), for mean +- std
    seed: int = 0
    regression_target: str = "probs"  # L1/L2/Huber on softmax probabilities, or on raw "logits"
    loss_params: dict = field(default_factory=dict)  # {"huber": {"delta": 0.5}}
    activation_params: dict = field(default_factory=dict)  # {"alpha": 0.1} for prelu
    device: str = "auto"  # "auto" (cuda when available), "cpu", "cuda", "cuda:1", ...
    train_subset: int | None = None  # use only the first N training images (quick runs, tests)
    test_subset: int | None = None  # evaluate on the first N test images only

    def validate(self) -> "TrainConfig":
        """Check every field; ``ValueError`` with one clear sentence otherwise."""
        self.losses = tuple(self.losses)
        if not self.losses:
            raise ValueError("give at least one loss")
        if len(set(self.losses)) != len(self.losses):
            raise ValueError(f"a loss is listed twice: {', '.join(self.losses)}")
        for name in self.losses:
            get_loss(name)
        for name, p in self.loss_params.items():
            if name not in self.losses:
                raise ValueError(f"parameters given for {name!r}, which is not among the compared losses")
            get_loss(name).resolve(p)
        if self.model not in models.MODELS:
            raise ValueError(f"unknown model {self.model!r}; valid models: {', '.join(models.MODELS)}")
        spec = get_activation(self.activation)
        if spec.kind != "elementwise":
            valid = [a for a in activations() if get_activation(a).kind == "elementwise"]
            raise ValueError(f"the hidden activation must be elementwise; valid: {', '.join(valid)}")
        spec.resolve(self.activation_params)
        if self.regression_target not in REGRESSION_TARGETS:
            raise ValueError(f"regression target must be one of {', '.join(REGRESSION_TARGETS)}, got {self.regression_target!r}")
        for name, lo, hi in (("epochs", 1, 10_000), ("batch_size", 1, 60_000), ("seeds", 1, 100), ("hidden", 1, 65_536)):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
                raise ValueError(f"{name} must be an integer in [{lo}, {hi}], got {v!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {self.seed!r}")
        if not isinstance(self.lr, (int, float)) or isinstance(self.lr, bool) or not (0 < self.lr < 1e4) or math.isnan(self.lr):
            raise ValueError(f"lr must be a number in (0, 1e4), got {self.lr!r}")
        self.lr = float(self.lr)
        for name in ("train_subset", "test_subset"):
            v = getattr(self, name)
            if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 1):
                raise ValueError(f"{name} must be a positive integer, got {v!r}")
        resolve_device(self.device)
        return self

    def to_dict(self) -> dict:
        d = asdict(self)
        d["losses"] = list(self.losses)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        known = set(cls.__dataclass_fields__)
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown config keys: {', '.join(sorted(unknown))}")
        return cls(**d).validate()


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(name)
    except (RuntimeError, TypeError):
        raise ValueError(f"unknown device {name!r}; use auto, cpu or cuda[:N]") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device cuda requested but CUDA is not available here; use --device cpu or auto")
    if dev.type not in ("cpu", "cuda"):
        raise ValueError(f"unsupported device {name!r}; use auto, cpu or cuda[:N]")
    return dev


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
    """Per-example loss (B, M) for logits (B, M, 10) and one-hot targets (B, 10): model m's loss m.

    - classification losses (cross-entropy) take the logits and the one-hot target (a
      probability target: the same numbers as class indices, without re-checking them);
    - regression losses (L1, L2, Huber) compare, class by class, the one-hot target with the
      softmax probabilities (``regression_target="probs"``; L2 there is half the Brier score)
      or with the raw logits (``"logits"``), summed over the 10 classes.

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
    """d loss / d logits (B, M, 10) of ``loss_values``, from the registry's closed forms."""
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


def one_hot(labels: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Class indices (N,) -> one-hot rows (N, 10) in ``like``'s dtype: the regression losses' target."""
    return torch.nn.functional.one_hot(labels, models.N_CLASSES).to(like.dtype)


# --- epochs -----------------------------------------------------------------------------------


def batch_order(n: int, seed: int, epoch: int) -> torch.Tensor:
    """The minibatch order of one epoch: a permutation that depends only on (seed, epoch),
    so every loss sees the same batches, and a resumed run sees what it would have seen."""
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed * 100_003 + epoch))


def batches_per_epoch(n: int, batch_size: int) -> int:
    """Minibatches in one pass over n examples (the last one may be smaller)."""
    return math.ceil(n / batch_size)


def train_epoch(model: models.StackedModel, config: TrainConfig, images: torch.Tensor, labels: torch.Tensor,
                order: torch.Tensor, lr: torch.Tensor, on_batch: Callable[[int, int], None] | None = None):
    """One pass of minibatch SGD for all M models; returns (mean loss (M,), accuracy (M,)).

    As d2l's ``train_epoch_ch3``: the loss is the mean per-example loss over the epoch and the
    accuracy is that of the predictions made during the epoch (before each step's update).
    ``lr`` is (M,): 0 freezes a model (a diverged one).

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
    onehot = one_hot(y, x_buf)
    # Every prediction of the epoch (and its softmax), scored at the end. (Copying each batch in
    # while it is in the cache is cheaper than one torch.cat of 235 pieces at the end.)
    logits = x_buf.new_empty(n, model.n_models, models.N_CLASSES)
    on_probs = _on_probs(config, heads)
    probs = torch.empty_like(logits) if on_probs else logits
    # Mean over the batch, as d2l's sgd divides by batch_size (the last batch may be smaller).
    steps = {size: lr / size for size in {min(n, bs), n % bs or bs}}
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
        models.sgd_step(model, cache, logit_grads(config, out, onehot[rows], heads, outputs), steps[size])
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
    """Scores of logits (N, M, 10), in chunks that stay in the cache (8192 x 4 x 10 floats).
    ``outputs`` and ``onehot``: the logits' ``head_outputs`` and the labels' one-hot rows, when
    already at hand."""
    n = len(labels)
    loss = logits.new_empty(logits.shape[:2])
    conf = logits.new_empty(logits.shape[:2]) if confidence else None
    pred = torch.empty(logits.shape[:2], dtype=torch.long, device=logits.device)
    for i in range(0, n, chunk):
        rows = slice(i, i + chunk)
        lg = logits[rows]
        target = one_hot(labels[rows], lg) if onehot is None else onehot[rows]
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


@torch.no_grad()
def evaluate(model: models.StackedModel, config: TrainConfig, images: torch.Tensor, labels: torch.Tensor,
             chunk: int = 16384) -> list[dict]:
    """Per model: mean loss, accuracy, ECE and the confusion matrix (true x predicted) on a set."""
    parts = [models.forward(model, images[i:i + chunk])[0] for i in range(0, len(labels), chunk)]
    logits = parts[0] if len(parts) == 1 else torch.cat(parts)
    s = _scores(config, logits, labels, loss_heads(config))
    m, c = model.n_models, models.N_CLASSES
    # All M confusion matrices in one bincount: cell (model, true, predicted).
    cells = (torch.arange(m, device=labels.device) * c * c + labels[:, None] * c + s.pred).view(-1)
    confusion = torch.bincount(cells, minlength=m * c * c).view(m, c, c).cpu().tolist()
    loss, acc = s.loss.double().mean(0).tolist(), s.hit.double().mean(0).tolist()
    ece = calibration_errors(s.conf, s.hit).tolist()
    return [{"loss": loss[k], "acc": acc[k], "ece": ece[k], "confusion": confusion[k], "pred": s.pred[:, k]} for k in range(m)]


# --- the comparison ---------------------------------------------------------------------------


@dataclass
class Prepared:
    """The data on the device, flattened to 784: the training images as uint8 pixels (a quarter
    of the memory, and of the bytes each minibatch gathers; ``train_epoch`` turns each gathered
    batch into floats in [0, 1]), the test images as floats in [0, 1]."""

    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor


def prepare(config: TrainConfig, data) -> Prepared:
    dev = resolve_device(config.device)

    def to_device(images, labels, limit):
        images, labels = images[:limit], labels[:limit]
        return images.to(dev).reshape(len(images), -1).contiguous(), labels.to(dev)

    train_x, train_y = to_device(data.train_images, data.train_labels, config.train_subset)
    test_x, test_y = to_device(data.test_images, data.test_labels, config.test_subset)
    return Prepared(train_x, train_y, test_x.float().div_(255.0), test_y)


@torch.inference_mode()  # gradients are closed forms: no autograd bookkeeping on any op
def compare(config: TrainConfig, data, *, state: dict | None = None,
            on_epoch: Callable[[list[dict], dict], None] | None = None,
            on_batch: Callable[[int, int], None] | None = None, workers: int | None = None) -> list[dict]:
    """Train ``config.losses`` side by side for ``config.epochs`` (x ``config.seeds``).

    Calls ``on_epoch(records, state)`` after every epoch: ``records`` has one dict per loss
    (seed, epoch, loss, status, train_loss, train_acc, test_loss, test_acc, test_ece, seconds),
    ``state`` is what ``compare(state=...)`` needs to resume after it. Returns all records.
    A model whose training loss turns NaN/inf is marked "diverged" and frozen; the others go on.

    ``workers``: on a Linux CPU, the models are split into this many groups, each trained side
    by side in its own forked process (sharing the data) on its share of the cores; the results
    are merged epoch by epoch. Default: one group per core (torch's thread count), at most one
    per loss; 1 keeps everything in this process.
    """
    config.validate()
    prep = data if isinstance(data, Prepared) else prepare(config, data)
    n = _n_workers(config, prep.train_x.device, workers)
    if n > 1:
        return _compare_in_groups(config, prep, state or {}, on_epoch, on_batch, n)
    return _compare_here(config, prep, state or {}, on_epoch, on_batch)


def _compare_here(config: TrainConfig, prep: Prepared, state: dict, on_epoch, on_batch) -> list[dict]:
    """``compare`` in this process: all models stacked in one pass over the data."""
    dev = prep.train_x.device
    history: list[dict] = []
    for s in range(state.get("seed_index", 0), config.seeds):
        seed = config.seed + s
        resuming = state.get("seed_index") == s and "params" in state
        model = models.init_model(config.model, len(config.losses), hidden=config.hidden, activation=config.activation,
                                  activation_params=config.activation_params, seed=seed, device=dev)
        first_epoch, diverged = 1, {}
        if resuming:
            shapes = {k: tuple(v.shape) for k, v in model.params.items()}
            if {k: tuple(v.shape) for k, v in state["params"].items()} != shapes:
                raise ValueError("the saved weights do not fit this model (a run folder from another lossviz version?); "
                                 "start a new run with another --out")
            model.params = {k: v.to(dev) for k, v in state["params"].items()}
            first_epoch, diverged = state["epoch"] + 1, dict(state.get("diverged", {}))
        for epoch in range(first_epoch, config.epochs + 1):
            start = time.perf_counter()
            lr = torch.tensor([0.0 if name in diverged else config.lr for name in config.losses], device=dev)
            train_loss, train_acc = train_epoch(model, config, prep.train_x, prep.train_y,
                                                batch_order(len(prep.train_y), seed, epoch), lr, on_batch)
            for m, name in enumerate(config.losses):
                if name not in diverged and not math.isfinite(train_loss[m].item()):
                    diverged[name] = epoch
                    for p in model.select(m).values():  # frozen at zero: finite, harmless
                        p.zero_()
            evals = evaluate(model, config, prep.test_x, prep.test_y)
            seconds = time.perf_counter() - start
            records = []
            for m, name in enumerate(config.losses):
                ok = name not in diverged
                records.append({
                    "seed": seed, "epoch": epoch, "loss": name,
                    "status": "ok" if ok else "diverged",
                    "diverged_epoch": diverged.get(name),
                    "train_loss": train_loss[m].item() if ok else None,
                    "train_acc": train_acc[m].item() if ok else None,
                    "test_loss": evals[m]["loss"] if ok else None,
                    "test_acc": evals[m]["acc"] if ok else None,
                    "test_ece": evals[m]["ece"] if ok else None,
                    "seconds": seconds,
                    "confusion": evals[m]["confusion"] if ok else None,
                })
            history += records
            state = {"seed_index": s, "epoch": epoch, "diverged": diverged,
                     "params": {k: v.detach().cpu().clone() for k, v in model.params.items()},
                     "test_pred": {name: evals[m]["pred"][:64].cpu().tolist() for m, name in enumerate(config.losses)}}
            if on_epoch is not None:
                on_epoch(records, state)
        state = {"seed_index": s + 1}
    return history


# --- several processes ------------------------------------------------------------------------
#
# On a CPU, one process keeps one core busy between its matrix products (the loss gradients are
# many small operations, each too small to share). With c cores and M >= c models, c groups of
# models train side by side in c processes, each on 1/c of the cores. Every group still shares
# one gather and one matrix product among its models and sees the same batches (the order
# depends only on seed and epoch), so each model trains exactly as it would alone.


def check_workers(workers: int | None) -> None:
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or not 1 <= workers <= 1024):
        raise ValueError(f"workers must be an integer in [1, 1024], got {workers!r}")


def _n_workers(config: TrainConfig, device: torch.device, workers: int | None) -> int:
    check_workers(workers)
    import multiprocessing
    import sys

    # fork shares the data without copying it, as DataLoader workers do; it is used on Linux
    # only (macOS's system frameworks are not fork-safe), and a daemon process may not fork.
    if device.type != "cpu" or not sys.platform.startswith("linux") or multiprocessing.current_process().daemon:
        return 1
    return max(1, min(len(config.losses), workers or torch.get_num_threads()))


def _groups(config: TrainConfig, n: int) -> list[tuple[str, ...]]:
    """The losses cut into n contiguous groups of nearly equal size, in the config's order."""
    k, r = divmod(len(config.losses), n)
    bounds = [i * k + min(i, r) for i in range(n + 1)]
    return [config.losses[a:b] for a, b in zip(bounds, bounds[1:])]


def _group_config(config: TrainConfig, group: tuple[str, ...]) -> TrainConfig:
    params = {k: v for k, v in config.loss_params.items() if k in group}
    return replace(config, losses=group, loss_params=params).validate()


def _group_state(state: dict, config: TrainConfig, group: tuple[str, ...]) -> dict:
    """The part of a (resume) state that concerns ``group``'s models."""
    if "params" not in state:
        return dict(state)
    lo = config.losses.index(group[0])
    return {**state, "params": {k: v[lo:lo + len(group)] for k, v in state["params"].items()},
            "diverged": {k: v for k, v in state.get("diverged", {}).items() if k in group},
            "test_pred": {k: v for k, v in state.get("test_pred", {}).items() if k in group}}


def _merge(config: TrainConfig, parts: list[tuple[list[dict], dict]]) -> tuple[list[dict], dict]:
    """One epoch's records and states of the groups -> those of all models, in config order."""
    by_loss = {r["loss"]: r for records, _ in parts for r in records}
    seconds = max(r["seconds"] for r in by_loss.values())  # the epoch's wall time, shared
    records = [{**by_loss[name], "seconds": seconds} for name in config.losses]
    states = [st for _, st in parts]
    if len({(st["seed_index"], st["epoch"]) for st in states}) != 1:
        raise RuntimeError("training groups out of step")
    state = {**states[0],
             "diverged": {k: v for st in states for k, v in st["diverged"].items()},
             "params": {k: torch.cat([st["params"][k] for st in states]) for k in states[0]["params"]},
             "test_pred": {k: v for st in states for k, v in st["test_pred"].items()}}
    return records, state


def _send(conn, message) -> None:
    # Plain pickle: tensors travel by value (multiprocessing's own pickler would pass them as
    # shared-memory handles, which vanish when the sending process ends).
    conn.send_bytes(pickle.dumps(message))


def _receive(conn) -> tuple[list[dict], dict]:
    try:
        message = pickle.loads(conn.recv_bytes())
    except EOFError:
        raise RuntimeError("a training worker process ended unexpectedly") from None
    if message[0] == "error":
        raise RuntimeError(f"a training worker failed: {message[1]}")
    return message[1], message[2]


def _group_worker(config: TrainConfig, prep: Prepared, state: dict, conn, threads: int, inherited: list) -> None:
    """A forked process: train one group, send every epoch's records and state."""
    for receiver in inherited:  # the parent's ends: with them closed, a gone parent is a broken pipe
        receiver.close()
    torch.set_num_threads(threads)
    try:
        with torch.inference_mode():
            _compare_here(config, prep, state, lambda records, st: _send(conn, ("epoch", records, st)), None)
    except (KeyboardInterrupt, BrokenPipeError):  # Ctrl-C reaches the whole process group, or
        pass  # the parent is gone: it decides what happens to the run
    except BaseException as e:  # noqa: BLE001 - reported to the parent, which raises it
        _send(conn, ("error", f"{type(e).__name__}: {e}"))
    finally:
        conn.close()


def _compare_in_groups(config: TrainConfig, prep: Prepared, state: dict, on_epoch, on_batch, n: int) -> list[dict]:
    """Group 0 trains in this process (and drives ``on_batch``), groups 1.. in forked ones."""
    import multiprocessing

    ctx = multiprocessing.get_context("fork")
    groups = _groups(config, n)
    threads = torch.get_num_threads()
    per_worker = max(1, threads // n)
    conns, procs = [], []
    history: list[dict] = []

    def on_group_epoch(records: list[dict], st: dict) -> None:
        merged, merged_state = _merge(config, [(records, st)] + [_receive(c) for c in conns])
        history.extend(merged)
        if on_epoch is not None:
            on_epoch(merged, merged_state)

    try:
        for group in groups[1:]:
            receiver, sender = ctx.Pipe(duplex=False)
            conns.append(receiver)
            proc = ctx.Process(target=_group_worker, daemon=True,
                               args=(_group_config(config, group), prep, _group_state(state, config, group), sender, per_worker, conns))
            proc.start()
            sender.close()
            procs.append(proc)
        torch.set_num_threads(per_worker)
        _compare_here(_group_config(config, groups[0]), prep, _group_state(state, config, groups[0]), on_group_epoch, on_batch)
    finally:
        torch.set_num_threads(threads)
        for proc in procs:
            if proc.is_alive():
                proc.terminate()
            proc.join()
    return history
