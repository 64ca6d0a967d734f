"""The trainer: closed-form gradients = autograd, fairness, divergence, resume, run folder, CLI."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import time

from pathlib import Path

import pytest
import torch

import lossviz
from lossviz import train
from lossviz.train import loop, models, runs
from lossviz.cli import main
from lossviz.data import load_fashion_mnist
from tests.clirun import cli_in_process
from tests.conftest import interrupt_epoch
from tests.idx import write_fake_fashion_mnist

ROOT = Path(__file__).resolve().parents[1]

ELEMENTWISE = [a for a in lossviz.activations() if lossviz.get_activation(a).kind == "elementwise"]


@pytest.fixture
def toy(tmp_path):
    return load_fashion_mnist(write_fake_fashion_mnist(tmp_path / "data", n_train=600, n_test=200), allow_download=False)


def _autograd_grads(model, config, x, y):
    """Reference: the same forward written with torch ops, differentiated by autograd."""
    params = {k: v.detach().clone().double().requires_grad_(True) for k, v in model.params.items()}
    ref = models.StackedModel(model.name, params, model.activation, model.activation_params)
    logits, _ = models.forward(ref, x.double())
    total = 0
    for m, name in enumerate(config.losses):
        spec = lossviz.get_loss(name)
        o = logits[:, m]
        if spec.kind == "classification":
            total = total + spec.value(o, y, **config.loss_params.get(name, {})).sum()
        else:
            onehot = torch.nn.functional.one_hot(y, 10).double()
            out = o if config.regression_target == "logits" else torch.softmax(o, -1)
            total = total + spec.value(out, onehot, **config.loss_params.get(name, {})).sum()
    total.backward()
    return {k: v.grad for k, v in params.items()}


def perturbed_batch(model, seed: int, n: int, scale: float):
    """Break the symmetry of the identical copies, and draw a batch (x, y)."""
    g = torch.Generator().manual_seed(seed)
    for p in model.params.values():
        p.add_(torch.randn(p.shape, generator=g, dtype=p.dtype) * scale)
    return torch.rand(n, 784, generator=g, dtype=torch.float64), torch.randint(0, 10, (n,), generator=g)


ARCHITECTURES = [("softmax", None, "relu")] + [("mlp", (16,), a) for a in ELEMENTWISE] + [("mlp", (12, 9, 7), "tanh")]


@pytest.mark.parametrize("kind,hidden,activation", ARCHITECTURES)
@pytest.mark.parametrize("target", train.REGRESSION_TARGETS)
def test_closed_form_gradients_equal_autograd(kind, hidden, activation, target):
    config = train.TrainConfig(losses=tuple(lossviz.losses()), model=kind, activation=activation, hidden=hidden,
                               regression_target=target, loss_params={"huber": {"delta": 0.3}}).validate()
    model = models.init_model(kind, len(config.losses), hidden=hidden, activation=activation, seed=3, dtype=torch.float64)
    x, y = perturbed_batch(model, seed=0, n=32, scale=0.5)
    logits, cache = models.forward(model, x)
    d_logits = train.logit_grads(config, logits, train.one_hot(y, logits, 10))
    ours = models.backward(model, cache, d_logits)
    ref = _autograd_grads(model, config, x, y)
    for k in ref:
        torch.testing.assert_close(ours[k], ref[k], rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("kind", train.model_names())
def test_sgd_step_equals_the_gradient_step(kind):
    """The training path (update written straight into the weights) moves each model by -step_m * gradient."""
    config = train.TrainConfig(losses=("cross_entropy", "l2", "huber"), model=kind).validate()
    hidden = (12, 8) if kind == "mlp" else None
    model = models.init_model(kind, 3, hidden=hidden, seed=1, dtype=torch.float64)
    x, y = perturbed_batch(model, seed=4, n=16, scale=0.3)
    logits, cache = models.forward(model, x)
    d_logits = train.logit_grads(config, logits, train.one_hot(y, logits, 10))
    grads = models.backward(model, cache, d_logits)
    before = {k: v.clone() for k, v in model.params.items()}
    step = torch.tensor([0.1, 0.0, 0.05], dtype=torch.float64)  # 0 = a frozen (diverged) model
    models.sgd_step(model, cache, d_logits, step)
    for k, p in model.params.items():
        step_m = step.view(-1, *[1] * (p.dim() - 1))  # the first dimension indexes the models
        torch.testing.assert_close(p, before[k] - grads[k] * step_m, rtol=1e-10, atol=1e-12)
    assert torch.equal(model.select(1)["w1"], models.StackedModel(kind, before).select(1)["w1"])


@pytest.mark.parametrize("rows", [1, 96, 256])
def test_products_are_torchs_own(rows):
    """One product kernel, by rule: torch.nn.functional.linear and addmm_, bit for bit, on the
    training shapes (a strided d_out, as the trainer passes it)."""
    g = torch.Generator().manual_seed(rows)
    x, w, b = torch.rand(rows, 784, generator=g), torch.randn(40, 784, generator=g), torch.randn(40, generator=g)
    d = torch.randn(rows, 40, generator=g)
    assert torch.equal(models.linear(x, w, b), torch.nn.functional.linear(x, w, b))
    want = w.clone().addmm_(d.T, x, alpha=-1)
    models.sub_weight_grad_(w, d.T.contiguous().T, x)
    assert torch.equal(w, want)
    assert not hasattr(models, "onednn_kernel") and not (ROOT / "lossviz" / "train" / "kernels.py").exists()


@pytest.mark.parametrize("kind", train.model_names())
def test_float32_training_step_matches_float64(kind):
    """The float32 step moves the weights as float64 does."""
    config = train.TrainConfig(losses=("cross_entropy", "l1", "huber"), model=kind).validate()
    m64 = models.init_model(kind, 3, hidden=(32,) if kind == "mlp" else None, seed=2, dtype=torch.float64)
    x, y = perturbed_batch(m64, seed=5, n=64, scale=0.2)
    m32 = models.StackedModel(kind, {k: v.float() for k, v in m64.params.items()}, m64.activation, m64.activation_params)
    step = torch.tensor([0.5, 0.1, 0.2])
    for model, xx in ((m64, x), (m32, x.float())):
        logits, cache = models.forward(model, xx)
        models.sgd_step(model, cache, train.logit_grads(config, logits, train.one_hot(y, logits, 10)), step.to(xx.dtype))
    for k in m64.params:
        torch.testing.assert_close(m32.params[k].double(), m64.params[k], rtol=1e-4, atol=1e-6)


def test_epoch_metrics_equal_a_per_batch_reference(toy):
    """train_epoch scores the stored predictions at the end; a d2l-style loop scoring each batch
    before its update must give the same mean loss and accuracy."""
    config = train.TrainConfig(losses=("cross_entropy", "l2", "huber"), batch_size=64, lr=0.3).validate()
    prep = train.prepare(config, toy)
    order = train.batch_order(len(prep.train_y), 0, 1)
    lr = torch.full((3,), config.lr)
    fast = models.init_model("softmax", 3, seed=0)
    ref = models.init_model("softmax", 3, seed=0)
    loss, acc = train.train_epoch(fast, config, prep.train_x, prep.train_y, order, lr)
    total, hits = torch.zeros(3, dtype=torch.float64), torch.zeros(3)
    for idx in order.split(config.batch_size):
        x, y = prep.train_x[idx].float() / 255, prep.train_y[idx]  # uint8 pixels -> [0, 1], as ToTensor
        logits, cache = models.forward(ref, x)
        onehot = train.one_hot(y, logits, 10)
        total += train.loss_values(config, logits, onehot).double().sum(0)
        hits += (logits.argmax(-1) == y[:, None]).sum(0)
        models.sgd_step(ref, cache, train.logit_grads(config, logits, onehot), lr / len(idx))
    torch.testing.assert_close(loss, total / len(order), rtol=1e-6, atol=1e-9)
    torch.testing.assert_close(acc, hits.double() / len(order))
    for k in ref.params:
        torch.testing.assert_close(fast.params[k], ref.params[k])


def test_epoch_takes_uint8_pixels_or_float_images(toy):
    """prepare keeps the training images as uint8; floats in [0, 1] train the same way."""
    config = train.TrainConfig(losses=("cross_entropy", "l1"), batch_size=64).validate()
    prep = train.prepare(config, toy)
    assert prep.train_x.dtype == torch.uint8 and prep.test_x.dtype == torch.float32
    order, lr = train.batch_order(len(prep.train_y), 0, 1), torch.full((2,), 0.1)
    a, b = models.init_model("softmax", 2, seed=0), models.init_model("softmax", 2, seed=0)
    ra = train.train_epoch(a, config, prep.train_x, prep.train_y, order, lr)
    rb = train.train_epoch(b, config, prep.train_x.float() / 255, prep.train_y, order, lr)
    for k in a.params:
        assert torch.equal(a.params[k], b.params[k])
    assert all(torch.equal(x, y) for x, y in zip(ra, rb))


def test_evaluate_matches_per_model_reference(toy):
    config = train.TrainConfig(losses=("cross_entropy", "l1", "l2")).validate()
    prep = train.prepare(config, toy)
    model = models.init_model("softmax", 3, seed=0)
    perturbed_batch(model, seed=7, n=1, scale=0.05)
    got = train.evaluate(model, config, prep.test_x, prep.test_y, chunk=64)  # several chunks
    logits, _ = models.forward(model, prep.test_x)
    loss = train.loss_values(config, logits, train.one_hot(prep.test_y, logits, 10))
    for m, rec in enumerate(got):
        probs = torch.softmax(logits[:, m].double(), -1)
        pred = probs.argmax(-1)
        confusion = torch.zeros(10, 10, dtype=torch.long).index_put_((prep.test_y, pred), torch.ones_like(pred), accumulate=True)
        assert rec.confusion == confusion.tolist()
        assert rec.acc == pytest.approx((pred == prep.test_y).double().mean().item())
        assert rec.loss == pytest.approx(loss[:, m].double().mean().item(), rel=1e-6)
        assert rec.ece == pytest.approx(train.expected_calibration_error(probs, prep.test_y), abs=1e-6)


def test_same_initial_weights_and_batches_for_every_loss():
    model = models.init_model("mlp", 4, hidden=(8, 6), seed=5)
    for key, p in model.params.items():
        first = model.select(0)[key]
        for m in range(1, 4):
            assert torch.equal(model.select(m)[key], first)
    assert model.params["w1"].abs().sum() > 0 and model.params["w3"].shape == (4, 10, 6)
    # The batch order depends only on (seed, epoch): the same for all losses, and for a resume.
    assert torch.equal(train.batch_order(1000, 0, 3), train.batch_order(1000, 0, 3))
    assert not torch.equal(train.batch_order(1000, 0, 3), train.batch_order(1000, 0, 4))


def test_side_by_side_equals_training_alone(toy):
    """A loss trained next to others ends with the same weights as trained on its own."""
    both = train.TrainConfig(losses=("cross_entropy", "l1"), epochs=2, batch_size=64).validate()
    alone = train.TrainConfig(losses=("l1",), epochs=2, batch_size=64).validate()
    finals = {}
    for cfg in (both, alone):
        states = []
        train.compare(cfg, toy, on_epoch=lambda r, s: states.append(s))
        finals[len(cfg.losses)] = states[-1].params
    torch.testing.assert_close(finals[2]["w1"][1], finals[1]["w1"][0], rtol=1e-5, atol=1e-6)


def _numbers(records) -> list[dict]:
    """Every field of the records but the wall time: what a configuration alone decides."""
    return [{k: v for k, v in r.to_dict().items() if k != "seconds"} for r in records]


@pytest.mark.parametrize("kind", train.model_names())
def test_the_thread_count_does_not_change_the_numbers(toy, kind):
    """The same config on 1 and on 2 intra-op threads: the same records and weights, bit for bit
    (which is why ``threads`` is a runtime option and not a TrainConfig field)."""
    cfg = train.TrainConfig(losses=("cross_entropy", "l2", "l1", "huber"), model=kind, epochs=2, batch_size=64).validate()
    before = torch.get_num_threads()
    results = {}
    for threads in (1, 2):
        seen, cks = [], []
        hist = train.compare(cfg, toy, threads=threads, on_epoch=lambda r, c: (cks.append(c), seen.append(torch.get_num_threads())))
        assert seen == [threads, threads] and torch.get_num_threads() == before  # set while training, then restored
        results[threads] = (_numbers(hist), cks[-1].params)
    assert results[1][0] == results[2][0]
    assert all(torch.equal(results[1][1][k], results[2][1][k]) for k in results[1][1])
    assert "threads" not in cfg.to_dict()
    with pytest.raises(ValueError, match=r"threads must be an integer in \[1, 1024\]"):
        train.compare(cfg, toy, threads=0)


def test_training_runs_on_one_thread_by_default(toy):
    cfg = train.TrainConfig(losses=("cross_entropy",), epochs=1, batch_size=64).validate()
    seen = []
    train.compare(cfg, toy, on_epoch=lambda r, c: seen.append(torch.get_num_threads()))
    assert seen == [train.DEFAULT_THREADS] == [1]


_FRESH_RUN = """
import sys, torch
sys.path.insert(0, {root!r})
torch.set_num_threads({threads})
x = torch.randn(600, 600)
(x @ x).sum()  # this process's thread pool is up, with its own thread count
from lossviz.cli import main
sys.exit(main({argv!r}))
"""


def _fresh_run(data, out: Path, threads: int, model: str = "softmax", hidden: str | None = None, subset: int | None = None):
    """``lossviz compare`` in a fresh process whose torch ran on ``threads`` threads before (and
    OMP_NUM_THREADS says so), training on as many; returns metrics.jsonl without the wall times."""
    import os

    argv = ["compare", "--data-root", str(data), "--out", str(out), "--epochs", "2", "--model", model, "--figures", "none",
            "--threads", str(threads), *(["--hidden", hidden] if hidden else []),
            *(["--train-subset", str(subset), "--test-subset", str(subset)] if subset else [])]
    script = _FRESH_RUN.format(root=str(ROOT), threads=threads, argv=argv)
    res = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600,
                         env={**os.environ, "OMP_NUM_THREADS": str(threads)})
    assert res.returncode == 0, res.stderr[-2000:]
    return _numbers(runs.read_metrics(out))


@pytest.mark.parametrize("kind,hidden", [("softmax", None), ("mlp", "32")])
def test_two_fresh_processes_give_the_same_numbers(tmp_path, toy, kind, hidden):
    """A run's numbers depend on its configuration alone: not on the process, its threads
    before training or while training, or OMP_NUM_THREADS (every number of metrics.jsonl but
    the wall time)."""
    a = _fresh_run(tmp_path / "data", tmp_path / "a", 1, kind, hidden)
    b = _fresh_run(tmp_path / "data", tmp_path / "b", 2, kind, hidden)
    assert a == b and len(a) == 8 and all(r["status"] == "ok" for r in a)


@pytest.mark.slow
def test_two_fresh_processes_give_the_same_numbers_on_the_real_data(data_root, tmp_path):
    a = _fresh_run(data_root, tmp_path / "a", 1, subset=20000)
    b = _fresh_run(data_root, tmp_path / "b", 2, subset=20000)
    assert a == b and len(a) == 8


def test_loss_decreases_and_learns(toy):
    cfg = train.TrainConfig(losses=("cross_entropy", "l2"), epochs=3, batch_size=32, lr=0.5).validate()
    hist = train.compare(cfg, toy)
    for name in cfg.losses:
        rows = [r for r in hist if r.loss == name]
        assert rows[-1].train_loss < rows[0].train_loss
        assert rows[-1].test_acc > 0.5  # the toy classes are separable; chance is 0.1
        conf = torch.tensor(rows[-1].confusion)
        assert conf.sum() == 200 and conf.trace().item() / 200 == pytest.approx(rows[-1].test_acc)


def test_divergence_is_isolated(toy):
    # L2 on raw logits with a huge step blows up; cross-entropy's gradient is bounded.
    cfg = train.TrainConfig(losses=("cross_entropy", "l2"), regression_target="logits", epochs=3, lr=50.0, batch_size=64).validate()
    hist = train.compare(cfg, toy)
    last = {r.loss: r for r in hist if r.epoch == 3}
    assert last["l2"].status == "diverged" and last["l2"].test_acc is None
    assert last["cross_entropy"].status == "ok" and last["cross_entropy"].test_acc is not None


def test_expected_calibration_error():
    labels = torch.tensor([0, 0, 1, 1])
    probs = torch.tensor([[0.9, 0.1], [0.9, 0.1], [0.6, 0.4], [0.3, 0.7]], dtype=torch.float64)
    # Bins: 0.9 (two right: acc 1, conf 0.9), 0.6 (wrong: acc 0, conf 0.6), 0.7 (right: acc 1, conf 0.7).
    want = 0.5 * 0.1 + 0.25 * 0.6 + 0.25 * 0.3
    assert train.expected_calibration_error(probs, labels) == pytest.approx(want)


def _torchmetrics_ece(probs, labels, n_bins=15):
    tm = pytest.importorskip("torchmetrics.functional.classification")
    return tm.multiclass_calibration_error(probs, labels, num_classes=probs.shape[1], n_bins=n_bins, norm="l1").item()


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("n_bins", [1, 10, 15])
def test_ece_equals_torchmetrics_on_random_predictions(seed, n_bins):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(2000, 10, generator=g) * (1 + 3 * seed)
    labels = torch.randint(0, 10, (2000,), generator=g)
    labels[:1000] = logits[:1000].argmax(-1)  # some right, some wrong
    probs = torch.softmax(logits, -1)
    assert train.expected_calibration_error(probs, labels, n_bins) == pytest.approx(_torchmetrics_ece(probs, labels, n_bins), abs=1e-6)


@pytest.mark.parametrize("n_bins", [10, 15])
def test_ece_equals_torchmetrics_on_bin_edges_and_at_0_and_1(n_bins):
    """Confidences exactly on the float32 bin edges (b / n_bins, including 1: a group of its own),
    and just beside them; two classes, so the confidence is at least 1/2."""
    edges = torch.linspace(0, 1, n_bins + 1, dtype=torch.float32)
    conf = edges[edges >= 0.5]
    conf = torch.cat([conf, torch.nextafter(conf, torch.tensor(0.0)), torch.nextafter(conf, torch.tensor(1.0)).clamp(max=1)])
    conf = conf.repeat(7)
    probs = torch.stack([conf, 1 - conf], 1)
    labels = (torch.arange(len(conf)) % 3 == 0).long()  # right where the label is 0
    assert train.expected_calibration_error(probs, labels, n_bins) == pytest.approx(_torchmetrics_ece(probs, labels, n_bins), abs=1e-6)
    ones = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])  # confidence exactly 1, one of them wrong
    assert train.expected_calibration_error(ones, torch.tensor([0, 1, 1]), n_bins) == pytest.approx(1 / 3)
    assert _torchmetrics_ece(ones, torch.tensor([0, 1, 1]), n_bins) == pytest.approx(1 / 3)


def test_ece_of_many_models_equals_each_alone():
    """calibration_errors scores M columns in one pass, each as expected_calibration_error does."""
    g = torch.Generator().manual_seed(5)
    probs = torch.softmax(torch.randn(500, 3, 10, generator=g) * 2, -1)
    labels = torch.randint(0, 10, (500,), generator=g)
    conf, pred = probs.max(-1)
    many = train.calibration_errors(conf, pred == labels[:, None])
    for m in range(3):
        assert many[m].item() == pytest.approx(train.expected_calibration_error(probs[:, m], labels), abs=1e-12)


def _compare_cli(tmp_path, *extra):
    return main(["compare", "--data-root", str(tmp_path / "data"), "--losses", "cross_entropy,l2,huber",
                 "--epochs", "3", "--batch-size", "64", "--param", "huber.delta=0.1", *extra])


def test_run_folder_complete_and_redrawable(tmp_path, toy, capsys):
    out = tmp_path / "run"
    assert _compare_cli(tmp_path, "--out", str(out), "--seeds", "2") == 0
    table = capsys.readouterr().out
    assert "cross_entropy" in table and "test acc" in table
    for name in ("config.json", "metrics.jsonl", "state.pt", "confusion.json", "predictions.json", "results.json",
                 "figures/comparison.png", "figures/predictions.png"):
        assert (out / name).is_file(), name
    metrics = runs.read_metrics(out)
    assert len(metrics) == 3 * 3 * 2  # losses x epochs x seeds
    results = json.loads((out / "results.json").read_text())
    assert set(results["losses"]) == {"cross_entropy", "l2", "huber"}
    # every loss's parameters as used: the one given, and the defaults of the others
    assert results["config"]["loss_params"] == {"cross_entropy": {"label_smoothing": 0.0}, "huber": {"delta": 0.1}}
    # The comparison figure draws the metrics file's per-epoch means.
    from lossviz import plot_mpl

    config, metrics = runs.read_run(out)
    fig = plot_mpl.training_figure(runs.curves_by_loss(metrics, config))
    line = [l for ax in fig.axes for l in ax.get_lines() if l.get_gid() == "l2-test_acc"][0]
    want = [sum(r.test_acc for r in metrics if r.loss == "l2" and r.epoch == e) / 2 for e in (1, 2, 3)]
    assert list(line.get_ydata()) == pytest.approx(want)
    # `lossviz figures --run` redraws them.
    assert not (out / "figures" / "comparison.svg").exists()  # PNG only by default
    assert main(["figures", "--run", str(out)]) == 0
    assert (out / "figures" / "comparison.svg").is_file()
    assert json.loads((out / "config.json").read_text())["data_source"] == str(tmp_path / "data")


def test_progress_bar_shows_each_models_loss_and_accuracy(tmp_path, toy, capsys, monkeypatch):
    monkeypatch.setenv("LOSSVIZ_PROGRESS", "1")  # a bar as on a terminal
    assert _compare_cli(tmp_path, "--out", str(tmp_path / "run")) == 0
    err = capsys.readouterr().err
    last = {r.loss: r for r in runs.read_metrics(tmp_path / "run") if r.epoch == 3}
    assert "epoch 3/3" in err
    assert f"cross_entropy {last['cross_entropy'].train_loss:.3f}/{last['cross_entropy'].test_acc:.3f}" in err


def test_existing_run_folder_refused(tmp_path, toy, capsys):
    out = tmp_path / "run"
    out.mkdir()
    (out / "keep.txt").write_text("x")
    assert _compare_cli(tmp_path, "--out", str(out)) == 2
    assert "already exists" in capsys.readouterr().err


def test_resume_continues_to_the_same_result(tmp_path, toy, monkeypatch):
    full = tmp_path / "full"
    assert _compare_cli(tmp_path, "--out", str(full)) == 0
    part = tmp_path / "part"
    real_train_epoch = interrupt_epoch(monkeypatch)
    assert _compare_cli(tmp_path, "--out", str(part)) == 130
    assert len(runs.read_metrics(part)) == 3  # epoch 1 only, folder valid
    monkeypatch.setattr(loop, "train_epoch", real_train_epoch)
    # Resuming with other options is refused; with the same ones it completes.
    assert _compare_cli(tmp_path, "--out", str(part), "--resume", "--lr", "0.2") == 2
    assert _compare_cli(tmp_path, "--out", str(part), "--resume") == 0
    a, b = runs.read_metrics(full), runs.read_metrics(part)
    assert [(r.loss, r.epoch) for r in a] == [(r.loss, r.epoch) for r in b]
    for ra, rb in zip(a, b):
        assert ra.test_acc == rb.test_acc and ra.train_loss == pytest.approx(rb.train_loss, rel=1e-12)


def test_resume_refuses_weights_of_another_layout(toy):
    cfg = train.TrainConfig(losses=("cross_entropy", "l2"), epochs=2, batch_size=64).validate()
    states = []
    train.compare(cfg, toy, on_epoch=lambda r, s: states.append(s))
    state = dataclasses.replace(states[0], params={k: v.transpose(-1, -2).contiguous() if v.dim() == 3 else v
                                                   for k, v in states[0].params.items()})
    with pytest.raises(ValueError, match="do not fit this model"):
        train.compare(cfg, toy, checkpoint=state)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--losses", "cross_entropy,mse"], "unknown loss 'mse'"),
        (["--losses", "l2,l2"], "listed twice"),
        (["--epochs", "0"], "epochs must be an integer"),
        (["--lr", "nan"], "lr must be a finite number"),
        (["--lr", "-1"], "lr must be a finite number"),
        (["--batch-size", "x"], "invalid int value"),
        (["--activation", "softmax", "--model", "mlp"], "must be elementwise"),
        (["--device", "tpu"], "device"),
        (["--threads", "0"], r"threads must be an integer in \[1, 1024\]"),
        (["--param", "huber.delta=0"], r"huber.delta must be a number in \(0, inf\)"),
        (["--param", "l1.delta=1"], "has no parameter 'delta'"),
        (["--model", "cnn"], "unknown model 'cnn'; valid names: softmax, mlp"),
        (["--hidden", "64"], "softmax has no hidden layers"),
        (["--model", "mlp", "--hidden", "64,x"], "expected whole numbers"),
        (["--model", "mlp", "--hidden", "0"], "hidden must be"),
        (["--weight-decay", "-1"], r"weight_decay must be a finite number in \[0"),
        (["--seed", "99999999999999999999"], "seed must be an integer"),
        (["--out", ""], "--out must name a (file or )?folder"),
        (["--figures", "gif"], "unknown format 'gif'"),
        (["--config", "missing.json"], "cannot read config file"),
        (["--param", "huber.delta=0.1", "--losses", "l1"], "neither a compared loss"),
        (["--resume"], "nothing to resume"),
    ],
)
def test_cli_bad_arguments(tmp_path, args, message):
    res = cli_in_process("compare", "--data-root", tmp_path, "--out", tmp_path / "r", *args)
    assert res.returncode == 2, res.stderr
    assert len(res.stderr.strip().splitlines()) == 1 and "Traceback" not in res.stderr
    assert __import__("re").search(message, res.stderr), res.stderr
    assert not (tmp_path / "r").exists()  # a refused run leaves nothing behind


def test_cli_bad_argument_through_the_console(tmp_path):
    """The cases above run in this process; one goes through a fresh interpreter, as typed."""
    res = subprocess.run([sys.executable, "-m", "lossviz.cli", "compare", "--data-root", str(tmp_path), "--out", str(tmp_path / "r"),
                          "--lr", "nan"], capture_output=True, text=True)
    assert res.returncode == 2 and res.stderr.strip().splitlines() == ["lossviz: error: lr must be a finite number in (0, 10000), got nan"], res.stderr
    assert not (tmp_path / "r").exists()


def test_missing_data_is_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr("lossviz.data.DEBIAN_DIR", tmp_path / "no-debian")
    monkeypatch.setattr("lossviz.data.download", lambda into: (_ for _ in ()).throw(OSError("offline")))
    res = main(["compare", "--data-root", str(tmp_path / "empty"), "--out", str(tmp_path / "r")])
    assert res == 2
    assert not (tmp_path / "r").exists()  # no empty run folder left to block the next try


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_training(toy):
    cfg = train.TrainConfig(losses=("cross_entropy", "l2"), epochs=1, device="cuda").validate()
    assert train.compare(cfg, toy)[0].test_acc is not None


# --- the real data (slow) ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def real(data_root):
    return load_fashion_mnist(data_root, allow_download=False)


@pytest.mark.slow
def test_real_softmax_regression_reaches_d2l_accuracy(real):
    """d2l's softmax regression (lr 0.1, batch 256, 10 epochs): published reruns report ~0.83."""
    cfg = train.TrainConfig(losses=("cross_entropy", "l2", "l1", "huber"), epochs=10).validate()
    last = {r.loss: r for r in train.compare(cfg, real) if r.epoch == 10}
    assert last["cross_entropy"].test_acc >= 0.82
    assert all(r.status == "ok" for r in last.values())


