"""Softmax regression and a one-hidden-layer MLP, M copies side by side, with closed-form backprop.

The M models (one per compared loss) are stored next to each other so one matrix product
serves them all: softmax regression's weights are (784, M, 10), viewed as one (784, M*10)
matrix; the MLP's first layer likewise. Gradients are written out (the chain rule by hand),
with the hidden activation's derivative taken from the registry, so training uses the very
``grad`` functions the figures draw. tests/test_train.py checks them against autograd.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from lossviz.registry import get_activation

N_INPUTS, N_CLASSES = 784, 10
MODELS = ("softmax", "mlp")


@dataclass
class StackedModel:
    """Parameters of M models of one architecture; ``params`` maps names to tensors."""

    kind: str  # "softmax" or "mlp"
    params: dict[str, torch.Tensor]
    activation: str | None = None  # MLP hidden activation (a registry name)
    activation_params: dict | None = None

    @property
    def n_models(self) -> int:
        return self.params["b_out"].shape[0]

    def model_dim(self, key: str) -> int:
        """The dimension of ``params[key]`` that indexes the M models."""
        return 1 if key == "w_hidden" or (self.kind == "softmax" and key == "w_out") else 0

    def select(self, m: int) -> dict[str, torch.Tensor]:
        """Views of model m's parameters."""
        return {k: v.select(self.model_dim(k), m) for k, v in self.params.items()}


def init_model(kind: str, n_models: int, *, hidden: int = 256, activation: str = "relu", activation_params=None,
               seed: int = 0, device="cpu", dtype=torch.float32) -> StackedModel:
    """M identical copies of one initialization (d2l's: weights N(0, 0.01^2), biases 0).

    Every compared loss starts from exactly the same weights: one draw, repeated M times.
    """
    if kind not in MODELS:
        raise ValueError(f"unknown model {kind!r}; valid models: {', '.join(MODELS)}")
    g = torch.Generator().manual_seed(seed)

    def normal(*shape):
        w = torch.randn(*shape, generator=g, dtype=torch.float64) * 0.01
        return w.unsqueeze(-2).expand(*shape[:-1], n_models, shape[-1]).contiguous().to(device=device, dtype=dtype)

    def zeros(n):
        return torch.zeros(n_models, n, device=device, dtype=dtype)

    if kind == "softmax":
        return StackedModel(kind, {"w_out": normal(N_INPUTS, N_CLASSES), "b_out": zeros(N_CLASSES)})
    spec = get_activation(activation)
    if spec.kind != "elementwise":
        raise ValueError(f"the MLP's hidden activation must be elementwise, not {activation!r}")
    # w_out is (M, hidden, 10): one small matrix per model, applied with a batched product.
    w_out = normal(hidden, N_CLASSES).permute(1, 0, 2).contiguous()
    return StackedModel(kind, {"w_hidden": normal(N_INPUTS, hidden), "b_hidden": zeros(hidden), "w_out": w_out, "b_out": zeros(N_CLASSES)},
                        activation=activation, activation_params=spec.resolve(activation_params or {}))


def forward(model: StackedModel, x: torch.Tensor):
    """Logits (B, M, 10) for inputs x (B, 784), and what backward needs."""
    p = model.params
    b = x.shape[0]
    if model.kind == "softmax":
        logits = torch.addmm(p["b_out"].view(-1), x, p["w_out"].view(N_INPUTS, -1)).view(b, model.n_models, N_CLASSES)
        return logits, (x,)
    act = get_activation(model.activation)
    z = torch.addmm(p["b_hidden"].view(-1), x, p["w_hidden"].view(N_INPUTS, -1)).view(b, model.n_models, -1)
    h = act.value(z, **model.activation_params)
    logits = torch.einsum("bmh,mhk->bmk", h, p["w_out"]) + p["b_out"]
    return logits, (x, z, h)


def backward(model: StackedModel, cache, d_logits: torch.Tensor) -> dict[str, torch.Tensor]:
    """Gradients of the summed loss w.r.t. every parameter, given d loss / d logits (B, M, 10)."""
    b = d_logits.shape[0]
    if model.kind == "softmax":
        (x,) = cache
        return {"w_out": (x.T @ d_logits.reshape(b, -1)).view_as(model.params["w_out"]), "b_out": d_logits.sum(0)}
    x, z, h = cache
    act = get_activation(model.activation)
    p = model.params
    d_h = torch.einsum("bmk,mhk->bmh", d_logits, p["w_out"])
    d_z = d_h * act.grad(z, **model.activation_params)
    return {
        "w_out": torch.einsum("bmh,bmk->mhk", h, d_logits),
        "b_out": d_logits.sum(0),
        "w_hidden": (x.T @ d_z.reshape(b, -1)).view_as(p["w_hidden"]),
        "b_hidden": d_z.sum(0),
    }


def sgd_step(model: StackedModel, cache, d_logits: torch.Tensor, step: torch.Tensor) -> None:
    """In place: params -= step_m * gradient, for each model m; ``step`` is (M,).

    The same gradients as ``backward`` (tests check it), with the step folded into d_logits
    and the update fused into the matrix products (addmm_ / baddbmm_ with alpha=-1), so no
    gradient tensor is materialised.
    """
    ds = d_logits * step.view(1, -1, 1)
    b = ds.shape[0]
    p = model.params
    if model.kind == "softmax":
        (x,) = cache
        p["w_out"].view(N_INPUTS, -1).addmm_(x.T, ds.reshape(b, -1), alpha=-1)
        p["b_out"].sub_(ds.sum(0))
        return
    x, z, h = cache
    act = get_activation(model.activation)
    d_z = torch.einsum("bmk,mhk->bmh", ds, p["w_out"]) * act.grad(z, **model.activation_params)  # before w_out moves
    p["w_out"].baddbmm_(h.permute(1, 2, 0), ds.permute(1, 0, 2), alpha=-1)
    p["b_out"].sub_(ds.sum(0))
    p["w_hidden"].view(N_INPUTS, -1).addmm_(x.T, d_z.reshape(b, -1), alpha=-1)
    p["b_hidden"].sub_(d_z.sum(0))
