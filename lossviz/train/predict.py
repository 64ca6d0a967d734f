"""A trained run's models, rebuilt from their weights: class scores and probabilities on any images.

What the studies (calibration, landscapes) and the run folder's predictions.npz read, so that
nothing needs training again.
"""

from __future__ import annotations

import torch

from lossviz.numerics import stable
from lossviz.train import models
from lossviz.train.config import TrainConfig


def stacked_model(config: TrainConfig, params: dict[str, torch.Tensor]) -> models.StackedModel:
    """The run's M models (one per loss, in ``config.losses`` order) with the given weights."""
    if config.hidden:
        return models.StackedModel(config.model, params, config.activation, config.activation_params)
    return models.StackedModel(config.model, params)


def initial_model(config: TrainConfig, seed: int, n_inputs: int, n_classes: int) -> models.StackedModel:
    """The weights every loss of seed ``seed`` started from (the trainer's own initialization)."""
    return models.init_model(config.model, len(config.losses), n_inputs=n_inputs, n_classes=n_classes,
                             hidden=config.hidden, activation=config.activation,
                             activation_params=config.activation_params, seed=seed)


def as_inputs(images: torch.Tensor) -> torch.Tensor:
    """Images (N, ...) as the trainer sees them: flattened floats, uint8 pixels divided by 255."""
    x = images.reshape(len(images), -1)
    return x.float().div_(255.0) if x.dtype == torch.uint8 else x.float()


@torch.no_grad()
def logits(model: models.StackedModel, images: torch.Tensor, chunk: int = 8192) -> torch.Tensor:
    """Class scores (N, M, C) of the M models, computed ``chunk`` images at a time."""
    parts = [models.forward(model, as_inputs(images[i:i + chunk]))[0] for i in range(0, len(images), chunk)]
    return torch.cat(parts) if parts else torch.empty(0, model.n_models, model.params[f"b{model.n_layers}"].shape[-1])


def probabilities(model: models.StackedModel, images: torch.Tensor, chunk: int = 8192) -> torch.Tensor:
    """Softmax probabilities (N, M, C) of the M models."""
    return stable.softmax(logits(model, images, chunk))
