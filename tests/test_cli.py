"""The lossviz command: list, and one-line errors with exit status 2."""

from __future__ import annotations

import subprocess
import sys

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


def test_console_command_ends_quickly_with_all_output_and_its_code(capsys, tmp_path):
    """``lossviz`` (``cli.run``) skips the interpreter's teardown: everything printed still
    arrives through a pipe, and the exit code is main()'s."""
    from importlib.metadata import entry_points

    assert [e.value for e in entry_points(group="console_scripts") if e.name == "lossviz"] == ["lossviz.cli:run"]
    assert main(["list"]) == 0
    want = capsys.readouterr().out
    assert len(want) > 4096  # more than one pipe buffer
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "file").write_text("x")
    res = subprocess.run([sys.executable, "-m", "lossviz.cli", "compare", "--out", str(tmp_path / "taken")], capture_output=True, text=True)
    assert res.returncode == 2 and "already exists" in res.stderr
    for argv, status in ((["nope"], 2), (["--help"], 0), (["compare", "--help"], 0), (["compare", "--epochs", "x"], 2)):
        res = subprocess.run([sys.executable, "-m", "lossviz.cli", *argv], capture_output=True, text=True)
        assert res.returncode == status, (argv, res.returncode, res.stderr[-300:])
    assert "usage: lossviz" in subprocess.run([sys.executable, "-m", "lossviz.cli", "--help"], capture_output=True, text=True).stdout
    # Handlers registered while the command runs (torch's, logging's, multiprocessing's) still run.
    code = ("import atexit; import lossviz.cli as c; main = c.main; "
            "c.main = lambda: (atexit.register(lambda: print('handler ran')), main(['list']))[1]; c.run()")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert res.returncode == 0 and res.stdout == want + "handler ran\n"  # all of it, through a pipe


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
