"""What training returns, as plain typed data: ``EpochRecord`` (a line of metrics.jsonl),
``Checkpoint`` (what a resume starts from) and ``Evaluation`` (one model's scores on a set)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

import torch

from lossviz.checks import integer


def _count(value: object, name: str) -> int:
    """A non-negative integer field of a record read back from a file."""
    if isinstance(value, float):  # a record has whole numbers as JSON integers, never 2.0
        raise ValueError(f"{name} must be an integer in [0, {2**63 - 1}], got {value!r}")
    return integer(value, name, 0, 2**63 - 1)


# Fields added after the first runs were recorded: a record without them (an older run) reads
# with these defaults. Lists are per layer (gradient norms) or per hidden layer (the fractions).
OPTIONAL = {"confusion": None, "test_top3_acc": None, "grad_norm": [], "dead_fraction": [],
            "saturated_fraction": [], "logit_grad_norm": None, "ce_logit_grad_norm": None}


@dataclass
class EpochRecord:
    """One loss's results after one epoch of one seed: a line of the run's metrics.jsonl.

    Metrics are None (lists empty) for a model that diverged (its training loss turned NaN/inf),
    and for a field an older run did not record (``OPTIONAL``).

    Gradient health (d2l 4.8), measured on the epoch's LAST minibatch (B examples, usually the
    remainder of the training set after the full batches: 60000 % 256 = 96 on Fashion-MNIST),
    with the weights as they were before that batch's step (``lossviz.train.health``):

    - ``grad_norm``: per layer, input layer first (softmax regression: its one layer), the
      Frobenius norm of the weight gradient of the batch's mean loss, i.e. of the mean
      per-example gradient (the data loss only, no weight-decay term).
    - ``dead_fraction``: per hidden layer, the share of units whose activation derivative f'(z)
      is exactly 0 on every example of the batch: no gradient reaches their incoming weights.
      For ReLU that is z <= 0 everywhere (f(z) = 0); sigmoid and tanh units are dead only where
      f' underflows to 0; leaky ReLU / PReLU units never are. Empty without hidden layers.
    - ``saturated_fraction``: per hidden layer, the share of units whose |f'(z)| averaged over
      the batch is below 0.01 (dead units included). Empty without hidden layers.
    - ``logit_grad_norm``: the batch mean of the per-example norm ||d loss / d logits||_2, what
      the loss sends back into the network.
    - ``ce_logit_grad_norm``: the same for cross-entropy at the same logits, ||softmax(o) - y||_2;
      the ratio logit_grad_norm / ce_logit_grad_norm measures how much smaller this loss's signal
      is than cross-entropy's from where the model stands (L2 on softmax outputs: the softmax
      Jacobian, about p(1 - p), shrinks it).
    """

    seed: int
    epoch: int
    loss: str
    status: str  # "ok" or "diverged"
    diverged_epoch: int | None
    train_loss: float | None  # mean per-example loss over the epoch's minibatches (d2l's)
    train_acc: float | None  # accuracy of the predictions made during the epoch
    test_loss: float | None
    test_acc: float | None
    test_ece: float | None  # expected calibration error, 15 bins (torchmetrics' convention)
    seconds: float  # wall time of the epoch: the one field that is not a function of the config
    confusion: list | None = None  # test confusion matrix, true x predicted
    # Share of test images whose true class is among the 3 highest scores (ties counted in the
    # true class's favour), so always >= test_acc.
    test_top3_acc: float | None = None
    grad_norm: list = field(default_factory=list)  # per layer, input first (see the class docstring)
    dead_fraction: list = field(default_factory=list)  # per hidden layer
    saturated_fraction: list = field(default_factory=list)  # per hidden layer
    logit_grad_norm: float | None = None  # mean per-example ||d loss / d logits|| on the last batch
    ce_logit_grad_norm: float | None = None  # cross-entropy's at the same logits

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: object) -> "EpochRecord":
        """A record from plain data, every field checked (``ValueError`` naming the field)."""
        if not isinstance(d, dict):
            raise ValueError(f"a metrics record must be a JSON object, got {type(d).__name__}")
        names = [f.name for f in fields(cls)]
        missing = [n for n in names if n not in d and n not in OPTIONAL]
        if missing:
            raise ValueError(f"metrics record lacks {', '.join(missing)}")
        rec = cls(**{n: d[n] if n in d else _default(n) for n in names})
        for name in ("seed", "epoch"):
            _count(getattr(rec, name), f"metrics record: {name}")
        if not isinstance(rec.loss, str) or rec.status not in ("ok", "diverged"):
            raise ValueError(f"metrics record: bad loss {rec.loss!r} or status {rec.status!r}")
        for name in ("train_loss", "train_acc", "test_loss", "test_acc", "test_ece", "seconds"):
            v = getattr(rec, name)
            if v is None and name != "seconds" and rec.status == "diverged":
                continue
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise ValueError(f"metrics record: {name} must be a number, got {v!r}")
        for name in ("test_top3_acc", "logit_grad_norm", "ce_logit_grad_norm"):
            v = getattr(rec, name)
            if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float))):
                raise ValueError(f"metrics record: {name} must be a number or null, got {v!r}")
        for name in ("grad_norm", "dead_fraction", "saturated_fraction"):
            v = getattr(rec, name)
            if v is None:
                setattr(rec, name, [])
            elif not (isinstance(v, list) and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in v)):
                raise ValueError(f"metrics record: {name} must be a list of numbers, got {v!r}")
        if rec.confusion is not None and not (isinstance(rec.confusion, list) and all(isinstance(r, list) for r in rec.confusion)):
            raise ValueError("metrics record: confusion must be a matrix (a list of lists)")
        return rec


def _default(name: str):
    value = OPTIONAL[name]
    return list(value) if isinstance(value, list) else value


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
            _count(getattr(ck, name), f"checkpoint: {name}")
        if not (isinstance(ck.params, dict) and all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in ck.params.items())):
            raise ValueError("checkpoint: params must map names to tensors")
        if not (isinstance(ck.diverged, dict) and isinstance(ck.test_pred, dict)):
            raise ValueError("checkpoint: diverged and test_pred must be mappings")
        return ck


@dataclass
class Evaluation:
    """One model's scores on a data set (d2l's ``evaluate_accuracy``, plus loss, ECE, confusion)."""

    loss: float
    acc: float
    ece: float
    confusion: list[list[int]]  # true x predicted
    pred: torch.Tensor  # predicted class per example
    top3_acc: float | None = None  # true class among the 3 highest scores (ties in its favour)
