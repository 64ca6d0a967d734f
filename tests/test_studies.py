"""The studies: label noise, predictions.npz, calibration, loss landscapes, grids on Ray.

Mechanics on small synthetic data (tests/idx.py); the real Fashion-MNIST numbers are in the README.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from lossviz import train
from lossviz.cli import main
from lossviz.data import load_fashion_mnist
from lossviz.studies import grid, noise
from lossviz.train import outputs, runs
from lossviz.train.noise import corrupt_labels
from tests.idx import write_fake_fashion_mnist


@pytest.fixture(scope="module")
def toy_root(tmp_path_factory):
    return write_fake_fashion_mnist(tmp_path_factory.mktemp("data"), n_train=400, n_test=120)


@pytest.fixture(scope="module")
def toy(toy_root):
    return load_fashion_mnist(toy_root, allow_download=False)


def _config(**kw):
    base = dict(losses=("cross_entropy", "l1", "l2"), epochs=2, lr=0.5, batch_size=64)
    return train.TrainConfig(**{**base, **kw}).validate()


def _one_line_error(capsys, argv, *needles):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("lossviz: error:"), err
    for n in needles:
        assert n in err[0], err[0]


# --- label noise ------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["symmetric", "pairflip"])
@pytest.mark.parametrize("rate", [0.0, 0.13, 0.4, 0.9])
def test_noise_rate_is_realised_and_every_flip_is_a_change(kind, rate):
    labels = torch.randint(0, 10, (5000,), generator=torch.Generator().manual_seed(1))
    noisy = corrupt_labels(labels, rate, kind, seed=7)
    flipped = noisy != labels
    assert flipped.sum().item() == round(rate * len(labels))  # exactly, so within any tolerance
    assert torch.equal(noisy, corrupt_labels(labels, rate, kind, seed=7))  # reproducible
    if kind == "pairflip":
        assert torch.equal(noisy[flipped], (labels[flipped] + 1) % 10)
    if rate and kind == "symmetric":
        assert not torch.equal(noisy, corrupt_labels(labels, rate, kind, seed=8))


def test_symmetric_noise_goes_to_the_other_classes_uniformly():
    labels = torch.zeros(90_000, dtype=torch.long)
    noisy = corrupt_labels(labels, 0.5, "symmetric", seed=0)
    counts = torch.bincount(noisy, minlength=10)
    assert counts[0] == 45_000  # kept
    # 45,000 flips over 9 classes: 5,000 each, binomial std ~67; 5 std is a loose, failing-if-wrong bound.
    assert (counts[1:] - 5000).abs().max() < 340


def test_prepare_corrupts_training_labels_only_the_same_for_every_loss(toy, tmp_path):
    config = _config(label_noise=0.3, holdout=50)
    prep = train.prepare(config, toy)
    assert torch.equal(prep.test_y, toy.test_labels)  # test labels never
    assert torch.equal(prep.clean_train_y, toy.train_labels[:350])  # the held-out 50 stay out
    assert len(prep.train_y) == 350 and (prep.train_y != prep.clean_train_y).sum() == round(0.3 * 350)
    # Two runs with different losses record the same flips, and the cross-entropy model trains
    # to the same numbers beside other losses as alone (so it saw the same labels).
    grid.train_run(config, toy, tmp_path / "a", figures=())
    grid.train_run(_config(label_noise=0.3, holdout=50, losses=("cross_entropy",)), toy, tmp_path / "b", threads=2, figures=())
    a, b = (np.load(tmp_path / x / "label_noise.npz") for x in "ab")
    for key in ("index", "clean", "noisy", "n"):
        assert np.array_equal(a[key], b[key])
    assert np.array_equal(prep.train_y.numpy()[a["index"]], a["noisy"]) and int(a["n"]) == 350
    ra, rb = (json.loads((tmp_path / x / "results.json").read_text())["losses"]["cross_entropy"] for x in "ab")
    assert ra["train_acc"] == rb["train_acc"] and ra["test_acc"] == rb["test_acc"]


def test_a_run_without_noise_records_no_flips(toy, tmp_path):
    grid.train_run(_config(epochs=1), toy, tmp_path / "run", figures=())
    assert not (tmp_path / "run" / "label_noise.npz").exists()


# --- predictions.npz --------------------------------------------------------------------------


def test_predictions_npz_holds_each_seeds_final_test_probabilities(toy, tmp_path):
    config = _config(seeds=2, seed=3)
    grid.train_run(config, toy, tmp_path / "run", figures=())
    pred = outputs.read_predictions(tmp_path / "run")
    assert np.array_equal(pred["labels"], toy.test_labels.numpy()) and pred["seeds"].tolist() == [3, 4]
    metrics = runs.read_metrics(tmp_path / "run")
    for seed in (3, 4):
        for name in config.losses:
            p = pred[name if seed == 3 else f"{name}@{seed}"]
            assert p.shape == (120, 10) and p.dtype == np.float32
            np.testing.assert_allclose(p.sum(1), 1, atol=1e-5)
            acc = (p.argmax(1) == pred["labels"]).mean()
            want = next(r.test_acc for r in metrics if r.seed == seed and r.epoch == config.epochs and r.loss == name)
            assert acc == pytest.approx(want, abs=1e-12)


# --- the noise study --------------------------------------------------------------------------


def test_noise_study_runs_one_folder_per_rate_and_summarises_them(toy, tmp_path):
    from lossviz.studies import figures, plots

    config = _config(seeds=2)
    summary = noise.study_noise(config, [0.0, 0.5], toy, tmp_path / "study", figures=())
    assert summary["rates"] == [0.0, 0.5] and list(summary["losses"]) == list(config.losses)
    for r, cell in ((0.0, "rate_0.00"), (0.5, "rate_0.50")):
        saved, _ = runs.read_config(tmp_path / "study" / cell)
        assert saved.label_noise == r and saved.seeds == 2
        results = json.loads((tmp_path / "study" / cell / "results.json").read_text())["losses"]
        for name in config.losses:
            i = summary["rates"].index(r)
            assert summary["losses"][name]["test_acc"][i] == pytest.approx(results[name]["test_acc"])
            assert summary["losses"][name]["test_acc_std"][i] == pytest.approx(results[name]["test_acc_std"])
            assert len(summary["losses"][name]["per_seed"][i]) == 2
    assert json.loads((tmp_path / "study" / "noise.json").read_text()) == summary
    # The figure draws those numbers.
    fig = plots.noise_figure(summary, noise.rate_curves(tmp_path / "study"))
    lines = {ln.get_gid(): ln for ax in fig.axes for ln in ax.get_lines() if ln.get_gid()}
    for name in config.losses:
        np.testing.assert_allclose(lines[f"noise-{name}"].get_ydata(), summary["losses"][name]["test_acc"])
    written = figures.export_figures(tmp_path / "study", formats=("png",))
    assert [p.name for p in written] == ["noise.png"]
    assert "cross_entropy" in noise.format_noise_table(summary)


def test_default_losses_follow_the_registry():
    import lossviz

    want = [n for n in ("cross_entropy", "l1", "l2", "gce") if n in lossviz.losses()]
    assert list(noise.default_losses()) == want


def test_study_noise_cli(toy_root, tmp_path, capsys):
    out = tmp_path / "s"
    assert main(["study", "noise", "--data-root", str(toy_root), "--rates", "0,0.4", "--losses", "cross_entropy,l1",
                 "--epochs", "1", "--out", str(out), "--figures", "none"]) == 0
    printed = capsys.readouterr().out
    assert "rate 0.4" in printed and (out / "rate_0.40" / "predictions.npz").is_file()
    assert main(["figures", "--run", str(out), "--format", "png"]) == 0
    assert (out / "figures" / "noise.png").is_file()


@pytest.mark.parametrize("argv,needle", [
    (["--rates", "0,1.5"], "noise rates must be a finite number in [0, 1)"),
    (["--rates", "0,x"], "is not a number"),
    (["--rates", "0.2,0.2"], "listed twice"),
    (["--rates", ""], "at least one noise rate"),
    (["--losses", "nope"], "unknown loss 'nope'"),
    (["--label-noise", "0.2"], "unrecognized arguments"),
    (["--epochs", "0"], "epochs must be an integer"),
    (["--noise", "random"], "invalid choice"),
    (["--figures", "gif"], "unknown format"),
])
def test_study_noise_bad_arguments_one_line(argv, needle, capsys, tmp_path):
    _one_line_error(capsys, ["study", "noise", "--out", str(tmp_path / "x"), *argv], needle)
    assert not (tmp_path / "x").exists()


def test_study_noise_refuses_a_used_folder(capsys, tmp_path, toy_root):
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "f").write_text("")
    _one_line_error(capsys, ["study", "noise", "--data-root", str(toy_root), "--out", str(tmp_path / "x")], "already exists")


@pytest.mark.parametrize("argv,needle", [
    (["--label-noise", "1.5"], "label_noise must be a finite number in [0, 1)"),
    (["--label-noise", "-0.1"], "label_noise"),
    (["--noise", "other"], "unknown noise 'other'; valid: symmetric, pairflip"),
    (["--holdout", "-3"], "holdout must be an integer"),
])
def test_compare_noise_flags_bad_values_one_line(argv, needle, capsys, tmp_path):
    _one_line_error(capsys, ["compare", "--out", str(tmp_path / "x"), *argv], needle)


def test_holdout_larger_than_the_training_set_is_one_line(capsys, tmp_path, toy_root):
    _one_line_error(capsys, ["compare", "--data-root", str(toy_root), "--holdout", "400", "--out", str(tmp_path / "x")],
                    "leaves no training image")


# --- calibration ------------------------------------------------------------------------------


def _dirichlet_probs(n: int, c: int = 10, seed: int = 0, concentration: float = 0.3) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    gam = torch._standard_gamma(torch.full((n, c), concentration, dtype=torch.float64), generator=g)
    return (gam / gam.sum(-1, keepdim=True)).float()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_ece_equals_torchmetrics(seed):
    tm = pytest.importorskip("torchmetrics.functional.classification",
                             reason="torchmetrics is in the test extra: pip install 'lossviz[test]'")
    from lossviz.studies.calibration import reliability

    probs = _dirichlet_probs(5000, seed=seed)
    probs[:50] = torch.nn.functional.one_hot(torch.arange(50) % 10, 10).float()  # confidence exactly 1
    probs[50:60, 0], probs[50:60, 1:] = 0.6, 0.4 / 9  # a confidence on a bin boundary (9/15)
    labels = torch.randint(0, 10, (5000,), generator=torch.Generator().manual_seed(seed + 10))
    labels[: 2000] = probs[:2000].argmax(-1)  # right often enough for every kind of bin
    r = reliability(probs, labels)
    want = tm.multiclass_calibration_error(probs, labels, num_classes=10, n_bins=15, norm="l1").item()
    want_max = tm.multiclass_calibration_error(probs, labels, num_classes=10, n_bins=15, norm="max").item()
    assert r.ece == pytest.approx(want, abs=1e-6)
    assert r.mce == pytest.approx(want_max, abs=1e-6)
    assert sum(r.count) == 5000


def _calibrated_predictor(n: int, seed: int = 0):
    """Probabilities whose confidence c is exactly the chance of being right: the label is the
    predicted class with probability c, else one of the other classes."""
    g = torch.Generator().manual_seed(seed)
    conf = 0.1 + 0.9 * torch.rand(n, generator=g, dtype=torch.float64)
    pred = torch.randint(0, 10, (n,), generator=g)
    probs = ((1 - conf) / 9)[:, None].repeat(1, 10)
    probs[torch.arange(n), pred] = conf
    right = torch.rand(n, generator=g, dtype=torch.float64) < conf
    other = (pred + torch.randint(1, 10, (n,), generator=g)) % 10
    return probs, torch.where(right, pred, other)


def test_a_calibrated_predictor_has_ece_near_zero():
    from lossviz.studies.calibration import reliability

    r = reliability(*_calibrated_predictor(200_000))
    # Sampling noise only: ~ sum_b sqrt(p(1-p) n_b) / N ~ 0.002 for 200,000 examples in 15 bins.
    assert r.ece < 0.006
    # A miscalibrated copy of the same predictor is far from it (the test can fail).
    probs, labels = _calibrated_predictor(200_000)
    sharpened = torch.softmax(torch.log(probs) * 3, -1)
    assert reliability(sharpened, labels).ece > 0.1


def test_a_known_miscalibration_has_its_analytic_ece_mce_and_brier():
    from lossviz.studies.calibration import reliability

    # 1,000 examples, each with confidence 0.9 on its predicted class (the other 9 share 0.1);
    # exactly 600 are right: accuracy 0.6 in the one filled bin, so ECE = MCE = |0.6 - 0.9| = 0.3.
    n = 1000
    probs = torch.full((n, 10), 0.1 / 9, dtype=torch.float64)
    probs[:, 3] = 0.9
    labels = torch.full((n,), 3)
    labels[600:] = 5
    r = reliability(probs, labels)
    assert r.ece == pytest.approx(0.3, abs=1e-6) and r.mce == pytest.approx(0.3, abs=1e-6)
    # Brier: right (1 - 0.9)^2 + 9 (0.1/9)^2; wrong 0.9^2 + (1 - 0.1/9)^2 + 8 (0.1/9)^2.
    q = 0.1 / 9
    brier = 0.6 * (0.1 ** 2 + 9 * q ** 2) + 0.4 * (0.9 ** 2 + (1 - q) ** 2 + 8 * q ** 2)
    assert r.brier == pytest.approx(brier, rel=1e-9)
    assert r.nll == pytest.approx(-(0.6 * np.log(0.9) + 0.4 * np.log(q)), rel=1e-9)
    assert r.count[13] == n and r.accuracy[13] == pytest.approx(0.6)  # 0.9 lies in [13/15, 14/15)


def test_temperature_scaling_recovers_a_known_temperature():
    from lossviz.studies.calibration import fit_temperature, reliability

    g = torch.Generator().manual_seed(0)
    scores = torch.randn(40_000, 10, generator=g, dtype=torch.float64) * 2
    labels = torch.multinomial(torch.softmax(scores, -1), 1, generator=g).squeeze(1)  # calibrated at T = 1
    t = fit_temperature(scores * 2.5, labels)  # overconfident by a factor 2.5
    assert t == pytest.approx(2.5, rel=0.03)
    before, after = reliability(torch.softmax(scores * 2.5, -1), labels), reliability(torch.softmax(scores * 2.5 / t, -1), labels)
    assert after.ece < before.ece / 3 and after.acc == before.acc


def test_calibration_study_of_a_run(toy, toy_root, tmp_path, capsys):
    from lossviz.studies import calibration, figures, plots

    config = _config(holdout=120, epochs=3, seeds=2)
    grid.train_run(config, toy, tmp_path / "run", figures=())
    results = calibration.study_calibration(tmp_path / "run")  # the data from the run's recorded source
    assert results["heldout"] == {"start": 280, "stop": 400}
    pred = outputs.read_predictions(tmp_path / "run")
    for name in config.losses:
        row = results["losses"][name]
        assert set(row["seeds"]) == {"0", "1"}
        e = row["seeds"]["0"]
        assert e["before"] == calibration.reliability(pred[name], pred["labels"]).to_dict()
        assert e["after"]["acc"] == e["before"]["acc"]  # T never changes a prediction
        assert calibration.T_RANGE[0] <= e["temperature"] <= calibration.T_RANGE[1]
        assert row["temperature"] == pytest.approx(np.mean([row["seeds"][s]["temperature"] for s in "01"]))
    assert json.loads((tmp_path / "run" / "calibration.json").read_text()) == results
    fig = plots.reliability_figure(results)
    bars = [p for ax in fig.axes for p in ax.patches if p.get_gid() == "rel-before-cross_entropy"]
    acc = results["losses"]["cross_entropy"]["seeds"]["0"]["before"]["accuracy"]
    np.testing.assert_allclose([p.get_height() for p in bars], [a or 0.0 for a in acc])
    names = [p.name for p in figures.export_figures(tmp_path / "run", formats=("png",))]
    assert "reliability.png" in names and "comparison.png" in names
    assert main(["study", "calibration", str(tmp_path / "run"), "--figures", "none"]) == 0
    assert "ECE(T)" in capsys.readouterr().out


def test_temperature_fit_is_the_nll_minimum():
    from lossviz.studies.calibration import fit_temperature

    g = torch.Generator().manual_seed(3)
    z = torch.randn(3000, 10, generator=g, dtype=torch.float64) * 3
    y = torch.randint(0, 10, (3000,), generator=g)
    y[:1500] = z[:1500].argmax(-1)
    t = fit_temperature(z, y)

    def nll(temp):
        return torch.nn.functional.cross_entropy(z / temp, y).item()

    assert nll(t) <= min(nll(t * 1.01), nll(t / 1.01))


def test_calibration_cli_errors_one_line(toy, tmp_path, capsys):
    _one_line_error(capsys, ["study", "calibration", str(tmp_path / "missing")], "not a lossviz run folder")
    grid.train_run(_config(epochs=1), toy, tmp_path / "run", figures=())
    _one_line_error(capsys, ["study", "calibration", str(tmp_path / "run")], "--holdout")
    assert main(["study", "calibration", str(tmp_path / "run"), "--no-temperature", "--figures", "none"]) == 0
    _one_line_error(capsys, ["study", "calibration", str(tmp_path / "run"), "--figures", "gif"], "unknown format")


# --- loss landscapes --------------------------------------------------------------------------

LANDSCAPE_MODELS = [("softmax", None, "relu"), ("mlp", (12, 7), "tanh")]


def _trained(kind, hidden, activation, *, target="probs"):
    """A stacked model of three losses, moved off its initialisation, and a batch to score it on."""
    from lossviz.train import models

    config = _config(model=kind, hidden=hidden, activation=activation, regression_target=target,
                     losses=("cross_entropy", "l1", "huber"))
    model = models.init_model(kind, 3, hidden=hidden, activation=activation, seed=4)
    g = torch.Generator().manual_seed(9)
    for p in model.params.values():
        p.add_(torch.randn(p.shape, generator=g) * 0.3)
    x = torch.rand(300, 784, generator=g)
    y = torch.randint(0, 10, (300,), generator=g)
    return config, model, x, y


def _reference_losses(config, params, x, y):
    """One point at a time: the trainer's own forward and loss on these exact weights."""
    from lossviz.train import models
    from lossviz.train.predict import stacked_model

    logits, _ = models.forward(stacked_model(config, params), x)
    onehot = train.one_hot(y, logits, 10)
    own = train.loss_values(config, logits, onehot).double().mean(0)
    ce = torch.stack([torch.nn.functional.cross_entropy(logits[:, m], y) for m in range(logits.shape[1])]).double()
    return own, ce


