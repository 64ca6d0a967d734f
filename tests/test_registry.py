"""The registry: lookups, errors, parameter validation, import cost."""

from __future__ import annotations

import math
import subprocess
import sys

import pytest
import torch

import lossviz
from lossviz.presentation import slider

NINE = ["l1", "l2", "huber", "cross_entropy", "relu", "prelu", "sigmoid", "tanh", "softmax"]
# Issue 15's additions (the tanh approximation of GELU and the Weston-Watkins hinge are entries of their own).
ISSUE_15 = ["hinge", "hinge_ww", "focal", "gce", "log_cosh", "smooth_l1", "quantile", "general",
            "leaky_relu", "elu", "gelu", "gelu_tanh", "silu", "softplus", "mish"]


def test_all_registered():
    assert set(lossviz.losses()) | set(lossviz.activations()) >= set(NINE + ISSUE_15)
    assert not set(lossviz.losses()) & set(lossviz.activations()), "names must be unique across both"


@pytest.mark.parametrize("name", lossviz.losses() + lossviz.activations())
def test_spec_fields(name):
    spec = lossviz.get(name)
    assert spec.name == name and spec.title and spec.summary
    assert spec.formula.value and spec.formula.grad
    for p in spec.params:
        assert p.description
        lo, hi, _ = slider(name, p.name)
        assert math.isfinite(lo) and math.isfinite(hi) and lo < hi
        assert p.validate(p.default) == p.default
        assert p.validate(lo) == lo and p.validate(hi) == hi


def test_unknown_names_list_valid_ones():
    with pytest.raises(ValueError, match="unknown loss 'mse'.*l1, l2, huber, .*cross_entropy"):
        lossviz.get_loss("mse")
    with pytest.raises(ValueError, match="unknown activation 'swishy'.*relu, prelu, sigmoid, tanh, softmax"):
        lossviz.get_activation("swishy")
    with pytest.raises(ValueError, match="valid names"):
        lossviz.get_loss(None)


@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan"), float("inf"), "1", True, None])
def test_bad_delta(bad):
    spec = lossviz.get_loss("huber")
    with pytest.raises(ValueError, match=r"huber\.delta.*\(0, inf\)"):
        spec.value(torch.zeros(2), torch.zeros(2), delta=bad)


@pytest.mark.parametrize("bad", [0.0, -0.5, float("nan")])
def test_bad_temperature(bad):
    with pytest.raises(ValueError, match=r"softmax\.temperature.*\(0, inf\)"):
        lossviz.get_activation("softmax").value(torch.zeros(3), temperature=bad)


def test_bad_alpha_and_unknown_param():
    with pytest.raises(ValueError, match=r"prelu\.alpha"):
        lossviz.get_activation("prelu").value(torch.zeros(3), alpha=float("nan"))
    with pytest.raises(ValueError, match="has no parameter 'delta'.*valid parameters: none"):
        lossviz.get_loss("l2").value(torch.zeros(1), torch.zeros(1), delta=1.0)


def test_hyperparameters_are_keyword_only():
    from lossviz.numerics.regression import huber

    with pytest.raises(TypeError):
        huber(torch.zeros(1), torch.zeros(1), 2.0)  # type: ignore[misc]


def test_spec_accepts_python_numbers():
    out = lossviz.get_loss("huber").value([0.5, 3.0], 0.0, delta=1.0)
    torch.testing.assert_close(out, torch.tensor([0.125, 2.5]))


def test_import_is_light():
    code = (
        "import sys, lossviz; heavy = [m for m in ('dash', 'plotly', 'matplotlib') if m in sys.modules];"
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
