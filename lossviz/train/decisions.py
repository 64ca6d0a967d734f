"""Decisions from a run's test probabilities: for one class, what a threshold on its probability
catches (recall) against the false alarms it raises (false positive rate), per loss. Where
calibration meets the decision: "is the top class always the answer?" (issue 28)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lossviz import checks

THRESHOLDS = np.linspace(0.0, 1.0, 101)


@dataclass
class DecisionCurve:
    """One loss's trade-off for class ``cls``: "flag an image as ``cls`` when p_cls >= t".

    thresholds (T,); recall (T,): the share of the class's test images flagged (caught);
    false_alarm (T,): the share of the other images flagged (false positive rate)."""

    cls: int
    thresholds: np.ndarray
    recall: np.ndarray
    false_alarm: np.ndarray


def decision_curve(probs, labels, cls: int, thresholds=THRESHOLDS) -> DecisionCurve:
    """Recall and false positive rate of the rule p_cls >= t at each threshold t.

    Args:
        probs: class probabilities (N, C); labels: true classes (N,); cls: the class to flag.
    Returns:
        a ``DecisionCurve`` (float64 arrays of the thresholds' length). A class with no test
        image (or no other image) has NaN recall (false alarms).
    """
    probs, labels = np.asarray(probs), np.asarray(labels)
    if probs.ndim != 2 or labels.shape != (len(probs),):
        raise ValueError(f"probs must be (N, C) and labels (N,), got {probs.shape} and {labels.shape}")
    cls = checks.integer(cls, "class", 0, probs.shape[1] - 1)
    t = np.asarray(thresholds, dtype=np.float64)
    score = probs[:, cls].astype(np.float64)
    pos = labels == cls

    def share_at_least(values: np.ndarray) -> np.ndarray:
        if not len(values):
            return np.full(len(t), np.nan)
        s = np.sort(values)  # images with score >= t: those from the first index not below t
        return (len(s) - np.searchsorted(s, t, side="left")) / len(s)

    return DecisionCurve(cls, t, share_at_least(score[pos]), share_at_least(score[~pos]))


def hardest_class(probs_by_loss: dict, labels) -> int:
    """The class with the lowest recall of the top-class rule (argmax), averaged over the
    losses: where a threshold has the most to decide (Shirt on Fashion-MNIST)."""
    labels = np.asarray(labels)
    n_classes = next(iter(probs_by_loss.values())).shape[1]
    recall = np.zeros(n_classes)
    for probs in probs_by_loss.values():
        hit = np.asarray(probs).argmax(1) == labels
        recall += np.array([hit[labels == c].mean() if (labels == c).any() else 1.0 for c in range(n_classes)])
    return int(recall.argmin())


def run_decisions(run: Path, cls: int | None = None, thresholds=THRESHOLDS) -> dict[str, DecisionCurve]:
    """{loss: DecisionCurve} for class ``cls`` (default: ``hardest_class``) from a finished
    run's predictions.npz (the first seed's models); ``RunError`` naming the file if it is
    missing or damaged."""
    from lossviz.train.outputs import read_predictions
    from lossviz.train.runs import read_config

    config, _ = read_config(run)
    arrays = read_predictions(run, config)
    probs = {name: arrays[name] for name in config.losses}
    labels = arrays["labels"]
    cls = hardest_class(probs, labels) if cls is None else cls
    return {name: decision_curve(p, labels, cls, thresholds) for name, p in probs.items()}
