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
