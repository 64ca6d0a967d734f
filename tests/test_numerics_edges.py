"""Numerics at the edges (issue 24): finite inputs whose exact result is finite and fits the
dtype, against references computed exactly (Python's ``decimal`` at 60 digits, or
``fractions``) rather than with torch in the same dtype; and inputs that are refused, with a
ValueError naming the argument."""

from __future__ import annotations

import math
from decimal import Decimal, localcontext
from fractions import Fraction

import pytest
import torch

import lossviz

REGRESSION = [n for n in lossviz.losses() if lossviz.get_loss(n).kind == "regression"]
CLASSIFICATION = [n for n in lossviz.losses() if lossviz.get_loss(n).kind == "classification"]
ELEMENTWISE = [n for n in lossviz.activations() if lossviz.get_activation(n).kind == "elementwise"]
F64, F32, F16, BF16 = torch.float64, torch.float32, torch.float16, torch.bfloat16


def _exact(x: float) -> Decimal:
    """A float (already rounded to its dtype) as the exact decimal number it is."""
    return Decimal(float(x))


def _rounded(x: float, dtype: torch.dtype) -> float:
    """x as the dtype holds it: the input a test hands the function, and its reference sees."""
    return torch.tensor(x, dtype=dtype).item()


def _check(got: torch.Tensor, want: list, dtype: torch.dtype, rtol: float) -> None:
    """got equals the exact ``want`` (Decimals) to rtol; a want beyond the dtype's range is inf;
    tails in the subnormal range are compared to a few of the dtype's smallest steps."""
    info = torch.finfo(dtype)
    for g, w in zip(got.double().flatten().tolist(), want):
        w = float(w)
        if abs(w) > info.max:
            assert math.isinf(g) and (g > 0) == (w > 0), (g, w)
            continue
        tiny = 4 * info.smallest_normal * info.eps  # a few subnormal steps (float32: 5.6e-45)
        assert abs(g - w) <= rtol * abs(w) + tiny, (g, w)


def _sigmoid(t: Decimal) -> Decimal:
    # The side of t whose exp does not overflow: 1 / (1 + e^-t) or e^t / (1 + e^t).
    return 1 / (1 + (-t).exp()) if t >= 0 else t.exp() / (1 + t.exp())


# --- Barron's general loss at a tiny scale ----------------------------------------------------


def _barron_exact(r: Decimal, c: Decimal, alpha: float) -> tuple[Decimal, Decimal]:
    """(rho, d rho / d y_hat) from Barron (2019) eq. 1 and its derivative r / c^2 (z^2/b + 1)^(a/2 - 1)."""
    z = r / c
    if alpha == -math.inf:
        return 1 - (-z * z / 2).exp(), r / (c * c) * (-z * z / 2).exp()
    a = Decimal(alpha)
    b = abs(a - 2)
    base = z * z / b + 1
    value = (z * z / 2 + 1).ln() if alpha == 0 else b / a * (base ** (a / 2) - 1)
    return value, r / (c * c) * base ** (a / 2 - 1)


@pytest.mark.parametrize("dtype, scale, residuals", [
    (F64, 1e-300, [1.0, -3.0, 1e10, 2e-300, -1e-290]),  # r / c^2 = 1e600 although d rho ~ 1/c
    (F32, 1e-30, [1.0, -3.0, 1e10, 2e-30, 1e-25]),       # r / c = 1e40 overflows float32 itself
])
@pytest.mark.parametrize("alpha", [1.0, 0.0, 0.5, 1.5, -2.0, 4.0, -math.inf])
def test_general_tiny_scale(dtype, scale, residuals, alpha):
    # Before: z / c overflowed to inf (grad inf where it is ~1e300, or NaN = inf * 0), and
    # where z = r / c itself overflowed the value was inf (alpha = 0, r = 1e10, c = 1e-30 in
    # float32: true 2 log(1e40) - log 2 = 183.5).
    spec = lossviz.get_loss("general")
    r = torch.tensor(residuals, dtype=dtype)
    with localcontext() as ctx:
        ctx.prec = 60
        c = _exact(_rounded(scale, dtype))
        exact = [_barron_exact(_exact(x), c, alpha) for x in r.tolist()]
    # float32: the far branch's exp(e + log(b / alpha)) is good to ~3e-6 at e ~ 45 (alpha = 4).
    rtol = 1e-12 if dtype == F64 else 1e-5
    zero = torch.zeros((), dtype=dtype)
    _check(spec.value(r, zero, alpha=alpha, scale=scale), [v for v, _ in exact], dtype, rtol)
    _check(spec.grad(r, zero, alpha=alpha, scale=scale), [g for _, g in exact], dtype, rtol)


