"""Activations: values against torch.nn.functional, derivatives against autograd."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

import lossviz
from tests.conftest import param_settings

ELEMENTWISE = [n for n in lossviz.activations() if lossviz.get_activation(n).kind == "elementwise"]

REFERENCE = {
    "relu": lambda x: F.relu(x),
    "prelu": lambda x, alpha=0.25: F.prelu(x, torch.tensor([alpha], dtype=x.dtype)),
    "sigmoid": lambda x: torch.sigmoid(x),
    "tanh": lambda x: torch.tanh(x),
    "softmax": lambda x, temperature=1.0: F.softmax(x / temperature, dim=-1),
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
@given(x=st.lists(st.floats(-1e4, 1e4), min_size=1, max_size=20))
def test_elementwise_grad_matches_autograd_hypothesis(name, x):
    spec = lossviz.get_activation(name)
    t = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    spec.value(t).sum().backward()
    g = spec.grad(t.detach())
    assert torch.isfinite(g).all()
    torch.testing.assert_close(g, t.grad)


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_gradcheck_away_from_kinks(name):
    spec = lossviz.get_activation(name)
    x = torch.tensor([-2.1, -0.3, 0.4, 1.7], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: spec.value(t), (x,))


def test_subgradient_at_zero_documented_choice():
    zero = torch.zeros(1, dtype=torch.float64)
    assert lossviz.get_activation("relu").grad(zero).item() == 0.0
    assert lossviz.get_activation("prelu").grad(zero, alpha=0.1).item() == pytest.approx(0.1)


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
