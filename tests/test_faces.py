"""One registered entry reaches every face: `lossviz list`, the figure catalogue, the explorer's
menus and the trainer."""

from __future__ import annotations

import math

import pytest
import torch

import lossviz
from lossviz import registry
from lossviz.spec import ActivationSpec, Formula, LossSpec, Param


def _toy_loss(pred, target, *, width=1.0):
    return (pred - target).abs() ** 3 / width


def _toy_loss_grad(pred, target, *, width=1.0):
    r = pred - target
    return 3 * r * r.abs() / width


TOY_LOSS = LossSpec(
    name="toy_cubic", title="Toy cubic loss", summary="A throwaway entry for this test.",
    formula=Formula(value="|r|^3 / w", grad="3 r |r| / w", mathtext="$|r|^3 / w$"),
    params=(Param("width", 1.0, 0.0, math.inf, "divides the loss", low_open=True, high_open=True, ui_low=0.5, ui_high=2.0),),
    value_fn=_toy_loss, grad_fn=_toy_loss_grad,
)
TOY_ACTIVATION = ActivationSpec(
    name="toy_square", title="Toy square", summary="A throwaway activation for this test.",
    formula=Formula(value="x^2", grad="2x", mathtext="$x^2$"),
    value_fn=lambda x: x * x, grad_fn=lambda x: 2 * x,
)


@pytest.fixture
def toys(monkeypatch):
    monkeypatch.setitem(registry._LOSSES, TOY_LOSS.name, TOY_LOSS)
    monkeypatch.setitem(registry._ACTIVATIONS, TOY_ACTIVATION.name, TOY_ACTIVATION)
    yield


def _find(component, cid):
    if getattr(component, "id", None) == cid:
        return component
    children = getattr(component, "children", None)
    for child in children if isinstance(children, (list, tuple)) else [children] if children is not None else []:
        found = _find(child, cid)
        if found is not None:
            return found
    return None


def test_registered_entry_reaches_list(toys, capsys):
    from lossviz.cli import main

    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "toy_cubic" in out and "--param toy_cubic.width=X" in out and "toy_square" in out


def test_registered_entry_reaches_the_figure_catalogue(toys):
    from lossviz import export

    stems = {e.stem: e for e in export.catalogue()}
    assert {"loss_toy_cubic", "sweep_toy_cubic_width", "activation_toy_square"} <= set(stems)
    fig = stems["loss_toy_cubic"].build()
    line = next(l for ax in fig.axes for l in ax.get_lines() if l.get_gid() == "toy_cubic-value")
    x = torch.as_tensor(line.get_xdata())
    assert line.get_ydata() == pytest.approx((x.abs() ** 3).numpy())
    assert "toy_cubic" in stems["losses_regression"].names


def test_registered_entry_reaches_the_explorer_menus(toys):
    from lossviz.explorer.pages import activations as act_page
    from lossviz.explorer.pages import losses as loss_page

    assert "toy_cubic" in _find(loss_page.layout({}), "losses-names").options
    assert _find(loss_page.layout({}), "losses-param-toy_cubic-width") is not None
    assert "toy_square" in _find(act_page.layout({}), "activations-names").options


def test_every_entry_in_the_explorer_menus_draws():
    """The existing Losses and Activations pages list every regression loss / elementwise
    activation, each with its sliders, and draw each at its defaults without an error."""
    from lossviz.explorer.pages import activations as act_page
    from lossviz.explorer.pages import losses as loss_page

    regression = [n for n in lossviz.losses() if lossviz.get_loss(n).kind == "regression"]
    assert _find(loss_page.layout({}), "losses-names").options == regression
    defaults = [p.default for _, p in loss_page.params()]
    for name in regression:
        for normalized in ([], ["on"]):
            fig, msg, formulas = loss_page.update([name], 0.0, [-3, 3], normalized, *defaults)
            assert msg == "" and len(fig.data) == 3, (name, msg)
    elementwise = [n for n in lossviz.activations() if lossviz.get_activation(n).kind == "elementwise"]
    assert _find(act_page.layout({}), "activations-names").options == elementwise
    act_defaults = [p.default for _, p in act_page.params()]
    fig, msg, _ = act_page.update(elementwise, [-6, 6], ["on"], *act_defaults)
    assert msg == "" and len(fig.data) == 2 * len(elementwise)


def test_explorer_says_why_there_is_no_density_below_alpha_zero():
    from lossviz.explorer.pages import losses as loss_page

    values = [-2.0 if (n, p.name) == ("general", "alpha") else p.default for n, p in loss_page.params()]
    fig, msg, _ = loss_page.update(["general"], 0.0, [-3, 3], ["on"], *values)
    assert "no normalized likelihood" in msg
    fig, msg, _ = loss_page.update(["general"], 0.0, [-3, 3], [], *values)
    assert msg == ""


def test_registered_entry_reaches_the_trainer(toys, tmp_path):
    """The throwaway loss trains side by side (its closed-form gradient, through the CLI's config),
    and the throwaway activation serves as an MLP's hidden activation."""
    from lossviz import train
    from lossviz.cli import main
    from lossviz.train import runs
    from tests.idx import write_fake_fashion_mnist

    data = write_fake_fashion_mnist(tmp_path / "data", n_train=200, n_test=50)
    out = tmp_path / "run"
    assert main(["compare", "--data-root", str(data), "--losses", "cross_entropy,toy_cubic", "--param", "toy_cubic.width=2",
                 "--model", "mlp", "--hidden", "8", "--activation", "toy_square", "--epochs", "1", "--batch-size", "50",
                 "--workers", "1", "--figures", "none", "--out", str(out)]) == 0
    config, metrics = runs.read_run(out)
    assert config.loss_params["toy_cubic"] == {"width": 2.0} and config.activation == "toy_square"
    assert {r.loss for r in metrics} == {"cross_entropy", "toy_cubic"} and all(r.status == "ok" for r in metrics)
    assert "toy_cubic" in train.TrainConfig(losses=("toy_cubic",)).validate().losses
