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


def _traces(fig):
    return fig["data"]


def test_curves_are_the_metrics_means(toy_runs):
    fig = training.curves_figure(toy_runs / "runs", ["softmax-a", "mlp-b"])
    config, metrics = runs.read_run(toy_runs / "runs" / "softmax-a")
    line = next(t for t in _traces(fig) if list(t["meta"]) == ["softmax-a", "l2", "test_acc"])
    want = [np.mean([r.test_acc for r in metrics if r.loss == "l2" and r.epoch == e]) for e in (1, 2, 3)]
    np.testing.assert_allclose(line["y"], want)
    bands = [t for t in _traces(fig) if list(t["meta"])[-1] == "band"]
    assert bands and any(t["showlegend"] for t in bands)  # two seeds: a std band, in the legend
    assert any(list(t["meta"])[0] == "mlp-b" for t in _traces(fig))  # overlay of two runs
    smoothed = training.curves_figure(toy_runs / "runs", ["softmax-a"], 0.5)
    s_line = next(t for t in _traces(smoothed) if list(t["meta"]) == ["softmax-a", "l2", "test_acc"])
    assert s_line["y"][0] == pytest.approx(want[0]) and s_line["y"][1] == pytest.approx(0.5 * want[0] + 0.5 * want[1])
    big = training.curves_figure(toy_runs / "runs", ["softmax-a"], present=True)
    assert big["layout"]["xaxis"]["tickfont"]["size"] >= 18 and big["layout"]["legend"]["font"]["size"] >= 18


def test_confusion_matrix_per_epoch(toy_runs):
    config, metrics = runs.read_run(toy_runs / "runs" / "softmax-a")
    fig = training.confusion_figure(toy_runs / "runs", "softmax-a", "cross_entropy", 2)
    row = [r for r in metrics if r.loss == "cross_entropy" and r.epoch == 2][-1]
    assert np.asarray(fig["data"][0]["z"]).tolist() == row.confusion
    assert np.asarray(fig["data"][0]["z"]).sum() == 200


def test_prediction_grid_colours_each_loss_by_its_own_correctness(toy_runs, tmp_path):
    import shutil

    shutil.copytree(toy_runs / "runs" / "softmax-a", tmp_path / "runs" / "a")
    path = tmp_path / "runs" / "a" / "predictions.json"
    preds = json.loads(path.read_text())
    preds["pred"]["l2"][0] = (preds["labels"][0] + 1) % 10  # one wrong guess for l2, right for the others there
    preds["pred"]["cross_entropy"][0] = preds["labels"][0]
    path.write_text(json.dumps(preds))
    grid = training.prediction_grid(tmp_path / "runs", "a")
    cells = grid.children
    assert len(cells) == len(preds["labels"]) and all(c.children[0].src.startswith("data:image/png;base64,") for c in cells)
    seen = {"right": 0, "wrong": 0}
    for i, (cell, label) in enumerate(zip(cells, preds["labels"])):
        lines = cell.children[2:]
        assert [line.to_plotly_json()["props"]["data-loss"] for line in lines] == list(preds["pred"])
        for line, (loss, p) in zip(lines, preds["pred"].items()):
            ok = p[i] == label
            seen["right" if ok else "wrong"] += 1
            assert line.style["color"] == (training.RIGHT if ok else training.WRONG)
            assert line.children.startswith("✓" if ok else "✗")
    assert seen["right"] and seen["wrong"]
    assert cells[0].children[3].style["color"] == training.WRONG and cells[0].children[2].style["color"] == training.RIGHT


def test_run_names_cannot_escape_the_runs_folder(toy_runs):
    with pytest.raises(ValueError, match="unknown run"):
        training.curves_figure(toy_runs / "runs", ["../data"])
    names, notes = training.chosen_runs(["../data", "softmax-a", "softmax-a", 5, ["x"]], toy_runs / "runs")
    assert names == ["softmax-a"] and notes


FORM = dict(losses=["cross_entropy"], model="softmax", hidden="", activation="relu", epochs=1, lr=0.1, batch_size=64,
            weight_decay=0, seeds=1, seed=0, subset=None, target="probs", params={})


