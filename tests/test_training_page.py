"""The Training page's functions and the background job manager, on small run folders made here."""

from __future__ import annotations

import time

import numpy as np
import pytest

import json

from lossviz.explorer.jobs import JobManager, JobRefused, compare_command
from lossviz.explorer.pages import training
from lossviz.cli import build_parser, main
from lossviz.train import TrainConfig, runs
from tests.idx import write_fake_fashion_mnist


@pytest.fixture(scope="module")
def toy_runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("training")
    data_root = write_fake_fashion_mnist(root / "data", n_train=600, n_test=200)
    for name, extra in (("softmax-a", ["--seeds", "2"]), ("mlp-b", ["--model", "mlp", "--hidden", "16"])):
        assert main(["compare", "--data-root", str(data_root), "--out", str(root / "runs" / name), "--epochs", "3",
                     "--batch-size", "64", "--losses", "cross_entropy,l2", *extra]) == 0
    return root


def test_list_runs_and_describe(toy_runs):
    names = training.list_runs(toy_runs / "runs")
    assert set(names) == {"softmax-a", "mlp-b"}
    assert "2 seed(s)" in training.describe(toy_runs / "runs", "softmax-a")
    assert training.list_runs(toy_runs / "nowhere") == []


def test_curves_are_the_metrics_means(toy_runs):
    fig = training.curves_figure(toy_runs / "runs", ["softmax-a", "mlp-b"])
    config, metrics = runs.read_run(toy_runs / "runs" / "softmax-a")
    line = next(t for t in fig.data if list(t.meta) == ["softmax-a", "l2", "test_acc"])
    want = [np.mean([r.test_acc for r in metrics if r.loss == "l2" and r.epoch == e]) for e in (1, 2, 3)]
    np.testing.assert_allclose(line.y, want)
    assert any(list(t.meta)[-1] == "band" for t in fig.data)  # two seeds: a std band
    assert any(list(t.meta)[0] == "mlp-b" for t in fig.data)  # overlay of two runs
    smoothed = training.curves_figure(toy_runs / "runs", ["softmax-a"], 0.5)
    s_line = next(t for t in smoothed.data if list(t.meta) == ["softmax-a", "l2", "test_acc"])
    assert s_line.y[0] == pytest.approx(want[0]) and s_line.y[1] == pytest.approx(0.5 * want[0] + 0.5 * want[1])


def test_confusion_matrix_per_epoch(toy_runs):
    config, metrics = runs.read_run(toy_runs / "runs" / "softmax-a")
    fig = training.confusion_figure(toy_runs / "runs", "softmax-a", "cross_entropy", 2)
    row = [r for r in metrics if r.loss == "cross_entropy" and r.epoch == 2][-1]
    assert np.asarray(fig.data[0].z).tolist() == row.confusion
    assert np.asarray(fig.data[0].z).sum() == 200


def test_run_names_cannot_escape_the_runs_folder(toy_runs):
    with pytest.raises(ValueError, match="unknown run"):
        training.curves_figure(toy_runs / "runs", ["../data"])


@pytest.mark.parametrize("form, message", [
    (dict(chosen=[]), "at least one loss"),
    (dict(epochs=0), "epochs must be"),
    (dict(epochs=2.5), "whole number"),
    (dict(lr=float("nan")), "learning rate"),
    (dict(lr=None), "learning rate"),
    (dict(batch_size=-3), "batch_size must be"),
    (dict(model="cnn"), "unknown model"),
    (dict(epochs=1000), "at most 100"),
])
def test_form_validation(form, message):
    values = dict(chosen=["cross_entropy"], model="softmax", activation="relu", epochs=1, lr=0.1, batch_size=64, seed=0, subset=None)
    values.update(form)
    with pytest.raises(ValueError, match=message):
        training.form_config(*values.values())


