"""The model registry: softmax regression and MLPs, M copies side by side, closed-form backprop.

A model is a stack of linear layers with a registry activation between them; softmax
regression is the stack with no hidden layer. Weights are stored as ``torch.nn.Linear`` stores
them, (out, in), with the M models (one per compared loss) in front: the first layer's weight
is (M, out, in), viewed as one (M*out, in) matrix so that one matrix product over the shared
input serves all M models; later layers are one small product per model (a batched matmul).
Gradients are written out (the chain rule by hand) with the activation's derivative taken from
the registry, so training uses the very ``grad`` functions the figures draw;
tests/test_train.py checks them against autograd for every model x loss x activation.

Adding a model: one ``ModelSpec`` in ``MODELS`` (and its tests).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from lossviz.registry import get_activation
from lossviz.spec import Param


# --- the two matrix products of a linear layer ------------------------------------------------
# torch's own products, by rule: the same kernel in every process, whatever the load or the thread
# count measured at some earlier moment, so a configuration gives the same numbers everywhere.


def linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """x @ weight.T + bias for x (B, in), weight (out, in): ``torch.nn.functional.linear``."""
    return torch.nn.functional.linear(x, weight, bias)


def sub_weight_grad_(weight: torch.Tensor, d_out: torch.Tensor, x: torch.Tensor) -> None:
    """In place: weight -= d_out.T @ x, the weight gradient of ``linear`` for d loss / d out."""
    weight.addmm_(d_out.T, x, alpha=-1)


# --- the registry -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelSpec:
    """A model family: its name, what it is, its parameters, and its default hidden layers.

    ``hidden`` is the default tuple of hidden widths, or None for a model without hidden layers
    (softmax regression); the stacked ``init`` / ``forward`` / ``backward`` / ``sgd_step`` below
    serve every spec.
    """

    name: str
    title: str
    summary: str
    hidden: tuple[int, ...] | None
    params: tuple[Param, ...] = field(default=())

    def resolve_hidden(self, hidden) -> tuple[int, ...]:
        """The hidden widths a config asks for, checked; the default when None."""
        if self.hidden is None:
            if hidden not in (None, (), []):
                raise ValueError(f"model {self.name} has no hidden layers; --hidden applies to mlp")
            return ()
        if hidden is None:
            return self.hidden
        if isinstance(hidden, int) and not isinstance(hidden, bool):
            hidden = (hidden,)
        if (not isinstance(hidden, (tuple, list)) or not hidden or len(hidden) > 16
                or any(isinstance(h, bool) or not isinstance(h, int) or not 1 <= h <= 65_536 for h in hidden)):
            raise ValueError(f"hidden must be 1 to 16 layer widths in [1, 65536], e.g. 256 or 256,128; got {hidden!r}")
        return tuple(hidden)


INIT_STD = 0.01  # d2l's initialization: weights N(0, 0.01^2), biases 0

MODELS = (
    ModelSpec("softmax", "Softmax regression", "one linear layer, inputs -> class scores (d2l 3.6)", hidden=None),
    ModelSpec("mlp", "Multilayer perceptron",
              "linear layers with an elementwise activation between them (d2l 4.2); widths from --hidden", hidden=(256,)),
)
_BY_NAME = {spec.name: spec for spec in MODELS}


def model_names() -> list[str]:
    """The registered model names, in registration order."""
    return list(_BY_NAME)


def get_model(name: str) -> ModelSpec:
    """The spec of model ``name``; ``ValueError`` listing the valid names otherwise."""
    if not isinstance(name, str) or name not in _BY_NAME:
        from lossviz.checks import shown

        raise ValueError(f"unknown model {shown(name)}; valid names: {', '.join(_BY_NAME)}")
    return _BY_NAME[name]


# --- M models side by side --------------------------------------------------------------------


@dataclass
class StackedModel:
    """Parameters of M models of one architecture: ``params`` maps "w1", "b1", ..., "wL", "bL"
    (layer 1 reads the input, layer L gives the class scores) to tensors whose first dimension
    indexes the M models."""

    name: str  # a registry model name
    params: dict[str, torch.Tensor]
    activation: str | None = None  # the hidden activation (a registry name), None without hidden layers
    activation_params: dict | None = None

    @property
    def n_layers(self) -> int:
        return len(self.params) // 2

    @property
    def n_models(self) -> int:
        return self.params["b1"].shape[0]

    def select(self, m: int) -> dict[str, torch.Tensor]:
        """Views of model m's parameters."""
        return {k: v[m] for k, v in self.params.items()}

    def weights(self) -> list[torch.Tensor]:
        return [self.params[f"w{i}"] for i in range(1, self.n_layers + 1)]


def init_model(name: str, n_models: int, *, n_inputs: int = 784, n_classes: int = 10, hidden=None,
               activation: str = "relu", activation_params=None, seed: int = 0, device="cpu",
               dtype=torch.float32, init_std: float | None = INIT_STD) -> StackedModel:
    """M identical copies of one initialization (d2l's: weights N(0, 0.01^2), biases 0).

    Every compared loss starts from exactly the same weights: one draw, repeated M times.
    The input size and the number of classes come from the data. ``init_std=None`` draws
    each layer's weights with Glorot's std sqrt(2 / (fan_in + fan_out)) instead, which small
    deep networks on 2-D toy data need (d2l's 0.01 leaves them at rest for thousands of steps).
    """
    spec = get_model(name)
    widths = (n_inputs, *spec.resolve_hidden(hidden), n_classes)
    g = torch.Generator().manual_seed(seed)
    params = {}
    for i, (n_in, n_out) in enumerate(zip(widths, widths[1:]), start=1):
        # Drawn as d2l draws it, (in, out), then stored (out, in).
        std = init_std if init_std is not None else (2.0 / (n_in + n_out)) ** 0.5
        w = torch.randn(n_in, n_out, generator=g, dtype=torch.float64).T * std
        params[f"w{i}"] = w.expand(n_models, n_out, n_in).contiguous().to(device=device, dtype=dtype)
        params[f"b{i}"] = torch.zeros(n_models, n_out, device=device, dtype=dtype)
    if len(widths) == 2:
        return StackedModel(name, params)
    act = get_activation(activation)
    if act.kind != "elementwise":
        raise ValueError(f"the hidden activation must be elementwise, not {activation!r}")
    return StackedModel(name, params, activation, act.resolve(activation_params or {}))