@pytest.mark.parametrize("form, message", [
    (dict(losses=[]), "at least one loss"),
    (dict(losses="l1"), "choose the losses"),
    (dict(losses=[["l1"]]), "choose the losses"),
    (dict(epochs=0), "epochs must be"),
    (dict(epochs=2.5), "epochs must be an integer"),
    (dict(lr=float("nan")), "learning rate"),
    (dict(lr=None), "learning rate"),
    (dict(lr="inf"), "learning rate"),
    (dict(batch_size=-3), "batch size must be"),
    (dict(model="cnn"), "unknown model"),
    (dict(model=["x"]), "unknown model"),
    (dict(epochs=1000), "epochs must be an integer in"),
    (dict(seeds=50), "seeds must be an integer in"),
    (dict(losses=["huber"], params={"huber.delta": 1e9}), "huber delta must be a finite number in"),
    (dict(losses=["huber"], params={"huber.delta": "x"}), "huber delta"),
    (dict(model="mlp", hidden="a,b"), "whole numbers"),
    (dict(model="mlp", hidden="0"), "hidden must be"),
    (dict(subset=0), "training images must be"),
])
def test_form_validation(form, message):
    with pytest.raises(ValueError, match=message):
        training.form_config({**FORM, **form})


def test_form_builds_the_config_from_the_registries():
    cfg = training.form_config({**FORM, "losses": ["huber", "l1", "huber"], "model": "mlp", "hidden": "32,16", "activation": "prelu",
                                "seeds": 3, "params": {"huber.delta": 0.25, "prelu.alpha": 0.2}})
    assert cfg["losses"] == ["huber", "l1"] and cfg["hidden"] == [32, 16] and cfg["seeds"] == 3
    assert cfg["loss_params"]["huber"] == {"delta": 0.25} and cfg["activation_params"] == {"alpha": 0.2}
    assert TrainConfig.from_dict(cfg).to_dict() == cfg
    # The form's Huber default is the trainer's default on probabilities (not the registry's 1.0).
    assert training.form_default("huber", lossviz_param("huber", "delta")) == 0.5


def lossviz_param(loss, name):
    import lossviz

    return lossviz.get_loss(loss).param(name)


def test_job_config_file_round_trip(tmp_path):
    """The job manager hands the CLI a config file: the CLI reads back exactly that config."""
    from lossviz.cli.compare import compare_config

    cfg = TrainConfig(losses=("huber", "l1"), loss_params={"huber": {"delta": 0.1}}, model="mlp", hidden=(32, 16),
                      activation="prelu", activation_params={"alpha": 0.2}, epochs=2, weight_decay=0.01,
                      train_subset=100).validate()
    (tmp_path / "c.json").write_text(json.dumps(cfg.to_dict()))
    cmd = compare_command(tmp_path / "c.json", tmp_path / "out", None, tmp_path / "p.json")
    assert all(isinstance(a, str) for a in cmd)
    args = build_parser().parse_args(cmd[cmd.index("compare"):])
    assert compare_config(args).to_dict() == cfg.to_dict()
    # A flag on top of the file wins; the file's other values stay.
    args = build_parser().parse_args([*cmd[cmd.index("compare"):], "--epochs", "5"])
    assert compare_config(args).epochs == 5 and compare_config(args).hidden == (32, 16)


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


def test_study_figures_of_a_run_are_shown(toy_runs, tmp_path):
    """The Training page shows what `lossviz landscape` / `lossviz study` wrote into the run."""
    import shutil

    from lossviz.cli import main as cli

    runs_dir = tmp_path / "runs"
    shutil.copytree(toy_runs / "runs" / "softmax-a", runs_dir / "softmax-a")
    assert "No studies of this run yet" in str(training.study_views(runs_dir, "softmax-a"))
    before = training.run_signature(runs_dir, "softmax-a")
    assert cli(["landscape", str(runs_dir / "softmax-a"), "--grid", "5", "--subset", "100",
                "--data-root", str(toy_runs / "data")]) == 0
    assert training.run_signature(runs_dir, "softmax-a") != before  # the page redraws
    shown = str(training.study_views(runs_dir, "softmax-a"))
    assert "training-study-landscape_2d" in shown and "data:image/png;base64," in shown
    with pytest.raises(ValueError, match="unknown run"):
        training.study_views(runs_dir, "../softmax-a")


# --- gradient health, stall notes, top-3 grid and decisions (issues 26, 28) ------------------------