# --- SiLU and softplus at a huge beta ---------------------------------------------------------


@pytest.mark.parametrize("beta", [1e300, 1e200])
def test_silu_and_softplus_huge_beta(beta):
    # Before: beta x overflowed to +-inf, and inf * 0 gave silu.grad NaN; softplus gave
    # logaddexp(inf, 0) / beta = inf where its value is x.
    x = torch.tensor([1.0, -1.0, 1e10, -1e10, 1e-300, -2e-300, 0.0, 3e-301], dtype=F64)
    silu, softplus = lossviz.get_activation("silu"), lossviz.get_activation("softplus")
    with localcontext() as ctx:
        ctx.prec = 60
        b = _exact(beta)
        want = {"silu": [], "silu_grad": [], "softplus": [], "softplus_grad": []}
        for v in x.tolist():
            xv = _exact(v)
            t = b * xv
            s = _sigmoid(t)
            want["silu"].append(xv * s)
            want["silu_grad"].append(s + t * s * (1 - s))
            # (1 / beta) log(1 + e^t) = max(x, 0) + log(1 + e^-|t|) / beta
            want["softplus"].append(max(xv, Decimal(0)) + (1 + (-abs(t)).exp()).ln() / b)
            want["softplus_grad"].append(s)
    _check(silu.value(x, beta=beta), want["silu"], F64, 1e-13)
    _check(silu.grad(x, beta=beta), want["silu_grad"], F64, 1e-13)
    _check(softplus.value(x, beta=beta), want["softplus"], F64, 1e-13)
    _check(softplus.grad(x, beta=beta), want["softplus_grad"], F64, 1e-13)


# --- classification losses where an intermediate overflows the dtype ------------------------


def _log1p(u: Decimal) -> Decimal:
    # The series where 1 + u would round u away (u = e^-120000 at 60 digits): error < u^3.
    return u - u * u / 2 if abs(u) < Decimal("1e-30") else (1 + u).ln()


def _expm1(s: Decimal) -> Decimal:
    return s + s * s / 2 if abs(s) < Decimal("1e-30") else s.exp() - 1


def _log_softmax_exact(o: list[float]) -> list[Decimal]:
    d = [_exact(v) for v in o]
    top = d.index(max(d))
    # (o_c - m) - log1p(sum of the others' e^(o - m)): the top class keeps -log1p(1e-52115).
    rest = _log1p(sum((v - d[top]).exp() for i, v in enumerate(d) if i != top))
    return [(v - d[top]) - rest for v in d]


def _focal_exact(o, y, gamma):
    """(value, grad) of the focal loss for probabilities y, from Lin et al. eq. 5 and
    d/do_j = y_j g_j - p_j sum_c y_c g_c, g = -(1 - p)^gamma (1 + gamma p log p / (p - 1)),
    with 1 - p = -expm1(log p) so that p within 1e-52115 of 1 keeps its distance."""
    s = _log_softmax_exact(o)
    p = [v.exp() for v in s]
    q = [-_expm1(v) for v in s]  # 1 - p
    g_ = Decimal(gamma)
    value = sum(yc * -(qc ** g_) * sc for yc, qc, sc in zip(y, q, s) if yc)
    # log p / (1 - p) -> -1 as p -> 1 (1 - p below 60 digits' range for a gap of 3.4e38).
    g = [-(qc ** g_) * (1 - g_ * pc * (sc / qc if qc else Decimal(-1))) for pc, qc, sc in zip(p, q, s)]
    total = sum(yc * gc for yc, gc in zip(y, g))
    return value, [yj * gj - pj * total for yj, gj, pj in zip(y, g, p)]


