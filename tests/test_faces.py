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
    params=(Param("width", 1.0, 0.0, math.inf, "divides the loss", low_open=True, high_open=True),),
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


def _field(schema, key):
    return next((f for f in schema if f.key == key), None)


def test_registered_entry_reaches_the_explorer_menus(toys):
    from lossviz.explorer.pages import activations as act_page
    from lossviz.explorer.pages import losses as loss_page

    assert "toy_cubic" in _field(loss_page.schema(), "losses").options
    assert _field(loss_page.schema(), "toy_cubic.width") is not None
    assert "toy_square" in _field(act_page.schema(), "activations").options


def _draw(page, **values):
    from lossviz.explorer import state

    v = {**state.defaults(page.schema()), **values}
    notes = []
    fig, _note, _formulas = page.compute(v, notes)
    return fig, notes


def test_every_entry_in_the_explorer_menus_draws():
    """The Losses and Activations pages list every regression loss / elementwise activation,
    each with its sliders, and draw each at its defaults without a message."""
    from lossviz.explorer.pages import activations as act_page
    from lossviz.explorer.pages import losses as loss_page

    regression = [n for n in lossviz.losses() if lossviz.get_loss(n).kind == "regression"]
    assert list(_field(loss_page.schema(), "losses").options) == regression
    for name in regression:
        for normalized in (False, True):
            fig, notes = _draw(loss_page, losses=[name], normalized=normalized)
            assert notes == [] and len(fig["data"]) == 3, (name, notes)
    elementwise = [n for n in lossviz.activations() if lossviz.get_activation(n).kind == "elementwise"]
    assert list(_field(act_page.schema(), "activations").options) == elementwise
    fig, notes = _draw(act_page, activations=elementwise)
    assert notes == [] and len([t for t in fig["data"] if t.get("meta")]) >= 2 * len(elementwise)


def test_explorer_says_why_there_is_no_density_below_alpha_zero():
    """Barron's loss has no density for α < 0: its density panel is empty with a note naming why,
    and its loss and gradient panels are drawn as usual (issue 23, bug 6: all three were blank)."""
    import numpy as np

    from lossviz.explorer import create_app, figures
    from lossviz.explorer.pages import losses as loss_page

    fig, notes = _draw(loss_page, losses=["general"], **{"general.alpha": -2.0, "normalized": True})
    assert len(notes) == 1 and "no density" in notes[0] and "general" in notes[0]
    by_key = {t["meta"][1]: figures.decode(t["y"]) for t in fig["data"]}
    assert np.isnan(by_key["likelihood"]).all() and np.isfinite(by_key["value"]).all() and np.isfinite(by_key["grad"]).all()
    fig, notes = _draw(loss_page, losses=["general"], **{"general.alpha": -2.0, "normalized": False})
    assert notes == []
    # Through the server's settling callback: the reason is the page's message, not an internal error.
    app = create_app()
    key = next(k for k, cb in app.callback_map.items() if cb.get("callback") is not None and k.startswith("..losses-state.data"))
    cb = app.callback_map[key]
    from lossviz.explorer import controls, state

    values = {**state.defaults(loss_page.schema()), "losses": ["general"], "general.alpha": -2.0, "normalized": True}
    ids = {controls.safe_id("losses", f.key): f.key for f in loss_page.schema()}
    inputs = []
    for d in cb["inputs"]:
        k = ids.get(d["id"].removesuffix("-num")) if d["id"] != "present" else "present"
        inputs.append({**d, "value": values[k] if k else None})
    body = {"output": key, "outputs": [{"id": o.rsplit(".", 1)[0], "property": o.rsplit(".", 1)[1]} for o in key.strip(".").split("...")],
            "inputs": inputs, "state": [{**d, "value": None} for d in cb["state"]], "changedPropIds": ["losses-general-alpha.value"]}
    r = app.server.test_client().post("/_dash-update-component", json=body)
    msg = str(r.get_json()["response"]["losses-message"]["children"])
    assert r.status_code == 200 and "no density" in msg and "internal error" not in msg


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
                 "--threads", "1", "--figures", "none", "--out", str(out)]) == 0
    config, metrics = runs.read_run(out)
    assert config.loss_params["toy_cubic"] == {"width": 2.0} and config.activation == "toy_square"
    assert {r.loss for r in metrics} == {"cross_entropy", "toy_cubic"} and all(r.status == "ok" for r in metrics)
    assert "toy_cubic" in train.TrainConfig(losses=("toy_cubic",)).validate().losses