@pytest.mark.slow
def test_real_mlp_reaches_d2l_accuracy(real):
    """d2l's MLP (784-256-10, ReLU, lr 0.1, 10 epochs) reaches about 0.85 test accuracy."""
    cfg = train.TrainConfig(losses=("cross_entropy",), model="mlp", epochs=10).validate()
    last = [r for r in train.compare(cfg, real) if r.epoch == 10][0]
    assert last.test_acc >= 0.84


@pytest.mark.slow
def test_real_subset_run_through_the_cli(tmp_path, data_root, capsys):
    out = tmp_path / "run"
    assert main(["compare", "--data-root", str(data_root), "--out", str(out), "--epochs", "2", "--train-subset", "6000"]) == 0
    metrics = runs.read_metrics(out)
    ce = [r for r in metrics if r.loss == "cross_entropy"]
    assert ce[1].train_loss < ce[0].train_loss and ce[1].test_acc > 0.6  # 2 x 24 steps on 6,000 images: about 0.69 measured


# --- damaged or busy run folders (nothing lost, one clear line) -------------------------------


def _cli(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "lossviz.cli", *map(str, args)], capture_output=True, text=True)


def _one_line(res, code: int = 2) -> str:
    assert res.returncode == code, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in res.stderr, res.stderr
    return lines[0]


