"""Public registration (issue 25's names): a user's loss or activation, with or without its
gradient, enters the same registry as the built-ins; bad registrations say what is wrong."""

from __future__ import annotations

import importlib
import math
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F

import lossviz
from lossviz import curves, presentation, registry


@pytest.fixture(autouse=True)
def _unregister_what_a_test_registered():
    """Every test leaves the registry as it found it, so tests stay independent of their order."""
    before = set(lossviz.losses()) | set(lossviz.activations())
    yield
    for name in (set(lossviz.losses()) | set(lossviz.activations())) - before:
        registry.unregister(name)


def cubic(pred, target, *, width=1.0):
    return (pred - target).abs() ** 3 / width


def cubic_grad(pred, target, *, width=1.0):
    r = pred - target
    return 3 * r * r.abs() / width


def softsign(x):
    return x / (1 + x.abs())


def softsign_grad(x):
    return 1 / (1 + x.abs()) ** 2


# --- a regression loss ------------------------------------------------------------------------


@pytest.mark.parametrize("with_grad", [True, False])
def test_a_registered_loss_is_listed_and_found(with_grad):
    spec = lossviz.register_loss("cubic", cubic, cubic_grad if with_grad else None, params={"width": (1.0, 0.0, math.inf)})
    assert "cubic" in lossviz.losses() and lossviz.get_loss("cubic") is spec and lossviz.get("cubic") is spec
    assert lossviz.losses()[-1] == "cubic"  # appended: the built-ins keep their order (and colours)
    assert spec.kind == "regression" and spec.grad_source == ("closed form" if with_grad else "autograd")
    assert spec.title.endswith("(autograd)") != with_grad
    pred, target = torch.tensor([-2.0, 0.5, 3.0]), torch.tensor([0.0, 1.0, 1.0])
    torch.testing.assert_close(spec.value(pred, target, width=2.0), torch.tensor([4.0, 0.0625, 4.0]))
    torch.testing.assert_close(spec.grad(pred, target, width=2.0), cubic_grad(pred, target, width=2.0))


def test_autograd_gradient_matches_the_hand_gradient():
    spec = lossviz.register_loss("cubic", cubic, params={"width": (1.0, 0.0, math.inf)})
    torch.manual_seed(0)
    pred = torch.randn(4, 5, dtype=torch.float64) * 3
    for target, width in ((torch.randn(4, 5, dtype=torch.float64), 1.0), (torch.tensor(0.5, dtype=torch.float64), 0.3)):
        torch.testing.assert_close(spec.grad(pred, target, width=width), cubic_grad(pred, target, width=width),
                                   rtol=1e-12, atol=1e-12)
    # A target wider than the prediction: the gradient has the broadcast shape, as the built-ins' has.
    target = torch.zeros(3, 5, dtype=torch.float64)
    assert spec.grad(pred[0], target).shape == (3, 5) == lossviz.get_loss("l2").grad(pred[0], target).shape


def test_autograd_gradient_keeps_the_dtype_and_works_without_grad_mode():
    spec = lossviz.register_loss("cubic", cubic)
    pred = torch.linspace(-2, 2, 9, dtype=torch.float32)
    with torch.no_grad():
        g = spec.grad(pred, torch.zeros(()))
    assert g.dtype == torch.float32 and not g.requires_grad
    torch.testing.assert_close(g, cubic_grad(pred, torch.zeros(())))


def test_a_registered_loss_matches_a_builtin_through_autograd():
    """A student's L2 without a gradient: autograd gives the built-in's closed form."""
    spec = lossviz.register_loss("my_l2", lambda pred, target: 0.5 * (pred - target) ** 2)
    x = torch.linspace(-3, 3, 61, dtype=torch.float64)
    torch.testing.assert_close(spec.grad(x, 0.5), lossviz.get_loss("l2").grad(x, 0.5))


def test_registered_params_are_validated_like_the_builtins():
    spec = lossviz.register_loss("cubic", cubic, params={"width": (1.0, 0.0, math.inf)})
    width = spec.param("width")
    assert (width.default, width.low, width.high, width.high_open) == (1.0, 0.0, math.inf, True)
    with pytest.raises(ValueError, match=r"cubic\.width must be a number in \[0, inf\)"):
        spec.value(torch.zeros(2), torch.zeros(2), width=-1.0)
    with pytest.raises(ValueError, match="has no parameter 'depth'"):
        spec.value(torch.zeros(2), torch.zeros(2), depth=1.0)
    as_param = lossviz.Param("width", 2.0, 0.5, 4.0, "divides the loss")
    assert lossviz.register_loss("cubic2", cubic, params={"width": as_param}).param("width") is as_param


