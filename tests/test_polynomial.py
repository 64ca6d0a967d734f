"""d2l 4.4-4.5's polynomial fitting (lossviz.capacity, re-exported by lossviz.toy): the published
cubic, under- and overfitting, weight decay, determinism, argument checks, and the figures."""

from __future__ import annotations

import numpy as np
import pytest

from lossviz import capacity, toy

# d2l 4.4 (PyTorch), "Third-Order Polynomial Function Fitting (Normal)": weight [[ 4.99, 1.21, -3.39, 5.58]]
D2L_CUBIC = [4.99, 1.21, -3.39, 5.58]


def test_toy_reexports_polynomial_fit():
    assert toy.polynomial_fit is capacity.polynomial_fit and toy.capacity_curve is capacity.capacity_curve


def test_degree_3_recovers_the_true_weights():
    fit = toy.polynomial_fit(3)
    assert fit.weights.shape == (4,) and len(fit.train_loss) == len(fit.test_loss) == 400
    np.testing.assert_allclose(fit.weights, capacity.TRUE_WEIGHTS, atol=0.15)
    np.testing.assert_allclose(fit.weights, D2L_CUBIC, atol=0.15)
    assert fit.train_loss[-1] < 0.02 and fit.test_loss[-1] < 0.02  # the noise: 0.1^2 = 0.01


def test_degree_1_underfits():
    line, cubic = toy.polynomial_fit(1), toy.polynomial_fit(3)
    assert line.weights.shape == (2,)
    assert line.train_loss[-1] > 1.0 and line.train_loss[-1] > 50 * cubic.train_loss[-1]


def test_degree_20_on_d2ls_100_points_overfits_and_weight_decay_narrows_the_gap():
    # d2l's data and settings (100 + 100 points, 400 epochs, seed 0): 21 weights are too many for
    # 100 points, the cubic's 4 are not
    cubic, plain = toy.polynomial_fit(3), toy.polynomial_fit(20)
    decayed, heavy = toy.polynomial_fit(20, weight_decay=0.01), toy.polynomial_fit(20, weight_decay=1.0)
    assert plain.weights.shape == (21,)
    gap, decayed_gap = plain.test_loss[-1] - plain.train_loss[-1], decayed.test_loss[-1] - decayed.train_loss[-1]
    assert plain.test_loss[-1] > 10 * plain.train_loss[-1]  # overfits (measured 32x)
    assert cubic.test_loss[-1] < 1.5 * cubic.train_loss[-1]  # the right capacity does not
    assert 0 < decayed_gap < 0.3 * gap and decayed.test_loss[-1] < 0.5 * plain.test_loss[-1]
    assert decayed.train_loss[-1] > plain.train_loss[-1]  # decay costs training fit
    # too much decay underfits: the train loss itself climbs far above the noise (0.01)
    assert heavy.train_loss[-1] > 10 * plain.train_loss[-1] and heavy.test_loss[-1] > plain.test_loss[-1]


def test_weight_decay_narrows_the_gap_where_the_fit_overfits_most():
    # seeds 0 and 2 are the two of 0-15 where degree 20 overfits by > 20x; lambda 0.01 cuts the
    # gap and the test loss on both (on milder cases it need not: docs/playground.md)
    for seed in (0, 2):
        plain, decayed = toy.polynomial_fit(20, seed=seed), toy.polynomial_fit(20, seed=seed, weight_decay=0.01)
        assert plain.test_loss[-1] > 20 * plain.train_loss[-1]
        assert decayed.test_loss[-1] - decayed.train_loss[-1] < 0.3 * (plain.test_loss[-1] - plain.train_loss[-1])


def test_weight_decay_leaves_the_constant_alone():
    # lambda only on w_1..w_d: a huge lambda drives them to 0 and leaves the constant at the mean of y
    fit = toy.polynomial_fit(2, weight_decay=50.0, epochs=300, seed=1)
    assert np.abs(fit.weights[1:]).max() < 0.2
    assert abs(fit.weights[0] - fit.y_train.mean()) < 0.2


def test_determined_by_the_seed():
    a, b, c = toy.polynomial_fit(5, n_train=30, epochs=50), toy.polynomial_fit(5, n_train=30, epochs=50), \
        toy.polynomial_fit(5, n_train=30, epochs=50, seed=1)
    np.testing.assert_array_equal(a.weights, b.weights)
    assert a.train_loss == b.train_loss and a.test_loss == b.test_loss
    assert not np.array_equal(a.weights, c.weights)
    # the test set does not depend on n_train, nor the data on the degree
    d = toy.polynomial_fit(2, n_train=7, epochs=1)
    np.testing.assert_array_equal(a.x_test, d.x_test)
    np.testing.assert_array_equal(a.x_train[:7], d.x_train)