@pytest.mark.parametrize("kind,hidden,activation", LANDSCAPE_MODELS)
@pytest.mark.parametrize("target", ["probs", "logits"])
def test_landscape_at_the_origin_is_the_trained_models_loss(kind, hidden, activation, target):
    from lossviz.studies import landscape

    config, model, x, y = _trained(kind, hidden, activation, target=target)
    dirs = landscape.random_directions(model.params)
    own, ce = landscape.losses_at(config, model.params, dirs, torch.tensor([[0.0, 0.0], [0.5, -0.25]]), x, y)
    ref_own, ref_ce = _reference_losses(config, model.params, x, y)
    torch.testing.assert_close(own[:, 0], ref_own, rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(ce[:, 0], ref_ce, rtol=1e-6, atol=1e-7)
    assert not torch.allclose(own[:, 1], ref_own)  # another point, another loss


@pytest.mark.parametrize("kind,hidden,activation", LANDSCAPE_MODELS)
def test_batched_grid_equals_one_point_at_a_time(kind, hidden, activation, monkeypatch):
    from lossviz.studies import landscape

    config, model, x, y = _trained(kind, hidden, activation)
    dirs = landscape.random_directions(model.params)
    coords = torch.tensor([[-1.0, 1.0], [0.3, 0.7], [1.0, -0.6], [0.0, 0.9], [-0.45, -0.2]])
    own, ce = landscape.losses_at(config, model.params, dirs, coords, x, y, chunk=2)
    for p, (a, b) in enumerate(coords.tolist()):
        moved = {k: v + a * dirs[0][k] + b * dirs[1][k] for k, v in model.params.items()}
        ref_own, ref_ce = _reference_losses(config, moved, x, y)
        torch.testing.assert_close(own[:, p], ref_own, rtol=2e-5, atol=1e-6)
        torch.testing.assert_close(ce[:, p], ref_ce, rtol=2e-5, atol=1e-6)
    own_all, _ = landscape.losses_at(config, model.params, dirs, coords, x, y)  # one chunk
    torch.testing.assert_close(own_all, own, rtol=1e-6, atol=1e-7)
    monkeypatch.setattr(landscape, "BATCH_FLOATS", 3000)  # the examples in several blocks, sums merged
    own_blocks, ce_blocks = landscape.losses_at(config, model.params, dirs, coords, x, y)
    torch.testing.assert_close(own_blocks, own, rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(ce_blocks, ce, rtol=1e-6, atol=1e-7)


def test_directions_are_filter_normalised_and_shared_by_every_loss():
    from lossviz.studies import landscape

    _, model, _, _ = _trained("mlp", (12, 7), "tanh")
    d1, d2 = landscape.random_directions(model.params)
    for k, w in model.params.items():
        if k.startswith("b"):
            assert not d1[k].any()  # biases are not moved (Li et al.'s ignore='biasbn')
            continue
        torch.testing.assert_close(d1[k].norm(dim=-1), w.norm(dim=-1), rtol=1e-5, atol=1e-6)
        unit = d1[k] / d1[k].norm(dim=-1, keepdim=True)  # the same draw for every model, up to each row's scale
        torch.testing.assert_close(unit[0], unit[1]), torch.testing.assert_close(unit[0], unit[2])
        assert not torch.allclose(d1[k], d2[k])
    again, _ = landscape.random_directions(model.params)
    assert all(torch.equal(again[k], d1[k]) for k in d1)


def test_interpolation_line_runs_from_the_initial_to_the_trained_weights():
    from lossviz.studies import landscape
    from lossviz.train import models

    config, model, x, y = _trained("softmax", None, "relu")
    init = models.init_model("softmax", 3, seed=11).params
    alphas = torch.tensor([0.0, 0.5, 1.0])
    own, _ = landscape.losses_at(config, model.params, [landscape.interpolation_direction(init, model.params)],
                                 (alphas - 1)[:, None], x, y)
    torch.testing.assert_close(own[:, 0], _reference_losses(config, init, x, y)[0], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(own[:, 2], _reference_losses(config, model.params, x, y)[0], rtol=1e-6, atol=1e-7)


def test_landscape_of_a_run_and_its_figures(toy, tmp_path, capsys):
    from lossviz.studies import figures, landscape, plots
    from lossviz.train import models
    from lossviz.train.predict import as_inputs, stacked_model

    config = _config(label_noise=0.3, epochs=2)
    grid.train_run(config, toy, tmp_path / "run", figures=())
    ls = landscape.run_landscape(tmp_path / "run", grid=5, span=0.5, subset=200)
    assert ls.surface_own.shape == (3, 5, 5) and ls.line_own.shape == (3, landscape.ALPHAS[2])
    # The centre is the trained model's loss on the first 200 images with the (noisy) labels it trained on.
    prep = train.prepare(config, toy)
    params = outputs.read_final_weights(tmp_path / "run")[0]
    logits, _ = models.forward(stacked_model(config, params), as_inputs(prep.train_x[:200]))
    want = train.loss_values(config, logits, train.one_hot(prep.train_y[:200], logits, 10)).double().mean(0).numpy()
    np.testing.assert_allclose(ls.surface_own[:, 2, 2], want, rtol=1e-6)
    alpha1 = int(np.argmin(np.abs(ls.alphas - 1)))
    np.testing.assert_allclose(ls.line_own[:, alpha1], want, rtol=1e-6)
    again = landscape.read_landscape(tmp_path / "run")
    np.testing.assert_array_equal(again.surface_ce, ls.surface_ce)
    fig = plots.landscape_1d_figure(ls)
    line = next(ln for ax in fig.axes for ln in ax.get_lines() if ln.get_gid() == "line-l1")
    np.testing.assert_allclose(line.get_ydata(), ls.line_own[1])
    names = {p.name for p in figures.export_figures(tmp_path / "run", formats=("png",))}
    assert {"landscape_2d.png", "landscape_3d.png", "landscape_1d.png"} <= names
    assert main(["landscape", str(tmp_path / "run"), "--grid", "3", "--subset", "50", "--figures", "none"]) == 0
    assert "own loss at the trained point" in capsys.readouterr().out


@pytest.mark.parametrize("argv,needle", [
    (["--grid", "2"], "--grid must be an integer in [3, 401]"),
    (["--grid", "x"], "invalid int value"),
    (["--span", "0"], "--span must be a finite number in (0, 100]"),
    (["--span", "nan"], "--span"),
    (["--subset", "0"], "--subset must be an integer in [1, 10000000]"),
    (["--figures", "bmp"], "unknown format"),
])
def test_landscape_bad_arguments_one_line(argv, needle, capsys, tmp_path):
    _one_line_error(capsys, ["landscape", str(tmp_path), *argv], needle)


def test_landscape_of_a_folder_that_is_no_run(capsys, tmp_path):
    _one_line_error(capsys, ["landscape", str(tmp_path / "none")], "not a lossviz run folder")


# --- grids on Ray -----------------------------------------------------------------------------


def _comparable(folder: Path) -> dict:
    """What must agree between two runs of the same cell: metrics (wall time aside), predictions, flips."""
    out = {"metrics": [{k: v for k, v in r.to_dict().items() if k != "seconds"} for r in runs.read_metrics(folder)]}
    out["predictions"] = outputs.read_predictions(folder)
    if (folder / "label_noise.npz").is_file():
        with np.load(folder / "label_noise.npz") as f:
            out["flips"] = {k: f[k] for k in f.files}
    return out


@pytest.fixture(scope="module")
def local_ray():
    """One local Ray on 2 CPUs for the module's Ray tests (starting it costs seconds)."""
    ray = pytest.importorskip("ray", reason="ray is not installed here (optional extra: pip install 'lossviz[ray]')")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, object_store_memory=80 * 2**20)
    yield ray
    ray.shutdown()


def test_a_ray_study_equals_the_local_study(toy, tmp_path, local_ray):
    from lossviz.studies import ray_grid

    config = _config(losses=("cross_entropy", "l1"), epochs=1)
    local = noise.study_noise(config, [0.0, 0.4], toy, tmp_path / "local", figures=(), threads=2)  # any thread count
    seen = []
    remote = noise.study_noise(config, [0.0, 0.4], toy, tmp_path / "ray",
                               runner=ray_grid.runner(on_cell=lambda cell, results: seen.append(cell.name)))
    assert local_ray.is_initialized()  # the session it found was used, and left running
    assert sorted(seen) == ["rate_0.00", "rate_0.40"]
    for key in ("rates", "noise"):
        assert remote[key] == local[key]
    for name in config.losses:
        assert remote["losses"][name] == local["losses"][name]  # bit for bit
    for cell in ("rate_0.00", "rate_0.40"):
        a, b = _comparable(tmp_path / "local" / cell), _comparable(tmp_path / "ray" / cell)
        assert a["metrics"] == b["metrics"]
        for k in a["predictions"]:
            np.testing.assert_allclose(a["predictions"][k], b["predictions"][k], rtol=1e-6, atol=1e-7)
        assert ("flips" in a) == ("flips" in b) == (cell == "rate_0.40")
        if "flips" in a:
            assert all(np.array_equal(a["flips"][k], b["flips"][k]) for k in a["flips"])
        assert (tmp_path / "ray" / cell / "figures" / "comparison.png").is_file()  # subfolders come back too


def test_a_landscape_on_ray_equals_the_local_one(toy, tmp_path, local_ray):
    from lossviz.studies import landscape, ray_grid

    grid.train_run(_config(model="mlp", hidden=(16,), epochs=1), toy, tmp_path / "run", figures=())
    local = landscape.run_landscape(tmp_path / "run", grid=7, span=0.5, subset=150)
    done = []
    remote = landscape.run_landscape(tmp_path / "run", grid=7, span=0.5, subset=150, on_points=done.append,
                                     evaluate=ray_grid.landscape_evaluator(parts=5))
    # The 49 slice points in 5 Ray tasks (reported as each finishes), then the line here in one batch.
    assert sorted(done[:5]) == [9, 10, 10, 10, 10] and done[5:] == [landscape.ALPHAS[2]]
    np.testing.assert_allclose(remote.surface_own, local.surface_own, rtol=1e-6)
    np.testing.assert_allclose(remote.surface_ce, local.surface_ce, rtol=1e-6)


def test_an_unreachable_ray_address_is_one_line(capsys, tmp_path):
    import socket

    pytest.importorskip("ray", reason="ray is not installed here (optional extra: pip install 'lossviz[ray]')")
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    for argv in (["landscape", str(tmp_path), "--ray", f"127.0.0.1:{port}"],
                 ["study", "noise", "--ray", f"ray://127.0.0.1:{port}", "--out", str(tmp_path / "s")]):
        _one_line_error(capsys, argv, f"cannot reach a Ray cluster at {argv[-3] if argv[0] == 'study' else argv[-1]}")
    assert not (tmp_path / "s").exists()


def test_ray_cells_never_write_outside_their_folder(tmp_path):
    from lossviz.studies.ray_grid import write_cell

    write_cell(tmp_path, "cell", {"a/b.json": b"{}"})
    assert (tmp_path / "cell" / "a" / "b.json").read_bytes() == b"{}"
    with pytest.raises(ValueError, match="outside its run folder"):
        write_cell(tmp_path, "cell", {"../evil": b""})


def test_ray_flag_without_ray_is_one_line(monkeypatch, capsys, tmp_path):
    import builtins

    real_import = builtins.__import__

    def no_ray(name, *args, **kwargs):
        if name == "ray" or name.startswith("ray."):
            raise ImportError("No module named 'ray'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_ray)
    _one_line_error(capsys, ["study", "noise", "--ray", "--out", str(tmp_path / "x")], "pip install 'lossviz[ray]'")


def test_long_studies_show_a_progress_bar(toy, toy_root, tmp_path, capsys, monkeypatch):
    from lossviz.studies import landscape

    monkeypatch.setenv("LOSSVIZ_PROGRESS", "1")  # a bar as on a terminal
    assert main(["study", "noise", "--data-root", str(toy_root), "--rates", "0,0.5", "--losses", "cross_entropy",
                 "--epochs", "2", "--batch-size", "100", "--out", str(tmp_path / "s"), "--figures", "none"]) == 0
    err = capsys.readouterr().err
    assert "16/16" in err and "batch" in err  # 2 rates x 2 epochs x 4 batches of 100 of 400 images
    assert main(["landscape", str(tmp_path / "s" / "rate_0.50"), "--grid", "3", "--subset", "50", "--figures", "none"]) == 0
    total = 9 + landscape.ALPHAS[2]
    assert f"{total}/{total}" in capsys.readouterr().err