def test_a_registered_loss_reaches_the_curves_and_gets_a_slider():
    lossviz.register_loss("cubic", cubic, params={"width": (1.0, 0.0, math.inf)},
                          likelihood=lambda width=1.0: math.log(2 * math.gamma(4 / 3) * width ** (1 / 3)))
    c = curves.loss_curve("cubic", {"width": 2.0}, x_range=(-2, 2), n=5, normalized=True)
    assert c.series["value"].tolist() == [4.0, 0.5, 0.0, 0.5, 4.0]
    assert c.series["grad"].tolist() == [-6.0, -1.5, 0.0, 1.5, 6.0]
    # exp(-|r|^3 / w) integrates to 2 Gamma(4/3) w^(1/3): the density at 0 is 1 / Z.
    assert c.series["likelihood"][2] == pytest.approx(1 / (2 * math.gamma(4 / 3) * 2 ** (1 / 3)))
    low, high, step = presentation.slider("cubic", "width")
    assert 0 <= low < 1 < high and math.isfinite(high) and 0 < step <= (high - low) / 10
    values = presentation.sweep("cubic", "width")
    width = lossviz.get_loss("cubic").param("width")
    assert len(values) == 4 and all(width.validate(v) == v for v in values)


# --- a classification loss --------------------------------------------------------------------


def my_cross_entropy(logits, target):
    """-log softmax(o)_y for class indices, written by a student."""
    return torch.logsumexp(logits, -1) - logits.gather(-1, target[..., None])[..., 0]


def test_a_classification_loss_by_autograd_takes_both_target_forms():
    spec = lossviz.register_loss("my_ce", my_cross_entropy, kind="classification")
    ce = lossviz.get_loss("cross_entropy")
    torch.manual_seed(1)
    logits = torch.randn(6, 4, dtype=torch.float64) * 3
    y = torch.tensor([0, 1, 2, 3, 2, 1])
    torch.testing.assert_close(spec.value(logits, y), ce.value(logits, y))
    torch.testing.assert_close(spec.grad(logits, y), ce.grad(logits, y))  # per row, shape (6, 4)
    probs = torch.softmax(torch.randn(6, 4, dtype=torch.float64), -1)
    torch.testing.assert_close(spec.value(logits, probs), ce.value(logits, probs))
    torch.testing.assert_close(spec.grad(logits, probs), ce.grad(logits, probs))
    torch.testing.assert_close(spec.value(logits, F.one_hot(y, 4).double()), spec.value(logits, y))
    with pytest.raises(ValueError, match=r"class targets must lie in \[0, 3\]"):
        spec.value(logits, torch.full((6,), 4))


def test_a_classification_loss_with_its_gradient():
    def grad(logits, target):
        return torch.softmax(logits, -1) - F.one_hot(target, logits.shape[-1]).to(logits.dtype)

    spec = lossviz.register_loss("my_ce", my_cross_entropy, grad, kind="classification")
    logits = torch.tensor([[2.0, -1.0, 0.5]], dtype=torch.float64)
    probs = torch.tensor([[0.2, 0.5, 0.3]], dtype=torch.float64)
    assert spec.grad_source == "closed form"
    torch.testing.assert_close(spec.grad(logits, probs), lossviz.get_loss("cross_entropy").grad(logits, probs))
    c = curves.margin_view([("my_ce", {})], n=5)
    torch.testing.assert_close(torch.as_tensor(c.curves[0].series["value"]),
                               torch.as_tensor(curves.margin_view([("cross_entropy", {})], n=5).curves[0].series["value"]))


# --- an activation ----------------------------------------------------------------------------


@pytest.mark.parametrize("with_grad", [True, False])
def test_a_registered_activation(with_grad):
    spec = lossviz.register_activation("softsign", softsign, softsign_grad if with_grad else None)
    assert lossviz.activations()[-1] == "softsign" and lossviz.get_activation("softsign") is spec
    assert spec.kind == "elementwise" and spec.grad_source == ("closed form" if with_grad else "autograd")
    x = torch.linspace(-5, 5, 101, dtype=torch.float64)
    torch.testing.assert_close(spec.value(x), F.softsign(x))
    torch.testing.assert_close(spec.grad(x), softsign_grad(x), rtol=1e-12, atol=1e-12)
    c = curves.activation_curve("softsign", x_range=(-1, 1), n=3)
    assert c.series["grad"].tolist() == [0.25, 1.0, 0.25]


def test_an_activation_with_a_parameter():
    spec = lossviz.register_activation("scaled_tanh", lambda x, a=1.0: torch.tanh(a * x), params={"a": (1.0, 0.0, 10.0)},
                                       title="Scaled tanh", formula="\\tanh(a x)")
    assert spec.title == "Scaled tanh (autograd)" and spec.formula.value == "\\tanh(a x)"
    x = torch.tensor([0.0, 0.5])
    torch.testing.assert_close(spec.grad(x, a=2.0), 2 / torch.cosh(2 * x) ** 2)
    assert presentation.slider("scaled_tanh", "a") == (0.0, 10.0, 0.1)


# --- bad registrations ------------------------------------------------------------------------