def test_view_arrays():
    fit = toy.polynomial_fit(3, epochs=50)
    c = fit.curve(points=11, span=(-2.0, 2.0))
    assert c["x"].shape == c["fit"].shape == c["true"].shape == (11,)
    np.testing.assert_allclose(c["true"], 5 + 1.2 * c["x"] - 3.4 * c["x"] ** 2 / 2 + 5.6 * c["x"] ** 3 / 6)
    np.testing.assert_allclose(fit.predict(c["x"]), c["fit"])
    mse = np.mean((fit.predict(fit.x_train) - fit.y_train) ** 2)
    assert mse == pytest.approx(fit.train_loss[-1], rel=1e-9)
    assert list(fit.true_weights) == [5.0, 1.2, -3.4, 5.6]
    assert len(toy.polynomial_fit(6, epochs=1).true_weights) == 7


def test_capacity_curve_is_the_fits_final_losses():
    curve = toy.capacity_curve([1, 3, 8], n_train=30, epochs=100)
    assert curve.degrees == (1, 3, 8) and curve.train_loss.shape == curve.test_loss.shape == (3,)
    # trained together as one weight matrix: equal to the one-at-a-time fits to rounding
    fits = [toy.polynomial_fit(d, n_train=30, epochs=100) for d in (1, 3, 8)]
    np.testing.assert_allclose(curve.train_loss, [f.train_loss[-1] for f in fits], rtol=1e-12)
    np.testing.assert_allclose(curve.test_loss, [f.test_loss[-1] for f in fits], rtol=1e-12)
    assert curve.n_train == 30 and curve.epochs == 100 and curve.weight_decay == 0.0
    assert curve.train_loss[0] > curve.train_loss[1]  # the line underfits (100 epochs: the cubic not yet converged)


@pytest.mark.parametrize("kwargs, name", [
    ({"degree": 0}, "degree"), ({"degree": 21}, "degree"), ({"degree": 2.5}, "degree"), ({"degree": "3"}, "degree"),
    ({"degree": True}, "degree"), ({"n_train": 0}, "n_train"), ({"n_train": 10_001}, "n_train"),
    ({"n_test": 0}, "n_test"), ({"weight_decay": -0.1}, "weight_decay"), ({"weight_decay": float("nan")}, "weight_decay"),
    ({"epochs": 0}, "epochs"), ({"epochs": 10_001}, "epochs"), ({"lr": 0.0}, "lr"), ({"lr": float("inf")}, "lr"),
    ({"batch_size": 0}, "batch_size"), ({"seed": -1}, "seed"),
])
def test_bad_arguments_name_themselves(kwargs, name):
    kwargs = {"degree": 3, **kwargs}
    with pytest.raises(ValueError, match=name):
        toy.polynomial_fit(kwargs.pop("degree"), **kwargs)


def test_capacity_curve_checks_degrees():
    with pytest.raises(ValueError, match="degree"):
        toy.capacity_curve([1, 25])
    with pytest.raises(ValueError, match="degrees"):
        toy.capacity_curve([])


def test_figures_draw_the_fits():
    from lossviz import plot_capacity

    curve = toy.capacity_curve([1, 2, 3], n_train=20, epochs=30)
    fig = plot_capacity.capacity_figure({"20 points": curve})
    lines = {l.get_gid(): l for l in fig.axes[0].get_lines()}
    np.testing.assert_array_equal(lines["test-20 points"].get_ydata(), curve.test_loss)
    np.testing.assert_array_equal(lines["train-20 points"].get_xdata(), [1, 2, 3])
    assert fig.axes[0].get_yscale() == "log"

    a, b = toy.polynomial_fit(3, n_train=20, epochs=30), toy.polynomial_fit(3, n_train=20, epochs=30, weight_decay=0.1)
    fig = plot_capacity.loss_curves_figure({3: (a, b)})
    lines = {l.get_gid(): l for l in fig.axes[0].get_lines()}
    np.testing.assert_array_equal(lines["train-3-lambda=0"].get_ydata(), a.train_loss)
    np.testing.assert_array_equal(lines["test-3-lambda=0.1"].get_ydata(), b.test_loss)

    fig = plot_capacity.coefficients_figure({"degree 3": a})
    curve_ax, bar_ax = fig.axes
    fit_line = next(l for l in curve_ax.get_lines() if l.get_gid() == "fit-degree 3")
    np.testing.assert_allclose(fit_line.get_ydata(), a.predict(fit_line.get_xdata()))
    heights = [p.get_height() for c in bar_ax.containers if c.get_label() == "degree 3" for p in c]
    np.testing.assert_array_equal(heights, a.weights)
    true = [p.get_height() for c in bar_ax.containers if c.get_label() == "true" for p in c]
    assert true == [5.0, 1.2, -3.4, 5.6]
