"""The lossviz command: list, one-line errors with exit status 2, and a whole compare."""

from __future__ import annotations

import subprocess
import sys

import pytest

import lossviz
from lossviz.cli import main


def test_list_prints_every_spec(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for name in lossviz.losses() + lossviz.activations():
        spec = lossviz.get(name)
        assert name in out and spec.formula.value in out
        for p in spec.params:
            assert f"{name}.{p.name}" in out and p.range_text in out


def test_unknown_command_one_line_exit_2():
    res = subprocess.run([sys.executable, "-m", "lossviz.cli", "nope"], capture_output=True, text=True)
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("lossviz: error:")
    assert "Traceback" not in res.stderr


def test_no_command_is_an_error(capsys):
    assert main([]) == 2
    assert "lossviz: error:" in capsys.readouterr().err


def test_console_command_prints_everything_with_its_code(capsys, tmp_path):
    """``lossviz`` (``cli.run``, a plain ``sys.exit(main())``): everything printed arrives
    through a pipe, and the exit code is main()'s."""
    from importlib.metadata import entry_points

    assert [e.value for e in entry_points(group="console_scripts") if e.name == "lossviz"] == ["lossviz.cli:run"]
    assert main(["list"]) == 0
    want = capsys.readouterr().out
    assert len(want) > 4096  # more than one pipe buffer
    res = subprocess.run([sys.executable, "-c", "from lossviz.cli import run; run()", "list"], capture_output=True, text=True)
    assert res.returncode == 0 and res.stdout == want
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "file").write_text("x")
    res = subprocess.run([sys.executable, "-m", "lossviz.cli", "compare", "--out", str(tmp_path / "taken")], capture_output=True, text=True)
    assert res.returncode == 2 and "already exists" in res.stderr
    for argv, status in ((["nope"], 2), (["--help"], 0), (["compare", "--help"], 0), (["compare", "--epochs", "x"], 2),
                         (["compare", "--threads", "0"], 2)):
        res = subprocess.run([sys.executable, "-m", "lossviz.cli", *argv], capture_output=True, text=True)
        assert res.returncode == status, (argv, res.returncode, res.stderr[-300:])
        assert "Traceback" not in res.stderr
    assert "usage: lossviz" in subprocess.run([sys.executable, "-m", "lossviz.cli", "--help"], capture_output=True, text=True).stdout


def test_help_is_answered_before_torch_loads():
    code = ("import sys\nfrom lossviz.cli import build_parser\n"
            "build_parser().parse_args(['compare', '--epochs', '2', '--threads', '1'])\n"
            "print('torch' in sys.modules, 'matplotlib' in sys.modules)")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.stdout.split() == ["False", "False"], res.stderr


def test_the_trainer_never_draws():
    """lossviz.train records; the exporter draws: no module of the trainer imports plotting,
    at its top or inside a function, and importing the run folder's module loads no matplotlib."""
    import ast
    from pathlib import Path

    import lossviz.train

    drawing = ("matplotlib", "plotly", "lossviz.render", "lossviz.export", "lossviz.plot", "lossviz.plot_mpl",
               "lossviz.plot_plotly", "lossviz.style")

    def imported(node) -> list[str]:
        if isinstance(node, ast.Import):
            return [a.name for a in node.names]
        if isinstance(node, ast.ImportFrom):  # `from lossviz import export` imports lossviz.export
            return [node.module or ""] + [f"{node.module}.{a.name}" for a in node.names]
        return []

    for path in Path(lossviz.train.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            assert not [n for n in imported(node) if n.startswith(drawing)], (path.name, imported(node))
    code = "import sys\nimport lossviz.train.runs\nprint('matplotlib' in sys.modules)"
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.stdout.split() == ["False"], res.stderr


def test_compare_trains_then_draws_the_run_figures(tmp_path):
    """The whole ``lossviz compare`` in its own process, on small fake data: exit 0, the run's
    records, and both figures drawn from them (the curves are the records' means; the grid's
    labels are Fashion-MNIST's class names)."""
    from lossviz import export, plot_mpl
    from lossviz.data import CLASSES
    from lossviz.train import runs
    from tests.idx import write_fake_fashion_mnist

    data = write_fake_fashion_mnist(tmp_path / "data", n_train=200, n_test=50)
    out = tmp_path / "run"
    res = subprocess.run([sys.executable, "-m", "lossviz.cli", "compare", "--data-root", str(data), "--losses", "cross_entropy,l2",
                          "--epochs", "2", "--batch-size", "50", "--figures", "png,svg", "--out", str(out)],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    assert sorted(p.name for p in (out / "figures").iterdir()) == ["comparison.png", "comparison.svg", "predictions.png", "predictions.svg"]
    assert (out / "figures" / "comparison.png").read_bytes().startswith(b"\x89PNG")
    entries = {e.stem: e for e in export.run_entries(out)}
    with plot_mpl.style("light"):  # the command's default style
        assert (out / "figures" / "comparison.png").read_bytes() == export.render(entries["comparison"].build(), "png")
    config, metrics = runs.read_run(out)
    lines = {l.get_gid(): l for ax in entries["comparison"].build().axes for l in ax.get_lines()}
    for name in config.losses:
        acc = [r.test_acc for r in metrics if r.loss == name]
        assert list(lines[f"{name}-test_acc"].get_ydata()) == pytest.approx(acc) and list(lines[f"{name}-test_acc"].get_xdata()) == [1, 2]
    grid = runs.read_prediction_grid(out)
    texts = {t.get_gid(): t.get_text() for ax in entries["predictions"].build().axes for t in ax.texts}
    assert [texts[f"true-{i}"] for i in range(len(grid["labels"]))] == [CLASSES[y] for y in grid["labels"]]


def test_ctrl_c_while_torch_loads_stops_the_command_cleanly():
    """A Ctrl-C during torch's 1.5 s import used to land inside an import torch swallows
    (numpy's): the command then ran on with numpy half loaded. Now it is held until torch has
    loaded and raised then, with every module whole."""
    code = (
        "import builtins, os, signal, sys\n"
        "from lossviz import cli\n"
        "real, sent = builtins.__import__, []\n"
        "def hook(name, *a, **k):\n"
        "    if name.startswith('numpy') and not sent:\n"
        "        sent.append(1); os.kill(os.getpid(), signal.SIGINT)\n"
        "    return real(name, *a, **k)\n"
        "builtins.__import__ = hook\n"
        "try:\n"
        "    cli.load_torch()\n"
        "except KeyboardInterrupt:\n"
        "    import numpy, torch\n"
        "    print('interrupted', sent, hasattr(numpy, 'multiply'), signal.getsignal(signal.SIGINT) is signal.default_int_handler)\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.stdout.split() == ["interrupted", "[1]", "True", "True"], res.stderr
