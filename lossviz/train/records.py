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
    test_ece: float | None  # expected calibration error, 15 bins (torchmetrics' convention)
    seconds: float  # wall time of the epoch: the one field that is not a function of the config
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
            _count(getattr(rec, name), f"metrics record: {name}")
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
