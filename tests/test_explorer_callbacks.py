"""Explorer callbacks called as plain functions: inputs -> figure data = the library's values."""

from __future__ import annotations

import socket
import subprocess
import sys

import dash
import numpy as np
import pytest
import torch

import lossviz
from lossviz.explorer import create_app, state
from lossviz.explorer.pages import activations, losses, softmax


def trace(fig, name, key):
    return next(t for t in fig.data if t.meta == (name, key) or t.meta == [name, key])


def test_app_factory_registers_every_page_twice_safely():
    a, b = create_app(), create_app()
    assert len(a.callback_map) == len(b.callback_map) > 0


def test_losses_callback_values():
    delta_index = [i for i, (n, p) in enumerate(losses.params()) if (n, p.name) == ("huber", "delta")][0]
    values = [p.default for _, p in losses.params()]
    values[delta_index] = 0.7
    fig, msg, formulas = losses.update(["l1", "huber"], 0.5, [-4, 4], ["on"], *values)
    assert msg == "" and "clip" in formulas
    x = torch.as_tensor(np.asarray(trace(fig, "huber", "value").x), dtype=torch.float64)
    y = torch.tensor(0.5, dtype=torch.float64)
    spec = lossviz.get_loss("huber")
    np.testing.assert_allclose(trace(fig, "huber", "value").y, spec.value(x, y, delta=0.7).numpy())
    np.testing.assert_allclose(trace(fig, "huber", "grad").y, spec.grad(x, y, delta=0.7).numpy())
    np.testing.assert_allclose(trace(fig, "huber", "likelihood").y, spec.likelihood(x, y, normalized=True, delta=0.7).numpy())
    assert len(x) == losses.N_POINTS


@pytest.mark.parametrize("bad", [
    dict(chosen=[]), dict(y=None), dict(y=float("nan")), dict(y="abc"), dict(y=1e9), dict(x_range=[1, 1]), dict(x_range=None),
])
def test_losses_callback_bad_input_keeps_last_figure(bad):
    args = dict(chosen=["l2"], y=0.0, x_range=[-3, 3], normalized=[])
    args.update(bad)
    fig, msg, formulas = losses.update(args["chosen"], args["y"], args["x_range"], args["normalized"], *[p.default for _, p in losses.params()])
    assert fig is dash.no_update and msg


def test_bad_parameter_values_are_refused():
    values = [float("nan") for _ in losses.params()]
    fig, msg, _ = losses.update(["huber"], 0.0, [-3, 3], [], *values)
    assert fig is dash.no_update and "huber.delta" in msg


def test_activations_callback_and_vanishing_shading():
    values = [0.1 if (n, p.name) == ("prelu", "alpha") else p.default for n, p in activations.params()]
    fig, msg, _ = activations.update(["prelu", "sigmoid"], [-8, 8], ["on"], *values)
    x = torch.as_tensor(np.asarray(trace(fig, "prelu", "grad").x), dtype=torch.float64)
    np.testing.assert_allclose(trace(fig, "prelu", "grad").y, lossviz.get_activation("prelu").grad(x, alpha=0.1).numpy())
    # Sigmoid's derivative is below 0.01 for |x| > ~4.6: two shaded bands.
    shaded = [(s.x0, s.x1) for s in fig.layout.shapes]
    assert any(x1 < -4.5 for _, x1 in shaded) and any(x0 > 4.5 for x0, _ in shaded)


def test_vanishing_intervals_are_the_runs_below_threshold():
    from lossviz.plot_plotly import vanishing_intervals

    x = np.arange(8.0)
    assert vanishing_intervals(x, np.array([0, 0, 1, 1, 0, 1, 0, 0.0]), 0.5) == [(0.0, 1.0), (4.0, 4.0), (6.0, 7.0)]
    assert vanishing_intervals(x, np.ones(8), 0.5) == []


def test_softmax_callback():
    logits = [2.0, 1.0, 0.1] + [0.0] * 7
    fig, msg, text, overflow = softmax.update(3, 2.0, 1, 0, *logits)
    probs = next(t for t in fig.data if t.meta == "probs").y
    want = torch.softmax(torch.tensor([2.0, 1.0, 0.1], dtype=torch.float64) / 2.0, -1)
    np.testing.assert_allclose(probs, want.numpy())
    grad = next(t for t in fig.data if t.meta == "grad").y
    np.testing.assert_allclose(grad, (want - torch.tensor([0.0, 1.0, 0.0], dtype=torch.float64)).numpy(), atol=1e-12)
    assert "naive" in text
    # Out-of-range class or temperature: refused with a message.
    assert softmax.update(3, 1.0, 5, 0, *logits)[1]
    assert softmax.update(3, 0.0, 0, 0, *logits)[1]


def test_url_round_trip():
    q = state.to_query({"losses": ["l1", "huber"], "huber.delta": 0.5, "y": 1.0}, hide=["y"])
    parsed = state.parse_query(q)
    assert parsed == {"losses": "l1,huber", "huber.delta": "0.5", "y": "1", "_hide": "y"}
    assert state.hidden(parsed) == {"y"}
    assert state.number("nan", 1.0, 0, 2) == 1.0 and state.number("7", 1.0, 0, 2) == 2
    assert state.names("l1,bogus", ["l1", "l2"], ["l2"]) == ["l1"]


def test_explore_port_in_use_one_line_exit_2():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        res = subprocess.run([sys.executable, "-m", "lossviz.cli", "explore", "--port", str(port)], capture_output=True, text=True, timeout=60)
    assert res.returncode == 2
    assert len(res.stderr.strip().splitlines()) == 1 and "cannot listen" in res.stderr


def test_explore_bad_host():
    res = subprocess.run([sys.executable, "-m", "lossviz.cli", "explore", "--host", "not a host"], capture_output=True, text=True, timeout=60)
    assert res.returncode == 2 and "--host" in res.stderr


def test_explore_defaults_are_safe():
    from lossviz.cli import build_parser

    args = build_parser().parse_args(["explore"])
    assert args.host == "127.0.0.1" and args.debug is False and args.port == 8050