@pytest.mark.parametrize("dtype, gap", [(F16, 60000.0), (F32, 1.7e38), (BF16, 2e38)])
@pytest.mark.parametrize("gamma", [2.0, 0.5])
def test_focal_logit_gap_beyond_the_dtype(dtype, gap, gamma):
    # Logits (gap, -gap): log p = -2 gap is -inf in the dtype. Before: focal.grad was NaN
    # (0 * inf in p log p / (p - 1)); the value of a half-half target, 0.5 * 2 gap, fits but
    # was inf. A one-hot target on the low class has the loss 2 gap: beyond the dtype, inf.
    spec = lossviz.get_loss("focal")
    o = torch.tensor([[gap, -gap]], dtype=dtype)
    gap_r = o[0, 0].item()
    with localcontext() as ctx:
        ctx.prec = 60
        for y in ([1, 0], [0, 1], [Fraction(1, 2), Fraction(1, 2)]):
            yd = [Decimal(v.numerator) / Decimal(v.denominator) if isinstance(v, Fraction) else Decimal(v) for v in y]
            value, grad = _focal_exact([gap_r, -gap_r], yd, gamma)
            target = torch.tensor([[float(v) for v in y]], dtype=dtype)
            _check(spec.value(o, target, gamma=gamma), [value], dtype, 1e-2)
            _check(spec.grad(o, target, gamma=gamma)[0], grad, dtype, 1e-2)
            if y != [Fraction(1, 2), Fraction(1, 2)]:  # the class index gives the same numbers
                cls = torch.tensor([y.index(1)])
                _check(spec.value(o, cls, gamma=gamma), [value], dtype, 1e-2)
                _check(spec.grad(o, cls, gamma=gamma)[0], grad, dtype, 1e-2)


@pytest.mark.parametrize("dtype, gap", [(F16, 60000.0), (F32, 1.7e38), (BF16, 2e38)])
def test_cross_entropy_label_smoothing_with_a_logit_gap_beyond_the_dtype(dtype, gap):
    # Logits (gap, -gap), class 1, eps = 0.999: the smoothed target (0.4995, 0.5005) gives
    # 0.5005 * 2 gap (60,060 in float16, fits its 65,504), but log p = -2 gap overflowed: inf.
    spec = lossviz.get_loss("cross_entropy")
    o = torch.tensor([[gap, -gap]], dtype=dtype)
    gap_r = o[0, 0].item()
    eps = 0.999
    with localcontext() as ctx:
        ctx.prec = 60
        log_p = _log_softmax_exact([gap_r, -gap_r])
        e = _exact(eps)
        smoothed = [e / 2, (1 - e) + e / 2]
        want = -sum(y * lp for y, lp in zip(smoothed, log_p))
    if dtype == F16:
        assert abs(float(want) - 60060) < 1e-6
    _check(spec.value(o, torch.tensor([1]), label_smoothing=eps), [want], dtype, 1e-2)
    _check(spec.value(o, torch.tensor([[0.0, 1.0]], dtype=dtype), label_smoothing=eps), [want], dtype, 1e-2)


@pytest.mark.parametrize("name", ["hinge", "hinge_ww"])
@pytest.mark.parametrize("dtype, gap", [(F16, 40000.0), (F32, 1.7e38)])
def test_hinge_probability_target_with_a_gap_beyond_the_dtype(name, dtype, gap):
    # Half-half target on logits (gap, -gap), margin 1: 0.5 * (0 + (2 gap + 1)) fits the dtype,
    # but the low class's margin term 2 gap + 1 does not (found by the sweep: inf before).
    spec = lossviz.get_loss(name)
    o = torch.tensor([[gap, -gap]], dtype=dtype)
    g = Fraction(o[0, 0].item())
    want = Fraction(1, 2) * (2 * g + 1)
    _check(spec.value(o, torch.tensor([[0.5, 0.5]], dtype=dtype)), [want], dtype, 1e-3)


# --- quantile near tau = 0 and 1, and at infinity ---------------------------------------------


def _pinball_exact(r: Fraction, tau: Fraction) -> tuple[Fraction, Fraction]:
    """max(tau (y - y_hat), (1 - tau)(y_hat - y)) and its slope (Koenker & Bassett), exactly."""
    return max(-tau * r, (1 - tau) * r), (1 - tau if r > 0 else -tau if r < 0 else Fraction(1, 2) - tau)


