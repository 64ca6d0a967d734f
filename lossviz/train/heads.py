"""The compared losses applied to model outputs: per-example values and d loss / d logits for
M models side by side, from the registry's own ``value`` / ``grad`` functions (the functions the
figures draw). What the epoch loop, the evaluation and the loss landscapes all apply."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from lossviz.numerics import stable
from lossviz.registry import get_loss
from lossviz.train.config import TrainConfig


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
    return stable.softmax(logits) if on_probs(config, heads) else logits


def on_probs(config: TrainConfig, heads: tuple[LossHead, ...]) -> bool:
    """True when some compared loss reads the softmax probabilities (a regression loss with
    ``regression_target="probs"``): then ``head_outputs`` are probabilities, else the logits."""
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
    if on_probs(config, heads):
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