def test_busy_run_folder_is_refused(tmp_path, toy):
    """While one process trains a folder, a second writer or --resume is refused (the lock)."""
    out = tmp_path / "run"
    assert _compare_cli(tmp_path, "--out", str(out), "--epochs", "1") == 0
    from filelock import FileLock

    with FileLock(str(out / runs.LOCK_NAME)):  # another process training it
        res = _cli("compare", "--data-root", tmp_path / "data", "--losses", "cross_entropy,l2,huber", "--epochs", "3",
                   "--batch-size", "64", "--param", "huber.delta=0.1", "--out", out, "--resume")
        assert "being trained by another process" in _one_line(res)
    assert len(runs.read_metrics(out)) == 3  # untouched


def _interrupted_run(tmp_path, monkeypatch, epochs_done: int = 2):
    """A run of 3 epochs interrupted after ``epochs_done`` (a valid, resumable folder)."""
    real = interrupt_epoch(monkeypatch, after=epochs_done)
    out = tmp_path / "part"
    assert _compare_cli(tmp_path, "--out", str(out)) == 130
    monkeypatch.setattr(loop, "train_epoch", real)
    return out


def test_damaged_metrics_line_refuses_resume_and_keeps_every_record(tmp_path, toy, monkeypatch, capsys):
    out = _interrupted_run(tmp_path, monkeypatch)
    lines = (out / "metrics.jsonl").read_bytes().splitlines(keepends=True)
    lines[1] = b'{"seed": 0, "epo\n'  # damaged in the middle
    (out / "metrics.jsonl").write_bytes(b"".join(lines))
    before = (out / "metrics.jsonl").read_bytes()
    assert _compare_cli(tmp_path, "--out", str(out), "--resume") == 2
    assert "metrics.jsonl line 2 is damaged" in capsys.readouterr().err
    assert (out / "metrics.jsonl").read_bytes() == before  # nothing rewritten away


