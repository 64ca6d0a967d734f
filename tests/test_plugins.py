"""Plugin files (issue 25): a user's Python file registering losses and activations, loaded by
every command (--plugin FILE, LOSSVIZ_PLUGINS) and by the processes they start; ``lossviz check``
finds a hand-written gradient that disagrees with autograd, and where.

The plugin of the worked example, docs/examples/student_losses.py, holds one correct loss
(pseudo_huber), one loss whose gradient has the wrong sign for pred < target (abs_cubic) and an
activation (softsign)."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import lossviz
from lossviz import gradcheck, plugins, registry
from tests.clirun import cli_in_process

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "docs" / "examples" / "student_losses.py"
EXAMPLE_NAMES = ["pseudo_huber", "abs_cubic", "softsign"]


@pytest.fixture(autouse=True)
def _registry_as_found(monkeypatch):
    """Each test leaves the registry and the loaded plugins as it found them (tests stay
    independent of their order), and runs without the caller's LOSSVIZ_PLUGINS."""
    monkeypatch.delenv(plugins.ENV, raising=False)
    before = set(lossviz.losses()) | set(lossviz.activations())
    yield
    plugins.unload_plugins()
    for name in (set(lossviz.losses()) | set(lossviz.activations())) - before:
        registry.unregister(name)


def fixed_example(tmp_path: Path) -> Path:
    """The example with the student's fix: d/dr |r|^3 / 3 = r |r|."""
    src = EXAMPLE.read_text()
    assert "    return r**2\n" in src
    path = tmp_path / "student_fixed.py"
    path.write_text(src.replace("    return r**2\n", "    return r * r.abs()\n"))
    return path


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


# --- every face -----------------------------------------------------------------------------------------


