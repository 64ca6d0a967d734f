"""The playground's library: toy data sets, side-by-side toy training, frames, states."""

from __future__ import annotations

import pytest
import torch

from lossviz import toy


@pytest.mark.parametrize("name", toy.DATASETS)
def test_datasets_sizes_seeds_and_label_noise(name):
    d = toy.points_data(name, 400, noise=0.2, label_noise=0.1, train_fraction=0.6, seed=3)
    assert d.x_train.shape == (240, 2) and d.x_test.shape == (160, 2)
    assert set(d.y_train.unique().tolist()) <= {0, 1} and d.y_test.float().mean().item() == pytest.approx(0.5, abs=0.15)
    assert d.flipped.sum().item() == 24  # exactly 10 % of the training labels
    assert (d.x_train.abs() <= toy.DOMAIN).all()
    again = toy.points_data(name, 400, noise=0.2, label_noise=0.1, train_fraction=0.6, seed=3)
    assert torch.equal(d.x_train, again.x_train) and torch.equal(d.y_train, again.y_train)
    other = toy.points_data(name, 400, noise=0.2, label_noise=0.1, train_fraction=0.6, seed=4)
    assert not torch.equal(d.x_train, other.x_train)
    clean = toy.points_data(name, 400, noise=0.2, label_noise=0.0, train_fraction=0.6, seed=3)
    assert torch.equal(clean.y_train[d.flipped], 1 - d.y_train[d.flipped])  # the flipped ones, and only they


def test_line_data_outliers_realised():
    d = toy.line_data(50, slope=2.0, intercept=1.0, noise=0.0, outlier_frac=0.2, outlier_size=5.0, seed=1)
    assert d.outlier.sum().item() == 10
    assert torch.allclose(d.y[~d.outlier], 2 * d.x[~d.outlier] + 1)
    assert torch.allclose(d.y[d.outlier], 2 * d.x[d.outlier] + 1 - 5)
    assert d.x[d.outlier].min() >= d.x[~d.outlier].max()  # the right end: points of high leverage


def test_wave_data_and_its_scattered_outliers():
    d = toy.line_data(60, noise=0.0, outlier_frac=0.2, outlier_size=5.0, seed=2, shape="wave")
    clean = d.x + 2 * torch.sin(1.2 * d.x)
    assert torch.allclose(d.clean(d.x), clean)
    assert torch.allclose(d.y[~d.outlier], clean[~d.outlier]) and torch.allclose(d.y[d.outlier], clean[d.outlier] - 5)
    assert d.outlier.sum().item() == 12
    right_end = torch.argsort(d.x, descending=True)[:12]
    assert not d.outlier[right_end].all()  # drawn at random, not the block at the right end of a line
    with pytest.raises(ValueError, match="unknown shape"):
        toy.line_data(10, shape="zigzag")


def test_mlp_fits_the_wave_and_robust_losses_ignore_the_outliers():
    """A line cannot follow the wave; a small MLP can. With scattered outliers, the MLPs trained
    with L1 and Huber end near the clean curve, L2's is pulled down towards the outliers."""
    d = toy.line_data(40, noise=0.3, outlier_frac=0.15, outlier_size=6.0, seed=0, shape="wave")
    mlp = toy.regression_setup(d, ("l2", "l1", "huber"), hidden=toy.REGRESSION_MLP, activation="tanh", lr=0.05)
    err = dict(zip(("l2", "l1", "huber"), toy.regression_frame(mlp, toy.advance(mlp, mlp.new_state(), 3000))["error"]))
    assert err["l1"] < 0.6 * err["l2"] and err["huber"] < 0.6 * err["l2"] and err["l1"] < 0.5
    line = toy.regression_setup(d, ("l1",), lr=0.05)
    line_err = toy.regression_frame(line, toy.advance(line, line.new_state(), 3000))["error"][0]
    assert err["l1"] < 0.5 * line_err


@pytest.mark.parametrize("bad", [dict(n=1), dict(noise=-1), dict(outlier_frac=0.9), dict(n=float("nan")), dict(seed="x")])
def test_line_data_validates(bad):
    with pytest.raises(ValueError):
        toy.line_data(**{"n": 20, **bad})


def test_unknown_dataset_and_bad_arguments():
    with pytest.raises(ValueError, match="unknown data set 'ring'; valid: circle"):
        toy.points_data("ring")
    with pytest.raises(ValueError, match="label_noise"):
        toy.points_data("xor", label_noise=0.8)
    with pytest.raises(ValueError, match="not a regression loss"):
        toy.regression_setup(toy.line_data(), ("cross_entropy",))