def test_cut_last_metrics_line_is_dropped_and_retrained(tmp_path, toy, monkeypatch):
    out = _interrupted_run(tmp_path, monkeypatch)
    with open(out / "metrics.jsonl", "ab") as f:
        f.write(b'{"seed": 0, "epoch": 3, "lo')  # a crash mid-line
    assert _compare_cli(tmp_path, "--out", str(out), "--resume") == 0
    assert [(r.epoch, r.loss) for r in runs.read_metrics(out)][-3:] == [(3, "cross_entropy"), (3, "l2"), (3, "huber")]
    assert len(runs.read_metrics(out)) == 9


@pytest.mark.parametrize("damage, message", [
    (lambda out: (out / "state.pt").write_bytes((out / "state.pt").read_bytes()[:100]), "state.pt: not a lossviz checkpoint"),
    (lambda out: torch.save([1, 2], out / "state.pt"), "state.pt: not a lossviz checkpoint"),
    (lambda out: (out / "config.json").write_text("[1, 2]"), "config.json: not a valid run configuration"),
    (lambda out: (out / "config.json").write_text("{"), "config.json: not a valid run configuration"),
])
def test_damaged_run_files_are_one_line(tmp_path, toy, monkeypatch, damage, message):
    out = _interrupted_run(tmp_path, monkeypatch)
    damage(out)
    before = (out / "metrics.jsonl").read_bytes()
    res = cli_in_process("compare", "--data-root", tmp_path / "data", "--losses", "cross_entropy,l2,huber", "--epochs", "3",
                         "--batch-size", "64", "--param", "huber.delta=0.1", "--out", out, "--resume")
    assert message in _one_line(res)
    assert (out / "metrics.jsonl").read_bytes() == before
    if "config" in message:  # the figures of such a folder: the same one line
        assert message in _one_line(cli_in_process("figures", "--run", out))


