"""The studies: label noise, predictions.npz, calibration, loss landscapes, grids on Ray.

Mechanics on small synthetic data (tests/idx.py); the real Fashion-MNIST numbers are in the README.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from lossviz import train
from lossviz.cli import main
from lossviz.data import load_fashion_mnist
from lossviz.studies import grid, noise
from lossviz.train import runs
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
    grid.train_run(config, toy, tmp_path / "a", workers=1, figures=())
    grid.train_run(_config(label_noise=0.3, holdout=50, losses=("cross_entropy",)), toy, tmp_path / "b", workers=2, figures=())
    a, b = (np.load(tmp_path / x / "label_noise.npz") for x in "ab")
    for key in ("index", "clean", "noisy", "n"):
        assert np.array_equal(a[key], b[key])
    assert np.array_equal(prep.train_y.numpy()[a["index"]], a["noisy"]) and int(a["n"]) == 350
    ra, rb = (json.loads((tmp_path / x / "results.json").read_text())["losses"]["cross_entropy"] for x in "ab")
    assert ra["train_acc"] == rb["train_acc"] and ra["test_acc"] == rb["test_acc"]


def test_a_run_without_noise_records_no_flips(toy, tmp_path):
    grid.train_run(_config(epochs=1), toy, tmp_path / "run", workers=1, figures=())
    assert not (tmp_path / "run" / "label_noise.npz").exists()


# --- predictions.npz --------------------------------------------------------------------------


def test_predictions_npz_holds_each_seeds_final_test_probabilities(toy, tmp_path):
    config = _config(seeds=2, seed=3)
    grid.train_run(config, toy, tmp_path / "run", workers=1, figures=())
    pred = runs.read_predictions(tmp_path / "run")
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
    summary = noise.study_noise(config, [0.0, 0.5], toy, tmp_path / "study", workers=1)
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
                 "--epochs", "1", "--workers", "1", "--out", str(out), "--figures", "none"]) == 0
    printed = capsys.readouterr().out
    assert "rate 0.4" in printed and (out / "rate_0.40" / "predictions.npz").is_file()
    assert main(["figures", "--run", str(out), "--format", "png"]) == 0
    assert (out / "figures" / "noise.png").is_file()


@pytest.mark.parametrize("argv,needle", [
    (["--rates", "0,1.5"], "noise rates must be in [0, 1)"),
    (["--rates", "0,x"], "is not a number"),
    (["--rates", "0.2,0.2"], "listed twice"),
    (["--rates", ""], "at least one noise rate"),
    (["--losses", "nope"], "unknown loss 'nope'"),
    (["--label-noise", "0.2"], "unrecognized arguments"),
    (["--epochs", "0"], "epochs must be an integer"),
    (["--noise", "random"], "invalid choice"),
])
def test_study_noise_bad_arguments_one_line(argv, needle, capsys, tmp_path):
    _one_line_error(capsys, ["study", "noise", "--out", str(tmp_path / "x"), *argv], needle)
    assert not (tmp_path / "x").exists()


def test_study_noise_refuses_a_used_folder(capsys, tmp_path, toy_root):
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "f").write_text("")
    _one_line_error(capsys, ["study", "noise", "--data-root", str(toy_root), "--out", str(tmp_path / "x")], "already exists")


@pytest.mark.parametrize("argv,needle", [
    (["--label-noise", "1.5"], "label_noise must be a number in [0, 1)"),
    (["--label-noise", "-0.1"], "label_noise"),
    (["--noise", "other"], "noise must be one of symmetric, pairflip"),
    (["--holdout", "-3"], "holdout must be an integer"),
])
def test_compare_noise_flags_bad_values_one_line(argv, needle, capsys, tmp_path):
    _one_line_error(capsys, ["compare", "--out", str(tmp_path / "x"), *argv], needle)


def test_holdout_larger_than_the_training_set_is_one_line(capsys, tmp_path, toy_root):
    _one_line_error(capsys, ["compare", "--data-root", str(toy_root), "--holdout", "400", "--out", str(tmp_path / "x")],
                    "leaves no training image")
