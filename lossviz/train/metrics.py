"""Scores of predictions: accuracy, top-k accuracy, confusion matrices, and the expected calibration error (the
one implementation lossviz has, in torchmetrics' convention)."""

from __future__ import annotations

import torch

ECE_BINS = 15


def accuracy(pred: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Fraction right per model: predictions (N, M), labels (N,) -> (M,) float64."""
    return (pred == labels[:, None]).double().mean(0)


def top_k_accuracy(logits: torch.Tensor, labels: torch.Tensor, k: int) -> torch.Tensor:
    """Fraction of examples whose true class is among the k highest scores, per model: logits
    (N, M, C), labels (N,) -> (M,) float64.

    Counted by rank: a hit when fewer than k classes score strictly above the true class. Ties
    count in the true class's favour, so top-k accuracy is never below ``accuracy`` of the
    argmax (whichever of tied classes argmax picks) and never decreases with k."""
    true = logits.gather(-1, labels.view(-1, 1, 1).expand(-1, logits.shape[1], 1))
    above = (logits > true).sum(-1)  # (N, M): classes that score strictly higher than the true one
    return (above < k).double().mean(0)


def confusion_matrices(labels: torch.Tensor, pred: torch.Tensor, n_classes: int) -> torch.Tensor:
    """Per model, counts of (true, predicted) pairs: labels (N,), pred (N, M) -> (M, C, C)."""
    m, c = pred.shape[1], n_classes
    # All M matrices in one bincount: cell (model, true, predicted).
    cells = (torch.arange(m, device=labels.device) * c * c + labels[:, None] * c + pred).view(-1)
    return torch.bincount(cells, minlength=m * c * c).view(m, c, c)


def calibration_bins(conf: torch.Tensor, hit: torch.Tensor, n_bins: int = ECE_BINS):
    """Per column of conf / hit (N, M): examples, hits and summed confidence in each bin.

    The binning of torchmetrics' ``multiclass_calibration_error``: confidences as float32, bin
    edges ``torch.linspace(0, 1, n_bins + 1)`` in float32, bin b holds [edge_b, edge_b+1); a
    confidence of exactly 1 lies on the last edge and forms a group of its own (index n_bins).
    Returns (count, hits, conf_sum), each (M, n_bins + 1) float64.
    """
    n, m = conf.shape
    conf32 = conf.float()
    edges = torch.linspace(0, 1, n_bins + 1, dtype=torch.float32, device=conf.device)
    group = (torch.bucketize(conf32, edges, right=True) - 1).clamp_(0, n_bins)
    group += torch.arange(m, device=conf.device) * (n_bins + 1)  # one bincount for all M models
    group = group.view(-1)
    size = m * (n_bins + 1)

    def per_bin(weights):
        return torch.bincount(group, weights=weights, minlength=size).double().view(m, n_bins + 1)

    return per_bin(None), per_bin(hit.double().reshape(-1)), per_bin(conf32.double().reshape(-1))


def calibration_errors(conf: torch.Tensor, hit: torch.Tensor, n_bins: int = ECE_BINS) -> torch.Tensor:
    """ECE (Guo et al. 2017) of each column of conf / hit (N, M), binned as ``calibration_bins``:
    sum over bins of (bin size / N) * |accuracy in bin - mean confidence in bin|
    = sum over bins of |sum in bin of (hit - conf)| / N. Returns (M,) float64."""
    count, hits, conf_sum = calibration_bins(conf, hit, n_bins)
    return (hits - conf_sum).abs().sum(-1) / conf.shape[0]


def expected_calibration_error(probs: torch.Tensor, labels: torch.Tensor, n_bins: int = ECE_BINS) -> float:
    """ECE of class probabilities (N, C) for labels (N,); confidence = the max probability.
    Equal to ``torchmetrics.functional.classification.multiclass_calibration_error(probs,
    labels, C, n_bins, norm="l1")`` up to float rounding (tests check it)."""
    conf, pred = probs.max(-1)  # as torchmetrics: the max in the given dtype, then float32
    return calibration_errors(conf[:, None], (pred == labels)[:, None], n_bins).item()