@pytest.mark.parametrize("fmt, message", [("", "no format given"), (",", "no format given"), ("png,gif", "unknown format 'gif'")])
def test_figures_bad_format_leaves_nothing(tmp_path, fmt, message):
    res = cli_in_process("figures", "--format", fmt, "--out", tmp_path / "figs")
    assert message in _one_line(res)
    assert not (tmp_path / "figs").exists()


# --- the model registry, defaults that teach, weight decay, packaging --------------------------


def test_model_registry():
    assert train.model_names() == ["softmax", "mlp"]
    assert train.get_model("mlp").title == "Multilayer perceptron" and train.get_model("softmax").hidden is None
    with pytest.raises(ValueError, match="unknown model 'cnn'; valid names: softmax, mlp"):
        train.get_model("cnn")
    with pytest.raises(ValueError, match="unknown model"):
        train.TrainConfig(model="cnn").validate()
    assert train.TrainConfig(model="mlp", hidden=(64, 32)).validate().hidden == (64, 32)
    assert train.TrainConfig(model="mlp").validate().hidden == (256,)  # the spec's default, recorded
    listing = subprocess.run([sys.executable, "-m", "lossviz.cli", "list"], capture_output=True, text=True).stdout
    assert "Models" in listing and "Multilayer perceptron" in listing and "Softmax regression" in listing