def test_health_figure_plots_the_records_gradient_norms_per_layer(toy_runs):
    from lossviz.train.stalls import health_curves

    fig, mlp = training.views.health_figure(toy_runs / "runs", "mlp-b")
    assert mlp and fig["layout"]["yaxis"]["type"] == "log"
    config, metrics = runs.read_run(toy_runs / "runs" / "mlp-b")
    want = health_curves(metrics, config)
    for loss in ("cross_entropy", "l2"):
        line = next(t for t in fig["data"] if t["meta"] == ["mlp-b", loss, "grad_norm"])
        np.testing.assert_allclose(line["y"], want[loss]["grad_norm"])
        assert line["x"] == [1, 2]  # input layer first, then the output layer
        dead = next(t for t in fig["data"] if t["meta"] == ["mlp-b", loss, "dead_fraction"])
        np.testing.assert_allclose(dead["y"], want[loss]["dead_fraction"])
    # softmax regression: one layer, no hidden units: the page hides the panel
    _, mlp = training.views.health_figure(toy_runs / "runs", "softmax-a")
    assert not mlp


def test_stall_notes_from_results_or_computed_from_the_records(toy_runs, tmp_path):
    import shutil

    from lossviz.train.stalls import stall_notes

    run = tmp_path / "runs" / "stalled"
    shutil.copytree(toy_runs / "runs" / "mlp-b", run)
    results = json.loads((run / "results.json").read_text())
    results["stalls"] = {"l2": {"text": "l2 stalled: measured here", "causes": []}}
    (run / "results.json").write_text(json.dumps(results))
    notes, source = training.views.stall_notes(tmp_path / "runs", "stalled")
    assert source == "results.json" and list(notes) == ["l2"]
    assert "measured here" in str(training.views.stall_view(tmp_path / "runs", "stalled"))
    # A run in progress (no results.json): the library's function over the records so far.
    (run / "results.json").unlink()
    notes, source = training.views.stall_notes(tmp_path / "runs", "stalled")
    config, metrics = runs.read_run(run)
    assert source == "the records so far" and notes == stall_notes(metrics, config)


def test_prediction_grid_top3_shows_each_loss_three_classes(toy_runs):
    from lossviz.data import CLASSES

    grid = json.loads((toy_runs / "runs" / "mlp-b" / "predictions.json").read_text())
    html_off = str(training.prediction_grid(toy_runs / "runs", "mlp-b"))
    assert "pred-top3" not in html_off
    view = training.prediction_grid(toy_runs / "runs", "mlp-b", top3=True)
    lines = []

    def walk(c):
        if getattr(c, "className", None) == "pred-top3":
            lines.append(c)
        for k in (c.children if isinstance(getattr(c, "children", None), list) else [getattr(c, "children", None)]):
            if hasattr(k, "children"):
                walk(k)

    walk(view)
    assert len(lines) == len(grid["labels"]) * len(grid["pred"])
    first = json.loads(lines[0].to_plotly_json()["props"]["data-top3"])
    loss = lines[0].to_plotly_json()["props"]["data-loss"]
    t = grid["top3"][loss]
    assert [c for c, _ in first] == [CLASSES[k] for k in t["classes"][0]]
    np.testing.assert_allclose([p for _, p in first], t["probs"][0], atol=1e-6)


def test_decision_view_is_the_library_decision_curves(toy_runs):
    from lossviz.train.decisions import run_decisions

    cls, curves = training.views.decision_data(toy_runs / "runs", "softmax-a", 3)
    want = run_decisions(toy_runs / "runs" / "softmax-a", 3)
    assert cls == 3 and list(curves) == list(want)
    fig = training.views.decision_figure(curves, 0.3)
    for loss, c in want.items():
        rec = next(t for t in fig["data"] if t["meta"] == [loss, "recall"])
        np.testing.assert_allclose(rec["y"], np.nan_to_num(c.recall))
        at = next(t for t in fig["data"] if t["meta"] == [loss, "at"])
        assert (at["y"][0], at["x"][0]) == training.views.decision_at(c, 0.3)
        k = 30  # the grid's threshold 0.30
        assert training.views.decision_at(c, 0.3) == (float(np.nan_to_num(c.recall[k])), float(np.nan_to_num(c.false_alarm[k])))
    assert fig["layout"]["shapes"][0]["x0"] == 0.3
    # default: the hardest class
    cls, _ = training.views.decision_data(toy_runs / "runs", "softmax-a", None)
    assert 0 <= cls < 10