def test_robust_losses_keep_the_slope_under_outliers():
    """The point of the page: with 20 % large outliers, L1's and Huber's lines end closer to the
    true slope than L2's (L2 pulls hardest on the farthest points)."""
    d = toy.line_data(60, slope=1.0, intercept=0.0, noise=0.3, outlier_frac=0.2, outlier_size=6.0, seed=0)
    setup = toy.regression_setup(d, ("l2", "l1", "huber"), lr=0.05)
    state = toy.advance(setup, setup.new_state(), 3000)
    (l2, _), (l1, _), (huber, _) = toy.fitted_lines(setup, state)
    assert abs(l1 - 1) < abs(l2 - 1) and abs(huber - 1) < abs(l2 - 1)
    # L2's line is the least-squares line: gradient descent converged to the closed form.
    design = torch.stack([d.x, torch.ones_like(d.x)], 1)
    ls_slope = torch.linalg.lstsq(design, d.y[:, None]).solution[0, 0].item()
    assert l2 == pytest.approx(ls_slope, abs=1e-3)
    frame = toy.regression_frame(setup, state)
    pull = torch.as_tensor(frame["pull"])  # (M, N): |dl/dy_hat| per point
    outliers = d.outlier
    assert pull[0, outliers].mean() > 1.5 * pull[0, ~outliers].mean()  # L2 pulls hardest on the outliers (about 2x here)
    assert torch.allclose(pull[1], torch.ones_like(pull[1]))  # L1 pulls every point equally


def test_side_by_side_equals_one_loss_alone():
    d = toy.points_data("moons", 200, noise=0.1, seed=2)
    both = toy.classification_setup(d, ("cross_entropy", "l2"), hidden=(6,), lr=0.1, batch_size=16, weight_decay=0.01)
    alone = toy.classification_setup(d, ("l2",), hidden=(6,), lr=0.1, batch_size=16, weight_decay=0.01)
    a = toy.advance(both, both.new_state(), 50)
    b = toy.advance(alone, alone.new_state(), 50)
    for k in a.params:
        torch.testing.assert_close(a.params[k][1], b.params[k][0], rtol=1e-5, atol=1e-6)
    # Stepping 50 at once equals 20 then 30 (the minibatches depend only on seed and step).
    c = toy.advance(both, toy.advance(both, both.new_state(), 20), 30)
    for k in a.params:
        assert torch.equal(a.params[k], c.params[k])


def test_classification_learns_and_frames_are_plain_arrays():
    d = toy.points_data("gaussian", 200, noise=0.0, seed=0)
    setup = toy.classification_setup(d, ("cross_entropy", "l1"), hidden=(8, 8), lr=0.1, batch_size=10)
    history = toy.run(setup, 200, every=50)
    assert [f["step"] for f in history] == [50, 100, 150, 200]
    last = history[-1]
    assert last["prob"].shape == (2, 60, 60) and last["prob"].dtype.name == "float32"
    assert min(last["test_acc"]) > 0.9 and last["train_loss"][0] < history[0]["train_loss"][0]
    # The map is the model's own prediction: at a training point, the class the map favours is the predicted one.
    assert ((last["prob"] >= 0) & (last["prob"] <= 1)).all()


def test_state_round_trip_and_crafted_states_refused():
    d = toy.points_data("xor", 100, seed=0)
    setup = toy.classification_setup(d, ("cross_entropy",), hidden=(4,))
    state = toy.advance(setup, setup.new_state(), 5)
    back = toy.ToyState.from_dict(state.to_dict(), setup.new_state())
    assert back.step == 5 and all(torch.equal(back.params[k], state.params[k]) for k in state.params)
    fresh = setup.new_state()
    bad = state.to_dict()
    bad["params"]["w1"] = [[[1.0, 2.0]]]
    for crafted in ([1, 2], {"step": -1, "params": {}}, bad, {**state.to_dict(), "step": "x"},
                    {"step": 1, "params": {**state.to_dict()["params"], "w9": [1.0]}}):
        with pytest.raises(ValueError):
            toy.ToyState.from_dict(crafted, fresh)
    nan = state.to_dict()
    nan["params"]["b1"][0][0] = float("nan")
    with pytest.raises(ValueError, match=r"b1 holds 1 non-finite value \(NaN or inf\)"):
        toy.ToyState.from_dict(nan, fresh)
    # Issue 23: a right shape with NaN in it said "w1 has shape (3, 1, 1), expected (3, 1, 1)".
    nan = state.to_dict()
    nan["params"]["w1"] = [[[float("nan")] * len(row) for row in m] for m in nan["params"]["w1"]]
    with pytest.raises(ValueError, match="w1 holds .* non-finite values") as e:
        toy.ToyState.from_dict(nan, fresh)
    assert "expected" not in str(e.value)
    with pytest.raises(ValueError, match=r"w1 has shape \(1, 1, 2\), expected"):
        toy.ToyState.from_dict(bad, fresh)


