"""`lossviz ARGS` run in the test's own process, answered as a subprocess would answer it."""

from __future__ import annotations

import io
import subprocess
from contextlib import redirect_stderr, redirect_stdout


def cli_in_process(*args) -> subprocess.CompletedProcess:
    """``lossviz.cli.main`` on ``args`` here: its exit code, stdout and stderr. A fresh interpreter
    costs ~3 s of the suite per call (importing torch); here torch is loaded already. What only
    the console script does (its quick exit) has its own subprocess tests in tests/test_cli.py;
    an exception that escapes ``main`` fails the test with its traceback."""
    from lossviz.cli import main

    argv = [str(a) for a in args]
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as e:  # argparse's own errors and --help exit by themselves
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    return subprocess.CompletedProcess(["lossviz", *argv], code, out.getvalue(), err.getvalue())
