"""Activations: values against torch.nn.functional, derivatives against autograd."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

import lossviz
from tests.conftest import param_settings, param_strategy

ELEMENTWISE = [n for n in lossviz.activations() if lossviz.get_activation(n).kind == "elementwise"]

REFERENCE = {
    "relu": lambda x: F.relu(x),
    "prelu": lambda x, alpha=0.25: F.prelu(x, torch.tensor([alpha], dtype=x.dtype)),
    "sigmoid": lambda x: torch.sigmoid(x),
    "tanh": lambda x: torch.tanh(x),
    "softmax": lambda x, temperature=1.0: F.softmax(x / temperature, dim=-1),
    "leaky_relu": lambda x, negative_slope=0.01: F.leaky_relu(x, negative_slope),
    "elu": lambda x, alpha=1.0: F.elu(x, alpha),
    "gelu": lambda x: F.gelu(x),
    "gelu_tanh": lambda x: F.gelu(x, approximate="tanh"),
    # F.silu has no beta; Swish_beta(x) = silu(beta x) / beta for beta > 0, x / 2 at beta = 0.
    "silu": lambda x, beta=1.0: F.silu(beta * x) / beta if beta else x / 2,
    # threshold raised so torch's linear shortcut above beta x = 20 does not apply on the grid.
    "softplus": lambda x, beta=1.0: F.softplus(x, beta=beta, threshold=1000),
    "mish": lambda x: F.mish(x),
}


def test_every_activation_has_a_reference():
    assert set(REFERENCE) >= set(lossviz.activations())


@pytest.mark.parametrize("name", lossviz.activations())
def test_value_matches_torch(name):
    spec = lossviz.get_activation(name)
    x = torch.linspace(-8, 8, 801, dtype=torch.float64).reshape(-1, 9)
    for params in param_settings(spec):
        torch.testing.assert_close(spec.value(x, **params), REFERENCE[name](x, **params))


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_elementwise_grad_matches_autograd_on_grid(name):
    spec = lossviz.get_activation(name)
    x = torch.linspace(-8, 8, 801, dtype=torch.float64)  # includes x = 0 exactly
    for params in param_settings(spec):
        xg = x.clone().requires_grad_(True)
        spec.value(xg, **params).sum().backward()
        # At x = 0 both pick torch's subgradient (relu: 0, prelu: alpha).
        torch.testing.assert_close(spec.grad(x, **params), xg.grad)


@pytest.mark.parametrize("name", ELEMENTWISE)
@settings(max_examples=60, deadline=None)
@given(x=st.lists(st.floats(-1e4, 1e4), min_size=1, max_size=20), data=st.data())
def test_elementwise_grad_matches_autograd_hypothesis(name, x, data):
    spec = lossviz.get_activation(name)
    params = data.draw(param_strategy(spec))
    t = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    v = spec.value(t, **params)
    assert torch.isfinite(v).all()
    v.sum().backward()
    g = spec.grad(t.detach(), **params)
    assert torch.isfinite(g).all()
    torch.testing.assert_close(g, t.grad)
    for dtype in (torch.float32, torch.float16, torch.bfloat16):  # +-1e4 fits all three
        low = torch.tensor(x, dtype=dtype)
        assert torch.isfinite(spec.value(low, **params)).all() and torch.isfinite(spec.grad(low, **params)).all()


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_gradcheck_away_from_kinks(name):
    spec = lossviz.get_activation(name)
    x = torch.tensor([-2.1, -0.3, 0.4, 1.7], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: spec.value(t), (x,))


def test_subgradient_at_zero_documented_choice():
    zero = torch.zeros(1, dtype=torch.float64)
    assert lossviz.get_activation("relu").grad(zero).item() == 0.0
    assert lossviz.get_activation("prelu").grad(zero, alpha=0.1).item() == pytest.approx(0.1)
    assert lossviz.get_activation("leaky_relu").grad(zero, negative_slope=0.2).item() == pytest.approx(0.2)
    # ELU at 0 takes alpha exp(0) = alpha, as torch's elu backward does.
    x = zero.clone().requires_grad_(True)
    F.elu(x, alpha=0.5).sum().backward()
    assert lossviz.get_activation("elu").grad(zero, alpha=0.5).item() == x.grad.item() == 0.5


def test_gelu_tanh_is_close_to_gelu():
    # Hendrycks & Gimpel: the tanh form approximates x Phi(x); the largest gap is about 4.7e-4.
    x = torch.linspace(-8, 8, 4001, dtype=torch.float64)
    gap = (lossviz.get_activation("gelu").value(x) - lossviz.get_activation("gelu_tanh").value(x)).abs().max().item()
    assert 1e-4 < gap < 5e-4


@pytest.mark.parametrize("name", ["gelu", "gelu_tanh", "silu", "softplus", "mish", "elu"])
def test_negative_tail_accurate_in_float32(name):
    # For x << 0 the values are tiny; a form that computes 1 + erf(x) or 1 + tanh(u) first
    # rounds them to 0 in float32 (gelu(-5) = -1.4e-6 would come out 0).
    spec = lossviz.get_activation(name)
    x = torch.tensor([-3.0, -5.0, -9.0])  # results still normal float32 numbers
    torch.testing.assert_close(spec.value(x).double(), spec.value(x.double()), rtol=1e-5, atol=0)
    torch.testing.assert_close(spec.grad(x).double(), spec.grad(x.double()), rtol=1e-4, atol=0)


def test_swish_limits():
    x = torch.linspace(-5, 5, 101, dtype=torch.float64)
    silu = lossviz.get_activation("silu")
    torch.testing.assert_close(silu.value(x, beta=1.0), F.silu(x))
    torch.testing.assert_close(silu.value(x, beta=0.0), x / 2)
    # Large beta approaches ReLU (Ramachandran et al.): within max |x| sigma(-beta |x|) ~ 1/(e beta).
    assert (silu.value(x, beta=1000.0) - F.relu(x)).abs().max() < 1e-3


@pytest.mark.parametrize("temperature", [0.1, 1.0, 3.7])
def test_softmax_jacobian_matches_autograd(temperature):
    spec = lossviz.get_activation("softmax")
    x = torch.randn(3, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(2)) * 4
    jac = spec.grad(x, temperature=temperature)
    assert jac.shape == (3, 6, 6)
    for i in range(3):
        want = torch.autograd.functional.jacobian(lambda r: spec.value(r, temperature=temperature), x[i])
        torch.testing.assert_close(jac[i], want)


@settings(max_examples=80, deadline=None)
@given(
    logits=st.lists(st.floats(-1e4, 1e4), min_size=1, max_size=10),
    temperature=st.floats(0.05, 20),
)
def test_softmax_rows_sum_to_one_and_finite(logits, temperature):
    spec = lossviz.get_activation("softmax")
    for dtype in (torch.float32, torch.float64):
        x = torch.tensor([logits, logits[::-1]], dtype=dtype)
        s = spec.value(x, temperature=temperature)
        assert torch.isfinite(s).all() and (s >= 0).all()
        torch.testing.assert_close(s.sum(-1), torch.ones(2, dtype=dtype))
        assert torch.isfinite(spec.grad(x, temperature=temperature)).all()


@pytest.mark.parametrize("name", lossviz.activations())
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_dtype_kept(name, dtype):
    spec = lossviz.get_activation(name)
    x = torch.randn(2, 4, dtype=dtype)
    assert spec.value(x).dtype == dtype and spec.grad(x).dtype == dtype


def test_sigmoid_grad_max_quarter():
    g = lossviz.get_activation("sigmoid").grad(torch.linspace(-10, 10, 2001, dtype=torch.float64))
    assert g.max().item() == pytest.approx(0.25)
    assert math.isclose(g[1000].item(), 0.25)