def test_input_size_and_classes_come_from_the_data():
    """A 2-D, 3-class toy set trains with the same models (the playground's case)."""
    from types import SimpleNamespace

    g = torch.Generator().manual_seed(0)
    x = torch.randn(300, 2, generator=g)
    y = (x[:, 0] > 0).long() + (x[:, 1] > 0).long()  # 3 classes
    toy2d = SimpleNamespace(train_images=x, train_labels=y, test_images=x[:100], test_labels=y[:100])
    cfg = train.TrainConfig(losses=("cross_entropy", "l2"), model="mlp", hidden=(8, 8), epochs=3, batch_size=32, lr=0.5).validate()
    cks = []
    hist = train.compare(cfg, toy2d, on_epoch=lambda r, c: cks.append(c))
    assert cks[-1].params["w1"].shape == (2, 8, 2) and cks[-1].params["w3"].shape == (2, 3, 8)
    assert len(hist[-1].confusion) == 3
    softmax = train.TrainConfig(losses=("cross_entropy",), epochs=20, batch_size=32, lr=1.0).validate()
    assert train.compare(softmax, toy2d)[-1].test_acc > 0.6  # chance: about 0.45


def test_default_comparison_has_no_identical_losses():
    default = train.TrainConfig().validate()
    assert default.loss_params["huber"] == {"delta": 0.5}  # the default on probabilities, recorded
    assert train.identical_losses(default) == []
    assert train.identical_losses(train.TrainConfig(loss_params={"huber": {"delta": 1.0}}).validate()) == [("l2", "huber")]
    on_logits = train.TrainConfig(regression_target="logits").validate()
    assert on_logits.loss_params["huber"] == {"delta": 1.0} and train.identical_losses(on_logits) == []


