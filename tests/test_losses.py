"""Losses: values against torch.nn.functional (or the paper's formula), gradients against
autograd, likelihoods that integrate to 1; every test parametrized over the registry."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

import lossviz
from lossviz.numerics.classification import cross_entropy_naive
from lossviz.numerics.robust import general_partition
from tests.conftest import param_settings, param_strategy

REGRESSION = [n for n in lossviz.losses() if lossviz.get_loss(n).kind == "regression"]
CLASSIFICATION = [n for n in lossviz.losses() if lossviz.get_loss(n).kind == "classification"]


def _barron(p, t, alpha=1.0, scale=1.0):
    """Barron (2019) eq. 1 and its limits, written out as in the paper (moderate inputs only)."""
    z = (p - t) / scale
    if alpha == 2:
        return 0.5 * z**2
    if alpha == 0:
        return torch.log(0.5 * z**2 + 1)
    if alpha == -math.inf:
        return 1 - torch.exp(-0.5 * z**2)
    b = abs(alpha - 2)
    return b / alpha * ((z**2 / b + 1) ** (alpha / 2) - 1)


def _crammer_singer(o, y, margin=1.0):
    """max(0, margin + max_{i != y} o_i - o_y), with the true class masked out by hand."""
    o_y = o.gather(-1, y[:, None])[:, 0]
    rival = o.scatter(-1, y[:, None], -math.inf).amax(-1)
    return torch.relu(margin + rival - o_y)


def _p_y(o, y):
    return F.softmax(o, -1).gather(-1, y[:, None])[:, 0]


# References: torch.nn.functional where torch has the loss, else the paper's formula.
REFERENCE = {
    "l1": lambda p, t: F.l1_loss(p, t, reduction="none"),
    "l2": lambda p, t: 0.5 * F.mse_loss(p, t, reduction="none"),  # d2l's convention: half of mse
    "huber": lambda p, t, delta=1.0: F.huber_loss(p, t, reduction="none", delta=delta),
    "log_cosh": lambda p, t: torch.log(torch.cosh(p - t)),
    "smooth_l1": lambda p, t, beta=1.0: F.smooth_l1_loss(p, t, reduction="none", beta=beta),
    "quantile": lambda p, t, tau=0.5: torch.maximum(tau * (t - p), (tau - 1) * (t - p)),
    "general": _barron,
    "cross_entropy": lambda o, y, label_smoothing=0.0: F.cross_entropy(o, y, reduction="none", label_smoothing=label_smoothing),
    "hinge": _crammer_singer,
    # torch's multi_margin_loss divides the Weston-Watkins sum by the number of classes.
    "hinge_ww": lambda o, y, margin=1.0: o.shape[-1] * F.multi_margin_loss(o, y, margin=margin, reduction="none"),
    # torchvision's sigmoid_focal_loss is binary: the multiclass form by its formula (Lin et al. eq. 5).
    "focal": lambda o, y, gamma=2.0: -((1 - _p_y(o, y)) ** gamma) * torch.log(_p_y(o, y)),
    "gce": lambda o, y, q=0.7: (1 - _p_y(o, y) ** q) / q,  # Zhang & Sabuncu eq. 6
}


def test_every_loss_has_a_reference():
    assert set(REFERENCE) >= set(lossviz.losses())


# --- regression -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", REGRESSION)
def test_regression_value_matches_reference(name):
    spec = lossviz.get_loss(name)
    pred = torch.linspace(-6, 6, 1001, dtype=torch.float64)
    target = torch.tensor(0.7, dtype=torch.float64)
    for params in param_settings(spec):
        got = spec.value(pred, target, **params)
        want = REFERENCE[name](pred, target.expand_as(pred), **params)
        torch.testing.assert_close(got, want, msg=lambda m: f"{params}: {m}")


@pytest.mark.parametrize("name", REGRESSION)
def test_regression_grad_matches_autograd_on_grid(name):
    spec = lossviz.get_loss(name)
    # Grid avoids the kinks (r = 0 for L1 and quantile) by an irrational offset.
    pred = torch.linspace(-5, 5, 401, dtype=torch.float64) + math.pi / 1000
    target = torch.zeros((), dtype=torch.float64)
    for params in param_settings(spec):
        x = pred.clone().requires_grad_(True)
        spec.value(x, target, **params).sum().backward()
        torch.testing.assert_close(spec.grad(pred, target, **params), x.grad, msg=lambda m: f"{params}: {m}")


@pytest.mark.parametrize("name", REGRESSION)
@settings(max_examples=60, deadline=None)
@given(
    pred=st.lists(st.floats(-1e3, 1e3), min_size=1, max_size=20),
    target=st.floats(-1e3, 1e3),
    data=st.data(),
)
def test_regression_grad_matches_autograd_hypothesis(name, pred, target, data):
    spec = lossviz.get_loss(name)
    params = data.draw(param_strategy(spec))
    p = torch.tensor(pred, dtype=torch.float64, requires_grad=True)
    t = torch.tensor(target, dtype=torch.float64)
    spec.value(p, t, **params).sum().backward()
    torch.testing.assert_close(spec.grad(p.detach(), t, **params), p.grad)


@pytest.mark.parametrize("name", REGRESSION)
@settings(max_examples=40, deadline=None)
@given(pred=st.lists(st.floats(-1e4, 1e4), min_size=1, max_size=20), data=st.data())
def test_regression_finite_up_to_1e4(name, pred, data):
    spec = lossviz.get_loss(name)
    params = data.draw(param_strategy(spec))
    for dtype in (torch.float32, torch.float64):
        p = torch.tensor(pred, dtype=dtype)
        t = torch.zeros((), dtype=dtype)
        assert torch.isfinite(spec.value(p, t, **params)).all() and torch.isfinite(spec.grad(p, t, **params)).all()


@pytest.mark.parametrize("name", REGRESSION)
def test_regression_gradcheck_away_from_kinks(name):
    spec = lossviz.get_loss(name)
    pred = torch.tensor([-3.3, -0.4, 0.6, 2.9], dtype=torch.float64, requires_grad=True)
    target = torch.tensor(0.1, dtype=torch.float64)
    for params in param_settings(spec):
        assert torch.autograd.gradcheck(lambda p: spec.value(p, target, **params), (pred,))


def test_subgradients_at_kinks():
    zero = torch.zeros(3, dtype=torch.float64)
    # L1 at r = 0: subgradient 0, as torch's abs backward.
    assert torch.equal(lossviz.get_loss("l1").grad(zero, zero), zero)
    # Huber at |r| = delta: gradient is continuous, both branches give +-delta.
    h = lossviz.get_loss("huber")
    r = torch.tensor([-0.5, 0.5], dtype=torch.float64)
    assert torch.equal(h.grad(r, torch.zeros(2, dtype=torch.float64), delta=0.5), r)
    # Quantile at r = 0: the middle of [-tau, 1 - tau], which is what autograd gives there too.
    q = lossviz.get_loss("quantile")
    assert torch.allclose(q.grad(zero, zero, tau=0.9), torch.full_like(zero, -0.4))
    x = zero.clone().requires_grad_(True)
    q.value(x, zero, tau=0.9).sum().backward()
    assert torch.allclose(x.grad, torch.full_like(zero, -0.4))
    # smooth_l1 with beta = 0 is L1, including its subgradient 0 at r = 0.
    assert torch.equal(lossviz.get_loss("smooth_l1").grad(zero, zero, beta=0.0), zero)


def test_huber_no_overflow_for_huge_residuals():
    # The quadratic branch of a naive where() would overflow r^2 in float32 here.
    pred = torch.tensor([3e30, -3e30], dtype=torch.float32)
    out = lossviz.get_loss("huber").value(pred, torch.zeros(2))
    assert torch.isfinite(out).all()
    torch.testing.assert_close(out, torch.tensor([3e30, 3e30]), rtol=1e-5, atol=0)


@pytest.mark.parametrize("delta", [0.1, 1.0, 2.5])
def test_huber_is_delta_times_smooth_l1(delta):
    # The README's statement: Huber = beta * smooth_l1 with beta = delta (torch documents it too).
    r = torch.linspace(-6, 6, 241, dtype=torch.float64)
    t = torch.zeros((), dtype=torch.float64)
    h, s = lossviz.get_loss("huber"), lossviz.get_loss("smooth_l1")
    torch.testing.assert_close(h.value(r, t, delta=delta), delta * s.value(r, t, beta=delta))
    torch.testing.assert_close(h.grad(r, t, delta=delta), delta * s.grad(r, t, beta=delta))


def _integral(spec, params) -> float:
    """int exp(-l(r)) / Z dr over the real line, by the trapezoid rule after r = tan(theta).

    The substitution maps the whole line onto (-pi/2, pi/2), so heavy tails (Cauchy's 1/r^2)
    are integrated too; it is another method than the library's (closed forms, QUADPACK).
    """
    # The end points stay: tan(+-pi/2) is +-1.6e16 in float64, where the integrand has reached
    # its limit (0, or a constant for the 1/r^2 tails).
    theta = torch.linspace(-math.pi / 2, math.pi / 2, 400_001, dtype=torch.float64)
    r = torch.tan(theta)
    dens = spec.likelihood(r, torch.zeros((), dtype=torch.float64), normalized=True, **params)
    return torch.trapezoid(dens / torch.cos(theta) ** 2, theta).item()


@pytest.mark.parametrize("name", REGRESSION)
def test_normalized_likelihood_integrates_to_one(name):
    spec = lossviz.get_loss(name)
    for params in param_settings(spec):
        if params.get("alpha", 0.0) < 0:
            continue  # no density (tested below)
        assert _integral(spec, params) == pytest.approx(1.0, abs=1e-5), params


@pytest.mark.parametrize("alpha", [0.0, 0.01, 0.3, 1.0, 1.7, 2.0, 2.5, 4.0])
@pytest.mark.parametrize("scale", [0.3, 1.0, 2.0])
def test_general_density_integrates_to_one_across_alpha(alpha, scale):
    assert _integral(lossviz.get_loss("general"), {"alpha": alpha, "scale": scale}) == pytest.approx(1.0, abs=1e-5)


def test_general_partition_known_values():
    from scipy.special import k1

    # alpha = 2: Gaussian, sqrt(2 pi); alpha = 0: Cauchy-like 1 / (1 + x^2 / 2), sqrt(2) pi.
    assert general_partition(2.0) == pytest.approx(math.sqrt(2 * math.pi), rel=1e-12)
    assert general_partition(0.0) == pytest.approx(math.sqrt(2) * math.pi, rel=1e-12)
    # alpha = 1: int exp(1 - sqrt(x^2 + 1)) dx = 2 e K_1(1) (Gradshteyn & Ryzhik 3.914), a
    # closed form the numerical integral in the library does not use.
    assert general_partition(1.0) == pytest.approx(2 * math.e * k1(1.0), rel=1e-10)
    # Continuous in alpha, including across the closed forms at 0 and 2.
    assert general_partition(1e-9) == pytest.approx(general_partition(0.0), rel=1e-6)
    assert general_partition(2 - 1e-9) == pytest.approx(general_partition(2.0), rel=1e-6)


@pytest.mark.parametrize("alpha", [-1e-9, -2.0, -math.inf])
def test_general_no_density_below_zero(alpha):
    spec = lossviz.get_loss("general")
    with pytest.raises(ValueError, match=r"general\.alpha.*no finite integral.*alpha >= 0"):
        spec.likelihood(torch.zeros(3), torch.zeros(()), normalized=True, alpha=alpha)
    # Unnormalized exp(-rho) exists and is what the explorer can still draw.
    assert torch.isfinite(spec.likelihood(torch.zeros(3), torch.zeros(()), alpha=alpha)).all()


def test_general_named_members():
    g = lossviz.get_loss("general")
    z = torch.linspace(-8, 8, 321, dtype=torch.float64)
    t = torch.zeros((), dtype=torch.float64)
    # Barron 2019, section 1: each closed form the family passes through.
    torch.testing.assert_close(g.value(z, t, alpha=2.0), 0.5 * z**2)
    torch.testing.assert_close(g.value(z, t, alpha=1.0), torch.sqrt(z**2 + 1) - 1)  # pseudo-Huber
    torch.testing.assert_close(g.value(z, t, alpha=0.0), torch.log1p(0.5 * z**2))  # Cauchy
    torch.testing.assert_close(g.value(z, t, alpha=-2.0), 2 * z**2 / (z**2 + 4))  # Geman-McClure
    torch.testing.assert_close(g.value(z, t, alpha=-math.inf), 1 - torch.exp(-0.5 * z**2))  # Welsch
    torch.testing.assert_close(g.value(2 * z, t, alpha=2.0, scale=2.0), g.value(z, t, alpha=2.0))


@pytest.mark.parametrize("near", [0.0, 2.0])
@pytest.mark.parametrize("eps", [1e-3, 1e-7, 1e-12, 1e-300])
def test_general_stable_near_removable_singularities(near, eps):
    g = lossviz.get_loss("general")
    z = torch.cat([torch.linspace(-20, 20, 401, dtype=torch.float64), torch.tensor([1e-8, 1e6, 1e150], dtype=torch.float64)])
    t = torch.zeros((), dtype=torch.float64)
    at = {k: fn(z, t, alpha=near) for k, fn in (("value", g.value), ("grad", g.grad))}
    for alpha in (near - eps, near + eps):
        for key, fn in (("value", g.value), ("grad", g.grad)):
            got = fn(z, t, alpha=alpha)
            assert torch.isfinite(got).all(), (alpha, key)
            # The family is continuous in alpha; the error shrinks like eps log(1/eps) near 2.
            tol = 60 * eps * (1 + math.log1p(1 / eps)) + 1e-13
            if near == 2 and key == "value":
                tol *= 1 + float(torch.log1p(z.abs()).max())
            torch.testing.assert_close(got, at[key], rtol=tol, atol=1e-300, msg=lambda m: f"alpha={alpha} {key}: {m}")


@pytest.mark.parametrize("name", REGRESSION)
def test_likelihood_is_exp_minus_loss(name):
    spec = lossviz.get_loss(name)
    pred = torch.linspace(-4, 4, 81, dtype=torch.float64)
    t = torch.zeros((), dtype=torch.float64)
    torch.testing.assert_close(spec.likelihood(pred, t), torch.exp(-spec.value(pred, t)))


def test_known_normalizers():
    t = torch.zeros((), dtype=torch.float64)
    zero = torch.zeros(1, dtype=torch.float64)
    # Standard Gaussian at 0 is 1/sqrt(2 pi); standard Laplace at 0 is 1/2; the hyperbolic
    # secant density sech(r)/pi is 1/pi at 0; asymmetric Laplace tau (1 - tau) at 0.
    assert lossviz.get_loss("l2").likelihood(zero, t, normalized=True).item() == pytest.approx(1 / math.sqrt(2 * math.pi))
    assert lossviz.get_loss("l1").likelihood(zero, t, normalized=True).item() == pytest.approx(0.5)
    assert lossviz.get_loss("log_cosh").likelihood(zero, t, normalized=True).item() == pytest.approx(1 / math.pi)
    assert lossviz.get_loss("quantile").likelihood(zero, t, normalized=True, tau=0.2).item() == pytest.approx(0.16)
    assert lossviz.get_loss("smooth_l1").likelihood(zero, t, normalized=True, beta=0.0).item() == pytest.approx(0.5)


def test_quantile_fits_the_quantile():
    # The minimizer of the mean pinball loss over a sample is its tau-quantile: the mean
    # subgradient changes sign there.
    y = torch.randn(1001, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    q = lossviz.get_loss("quantile")
    for tau in (0.1, 0.5, 0.9):
        at = torch.quantile(y, tau).item()
        below, above = (q.grad(torch.full_like(y, at + d), y, tau=tau).mean().item() for d in (-1e-3, 1e-3))
        assert below < 0 < above, tau


# --- classification ---------------------------------------------------------------------------


def _expected_reference(name, o, probs, **params):
    """sum_c y_c l(o, c): the probability-target form, from the index-target reference."""
    c_range = range(o.shape[-1])
    per = torch.stack([REFERENCE[name](o, torch.full(o.shape[:1], c), **params) for c in c_range], -1)
    return (probs * per).sum(-1)


@pytest.mark.parametrize("name", CLASSIFICATION)
def test_classification_value_matches_reference(name):
    spec = lossviz.get_loss(name)
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(64, 10, generator=g, dtype=torch.float64) * 5
    y = torch.randint(0, 10, (64,), generator=g)
    probs = torch.softmax(torch.randn(64, 10, generator=g, dtype=torch.float64), -1)
    for params in param_settings(spec):
        torch.testing.assert_close(spec.value(logits, y, **params), REFERENCE[name](logits, y, **params))
        torch.testing.assert_close(spec.value(logits, probs, **params), _expected_reference(name, logits, probs, **params))


@pytest.mark.parametrize("label_smoothing", [0.0, 0.1, 0.5, 0.9])
def test_cross_entropy_probability_targets_match_torch(label_smoothing):
    g = torch.Generator().manual_seed(5)
    logits = torch.randn(32, 6, generator=g, dtype=torch.float64) * 4
    probs = torch.softmax(torch.randn(32, 6, generator=g, dtype=torch.float64), -1)
    ce = lossviz.get_loss("cross_entropy")
    want = F.cross_entropy(logits, probs, reduction="none", label_smoothing=label_smoothing)
    torch.testing.assert_close(ce.value(logits, probs, label_smoothing=label_smoothing), want)


@pytest.mark.parametrize("name", CLASSIFICATION)
def test_trainer_call_one_hot_equals_class_indices(name):
    """The trainer calls spec.value_fn / grad_fn with logits (B, C) and one-hot float targets."""
    spec = lossviz.get_loss(name)
    g = torch.Generator().manual_seed(4)
    for dtype in (torch.float32, torch.float64):
        logits = (torch.randn(256, 10, generator=g) * 3).to(dtype)
        y = torch.randint(0, 10, (256,), generator=g)
        onehot = F.one_hot(y, 10).to(dtype)
        for params in param_settings(spec):
            resolved = spec.resolve(params)
            torch.testing.assert_close(spec.value_fn(logits, onehot, **resolved), spec.value(logits, y, **params))
            torch.testing.assert_close(spec.grad_fn(logits, onehot, **resolved), spec.grad(logits, y, **params))
            assert spec.value_fn(logits, onehot, **resolved).dtype == dtype


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
    for params in param_settings(spec):
        o = logits.clone().requires_grad_(True)
        spec.value(o, y, **params).sum().backward()
        torch.testing.assert_close(spec.grad(logits, y, **params), o.grad, msg=lambda m: f"{params}: {m}")


@pytest.mark.parametrize("name", CLASSIFICATION)
@settings(max_examples=60, deadline=None)
@given(logits=st.lists(st.floats(-30, 30), min_size=2, max_size=10), data=st.data())
def test_classification_grad_matches_autograd_hypothesis(name, logits, data):
    spec = lossviz.get_loss(name)
    params = data.draw(param_strategy(spec))
    y = data.draw(st.integers(0, len(logits) - 1))
    weights = data.draw(st.lists(st.floats(0, 1), min_size=len(logits), max_size=len(logits)))
    probs = torch.tensor([weights], dtype=torch.float64)
    for target in (torch.tensor([y]), probs / probs.sum() if probs.sum() > 0 else probs):
        o = torch.tensor([logits], dtype=torch.float64, requires_grad=True)
        spec.value(o, target, **params).sum().backward()
        closed = spec.grad(o.detach(), target, **params)
        assert torch.isfinite(closed).all()
        # Where p_y rounds to 1, autograd of focal's (1 - p)^gamma is inf * 0 = NaN for
        # gamma < 1 (logits [27, -10]); the closed form gives the limit there.
        if torch.isfinite(o.grad).all():
            torch.testing.assert_close(closed, o.grad)


@pytest.mark.parametrize("name", CLASSIFICATION)
@settings(max_examples=60, deadline=None)
@given(logits=st.lists(st.floats(-1e4, 1e4), min_size=2, max_size=10), data=st.data())
def test_classification_extreme_logits_finite_and_exact(name, logits, data):
    spec = lossviz.get_loss(name)
    params = data.draw(param_strategy(spec))
    y = data.draw(st.integers(0, len(logits) - 1))
    target = torch.tensor([y])
    for dtype in (torch.float32, torch.float64):
        o = torch.tensor([logits], dtype=dtype, requires_grad=True)
        v = spec.value(o, target, **params)
        gr = spec.grad(o.detach(), target, **params)
        assert v.dtype == dtype and gr.dtype == dtype
        assert torch.isfinite(v).all() and torch.isfinite(gr).all()
        v.sum().backward()
        if torch.isfinite(o.grad).all():  # autograd of (1 - p)^gamma is inf * 0 at p = 1 for gamma < 1
            torch.testing.assert_close(gr, o.grad)
        # The same rounded logits in float64 give the same loss, up to float32 rounding of
        # differences of logits as large as 1e4.
        size = 1 + max(abs(v) for v in logits)
        torch.testing.assert_close(v.double(), spec.value(o.detach().double(), target, **params), rtol=1e-5, atol=1e-6 * size)


def test_focal_gamma_zero_is_cross_entropy():
    g = torch.Generator().manual_seed(6)
    logits = torch.randn(50, 8, generator=g, dtype=torch.float64) * 4
    y = torch.randint(0, 8, (50,), generator=g)
    f, ce = lossviz.get_loss("focal"), lossviz.get_loss("cross_entropy")
    torch.testing.assert_close(f.value(logits, y, gamma=0.0), F.cross_entropy(logits, y, reduction="none"))
    torch.testing.assert_close(f.grad(logits, y, gamma=0.0), ce.grad(logits, y))


def test_gce_limits():
    g = torch.Generator().manual_seed(7)
    logits = torch.randn(50, 8, generator=g, dtype=torch.float64) * 4
    y = torch.randint(0, 8, (50,), generator=g)
    gce = lossviz.get_loss("gce")
    # q = 1: 1 - p_y; q -> 0: cross-entropy (Zhang & Sabuncu, section 3).
    torch.testing.assert_close(gce.value(logits, y, q=1.0), 1 - _p_y(logits, y))
    torch.testing.assert_close(gce.value(logits, y, q=1e-9), F.cross_entropy(logits, y, reduction="none"), rtol=1e-6, atol=1e-6)


def test_hinge_forms():
    g = torch.Generator().manual_seed(8)
    logits = torch.randn(200, 5, generator=g, dtype=torch.float64) * 2
    y = torch.randint(0, 5, (200,), generator=g)
    cs, ww = lossviz.get_loss("hinge"), lossviz.get_loss("hinge_ww")
    # Weston-Watkins sums the violations Crammer-Singer takes the largest of.
    assert (ww.value(logits, y) >= cs.value(logits, y) - 1e-12).all()
    assert (ww.value(logits, y) <= 4 * cs.value(logits, y) + 1e-12).all()
    # With two classes there is one rival: the forms agree.
    two = logits[:, :2]
    y2 = y % 2
    torch.testing.assert_close(cs.value(two, y2, margin=0.7), ww.value(two, y2, margin=0.7))
    torch.testing.assert_close(cs.grad(two, y2, margin=0.7), ww.grad(two, y2, margin=0.7))
    # Zero once the true logit beats every rival by the margin.
    assert cs.value(torch.tensor([[3.0, 1.9, 0.0]]), torch.tensor([0])).item() == 0.0
    # One class: no rival, no loss.
    assert cs.value(torch.tensor([[2.0]]), torch.tensor([0])).item() == 0.0


def test_hinge_subgradient_at_kink_and_ties():
    cs, ww = lossviz.get_loss("hinge"), lossviz.get_loss("hinge_ww")
    # margin + o_rival - o_y = 1 + 1 - 2 = 0 exactly: the kink, subgradient 0 (as ReLU).
    o = torch.tensor([[2.0, 1.0, -3.0]], dtype=torch.float64)
    assert torch.equal(cs.grad(o, torch.tensor([0])), torch.zeros_like(o))
    assert torch.equal(ww.grad(o, torch.tensor([0])), torch.zeros_like(o))
    # Two rivals tied for the max: the first gets the +1 (argmax's choice), in value and grad alike.
    o = torch.tensor([[0.0, 1.0, 1.0]], dtype=torch.float64, requires_grad=True)
    cs.value(o, torch.tensor([0])).sum().backward()
    want = torch.tensor([[-1.0, 1.0, 0.0]], dtype=torch.float64)
    assert torch.equal(cs.grad(o.detach(), torch.tensor([0])), want) and torch.equal(o.grad, want)


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


@pytest.mark.parametrize("name", CLASSIFICATION)
def test_bad_class_targets(name):
    spec = lossviz.get_loss(name)
    for fn in (spec.value, spec.grad):
        with pytest.raises(ValueError, match=r"\[0, 2\]"):
            fn(torch.zeros(2, 3), torch.tensor([0, 3]))
        with pytest.raises(ValueError, match="last dimension"):
            fn(torch.zeros(2, 3), torch.zeros(2, 4))


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
