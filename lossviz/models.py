"""Softmax regression and a one-hidden-layer MLP, M copies side by side, with closed-form backprop.

Weights are stored as ``torch.nn.Linear`` stores them, (out, in), with the M models (one per
compared loss) stacked in front: softmax regression's weight is (M, 10, 784), viewed as one
(M*10, 784) matrix so that one matrix product serves all M models; the MLP's first layer
likewise. Gradients are written out (the chain rule by hand), with the hidden activation's
derivative taken from the registry, so training uses the very ``grad`` functions the figures
draw. tests/test_train.py checks them against autograd.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import torch

from lossviz.registry import get_activation

N_INPUTS, N_CLASSES = 784, 10
MODELS = ("softmax", "mlp")


# --- the two matrix products of a linear layer ------------------------------------------------


@functools.cache
def _onednn_linear():
    """torch's oneDNN linear kernel (the one torch.compile's CPU backend calls), or None.

    For the thin products the trainer runs, (256 x 784) by (784 x 40), it is about 1.6x faster
    than ``torch.addmm`` on an AVX-512 CPU (2.2x for the MLP's first layer), because it picks its
    kernel by instruction set rather than by CPU vendor; bench/bench_train.py prints both. It
    is not a public API, so it is used only where it exists and agrees with
    ``torch.nn.functional.linear`` on a small self-check.
    """
    if not torch.backends.mkldnn.is_available():
        return None
    try:
        op = torch.ops.mkldnn._linear_pointwise
        g = torch.Generator().manual_seed(0)
        x, w, b, d = (torch.randn(*s, generator=g) for s in ((9, 7), (5, 7), (5,), (9, 5)))
        ok = torch.allclose(op(x, w, b, "none", [], ""), torch.nn.functional.linear(x, w, b), rtol=1e-5, atol=1e-6)
        ok &= torch.allclose(op(d.T, x.T, None, "none", [], ""), d.T @ x, rtol=1e-5, atol=1e-6)  # strided operands
    except (AttributeError, RuntimeError, TypeError):  # missing, or its signature changed
        return None
    return op if ok else None


def _fast(*tensors: torch.Tensor):
    """The oneDNN kernel when every tensor is a float32 CPU tensor outside autograd, else None."""
    if any(t.device.type != "cpu" or t.dtype != torch.float32 or t.requires_grad for t in tensors):
        return None
    return _onednn_linear()


def linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """x @ weight.T + bias for x (B, in), weight (out, in): ``torch.nn.functional.linear``."""
    op = _fast(x, weight)
    if op is None:
        return torch.nn.functional.linear(x, weight, bias)
    return op(x, weight, bias, "none", [], "")


def sub_weight_grad_(weight: torch.Tensor, d_out: torch.Tensor, x: torch.Tensor) -> None:
    """In place: weight -= d_out.T @ x, the weight gradient of ``linear`` for d loss / d out."""
    op = _fast(weight, d_out, x)
    if op is None:
        weight.addmm_(d_out.T, x, alpha=-1)
    else:
        weight.sub_(op(d_out.T, x.T, None, "none", [], ""))


# --- the models -------------------------------------------------------------------------------


@dataclass
class StackedModel:
    """Parameters of M models of one architecture; ``params`` maps names to tensors whose first
    dimension indexes the M models."""

    kind: str  # "softmax" or "mlp"
    params: dict[str, torch.Tensor]
    activation: str | None = None  # MLP hidden activation (a registry name)
    activation_params: dict | None = None

    @property
    def n_models(self) -> int:
        return self.params["b_out"].shape[0]

    def select(self, m: int) -> dict[str, torch.Tensor]:
        """Views of model m's parameters."""
        return {k: v[m] for k, v in self.params.items()}


def init_model(kind: str, n_models: int, *, hidden: int = 256, activation: str = "relu", activation_params=None,
               seed: int = 0, device="cpu", dtype=torch.float32) -> StackedModel:
    """M identical copies of one initialization (d2l's: weights N(0, 0.01^2), biases 0).

    Every compared loss starts from exactly the same weights: one draw, repeated M times.
    """
    if kind not in MODELS:
        raise ValueError(f"unknown model {kind!r}; valid models: {', '.join(MODELS)}")
    g = torch.Generator().manual_seed(seed)

    def normal(n_in, n_out):
        # Drawn as d2l draws it, (in, out), then stored (out, in).
        w = torch.randn(n_in, n_out, generator=g, dtype=torch.float64).T * 0.01
        return w.expand(n_models, n_out, n_in).contiguous().to(device=device, dtype=dtype)

    def zeros(n):
        return torch.zeros(n_models, n, device=device, dtype=dtype)

    if kind == "softmax":
        return StackedModel(kind, {"w_out": normal(N_INPUTS, N_CLASSES), "b_out": zeros(N_CLASSES)})
    spec = get_activation(activation)
    if spec.kind != "elementwise":
        raise ValueError(f"the MLP's hidden activation must be elementwise, not {activation!r}")
    return StackedModel(kind, {"w_hidden": normal(N_INPUTS, hidden), "b_hidden": zeros(hidden),
                               "w_out": normal(hidden, N_CLASSES), "b_out": zeros(N_CLASSES)},
                        activation=activation, activation_params=spec.resolve(activation_params or {}))


def _flat(w: torch.Tensor) -> torch.Tensor:
    """(M, out, in) -> one (M*out, in) matrix: the M models' layers as one layer."""
    return w.view(-1, w.shape[-1])


def forward(model: StackedModel, x: torch.Tensor):
    """Logits (B, M, 10) for inputs x (B, 784), and what backward needs."""
    p = model.params
    b = x.shape[0]
    if model.kind == "softmax":
        return linear(x, _flat(p["w_out"]), p["b_out"].view(-1)).view(b, model.n_models, N_CLASSES), (x,)
    act = get_activation(model.activation)
    z = linear(x, _flat(p["w_hidden"]), p["b_hidden"].view(-1)).view(b, model.n_models, -1)
    h = act.value(z, **model.activation_params)
    logits = torch.einsum("bmh,mkh->bmk", h, p["w_out"]) + p["b_out"]  # one small product per model
    return logits, (x, z, h)


def backward(model: StackedModel, cache, d_logits: torch.Tensor) -> dict[str, torch.Tensor]:
    """Gradients of the summed loss w.r.t. every parameter, given d loss / d logits (B, M, 10).

    The reference form; training runs ``sgd_step``, which tests show moves by exactly these."""
    b = d_logits.shape[0]
    p = model.params
    if model.kind == "softmax":
        (x,) = cache
        return {"w_out": (d_logits.reshape(b, -1).T @ x).view_as(p["w_out"]), "b_out": d_logits.sum(0)}
    x, z, h = cache
    act = get_activation(model.activation)
    d_z = torch.einsum("bmk,mkh->bmh", d_logits, p["w_out"]) * act.grad(z, **model.activation_params)
    return {
        "w_out": torch.einsum("bmk,bmh->mkh", d_logits, h),
        "b_out": d_logits.sum(0),
        "w_hidden": (d_z.reshape(b, -1).T @ x).view_as(p["w_hidden"]),
        "b_hidden": d_z.sum(0),
    }


def sgd_step(model: StackedModel, cache, d_logits: torch.Tensor, step: torch.Tensor) -> None:
    """In place: params -= step_m * gradient, for each model m; ``step`` is (M,).

    The same gradients as ``backward`` (tests check it), with the step folded into d_logits
    and the update written straight into the weights, so no gradient tensor is kept.
    """
    b, m, c = d_logits.shape
    p = model.params
    if model.kind == "softmax":
        (x,) = cache
        # The scaled gradient written straight into the (M*10, B) layout the weight product reads.
        ds_t = d_logits.new_empty(m * c, b)
        torch.mul(d_logits.permute(1, 2, 0), step.view(-1, 1, 1), out=ds_t.view(m, c, b))
        sub_weight_grad_(_flat(p["w_out"]), ds_t.T, x)
        p["b_out"].view(-1).sub_(ds_t.sum(1))
        return
    ds = d_logits * step.view(1, -1, 1)
    x, z, h = cache
    act = get_activation(model.activation)
    d_z = torch.einsum("bmk,mkh->bmh", ds, p["w_out"]) * act.grad(z, **model.activation_params)  # before w_out moves
    p["w_out"].baddbmm_(ds.permute(1, 2, 0), h.permute(1, 0, 2), alpha=-1)
    p["b_out"].sub_(ds.sum(0))
    sub_weight_grad_(_flat(p["w_hidden"]), d_z.reshape(b, -1), x)
    p["b_hidden"].sub_(d_z.sum(0))