@pytest.mark.parametrize("kwargs, message", [
    (dict(name="huber"), "loss name 'huber' is taken: a loss"),
    (dict(name="relu"), "loss name 'relu' is taken: an activation"),
    (dict(name="2fast"), "must be an identifier"),
    (dict(name="my-loss"), "must be an identifier"),
    (dict(name=""), "must be an identifier"),
    (dict(name=None), "must be an identifier"),
    (dict(value="x ** 2"), "cubic: value must be callable"),
    (dict(grad=3.0), "cubic: grad must be callable"),
    (dict(kind="ranking"), "cubic: unknown kind 'ranking'; valid kinds: regression, classification"),
    (dict(params={"width": (5.0, 0.0, 2.0)}), r"cubic\.width: default 5\.0 is outside the allowed range \[0, 2\]"),
    (dict(params={"width": (1.0, 3.0, 2.0)}), r"cubic\.width: low 3\.0 is above high 2\.0"),
    (dict(params={"width": (1.0, 0.0)}), r"cubic\.width: expected \(default, low, high\)"),
    (dict(params={"width": ("1", 0.0, 2.0)}), r"cubic\.width default must be a number"),
    (dict(params={"width": (math.nan, 0.0, 2.0)}), r"cubic\.width default must be a number"),
    (dict(params={"2w": (1.0, 0.0, 2.0)}), "parameter name must be an identifier"),
    (dict(params={"width": lossviz.Param("depth", 1.0, 0.0, 2.0, "d")}), "is a Param named 'depth'"),
    (dict(params=[("width", 1.0, 0.0, 2.0)]), "params must map each name"),
    (dict(kind="classification", likelihood=lambda: 0.0), "a classification loss takes no likelihood"),
    (dict(likelihood=1.0), r"likelihood \(log Z\) must be callable"),
    (dict(formula=3), "formula must be LaTeX text or a lossviz.Formula"),
])
def test_bad_loss_registrations_say_what_is_wrong(kwargs, message):
    args = {"name": "cubic", "value": cubic, "grad": None, **kwargs}
    n_losses = len(lossviz.losses())
    with pytest.raises(ValueError, match=message):
        lossviz.register_loss(args.pop("name"), args.pop("value"), args.pop("grad"), **args)
    assert len(lossviz.losses()) == n_losses  # nothing half-registered


@pytest.mark.parametrize("kwargs, message", [
    (dict(name="huber"), "activation name 'huber' is taken: a loss"),
    (dict(name="softsign x"), "must be an identifier"),
    (dict(value=None), "softsign: value must be callable"),
    (dict(grad="1"), "softsign: grad must be callable"),
    (dict(params={"a": (-1.0, 0.0, 1.0)}), r"softsign\.a: default -1\.0 is outside"),
])
def test_bad_activation_registrations_say_what_is_wrong(kwargs, message):
    args = {"name": "softsign", "value": softsign, "grad": None, **kwargs}
    with pytest.raises(ValueError, match=message):
        lossviz.register_activation(args.pop("name"), args.pop("value"), args.pop("grad"), **args)
    assert "softsign" not in lossviz.activations()


def test_a_name_is_taken_once_registered():
    lossviz.register_activation("softsign", softsign)
    with pytest.raises(ValueError, match="loss name 'softsign' is taken: an activation"):
        lossviz.register_loss("softsign", cubic)


def test_builtins_pass_through_the_same_checks():
    """The built-ins enter through registry._add, like users' entries: filing one again is refused."""
    with pytest.raises(ValueError, match="loss name 'huber' is taken"):
        registry._add(lossviz.get_loss("huber"))


def test_unregister_is_for_tests_only_and_checks_the_name():
    lossviz.register_loss("cubic", cubic)
    registry.unregister("cubic")
    assert "cubic" not in lossviz.losses()
    with pytest.raises(ValueError, match="unknown loss or activation 'cubic'"):
        registry.unregister("cubic")


# --- module names and imports -----------------------------------------------------------------


def test_the_listing_functions_no_longer_share_a_name_with_modules():
    assert callable(lossviz.losses) and callable(lossviz.activations)
    assert "huber" in lossviz.losses() and "relu" in lossviz.activations()
    assert callable(lossviz.cross_entropy_naive)
    with pytest.raises(ImportError):
        importlib.import_module("lossviz.losses")  # the math is lossviz.numerics now
    importlib.import_module("lossviz.numerics.activations")
    assert callable(lossviz.losses) and callable(lossviz.activations)  # importing the numerics changes nothing


def test_the_registry_imports_nothing_from_the_trainer():
    code = "import sys, lossviz.registry; print(sorted(m for m in sys.modules if m.startswith('lossviz.train')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_models_come_from_the_trainer():
    from lossviz.train import models

    assert lossviz.models() == models.model_names() and lossviz.get_model("mlp") is models.get_model("mlp")
    assert lossviz.ModelSpec is models.ModelSpec