def test_maps_only_frame_is_the_same_maps():
    d = toy.points_data("xor", 200, seed=1)
    setup = toy.classification_setup(d, ("cross_entropy", "hinge"), hidden=(4,))
    st = toy.advance(setup, setup.new_state(), 30)
    full, maps = toy.classification_frame(setup, st, 20), toy.classification_frame(setup, st, 20, metrics=False)
    assert (full["prob"] == maps["prob"]).all() and "test_acc" in full and "test_acc" not in maps and "train_loss" not in maps


def test_toy_config_names_what_it_trains():
    """The toy's own config: a line is a "linear" model, hidden layers an "mlp"; the parameters
    of every loss are filled in (on probabilities, Huber's delta 0.5 as in the trainer)."""
    line = toy.regression_setup(toy.line_data(20, seed=0), ("l2", "huber"))
    assert line.config.model == "linear" and line.config.hidden == () and line.config.batch_size is None
    assert line.config.loss_params["huber"] == {"delta": 1.0} and line.task == "regression"
    mlp = toy.classification_setup(toy.points_data("xor", 50), ("cross_entropy", "huber"), hidden=(4, 3))
    assert mlp.config.model == "mlp" and mlp.config.hidden == (4, 3) and mlp.config.loss_params["huber"] == {"delta": 0.5}
    assert [mlp.new_state().params[f"w{i}"].shape[1:] for i in (1, 2, 3)] == [(4, 2), (3, 4), (2, 3)]
    linear = toy.classification_setup(toy.points_data("xor", 50), ("hinge",), hidden=())
    assert linear.config.model == "linear" and set(linear.new_state().params) == {"w1", "b1"}
    assert not hasattr(mlp.data, "train_images")  # 2-D points are not dressed as Fashion-MNIST


@pytest.mark.parametrize("bad", [dict(model="softmax"), dict(model="mlp"), dict(model="linear", hidden=(4,)),
                                 dict(lr=0), dict(lr=float("nan")), dict(batch_size=0), dict(seed=-1), dict(losses=()),
                                 dict(losses=("l2", "l2")), dict(losses=("nope",)), dict(activation="softmax"),
                                 dict(loss_params={"l1": {}}), dict(loss_params={"huber": {"delta": -1}}), dict(task="ranking")])
def test_toy_config_refuses_bad_fields(bad):
    fields = dict(task="classification", losses=("cross_entropy", "huber"), model="linear", hidden=())
    with pytest.raises(ValueError):
        toy.ToyConfig(**{**fields, **bad}).validate()


def test_compact_state_round_trip_and_crafted_ones_refused():
    """The playground's store holds the weights as float32 base64 (exact, ~7x less JSON)."""
    import base64
    import json

    d = toy.line_data(40, seed=0, shape="wave")
    setup = toy.regression_setup(d, ("l2", "l1", "huber"), hidden=toy.REGRESSION_MLP)
    state = toy.advance(setup, setup.new_state(), 7)
    compact = state.to_dict(compact=True)
    back = toy.ToyState.from_dict(json.loads(json.dumps(compact)), setup.new_state())
    assert back.step == 7 and all(torch.equal(back.params[k], state.params[k]) for k in state.params)
    assert len(json.dumps(compact)) * 3 < len(json.dumps(state.to_dict()))
    fresh = setup.new_state()
    w1 = compact["params"]["w1"]
    nan = base64.b64encode(torch.full(tuple(w1["shape"]), float("nan")).numpy().tobytes()).decode()
    for bad in ({**w1, "b64": w1["b64"][:-8]}, {**w1, "b64": "***"}, {**w1, "shape": [1, 2]}, {"b64": w1["b64"]},
                {**w1, "shape": ["a"]}):
        crafted = {"step": 1, "params": {**compact["params"], "w1": bad}}
        with pytest.raises(ValueError, match="w1"):
            toy.ToyState.from_dict(crafted, fresh)
    with pytest.raises(ValueError, match="non-finite"):
        toy.ToyState.from_dict({"step": 1, "params": {**compact["params"], "w1": {**w1, "b64": nan}}}, fresh)