def test_every_command_takes_plugin():
    from lossviz.cli import build_parser

    def leaves(parser, path=()):
        subs = [a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction"]
        if not subs:
            yield path, parser
            return
        for name, child in subs[0].choices.items():
            yield from leaves(child, path + (name,))

    found = list(leaves(build_parser()))
    assert {p for p, _ in found} >= {("list",), ("figures",), ("compare",), ("study", "noise"), ("study", "calibration"),
                                     ("landscape",), ("explore",), ("check",)}
    for path, parser in found:
        assert any("--plugin" in a.option_strings for a in parser._actions), path
    args = build_parser().parse_args(["explore", "--plugin", "a.py", "--plugin", "b.py"])
    assert args.plugin == ["a.py", "b.py"]


def test_list_shows_the_plugin_entries():
    res = cli_in_process("list", "--plugin", EXAMPLE)
    assert res.returncode == 0, res.stderr
    losses_part, activations_part = res.stdout.split("Activations:")[0], res.stdout.split("Activations:")[1]
    assert "  pseudo_huber " in losses_part and "  abs_cubic " in losses_part and "--param pseudo_huber.delta=X" in losses_part
    assert "  softsign " in activations_part.split("Models")[0]
    assert plugins.loaded_paths() == [str(EXAMPLE)]


def test_the_registry_is_clean_without_the_plugin():
    res = cli_in_process("list")
    assert res.returncode == 0 and "pseudo_huber" not in res.stdout and "softsign" not in res.stdout


def test_lossviz_plugins_environment(monkeypatch, tmp_path):
    other = write(tmp_path, "other.py", "import torch, lossviz\nlossviz.register_activation('square_relu', lambda x: torch.relu(x) ** 2)\n")
    monkeypatch.setenv(plugins.ENV, os.pathsep.join([str(EXAMPLE), "", str(other)]))
    res = cli_in_process("list", "--plugin", EXAMPLE)  # named twice: loaded once
    assert res.returncode == 0, res.stderr
    assert all(f"  {n} " in res.stdout for n in EXAMPLE_NAMES + ["square_relu"])
    assert plugins.loaded_paths() == [str(EXAMPLE), str(other)]


def test_plugins_load_once_per_path_and_unload():
    assert plugins.load_plugins([EXAMPLE, str(EXAMPLE)]) == EXAMPLE_NAMES
    assert plugins.load_plugin(EXAMPLE) == [] and plugins.names_from(EXAMPLE) == EXAMPLE_NAMES
    assert lossviz.get_loss("pseudo_huber").grad_source == "closed form"
    plugins.unload_plugins()
    assert "pseudo_huber" not in lossviz.losses() and plugins.loaded_paths() == []


def test_two_plugins_of_the_same_file_name_do_not_replace_each_other(tmp_path):
    a = write(tmp_path / "a" if (tmp_path / "a").mkdir() is None else tmp_path, "losses.py",
              "import lossviz\nlossviz.register_loss('loss_a', lambda p, y: (p - y) ** 2)\n")
    b = write(tmp_path / "b" if (tmp_path / "b").mkdir() is None else tmp_path, "losses.py",
              "import lossviz\nlossviz.register_loss('loss_b', lambda p, y: (p - y).abs())\n")
    assert plugins.load_plugins([a, b]) == ["loss_a", "loss_b"]
    assert len({m for m in sys.modules if m.startswith("lossviz_plugin_losses_")}) == 2


def test_compare_trains_the_plugin_losses_and_activation(tmp_path):
    from tests.idx import write_fake_fashion_mnist

    data = write_fake_fashion_mnist(tmp_path / "data", n_train=200, n_test=50)
    out = tmp_path / "run"
    res = cli_in_process("compare", "--plugin", EXAMPLE, "--losses", "l2,pseudo_huber", "--param", "pseudo_huber.delta=0.5",
                         "--model", "mlp", "--hidden", "16", "--activation", "softsign", "--epochs", "2", "--batch-size", "50",
                         "--data-root", data, "--out", out, "--figures", "none")
    assert res.returncode == 0, res.stderr[-2000:]
    config = json.loads((out / "config.json").read_text())
    assert config["losses"] == ["l2", "pseudo_huber"] and config["activation"] == "softsign"
    assert config["loss_params"]["pseudo_huber"] == {"delta": 0.5}
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert {r["loss"] for r in rows} == {"l2", "pseudo_huber"} and all(r["status"] == "ok" for r in rows)
    assert all(math.isfinite(r["train_loss"]) for r in rows)
    # redrawn later with the same plugin
    res = cli_in_process("figures", "--plugin", EXAMPLE, "--run", out, "--format", "png")
    assert res.returncode == 0, res.stderr[-2000:]
    assert (out / "figures" / "comparison.png").is_file()


def test_names_are_checked_after_the_plugins_load(tmp_path):
    res = cli_in_process("compare", "--losses", "l2,pseudo_huber", "--epochs", "1", "--out", tmp_path / "run")
    assert res.returncode == 2 and "pseudo_huber" in res.stderr and not (tmp_path / "run").exists()
    res = cli_in_process("figures", "--plugin", EXAMPLE, "--only", "nosuch", "--out", tmp_path / "f")
    assert res.returncode == 2 and "unknown figure or name 'nosuch'" in res.stderr and "pseudo_huber" in res.stderr


@pytest.mark.slow
def test_compare_on_the_real_data(data_root, tmp_path):
    out = tmp_path / "run"
    res = subprocess.run([sys.executable, "-m", "lossviz.cli", "compare", "--plugin", str(EXAMPLE), "--losses", "l2,pseudo_huber",
                          "--epochs", "1", "--train-subset", "10000", "--data-root", str(data_root), "--out", str(out),
                          "--figures", "png"], capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-2000:]
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    acc = {r["loss"]: r["test_acc"] for r in rows}
    assert set(acc) == {"l2", "pseudo_huber"} and all(a > 0.5 for a in acc.values())  # chance is 0.1
    assert (out / "figures" / "comparison.png").is_file()


def test_figures_only_a_plugin_entry(tmp_path):
    from lossviz import curves, export

    res = cli_in_process("figures", "--plugin", EXAMPLE, "--only", "pseudo_huber", "softsign", "--param", "pseudo_huber.delta=0.5",
                         "--out", tmp_path, "--format", "png")
    assert res.returncode == 0, res.stderr
    written = sorted(p.name for p in tmp_path.iterdir())
    assert {"loss_pseudo_huber.png", "activation_softsign.png", "sweep_pseudo_huber_delta.png"} <= set(written)
    assert all(p.read_bytes().startswith(b"\x89PNG") for p in tmp_path.iterdir())
    # the drawn curve is the plugin's own value
    entry = next(e for e in export.catalogue(export.parse_params(["pseudo_huber.delta=0.5"])) if e.stem == "loss_pseudo_huber")
    c = curves.loss_curve("pseudo_huber", {"delta": 0.5})
    ys = [list(line.get_ydata()) for ax in entry.build().axes for line in ax.get_lines()]
    assert any(y == pytest.approx(c.series["value"].tolist()) for y in ys)


def test_the_exporter_pool_loads_the_plugins(tmp_path):
    """A large figure set is drawn by a pool of fresh processes: they load the same plugins."""
    from lossviz import export

    plugins.load_plugins([EXAMPLE])
    entries = export.select(export.catalogue({}), ["pseudo_huber", "softsign"])
    written = export.export(entries, tmp_path, formats=("png",), index=False, processes=2)
    assert {p.name for p in written} >= {"loss_pseudo_huber.png", "activation_softsign.png"}


# --- the explorer ------------------------------------------------------------------------------------------


def _options(component) -> list:
    """Every option value of every menu in a Dash layout tree."""
    found = []
    for c in [component] if not isinstance(component, (list, tuple)) else component:
        if c is None or isinstance(c, (str, int, float)):
            continue
        for attr in ("options", "data"):  # (dcc menus: options; Mantine's: data)
            menu = getattr(c, attr, None)
            if isinstance(menu, (list, tuple)):
                found += [o.get("value") if isinstance(o, dict) else o for o in menu]
        found += _options(getattr(c, "children", None))
    return found


def test_the_explorer_menus_offer_the_plugin_entries():
    from lossviz.explorer import create_app
    from lossviz.explorer.pages import activations, losses

    plugins.load_plugins([EXAMPLE])
    app = create_app()
    assert app.server.test_client().get("/losses").status_code == 200
    assert {"pseudo_huber", "abs_cubic"} <= set(_options(losses.layout({})))
    assert "softsign" in _options(activations.layout({}))
    assert "pseudo_huber.delta" in {f.key for f in losses.schema()}


def test_the_explorer_jobs_run_with_the_plugins(tmp_path):
    from lossviz.explorer import jobs

    cmd = jobs.compare_command(tmp_path / "c.json", tmp_path / "run", None, tmp_path / "p.json")
    assert "--plugin" not in cmd
    plugins.load_plugins([EXAMPLE])
    cmd = jobs.compare_command(tmp_path / "c.json", tmp_path / "run", None, tmp_path / "p.json")
    assert cmd[cmd.index("--plugin") + 1] == str(EXAMPLE)


def test_a_ray_task_loads_the_shipped_plugins_where_the_file_is_not(tmp_path):
    """Ray tasks get the plugins' sources (``plugins.shipped``): a node without the file loads them too."""
    plugins.load_plugins([EXAMPLE])
    shipped = [("/nowhere/student_losses.py", src) for _, src in plugins.shipped()]
    code = ("import sys, pickle; from lossviz import plugins, registry; "
            "print(plugins.load_shipped(pickle.loads(sys.stdin.buffer.read())), registry.get_loss('pseudo_huber').grad_source)")
    import pickle

    res = subprocess.run([sys.executable, "-c", code], input=pickle.dumps(shipped), capture_output=True, timeout=120)
    assert res.returncode == 0, res.stderr.decode()[-2000:]
    assert res.stdout.decode().strip() == "['pseudo_huber', 'abs_cubic', 'softsign'] closed form"


# --- bad plugins: one line, exit 2, nothing half-registered ----------------------------------------------


BAD = {
    "syntax.py": ("import lossviz\ndef f(:\n", r"syntax error at line 2"),
    "raises.py": ("import lossviz\nlossviz.register_loss('half_loss', lambda p, y: (p - y) ** 2)\n1 / 0\n",
                  r"ZeroDivisionError \(line 3\): division by zero"),
    "taken.py": ("import lossviz\nlossviz.register_loss('half_loss', lambda p, y: (p - y) ** 2)\n"
                 "lossviz.register_loss('huber', lambda p, y: p)\n",
                 r"bad registration \(line 3\): loss name 'huber' is taken: a loss of that name is registered"),
    "badparam.py": ("import lossviz\nlossviz.register_loss('cubic', lambda p, y, w=1.0: p, params={'w': (5.0, 0.0, 1.0)})\n",
                    r"bad registration \(line 2\): cubic\.w: default 5\.0 is outside the allowed range \[0, 1\]"),
    "exits.py": ("import sys\nsys.exit(3)\n", r"SystemExit \(line 2\): 3"),
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_a_bad_plugin_is_one_line_exit_2(tmp_path, name):
    import re

    text, message = BAD[name]
    path = write(tmp_path, name, text)
    n = len(lossviz.losses())
    res = cli_in_process("list", "--plugin", path)
    assert res.returncode == 2 and res.stdout == ""
    assert res.stderr.count("\n") == 1 and res.stderr.startswith(f"lossviz: error: plugin {path}: ")
    assert re.search(message, res.stderr), res.stderr
    assert len(lossviz.losses()) == n and "half_loss" not in lossviz.losses()  # nothing half-registered
    assert plugins.loaded_paths() == []


def test_a_missing_plugin_in_a_real_process(tmp_path, monkeypatch):
    for args, env in (([str(tmp_path / "nope.py")], {}), ([], {plugins.ENV: str(tmp_path / "nope.py")}),
                      ([str(tmp_path)], {})):
        flags = [a for p in args for a in ("--plugin", p)]
        res = subprocess.run([sys.executable, "-m", "lossviz.cli", "check", "l2", *flags], capture_output=True, text=True,
                             env={**os.environ, **env}, timeout=120)
        assert res.returncode == 2 and res.stdout == ""
        shown = args[0] if args else str(tmp_path / "nope.py")
        assert res.stderr in (f"lossviz: error: plugin {shown}: no such file\n", f"lossviz: error: plugin {shown}: not a file\n")


# --- lossviz check ---------------------------------------------------------------------------------------


def test_check_names_only_the_wrong_entry_and_where():
    res = cli_in_process("check", EXAMPLE)
    assert res.returncode == 1, res.stderr
    rows = {line.split()[0]: line for line in res.stdout.splitlines() if line and not line.startswith(" ")}
    assert " ok " in rows["pseudo_huber"] and " ok " in rows["softsign"]
    assert " WRONG " in rows["abs_cubic"] and "pred=-" in rows["abs_cubic"]
    hint = next(line for line in res.stdout.splitlines() if "hint:" in line)
    assert "sign is flipped" in hint and "only where pred - target < 0" in hint
    assert res.stdout.splitlines()[-1] == "2 of 3 ok; wrong: abs_cubic"
    assert res.stdout.count("WRONG") == 1


def test_check_passes_once_fixed(tmp_path):
    res = cli_in_process("check", fixed_example(tmp_path))
    assert res.returncode == 0, res.stdout
    assert res.stdout.splitlines()[-1] == "3 of 3 ok"


def test_check_by_name_with_plugin():
    res = cli_in_process("check", "--plugin", EXAMPLE, "softsign", "pseudo_huber")
    assert res.returncode == 0, res.stdout + res.stderr
    res = cli_in_process("check", "nosuch")
    assert res.returncode == 2 and "unknown loss or activation 'nosuch'" in res.stderr


def test_every_builtin_passes_check():
    names = lossviz.losses() + lossviz.activations()
    res = cli_in_process("check", *names)
    assert res.returncode == 0, res.stdout
    assert res.stdout.splitlines()[-1] == f"{len(names)} of {len(names)} ok"


def report(name, value, grad=None, **kwargs):
    register = lossviz.register_activation if kwargs.pop("activation", False) else lossviz.register_loss
    register(name, value, grad, **kwargs)
    return gradcheck.check_entry(name)


def test_a_kink_is_not_an_error():
    """sign(r) with sign(0) = 1 (a hand choice) against autograd's 0 at r = 0: a subgradient choice."""
    r = report("my_l1", lambda p, y: (p - y).abs(), lambda p, y: torch.where(p - y >= 0, 1.0, -1.0).to(p.dtype))
    assert r.verdict == "ok" and r.worst == 0 and any("kink at pred=0" in n for n in r.notes)
    # a ReLU whose derivative at 0 is 1/2: also a kink
    r = report("my_relu", torch.relu, lambda x: torch.where(x > 0, 1.0, torch.where(x < 0, 0.0, 0.5)).to(x.dtype), activation=True)
    assert r.verdict == "ok"


@pytest.mark.parametrize("grad, hint", [
    (lambda p, y: 2 * (p - y), "off by a constant factor (grad = 2 x autograd)"),
    (lambda p, y: -(p - y), "the sign is flipped (grad = -autograd)"),
    (lambda p, y: (p - y) + 0.5, "off by a constant (grad - autograd = 0.5: a missing or extra term)"),
    (lambda p, y: (p - y) ** 3, "a missing or wrong term"),
    (lambda p, y: torch.where(p - y > 0, 2 * (p - y), p - y), "only where pred - target > 0"),
])
def test_a_wrong_gradient_gets_a_hint(grad, hint):
    r = report("half_l2", lambda p, y: 0.5 * (p - y) ** 2, grad)
    assert r.wrong and hint in r.hint and r.where.endswith("(float64)")


def test_a_wrong_gradient_at_a_parameter_edge_is_found():
    """Right at the default width, wrong elsewhere: the parameters are checked across their range."""
    r = report("cubic", lambda p, y, width=1.0: (p - y).abs() ** 3 / width,
               lambda p, y, width=1.0: 3 * (p - y) * (p - y).abs(), params={"width": (1.0, 0.5, 4.0)})
    assert r.wrong and "width=4" in r.where and "constant factor (grad = 4 x autograd)" in r.hint


def test_autograd_entries_have_nothing_to_check():
    r = report("cauchy", lambda p, y, c=1.0: torch.log1p(((p - y) / c) ** 2), params={"c": (1.0, 0.1, 10.0)})
    assert r.verdict == "autograd (nothing to check)" and not r.wrong
    res = cli_in_process("check", "cauchy")
    assert res.returncode == 0 and "autograd (nothing to check)" in res.stdout


def test_the_properties_are_checked():
    r = report("blows_up", lambda p, y: torch.exp((p - y) ** 2 * 100))
    assert r.wrong and any("value not finite" in p for p in r.problems)
    r = report("widens", lambda p, y: ((p - y) ** 2).double())
    assert r.wrong and any("value turns float32 into float64" in p for p in r.problems)
    r = report("sums", lambda p, y: ((p - y) ** 2).sum())
    assert r.wrong and any("value has shape ()" in p for p in r.problems)


def test_a_claimed_likelihood_is_checked():
    good = report("gauss", lambda p, y: 0.5 * (p - y) ** 2, likelihood=lambda: 0.5 * math.log(2 * math.pi))
    assert good.verdict == "autograd (nothing to check)"
    bad = report("gauss2", lambda p, y: 0.5 * (p - y) ** 2, likelihood=lambda: 0.0)
    assert bad.wrong and any("exp(-l) integrates to 2.507" in p for p in bad.problems)


def test_derivative_check_for_drawing():
    plugins.load_plugins([EXAMPLE])
    d = gradcheck.derivative_check("abs_cubic")
    assert d.differs[d.x < -0.01].all() and not d.differs[d.x >= 0].any()
    torch.testing.assert_close(d.autograd, d.x * d.x.abs())
    d = gradcheck.derivative_check("softsign")
    assert not d.differs.any() and d.x[0] == -6
