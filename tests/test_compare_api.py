"""``lossviz.compare``, the trainer from a notebook: the CLI's records and run folder, a table that
shows itself, the comparison figure, checked settings, progress on request, nothing left behind."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys

import pytest

import lossviz
from lossviz.train import loop, runs
from tests.clirun import cli_in_process
from tests.conftest import interrupt_epoch
from tests.idx import write_fake_fashion_mnist

SMALL = {"losses": ["cross_entropy", "l2", "huber"], "epochs": 2, "batch_size": 64, "loss_params": {"huber": {"delta": 0.1}}}
SMALL_FLAGS = ("--losses", "cross_entropy,l2,huber", "--epochs", "2", "--batch-size", "64", "--param", "huber.delta=0.1")


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return write_fake_fashion_mnist(tmp_path_factory.mktemp("api") / "data", n_train=300, n_test=100)


def _timeless(records):
    """Records without their wall time, the one field that is not a function of the config."""
    return [dataclasses.replace(r, seconds=0.0) for r in records]


def test_the_name_is_lazy_and_loads_no_torch():
    code = "import sys, lossviz; f = lossviz.compare; print('torch' in sys.modules, f.__module__)"
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert res.stdout.split() == ["False", "lossviz.notebook"], res.stderr
    assert "compare" in lossviz.__all__ and "compare" in dir(lossviz)


def test_records_and_run_folder_equal_the_clis(data, tmp_path):
    cli_out, api_out = tmp_path / "cli", tmp_path / "api"
    res = cli_in_process("compare", "--data-root", data, *SMALL_FLAGS, "--out", cli_out)
    assert res.returncode == 0, res.stderr
    result = lossviz.compare(**SMALL, data_root=data, out=api_out, progress=False)
    in_memory = lossviz.compare(**SMALL, data_root=data, progress=False)

    cli_records = runs.read_metrics(cli_out)
    assert len(cli_records) == 2 * 3
    assert _timeless(result.records) == _timeless(cli_records)
    assert _timeless(in_memory.records) == _timeless(cli_records)  # no folder: the same numbers
    assert result.run == api_out and in_memory.run is None
    # The folder as `lossviz compare --out` writes it: the same files, the same config and results.
    files = sorted(p.relative_to(cli_out).as_posix() for p in cli_out.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(api_out).as_posix() for p in api_out.rglob("*") if p.is_file())
    assert "figures/comparison.png" in files and "figures/predictions.png" in files
    assert json.loads((api_out / "config.json").read_text()) == json.loads((cli_out / "config.json").read_text())
    assert (api_out / "predictions.npz").read_bytes() == (cli_out / "predictions.npz").read_bytes()

    def timeless(results):
        return {**results, "losses": {k: {**v, "seconds": 0} for k, v in results["losses"].items()}}

    assert timeless(json.loads((api_out / "results.json").read_text())) == timeless(json.loads((cli_out / "results.json").read_text()))
    assert timeless(result.results) == timeless(json.loads((cli_out / "results.json").read_text()))
    assert timeless(in_memory.results) == timeless(result.results)
    # The table is the one the CLI printed, line for line (its time aside).
    printed = [line for line in res.stdout.splitlines() if not line.startswith(("(losses trained", "run folder"))]
    shown = [line for line in str(result).splitlines() if not line.startswith(("(losses trained", "run folder"))]
    assert shown == printed
    assert str(result).splitlines()[-1] == f"run folder: {api_out}"


def test_the_table_shows_itself_with_the_stall_notes():
    row = {"status": "ok", "train_loss": 0.5, "train_acc": 0.8, "test_loss": 0.6, "test_acc": 0.75, "test_ece": 0.05,
           "seconds": 1.5}
    results = {"config": {}, "losses": {"cross_entropy": row, "l2": {**row, "status": "diverged", "test_acc": None}},
               "stalls": {"l2": {"text": "l2 stalled: <because> & more"}}}
    from lossviz.notebook import Comparison, ResultsTable

    table = ResultsTable(results)
    assert str(table) == repr(table) == runs.format_table(results)
    assert str(table).splitlines()[-1] == "note: l2 stalled: <because> & more"
    page = table._repr_html_()
    assert page.count("<tr>") == 3 and "<td>0.7500</td>" in page and "<td>-</td>" in page
    assert "<p>note: l2 stalled: &lt;because&gt; &amp; more</p>" in page
    assert "losses trained side by side in 1.5 s" in page
    shown = Comparison(None, [], results, None)
    assert str(shown) == repr(shown) == str(table) and shown._repr_html_() == page
    assert str(shown.table) == str(table)


def test_plot_draws_the_records(data):
    from matplotlib.figure import Figure

    from lossviz import export

    result = lossviz.compare(**SMALL, data_root=data, progress=False)
    fig = result.plot()
    assert isinstance(fig, Figure)
    lines = {line.get_gid(): line for ax in fig.axes for line in ax.get_lines()}
    for name in SMALL["losses"]:
        acc = [r.test_acc for r in result.records if r.loss == name]
        assert list(lines[f"{name}-test_acc"].get_ydata()) == pytest.approx(acc)
        assert list(lines[f"{name}-test_acc"].get_xdata()) == [1, 2]
    assert fig.get_suptitle() == export.run_title(result.config)


def test_every_trainconfig_field_is_taken_and_checked(data):
    result = lossviz.compare(losses="cross_entropy", model="mlp", hidden=[8], activation="tanh", epochs=1, lr=0.05,
                             batch_size=100, train_subset=200, test_subset=50, seed=3, data_root=data, progress=False)
    c = result.config
    assert (c.losses, c.model, c.hidden, c.activation, c.lr, c.train_subset, c.seed) == (
        ("cross_entropy",), "mlp", (8,), "tanh", 0.05, 200, 3)
    assert len(result.records) == 1 and result.records[0].epoch == 1


@pytest.mark.parametrize("kwargs, needle", [
    ({"learning_rate": 0.1}, "unknown setting 'learning_rate'; valid: losses, model, hidden"),
    ({"epochs": 0}, "epochs must be an integer in [1, 10000]"),
    ({"losses": ["nope"]}, "unknown loss 'nope'; valid:"),
    ({"figures": "gif"}, "unknown figure format 'gif'"),
    ({"threads": 0}, "threads must be an integer"),
    ({"resume": True}, "resume needs out="),
    ({"holdout": 300}, "holdout 300 leaves no training image"),
])
def test_bad_settings_are_one_clear_valueerror(data, tmp_path, kwargs, needle):
    with pytest.raises(ValueError) as e:
        lossviz.compare(data_root=data, out=tmp_path / "run" if "holdout" in kwargs else None, progress=False, **kwargs)
    assert needle in str(e.value)
    assert not (tmp_path / "run").exists()


def test_a_taken_run_folder_is_refused(data, tmp_path):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "x").write_text("x")
    with pytest.raises(runs.RunError, match="already exists"):
        lossviz.compare(data_root=data, out=tmp_path / "run", progress=False)


def test_interrupted_before_the_first_epoch_leaves_nothing(data, tmp_path, monkeypatch):
    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(loop, "train_epoch", interrupted)
    with pytest.raises(KeyboardInterrupt):
        lossviz.compare(**SMALL, data_root=data, out=tmp_path / "a" / "run", progress=False)
    assert not (tmp_path / "a").exists()


def test_an_interrupted_run_resumes_to_the_same_records(data, tmp_path, monkeypatch):
    full = lossviz.compare(**SMALL, data_root=data, progress=False)
    real = interrupt_epoch(monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        lossviz.compare(**SMALL, data_root=data, out=tmp_path / "run", progress=False)
    assert len(runs.read_metrics(tmp_path / "run")) == 3  # epoch 1 kept
    monkeypatch.setattr(loop, "train_epoch", real)
    resumed = lossviz.compare(**SMALL, data_root=data, out=tmp_path / "run", resume=True, figures="none", progress=False)
    assert _timeless(resumed.records) == _timeless(full.records)
    assert not (tmp_path / "run" / "figures").exists()


def test_progress_bar_on_request_only(data, capsys):
    lossviz.compare(**SMALL, data_root=data, progress=False)
    assert capsys.readouterr().err == ""
    lossviz.compare(**SMALL, data_root=data)
    err = capsys.readouterr().err
    # Outside Jupyter tqdm.auto is the text bar: every minibatch (300 images / 64 = 5 a epoch), each epoch's summary.
    assert "10/10" in err and "epoch 2/2: train loss/test acc cross_entropy" in err