def test_job_config_file_round_trip(tmp_path):
    """The job manager hands the CLI a config file: the CLI reads back exactly that config."""
    from lossviz.cli import _compare_config

    cfg = TrainConfig(losses=("huber", "l1"), loss_params={"huber": {"delta": 0.1}}, model="mlp", hidden=(32, 16),
                      activation="prelu", activation_params={"alpha": 0.2}, epochs=2, weight_decay=0.01,
                      train_subset=100).validate()
    (tmp_path / "c.json").write_text(json.dumps(cfg.to_dict()))
    cmd = compare_command(tmp_path / "c.json", tmp_path / "out", None, tmp_path / "p.json")
    assert all(isinstance(a, str) for a in cmd)
    args = build_parser().parse_args(cmd[cmd.index("compare"):])
    assert _compare_config(args).to_dict() == cfg.to_dict()
    # A flag on top of the file wins; the file's other values stay.
    args = build_parser().parse_args([*cmd[cmd.index("compare"):], "--epochs", "5"])
    assert _compare_config(args).epochs == 5 and _compare_config(args).hidden == (32, 16)


def _wait(jobs, states, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        s = jobs.status()
        if s["state"] in states:
            return s
        time.sleep(0.2)
    raise AssertionError(f"job never reached {states}: {jobs.status()}")


def test_job_runs_to_completion_and_refuses_a_second(tmp_path):
    data_root = write_fake_fashion_mnist(tmp_path / "data", n_train=3000, n_test=100)
    jobs = JobManager(tmp_path / "runs", str(data_root))
    cfg = TrainConfig(losses=("cross_entropy", "l2"), epochs=2, batch_size=8).validate()
    out = jobs.start(cfg)
    with pytest.raises(JobRefused, match="already running"):
        jobs.start(cfg)
    s = _wait(jobs, {"finished", "failed"})
    assert s["state"] == "finished", s
    assert s["done"] == s["total"] > 0
    assert (out / "results.json").is_file() and len(runs.read_metrics(out)) == 4
    assert out.name in training.list_runs(tmp_path / "runs")


def test_job_cancel_leaves_a_resumable_folder(tmp_path):
    data_root = write_fake_fashion_mnist(tmp_path / "data", n_train=4000, n_test=100)
    jobs = JobManager(tmp_path / "runs", str(data_root))
    out = jobs.start(TrainConfig(losses=("cross_entropy",), epochs=50, batch_size=1).validate())
    deadline = time.monotonic() + 60
    # Wait for one finished epoch: its checkpoint is written last (metrics line, then state.pt).
    while not (out / "state.pt").is_file() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert jobs.cancel()
    s = jobs.status()
    assert s["state"] == "cancelled"
    assert (out / "state.pt").is_file() and (out / "config.json").is_file()
    assert 1 <= len(runs.read_metrics(out)) < 50


def test_job_failure_shows_the_error(tmp_path):
    data_root = write_fake_fashion_mnist(tmp_path / "data", gz=False)
    bad = data_root / "train-images-idx3-ubyte"
    bad.write_bytes(bad.read_bytes()[:1000])  # truncated: the job must fail, naming the file
    jobs = JobManager(tmp_path / "runs", str(data_root))
    jobs.start(TrainConfig(losses=("l1",), epochs=1).validate())
    s = _wait(jobs, {"finished", "failed"})
    assert s["state"] == "failed" and "train-images-idx3-ubyte" in s["message"] and "truncated" in s["message"]


def test_missing_data_message(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr("lossviz.data.DEBIAN_DIR", tmp_path / "no-debian")
    msg = training.data_message(str(tmp_path / "nothing"))
    assert "not found" in msg and "apt-get install dataset-fashion-mnist" in msg


def test_run_signature_changes_only_with_the_run(toy_runs):
    a = training.run_signature(toy_runs / "runs", "softmax-a")
    assert training.run_signature(toy_runs / "runs", "softmax-a") == a  # idle poll: nothing to resend
    metrics = toy_runs / "runs" / "softmax-a" / "metrics.jsonl"
    text = metrics.read_text()
    metrics.write_text(text + text.splitlines()[-1] + "\n")  # a new epoch line lands
    try:
        assert training.run_signature(toy_runs / "runs", "softmax-a") != a
    finally:
        metrics.write_text(text)