@pytest.mark.parametrize("dtype", [F32, F64, F16, BF16])
@pytest.mark.parametrize("tau", [1e-9, 1 - 1e-9, 1e-7, 1 - 1e-7, 0.3])
def test_quantile_near_zero_and_one(dtype, tau):
    # Before: 0.5 |r| + (0.5 - tau) r rounded 0.5 - tau to 0.5 in float32 and cancelled to 0
    # on one side (true: tau |r|); the gradient likewise (-0.5 + 0.5 = 0 for r < 0).
    if dtype in (F16, BF16) and tau in (1e-9, 1 - 1e-9):
        pytest.skip("tau = 1e-9 rounds to 0 in float16 (refused: test_numerics)")
    spec = lossviz.get_loss("quantile")
    r = torch.tensor([1.0, -1.0, 3.5, -1000.0, 0.0, 250.0], dtype=dtype)
    t = Fraction(tau)
    exact = [_pinball_exact(Fraction(v), t) for v in r.tolist()]
    rtol = {F64: 1e-15, F32: 2e-7, F16: 2e-3, BF16: 1e-2}[dtype]
    zero = torch.zeros((), dtype=dtype)
    _check(spec.value(r, zero, tau=tau), [Decimal(v.numerator) / Decimal(v.denominator) for v, _ in exact], dtype, rtol)
    _check(spec.grad(r, zero, tau=tau), [Decimal(g.numerator) / Decimal(g.denominator) for _, g in exact], dtype, rtol)


@pytest.mark.parametrize("tau", [0.5, 0.1, 0.9])
def test_quantile_at_infinity_is_infinite_like_l1(tau):
    # Before: 0.5 |r| + (0.5 - tau) r = inf - inf = NaN at r = +-inf; L1 gives inf.
    spec = lossviz.get_loss("quantile")
    r = torch.tensor([math.inf, -math.inf])
    assert torch.equal(spec.value(r, torch.zeros(())), torch.full((2,), math.inf))
    assert torch.equal(lossviz.get_loss("l1").value(r, torch.zeros(())), torch.full((2,), math.inf))
    assert torch.equal(spec.value(r, torch.zeros(()), tau=tau), torch.full((2,), math.inf))
    torch.testing.assert_close(spec.grad(r, torch.zeros(()), tau=tau), torch.tensor([1 - tau, -tau]))


# --- hinge margins with equal large logits ----------------------------------------------------


@pytest.mark.parametrize("dtype, big", [(F16, 4096.0), (BF16, 1e4), (F32, 1e8), (F64, 1e17)])
@pytest.mark.parametrize("name", ["hinge", "hinge_ww"])
def test_hinge_equal_large_logits_keep_the_margin(name, dtype, big):
    # Two tied logits: the loss is margin + 0 = 1 exactly. Before: margin + o_rival rounded
    # the margin away (4096 + 1 = 4096 in float16) and gave 0, gradient 0.
    spec = lossviz.get_loss(name)
    o = torch.tensor([[big, big, 0.0]], dtype=dtype)
    # Exactly: hinge max(0, 1 + 0) = 1; WW 1 + max(0, 1 + 0 - big) = 1 (big > 1).
    for target in (torch.tensor([0]), torch.tensor([[1.0, 0.0, 0.0]], dtype=dtype)):
        assert spec.value(o, target).tolist() == [1.0]
        assert spec.grad(o, target).tolist() == [[-1.0, 1.0, 0.0]]


# --- sigmoid and tanh tails -------------------------------------------------------------------


@pytest.mark.parametrize("dtype, xs", [
    (F32, [30.0, -30.0, 50.0, 88.0, 100.0, -103.0, 17.5, 10.0]),
    (F64, [30.0, -40.0, 100.0, 700.0, -740.0, 37.5]),
])
def test_sigmoid_and_tanh_grad_tails(dtype, xs):
    # Before: s (1 - s) and 1 - tanh^2 rounded to 0 (from |x| ~ 17 / 9 in float32) where the
    # derivative is representable: sigma'(30) = 9.4e-14, sech^2(30) = 3.5e-26.
    x = torch.tensor(xs, dtype=dtype)
    with localcontext() as ctx:
        ctx.prec = 60
        e1 = [(-abs(_exact(v))).exp() for v in xs]
        e2 = [(-2 * abs(_exact(v))).exp() for v in xs]
        sig = [_sigmoid(_exact(v)) for v in xs]
        dsig = [e / ((1 + e) * (1 + e)) for e in e1]        # sigma(x) sigma(-x)
        dtanh = [4 * e / ((1 + e) * (1 + e)) for e in e2]   # sech^2 x = 4 / (e^x + e^-x)^2
    rtol = 8 * torch.finfo(dtype).eps
    _check(lossviz.get_activation("sigmoid").grad(x), dsig, dtype, rtol)
    _check(lossviz.get_activation("tanh").grad(x), dtanh, dtype, rtol)
    # The value's tail too: torch.sigmoid flushes results below the smallest normal to 0.
    _check(lossviz.get_activation("sigmoid").value(x), sig, dtype, rtol)


