"""Gradient health of one minibatch (d2l 4.8): per-layer weight-gradient norms, dead and
saturated hidden units, and the size of each loss's gradient at the logits against
cross-entropy's at the same outputs. ``train_epoch`` measures it on each epoch's last batch,
from the closed-form backward it already runs (no autograd, no extra pass over the data)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from lossviz.numerics import stable
from lossviz.train import models

SATURATED_BELOW = 0.01  # a unit is saturated when its mean |f'(z)| over the batch is below this


@dataclass
class BatchHealth:
    """Per model m (one per compared loss), on one minibatch of B examples.

    grad_norm (M, L): Frobenius norm of d(mean loss over the batch) / d W_l, layer 1 (the
        input layer) first: the mean per-example gradient, without the weight-decay term.
    dead_fraction (M, L - 1): per hidden layer, the share of units whose activation derivative
        is exactly 0 on every example of the batch (no gradient reaches their weights; for
        ReLU: z <= 0 everywhere; sigmoid/tanh only where f' underflows to 0).
    saturated_fraction (M, L - 1): per hidden layer, the share of units whose |f'(z)|, averaged
        over the batch, is below ``SATURATED_BELOW`` (dead units count as saturated too).
    logit_grad_norm (M,): mean over the batch of the per-example norm ||d loss / d logits||_2.
    ce_logit_grad_norm (M,): the same for softmax cross-entropy at the same logits, ||p - y||_2:
        what cross-entropy would send back from where this model stands.
    """

    grad_norm: torch.Tensor
    dead_fraction: torch.Tensor
    saturated_fraction: torch.Tensor
    logit_grad_norm: torch.Tensor
    ce_logit_grad_norm: torch.Tensor

    def of(self, m: int) -> dict:
        """Model m's measures as plain numbers (what an ``EpochRecord`` holds); a measure that
        is not finite (a model about to diverge) is left out: empty list or None."""
        out = {}
        for name in ("grad_norm", "dead_fraction", "saturated_fraction", "logit_grad_norm", "ce_logit_grad_norm"):
            t = getattr(self, name)[m]
            finite = bool(torch.isfinite(t).all())
            out[name] = (t.tolist() if finite else []) if t.dim() else (t.item() if finite else None)
        return out


def batch_health(model: models.StackedModel, cache, d_logits: torch.Tensor, logits: torch.Tensor,
                 onehot: torch.Tensor) -> BatchHealth:
    """The gradient health of a minibatch, before the step that uses it moves the weights.

    Args:
        cache: ``models.forward``'s cache for the batch (input, then each hidden layer's z, h).
        d_logits: d loss / d logits (B, M, C) of the per-example losses (``heads.logit_grads``).
        logits: the batch's class scores (B, M, C); onehot: its one-hot labels (B, C).
    Returns:
        a ``BatchHealth``, every tensor in float64 on the CPU.
    """
    b = d_logits.shape[0]
    grads = models.backward(model, cache, d_logits)  # the reference closed form, gradient of the summed loss
    norms = torch.stack([grads[f"w{i}"].double().flatten(1).norm(dim=1) / b for i in range(1, model.n_layers + 1)], 1)
    m = model.n_models
    dead = torch.zeros(m, model.n_layers - 1, dtype=torch.float64)
    saturated = torch.zeros_like(dead)
    if model.n_layers > 1:
        spec_grad, ap = models.activation_grad(model)
        for j, z in enumerate(cache[1::2]):  # each hidden layer's pre-activation (B, M, H)
            slope = spec_grad(z, **ap).abs()
            dead[:, j] = (slope == 0).all(0).double().mean(-1).cpu()
            saturated[:, j] = (slope.double().mean(0) < SATURATED_BELOW).double().mean(-1).cpu()
    # Cross-entropy's logit gradient at the same outputs: softmax(o) - y (d2l 3.4.6).
    ce = stable.softmax(logits) - onehot.unsqueeze(1)
    return BatchHealth(norms.cpu(), dead, saturated, d_logits.double().norm(dim=-1).mean(0).cpu(),
                       ce.double().norm(dim=-1).mean(0).cpu())
