"""Losses: values against torch.nn.functional, gradients against autograd, likelihoods."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

import lossviz
from tests.conftest import param_settings
from lossviz.losses import cross_entropy_naive

REGRESSION = [n for n in lossviz.losses() if lossviz.get_loss(n).kind == "regression"]
CLASSIFICATION = [n for n in lossviz.losses() if lossviz.get_loss(n).kind == "classification"]

# References in torch.nn.functional; l2 is half of mse_loss (the d2l convention).
REFERENCE = {
    "l1": lambda p, t, **k: F.l1_loss(p, t, reduction="none"),
    "l2": lambda p, t, **k: 0.5 * F.mse_loss(p, t, reduction="none"),
    "huber": lambda p, t, delta=1.0: F.huber_loss(p, t, reduction="none", delta=delta),
    "cross_entropy": lambda o, y, **k: F.cross_entropy(o, y, reduction="none"),
}


def test_every_loss_has_a_reference():
    assert set(REFERENCE) >= set(lossviz.losses())


@pytest.mark.parametrize("name", REGRESSION)
def test_regression_value_matches_torch(name):
    spec = lossviz.get_loss(name)
    pred = torch.linspace(-6, 6, 1001, dtype=torch.float64)
    target = torch.tensor(0.7, dtype=torch.float64)
    for params in param_settings(spec):
        got = spec.value(pred, target, **params)
        want = REFERENCE[name](pred, target.expand_as(pred), **params)
        torch.testing.assert_close(got, want)


@pytest.mark.parametrize("name", REGRESSION)
def test_regression_grad_matches_autograd_on_grid(name):
    spec = lossviz.get_loss(name)
    # Grid avoids the kinks (r = 0 for L1) by an irrational offset.
    pred = torch.linspace(-5, 5, 401, dtype=torch.float64) + math.pi / 1000
    target = torch.zeros((), dtype=torch.float64)
    for params in param_settings(spec):
        x = pred.clone().requires_grad_(True)
        spec.value(x, target, **params).sum().backward()
        torch.testing.assert_close(spec.grad(pred, target, **params), x.grad)


@pytest.mark.parametrize("name", REGRESSION)
@settings(max_examples=60, deadline=None)
@given(
    pred=st.lists(st.floats(-1e3, 1e3), min_size=1, max_size=20),
    target=st.floats(-1e3, 1e3),
)
def test_regression_grad_matches_autograd_hypothesis(name, pred, target):
    spec = lossviz.get_loss(name)
    p = torch.tensor(pred, dtype=torch.float64, requires_grad=True)
    t = torch.tensor(target, dtype=torch.float64)
    spec.value(p, t).sum().backward()
    torch.testing.assert_close(spec.grad(p.detach(), t), p.grad)


@pytest.mark.parametrize("name", REGRESSION)
def test_regression_gradcheck_away_from_kinks(name):
    spec = lossviz.get_loss(name)
    pred = torch.tensor([-3.3, -0.4, 0.6, 2.9], dtype=torch.float64, requires_grad=True)
    target = torch.tensor(0.1, dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda p: spec.value(p, target), (pred,))


def test_subgradients_at_kinks():
    zero = torch.zeros(3, dtype=torch.float64)
    # L1 at r = 0: subgradient 0, as torch's abs backward.
    assert torch.equal(lossviz.get_loss("l1").grad(zero, zero), zero)
    # Huber at |r| = delta: gradient is continuous, both branches give +-delta.
    h = lossviz.get_loss("huber")
    r = torch.tensor([-0.5, 0.5], dtype=torch.float64)
    assert torch.equal(h.grad(r, torch.zeros(2, dtype=torch.float64), delta=0.5), r)


def test_huber_no_overflow_for_huge_residuals():
    # The quadratic branch of a naive where() would overflow r^2 in float32 here.
    pred = torch.tensor([3e30, -3e30], dtype=torch.float32)
    out = lossviz.get_loss("huber").value(pred, torch.zeros(2))
    assert torch.isfinite(out).all()
    torch.testing.assert_close(out, torch.tensor([3e30, 3e30]), rtol=1e-5, atol=0)


@pytest.mark.parametrize("name", REGRESSION)
def test_normalized_likelihood_integrates_to_one(name):
    spec = lossviz.get_loss(name)
    for params in param_settings(spec):
        # Trapezoid on [-R, R]; the tails decay at least like exp(-delta |r|), so R = 40 / delta
        # leaves out less than exp(-40) of the mass.
        half_width = max(60.0, 40.0 / params.get("delta", 1.0))
        r = torch.linspace(-half_width, half_width, 800_001, dtype=torch.float64)
        dens = spec.likelihood(r, torch.zeros((), dtype=torch.float64), normalized=True, **params)
        assert abs(torch.trapezoid(dens, r).item() - 1.0) < 1e-4, params


@pytest.mark.parametrize("name", REGRESSION)
def test_likelihood_is_exp_minus_loss(name):
    spec = lossviz.get_loss(name)
    pred = torch.linspace(-4, 4, 81, dtype=torch.float64)
    t = torch.zeros((), dtype=torch.float64)
    torch.testing.assert_close(spec.likelihood(pred, t), torch.exp(-spec.value(pred, t)))


def test_known_normalizers():
    t = torch.zeros((), dtype=torch.float64)
    zero = torch.zeros(1, dtype=torch.float64)
    # Standard Gaussian at 0 is 1/sqrt(2 pi); standard Laplace at 0 is 1/2.
    assert lossviz.get_loss("l2").likelihood(zero, t, normalized=True).item() == pytest.approx(1 / math.sqrt(2 * math.pi))
    assert lossviz.get_loss("l1").likelihood(zero, t, normalized=True).item() == pytest.approx(0.5)


# --- classification ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", CLASSIFICATION)
def test_classification_value_matches_torch(name):
    spec = lossviz.get_loss(name)
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(64, 10, generator=g, dtype=torch.float64) * 5
    y = torch.randint(0, 10, (64,), generator=g)
    torch.testing.assert_close(spec.value(logits, y), REFERENCE[name](logits, y))
    # Probability targets: torch accepts them too.
    probs = torch.softmax(torch.randn(64, 10, generator=g, dtype=torch.float64), -1)
    torch.testing.assert_close(spec.value(logits, probs), F.cross_entropy(logits, probs, reduction="none"))


@pytest.mark.parametrize("name", CLASSIFICATION)
@pytest.mark.parametrize("target_kind", ["index", "probs"])
def test_classification_grad_matches_autograd(name, target_kind):
    spec = lossviz.get_loss(name)
    g = torch.Generator().manual_seed(1)
    logits = torch.randn(32, 7, generator=g, dtype=torch.float64) * 3
    if target_kind == "index":
        y = torch.randint(0, 7, (32,), generator=g)
    else:
        y = torch.softmax(torch.randn(32, 7, generator=g, dtype=torch.float64), -1)
    o = logits.clone().requires_grad_(True)
    spec.value(o, y).sum().backward()
    torch.testing.assert_close(spec.grad(logits, y), o.grad)


@pytest.mark.parametrize("name", CLASSIFICATION)
@settings(max_examples=60, deadline=None)
@given(
    logits=st.lists(st.floats(-1e4, 1e4), min_size=2, max_size=10),
    data=st.data(),
)
def test_classification_extreme_logits_finite_and_exact(name, logits, data):
    spec = lossviz.get_loss(name)
    y = data.draw(st.integers(0, len(logits) - 1))
    for dtype in (torch.float32, torch.float64):
        o = torch.tensor([logits], dtype=dtype, requires_grad=True)
        target = torch.tensor([y])
        v = spec.value(o, target)
        gr = spec.grad(o.detach(), target)
        assert v.dtype == dtype and gr.dtype == dtype
        assert torch.isfinite(v).all() and torch.isfinite(gr).all()
        v.sum().backward()
        torch.testing.assert_close(gr, o.grad)
        torch.testing.assert_close(v, F.cross_entropy(o.detach(), target, reduction="none"))


def test_naive_cross_entropy_overflows_where_stable_does_not():
    # Why the naive form is kept: the explorer shows exactly this.
    logits = torch.tensor([[1e4, 0.0, -1e4]])
    y = torch.tensor([1])
    assert not torch.isfinite(cross_entropy_naive(logits, y)).all()
    stable = lossviz.get_loss("cross_entropy").value(logits, y)
    torch.testing.assert_close(stable, torch.tensor([1e4]))
    # On moderate logits the two agree.
    small = torch.tensor([[1.0, 2.0, -0.5]], dtype=torch.float64)
    torch.testing.assert_close(cross_entropy_naive(small, y), lossviz.get_loss("cross_entropy").value(small, y))


def test_cross_entropy_likelihood_is_target_probability():
    spec = lossviz.get_loss("cross_entropy")
    logits = torch.tensor([[2.0, 1.0, 0.1], [0.0, 0.0, 0.0]], dtype=torch.float64)
    y = torch.tensor([0, 2])
    want = torch.softmax(logits, -1)[torch.arange(2), y]
    torch.testing.assert_close(spec.likelihood(logits, y), want)
    torch.testing.assert_close(spec.likelihood(logits, y, normalized=True), want)


def test_bad_class_targets():
    spec = lossviz.get_loss("cross_entropy")
    with pytest.raises(ValueError, match=r"\[0, 2\]"):
        spec.value(torch.zeros(2, 3), torch.tensor([0, 3]))
    with pytest.raises(ValueError, match="last dimension"):
        spec.value(torch.zeros(2, 3), torch.zeros(2, 4))


# --- dtype, device, broadcasting --------------------------------------------------------------

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("name", lossviz.losses())
def test_dtype_and_device_kept(name, dtype, device):
    spec = lossviz.get_loss(name)
    if spec.kind == "classification":
        pred, target = torch.randn(4, 5, dtype=dtype, device=device), torch.tensor([0, 1, 2, 4], device=device)
    else:
        pred, target = torch.randn(4, 5, dtype=dtype, device=device), torch.zeros(5, dtype=dtype, device=device)
    for out in (spec.value(pred, target), spec.grad(pred, target), spec.likelihood(pred, target, normalized=True)):
        assert out.dtype == dtype and out.device == pred.device


@pytest.mark.parametrize("name", REGRESSION)
def test_regression_broadcasts(name):
    spec = lossviz.get_loss(name)
    pred = torch.randn(3, 1, dtype=torch.float64)
    target = torch.randn(1, 4, dtype=torch.float64)
    assert spec.value(pred, target).shape == (3, 4)
    assert spec.grad(pred, target).shape == (3, 4)