def _flat(w: torch.Tensor) -> torch.Tensor:
    """(M, out, in) -> one (M*out, in) matrix: the M models' layers as one layer."""
    return w.view(-1, w.shape[-1])


def _act(model: StackedModel):
    spec = get_activation(model.activation)
    return spec.value_fn, spec.grad_fn, model.activation_params


def activation_grad(model: StackedModel):
    """(f', its parameters): the hidden activation's registry derivative, as backward uses it."""
    _, grad, ap = _act(model)
    return grad, ap


def forward(model: StackedModel, x: torch.Tensor):
    """Class scores (B, M, C) for inputs x (B, n_inputs), and what backward needs: the input,
    and each hidden layer's pre-activation z and activation h."""
    p, b, m = model.params, x.shape[0], model.n_models
    z = linear(x, _flat(p["w1"]), p["b1"].view(-1)).view(b, m, -1)
    cache = [x]
    if model.n_layers == 1:
        return z, cache
    value, _, ap = _act(model)
    layers = [(p[f"w{i}"], p[f"b{i}"]) for i in range(2, model.n_layers + 1)]
    return later_layers(z, layers, value, ap, cache), cache


def later_layers(z: torch.Tensor, layers, activation, activation_params: dict, cache: list | None = None) -> torch.Tensor:
    """Layers 2..L of M stacked models, from layer 1's pre-activations z (B, M, H1).

    Args:
        layers: (weight (M, out, in), bias (M, out)) of layers 2..L, each read after the activation.
        activation: the hidden activation's value function (a registry ``value_fn``), with
            ``activation_params``.
        cache: where each layer's pre-activation z and activation h are appended (for backward).
    Returns:
        class scores (B, M, C).
    """
    for w, bias in layers:
        h = activation(z, **activation_params)
        if cache is not None:
            cache += [z, h]
        z = torch.baddbmm(bias.unsqueeze(1), h.transpose(0, 1), w.transpose(1, 2)).transpose(0, 1)
    return z


def backward(model: StackedModel, cache, d_logits: torch.Tensor) -> dict[str, torch.Tensor]:
    """Gradients of the summed loss w.r.t. every parameter, given d loss / d logits (B, M, C).

    The reference form; training runs ``sgd_step``, which tests show moves by exactly these."""
    p, b = model.params, d_logits.shape[0]
    grads = {}
    d = d_logits
    if model.n_layers > 1:
        _, grad, ap = _act(model)
    for i in range(model.n_layers, 1, -1):
        z, h = cache[2 * i - 3], cache[2 * i - 2]
        grads[f"w{i}"] = torch.einsum("bmk,bmh->mkh", d, h)
        grads[f"b{i}"] = d.sum(0)
        d = torch.einsum("bmk,mkh->bmh", d, p[f"w{i}"]) * grad(z, **ap)
    grads["w1"] = (d.reshape(b, -1).T @ cache[0]).view_as(p["w1"])
    grads["b1"] = d.sum(0)
    return grads


def sgd_step(model: StackedModel, cache, d_logits: torch.Tensor, step: torch.Tensor, decay: torch.Tensor | None = None) -> None:
    """In place: params -= step_m * gradient, for each model m; ``step`` is (M,).

    ``decay`` (M,): weight decay, each weight first multiplied by (1 - decay_m), i.e.
    w -= lr * lambda * w (d2l 4.5: the L2 penalty's gradient; biases are not decayed).
    The same gradients as ``backward`` (tests check it), with the step folded into d_logits and
    the update written straight into the weights, so no gradient tensor is kept.
    """
    b, m, c = d_logits.shape
    p = model.params
    if model.n_layers == 1:
        # The scaled gradient written straight into the (M*C, B) layout the weight product reads.
        ds_t = d_logits.new_empty(m * c, b)
        torch.mul(d_logits.permute(1, 2, 0), step.view(-1, 1, 1), out=ds_t.view(m, c, b))
        if decay is not None:
            p["w1"].mul_((1 - decay).view(-1, 1, 1))
        sub_weight_grad_(_flat(p["w1"]), ds_t.T, cache[0])
        p["b1"].view(-1).sub_(ds_t.sum(1))
        return
    _, grad, ap = _act(model)
    d = d_logits * step.view(1, -1, 1)
    for i in range(model.n_layers, 1, -1):
        z, h = cache[2 * i - 3], cache[2 * i - 2]
        d_prev = torch.einsum("bmk,mkh->bmh", d, p[f"w{i}"]) * grad(z, **ap)  # before w_i moves
        if decay is not None:
            p[f"w{i}"].mul_((1 - decay).view(-1, 1, 1))
        p[f"w{i}"].baddbmm_(d.permute(1, 2, 0), h.permute(1, 0, 2), alpha=-1)
        p[f"b{i}"].sub_(d.sum(0))
        d = d_prev
    if decay is not None:
        p["w1"].mul_((1 - decay).view(-1, 1, 1))
    sub_weight_grad_(_flat(p["w1"]), d.reshape(b, -1), cache[0])
    p["b1"].sub_(d.sum(0))