def test_weight_decay_is_the_l2_penalty_gradient():
    """sgd_step with decay = d2l 4.5's penalty lambda/2 ||w||^2 differentiated by autograd."""
    lam, lr = 0.3, 0.1
    config = train.TrainConfig(losses=("cross_entropy", "l1"), model="mlp", hidden=(12,), weight_decay=lam).validate()
    model = models.init_model("mlp", 2, hidden=(12,), seed=1, dtype=torch.float64)
    x, y = perturbed_batch(model, seed=2, n=16, scale=0.3)
    params = {k: v.detach().clone().requires_grad_(True) for k, v in model.params.items()}
    ref = models.StackedModel("mlp", params, model.activation, model.activation_params)
    logits, _ = models.forward(ref, x)
    onehot = train.one_hot(y, logits, 10)
    data_loss = train.loss_values(config, logits, onehot).sum() / len(y)
    penalty = sum((v ** 2).sum() for k, v in params.items() if k.startswith("w")) * lam / 2
    (data_loss + penalty).backward()
    logits, cache = models.forward(model, x)
    step = torch.full((2,), lr, dtype=torch.float64)
    models.sgd_step(model, cache, train.logit_grads(config, logits, onehot), step / len(y), step * lam)
    for k, p in params.items():
        torch.testing.assert_close(model.params[k], p.detach() - lr * p.grad, rtol=1e-9, atol=1e-12)


def test_weight_decay_shrinks_the_weights(toy):
    plain = train.TrainConfig(losses=("cross_entropy",), epochs=2, batch_size=64).validate()
    decayed = train.TrainConfig(losses=("cross_entropy",), epochs=2, batch_size=64, weight_decay=1.0).validate()
    norms = []
    for cfg in (plain, decayed):
        cks = []
        train.compare(cfg, toy, on_epoch=lambda r, c: cks.append(c))
        norms.append(cks[-1].params["w1"].norm().item())
    assert norms[1] < 0.9 * norms[0]


def test_explorer_installs_under_the_lossviz_name():
    """The wheel's packages: lossviz and lossviz.explorer (a real package, no link), nothing top-level besides."""
    import tomllib

    from setuptools import find_packages

    root = Path(__file__).resolve().parent.parent
    include = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]["include"]
    found = find_packages(str(root), include=include)
    assert "lossviz.explorer" in found and "lossviz.explorer.pages" in found and "lossviz.train" in found
    assert not [p for p in found if not p.startswith("lossviz")]
    assert not (root / "lossviz" / "explorer").is_symlink() and not (root / "apps").exists()