# --- -inf logits: one-hot and class index agree -----------------------------------------------


@pytest.mark.parametrize("name", CLASSIFICATION)
def test_minus_inf_logit_one_hot_equals_class_index(name):
    # A class that cannot occur (logit -inf) and has target weight 0 contributes nothing to the
    # expected loss sum_c y_c l(o, c). Before: cross-entropy with the one-hot target gave
    # 0 * -inf = NaN, the class index log 2.
    spec = lossviz.get_loss(name)
    o = torch.tensor([[0.0, 0.0, -math.inf], [1.5, -0.5, -math.inf]], dtype=F64)
    y = torch.tensor([0, 1])
    one_hot = torch.nn.functional.one_hot(y, 3).to(F64)
    by_index, by_probs = spec.value(o, y), spec.value(o, one_hot)
    assert torch.isfinite(by_index).all()
    torch.testing.assert_close(by_probs, by_index)
    torch.testing.assert_close(spec.grad(o, one_hot), spec.grad(o, y))
    assert torch.isfinite(spec.grad(o, y)).all()
    if name == "cross_entropy":  # -log(1/2) exactly, and -log softmax(1.5, -0.5)_1 = log(1 + e^2)
        torch.testing.assert_close(by_index, torch.tensor([math.log(2), math.log1p(math.exp(2))], dtype=F64))


# --- refused inputs name the argument ---------------------------------------------------------


@pytest.mark.parametrize("name", lossviz.losses())
def test_loss_inputs_none_or_mismatched_name_the_argument(name):
    # Before: torch's RuntimeError ("Could not infer dtype of NoneType", "The size of tensor a
    # (3) must match ..."), naming no argument.
    spec = lossviz.get_loss(name)
    classification = spec.kind == "classification"
    first = "logits" if classification else "pred"
    good_pred = torch.zeros(3, 4) if classification else torch.zeros(3)
    good_target = torch.zeros(3, dtype=torch.long) if classification else torch.zeros(3)
    bad_shapes = ([torch.zeros(2, dtype=torch.long), torch.zeros(3, 3, dtype=torch.long), torch.zeros(2, 4)]
                  if classification else [torch.zeros(4), torch.zeros(3, 2)])
    for fn in (spec.value, spec.grad, spec.likelihood):
        with pytest.raises(ValueError, match=rf"^{first} must be"):
            fn(None, good_target)
        with pytest.raises(ValueError, match=r"^target must be"):
            fn(good_pred, None)
        with pytest.raises(ValueError, match=rf"^{first} must be"):
            fn("abc", good_target)
        for target in bad_shapes:
            with pytest.raises(ValueError, match=r"^target shape .* does not broadcast"):
                fn(good_pred, target)


@pytest.mark.parametrize("name", lossviz.activations())
def test_activation_input_none_names_x(name):
    spec = lossviz.get_activation(name)
    for fn in (spec.value, spec.grad):
        with pytest.raises(ValueError, match=r"^x must be"):
            fn(None)
        with pytest.raises(ValueError, match=r"^x must be"):
            fn([[1.0, 2.0], [3.0]])  # ragged


@pytest.mark.parametrize("name", REGRESSION)
def test_bool_regression_target_is_promoted(name):
    # docs/library.md: boolean inputs are promoted. A boolean regression target is 0 / 1 in
    # pred's dtype, as an integer target is (torch refuses `pred - bool`: NotImplementedError
    # before). A boolean *class* target stays a ValueError naming target (test_numerics).
    spec = lossviz.get_loss(name)
    pred = torch.tensor([0.25, -1.5, 2.0], dtype=F64)
    target = torch.tensor([True, False, True])
    for fn in (spec.value, spec.grad):
        out = fn(pred, target)
        assert out.dtype == F64
        torch.testing.assert_close(out, fn(pred, target.to(F64)))


