"""Numerics under bad or unusual input (issue 13): every registered function accepts what
torch's own functions accept (float dtypes, 0-dim and empty tensors, numpy arrays and scalars)
and returns finite values where the math is finite, or raises ValueError naming the argument."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

import lossviz
from tests.conftest import param_strategy

NAMES = lossviz.losses() + lossviz.activations()
CLASSIFICATION = [n for n in lossviz.losses() if lossviz.get_loss(n).kind == "classification"]
FLOAT_DTYPES = [torch.float16, torch.bfloat16, torch.float32, torch.float64]


def _evaluate(name, x, **params):
    """(value, grad) of a registry entry on input x; losses get a zero target / class 0."""
    spec = lossviz.get(name)
    if isinstance(spec, lossviz.ActivationSpec):
        return spec.value(x, **params), spec.grad(x, **params)
    if spec.kind == "classification":
        target = torch.zeros(x.shape[:-1], dtype=torch.long)
    else:
        target = torch.zeros((), dtype=x.dtype)
    return spec.value(x, target, **params), spec.grad(x, target, **params)


# --- the cases the issue reports --------------------------------------------------------------


@pytest.mark.parametrize("dtype, delta", [(torch.float32, 1e39), (torch.float16, 1e5), (torch.bfloat16, 1e39)])
def test_huber_delta_beyond_the_dtype(dtype, delta):
    # torch's clamp refused such a bound ("value cannot be converted ... without overflow");
    # F.huber_loss returns a value: every residual is inside delta, so the loss is 0.5 r^2.
    r = torch.tensor([0.5, -3.0, 200.0, 0.0], dtype=dtype)
    h = lossviz.get_loss("huber")
    want = F.huber_loss(r, torch.zeros_like(r), reduction="none", delta=delta)
    torch.testing.assert_close(h.value(r, torch.zeros((), dtype=dtype), delta=delta), want)
    torch.testing.assert_close(h.grad(r, torch.zeros((), dtype=dtype), delta=delta), r)
    s = lossviz.get_loss("smooth_l1")  # the same for smooth_l1's beta: 0.5 r^2 / beta
    want = F.smooth_l1_loss(r.double(), torch.zeros(4, dtype=torch.float64), reduction="none", beta=delta).to(dtype)
    torch.testing.assert_close(s.value(r, torch.zeros((), dtype=dtype), beta=delta), want)


def test_parameter_too_large_for_any_float():
    with pytest.raises(ValueError, match=r"huber\.delta .*fit in a float"):
        lossviz.get_loss("huber").value(torch.zeros(2), torch.zeros(2), delta=10**400)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16])
def test_softmax_tiny_temperature_is_the_argmax(dtype):
    sm = lossviz.get_activation("softmax")
    x = torch.tensor([[1.0, 2.0, 0.5], [3.0, 3.0, -1.0]], dtype=dtype)
    s = sm.value(x, temperature=1e-300)
    # As T -> 0 softmax(x / T) tends to the one-hot argmax; tied maxima share.
    torch.testing.assert_close(s, torch.tensor([[0.0, 1.0, 0.0], [0.5, 0.5, 0.0]], dtype=dtype))
    jac = sm.grad(x, temperature=1e-300)
    assert not torch.isnan(jac).any()
    assert torch.equal(jac[0], torch.zeros(3, 3, dtype=dtype))  # one-hot: the Jacobian is 0


def test_softmax_of_empty_tensors():
    sm = lossviz.get_activation("softmax")
    for shape in [(0,), (3, 0), (0, 4)]:
        x = torch.empty(shape)
        assert sm.value(x).shape == F.softmax(x, -1).shape
        assert sm.grad(x).shape == (*shape, shape[-1])


@pytest.mark.parametrize("name", CLASSIFICATION)
def test_classification_logits_need_a_class_dimension(name):
    spec = lossviz.get_loss(name)
    for fn in (spec.value, spec.grad):
        with pytest.raises(ValueError, match="logits must have a last dimension"):
            fn(torch.tensor(1.0), torch.tensor(0))
        with pytest.raises(ValueError, match="logits must have at least one class"):
            fn(torch.empty(2, 0), torch.zeros(2, dtype=torch.long))
        with pytest.raises(ValueError, match="target must be class indices"):
            fn(torch.zeros(2, 3), torch.tensor([True, False]))
        with pytest.raises(ValueError, match="logits must be real"):
            fn(torch.zeros(2, 3, dtype=torch.complex64), torch.tensor([0, 1]))


@pytest.mark.parametrize("name", CLASSIFICATION)
def test_integer_logits_are_promoted(name):
    # F.cross_entropy refuses integer logits (NotImplementedError); lossviz promotes them to the
    # default float dtype, as torch.sigmoid does, and says so in its docstring.
    spec = lossviz.get_loss(name)
    o, y = torch.tensor([[2, 0, -1], [0, 5, 1]]), torch.tensor([0, 2])
    torch.testing.assert_close(spec.value(o, y), spec.value(o.float(), y))
    torch.testing.assert_close(spec.grad(o, y), spec.grad(o.float(), y))
    torch.testing.assert_close(spec.value(o.tolist(), y.tolist()), spec.value(o.float(), y))  # Python lists


@pytest.mark.parametrize("name", NAMES)
def test_numpy_numbers_accepted_as_parameters(name):
    spec = lossviz.get(name)
    x = torch.linspace(-2, 2, 12, dtype=torch.float64).reshape(3, 4)
    for p in spec.params:
        base = _evaluate(name, x, **{p.name: p.default})
        for kind in (np.float32, np.float64, lambda v: torch.tensor(v)):
            value = kind(p.default)
            assert spec.param(p.name).validate(value) == pytest.approx(p.default, rel=1e-7)
            got = _evaluate(name, x, **{p.name: value})
            for a, b in zip(got, base):
                torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("name", NAMES)
def test_bad_parameters_name_the_argument(name):
    spec = lossviz.get(name)
    x = torch.zeros(2, 3)
    for p in spec.params:
        bad = [float("nan"), "0.5", None, True, 10**400, np.bool_(True)]
        if math.isfinite(p.low):
            bad.append(p.low - 1)
        if math.isfinite(p.high):
            bad.append(p.high + 1)
        for value in bad:
            with pytest.raises(ValueError, match=rf"{name}\.{p.name}"):
                _evaluate(name, x, **{p.name: value})


@pytest.mark.parametrize("name, param, value, dtype, message", [
    ("general", "scale", 1e-50, torch.float32, "rounds to 0 in torch.float32"),
    ("general", "scale", 1e-8, torch.float16, "rounds to 0 in torch.float16"),  # float16 stops at 6e-8
    ("quantile", "tau", 1e-50, torch.float32, "rounds to 0"),
    ("hinge", "margin", 1e39, torch.float32, "overflows torch.float32"),
    ("focal", "gamma", 1e5, torch.float16, "overflows torch.float16"),
    ("silu", "beta", 1e39, torch.float32, "overflows torch.float32"),
])
def test_parameters_checked_for_the_dtype_at_hand(name, param, value, dtype, message):
    x = torch.linspace(-2, 2, 6).reshape(2, 3)
    with pytest.raises(ValueError, match=rf"{name}\.{param}=.*{message}"):
        _evaluate(name, x.to(dtype), **{param: value})
    # The same value is fine where the dtype holds it.
    for out in _evaluate(name, x.double(), **{param: value}):
        assert not torch.isnan(out).any()


# --- what torch accepts, lossviz accepts ------------------------------------------------------


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@pytest.mark.parametrize("name", NAMES)
def test_zero_dim_empty_and_numpy_inputs(name, dtype):
    spec = lossviz.get(name)
    vector = isinstance(spec, lossviz.LossSpec) and spec.kind == "classification" or getattr(spec, "kind", "") == "vector"
    # 0-dim input (one row of logits with a 0-dim class target for classification losses).
    x = torch.tensor([0.3, -1.2, 2.0], dtype=dtype) if vector else torch.tensor(0.3, dtype=dtype)
    for out in _evaluate(name, x):
        assert out.dtype == dtype and torch.isfinite(out).all()
    value, _ = _evaluate(name, x)
    if isinstance(spec, lossviz.LossSpec):
        assert value.shape == ()
    # Empty input: empty output, as torch's functions give.
    empty = torch.empty((0, 3) if vector else (0,), dtype=dtype)
    for out in _evaluate(name, empty):
        assert out.numel() == 0
    # numpy arrays and numpy scalars as inputs.
    arr = np.array([[0.3, -1.2, 2.0]], dtype=np.float32)
    for out in _evaluate(name, torch.as_tensor(arr)):
        assert torch.isfinite(out).all()
    if isinstance(spec, lossviz.LossSpec):
        pred = arr if vector else np.float32(0.3)
        target = np.int64(1) if vector else np.float64(0.5)
        assert torch.isfinite(spec.value(pred, target)).all()
    else:
        assert torch.isfinite(spec.value(arr if vector else np.float32(0.3))).all()


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_finite_wherever_the_math_is_finite(name, data):
    """Property over parameters and dtypes: on inputs up to +-1e4, the result is finite in
    every float dtype wherever the float64 result (on the same rounded inputs) is finite and
    fits the dtype; in float32 it also agrees with float64."""
    spec = lossviz.get(name)
    params = data.draw(param_strategy(spec), label="params")
    dtype = data.draw(st.sampled_from(FLOAT_DTYPES), label="dtype")
    values = data.draw(st.lists(st.floats(-1e4, 1e4), min_size=2, max_size=8), label="x")
    x = torch.tensor(values, dtype=dtype)
    if not (isinstance(spec, lossviz.ActivationSpec) and spec.kind == "elementwise") and not (
            isinstance(spec, lossviz.LossSpec) and spec.kind == "regression"):
        x = x[None]  # one row of logits
    got = _evaluate(name, x, **params)
    # The reference sees the same rounded inputs and parameters (a margin of 1e-281 is 0 in
    # float32: at a kink that changes the gradient, rightly).
    rounded = {k: torch.tensor(v, dtype=dtype).item() for k, v in params.items()}
    want = _evaluate(name, x.double(), **rounded)
    limit = torch.finfo(dtype).max / 4
    for g, w, what in zip(got, want, ("value", "grad")):
        assert g.dtype == dtype
        fits = torch.isfinite(w) & (w.abs() < limit)
        assert torch.isfinite(g[fits]).all(), (what, g, w)
        if dtype == torch.float32:
            size = 1 + x.double().abs().max().item() ** 2  # L2's gradient grows like x, its value like x^2
            torch.testing.assert_close(g.double()[fits], w[fits], rtol=1e-4, atol=1e-6 * size)