def test_softmax_grad_of_a_zero_dim_tensor():
    # softmax.value treats a 0-dim x as one logit (the constant 1); its Jacobian is 0, shape
    # (), as torch.autograd.functional.jacobian gives. Before: IndexError.
    sm = lossviz.get_activation("softmax")
    for dtype in (F32, F64):
        x = torch.tensor(1.7, dtype=dtype)
        assert sm.value(x).item() == 1.0
        want = torch.autograd.functional.jacobian(lambda t: sm.value(t), x)
        got = sm.grad(x)
        assert got.shape == want.shape == () and got.dtype == dtype
        assert got.item() == want.item() == 0.0


# --- autograd through the value at a huge threshold -------------------------------------------


@pytest.mark.parametrize("name, param, value, slope", [
    ("huber", "delta", 1e300, 1.0),       # quadratic everywhere: d/dr 0.5 r^2 = r
    ("smooth_l1", "beta", 1e300, 1e-300),  # 0.5 r^2 / beta: r / beta
    ("huber", "delta", 1e30, 1.0),
])
def test_autograd_through_the_value_at_a_huge_threshold(name, param, value, slope):
    # Before: the linear part delta (|r| - q) added +delta and -delta to the quadratic part's
    # gradient and swallowed it: autograd gave 0 for huber at delta = 1e300.
    spec = lossviz.get_loss(name)
    r = torch.tensor([3.0, -2.0, 0.5, 0.0], dtype=F64, requires_grad=True)
    spec.value(r, torch.zeros((), dtype=F64), **{param: value}).sum().backward()
    torch.testing.assert_close(r.grad, r.detach() * slope, rtol=1e-15, atol=0)
    torch.testing.assert_close(spec.grad(r.detach(), torch.zeros((), dtype=F64), **{param: value}), r.grad)


@pytest.mark.parametrize("name, param", [("huber", "delta"), ("smooth_l1", "beta")])
def test_autograd_at_the_kink_is_the_closed_form(name, param):
    # |r| = threshold exactly: autograd must give the closed form's +-delta (+-1), not 0 or twice it.
    spec = lossviz.get_loss(name)
    r = torch.tensor([0.5, -0.5], dtype=F64, requires_grad=True)
    spec.value(r, torch.zeros((), dtype=F64), **{param: 0.5}).sum().backward()
    torch.testing.assert_close(r.grad, spec.grad(r.detach(), torch.zeros((), dtype=F64), **{param: 0.5}))


# --- found by the sweep over the other entries and dtypes -------------------------------------


def test_cross_entropy_tiny_label_smoothing_in_float16():
    # eps = 1e-300 rounds to 0 in float16 and log p of the far class overflowed to -inf:
    # eps * mean(log p) was 0 * inf = NaN. Exactly: logits (6e4, 0, -6e4), class 0: the loss is
    # log(1 + e^-6e4 + e^-1.2e5) ~ 0 plus eps * 6e4 = 6e-296, 0 in float16.
    spec = lossviz.get_loss("cross_entropy")
    o = torch.tensor([[6e4, 0.0, -6e4]], dtype=F16)
    assert spec.value(o, torch.tensor([0]), label_smoothing=1e-300).tolist() == [0.0]
    assert spec.value(o, torch.tensor([1]), label_smoothing=1e-300).tolist() == [60000.0]  # 6e4 exactly in float16


@pytest.mark.parametrize("dtype", [F16, BF16, F32])
def test_softmax_temperature_beyond_the_dtype(dtype):
    # T = 1e300 is inf in float16 / float32 (allowed: its limit is meaningful), and in float16
    # x - max x overflowed to -inf for a spread of 1.2e5: -inf / inf = NaN. Exactly, every
    # (x_i - m) / T is within 2e-296 of 0: softmax is uniform to the dtype, its Jacobian
    # (delta_ij / 3 - 1/9) / T rounds to 0.
    sm = lossviz.get_activation("softmax")
    o = torch.tensor([[6e4, 0.0, -6e4]], dtype=dtype)
    torch.testing.assert_close(sm.value(o, temperature=1e300), torch.full((1, 3), 1 / 3, dtype=dtype))
    assert torch.equal(sm.grad(o, temperature=1e300), torch.zeros(1, 3, 3, dtype=dtype))
