"""Shared fixtures: where the real Fashion-MNIST is, matplotlib clean-up, CI strictness."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def pytest_addoption(parser):
    parser.addoption(
        "--data-root",
        default=os.environ.get("LOSSVIZ_DATA") or None,
        help="folder holding the real Fashion-MNIST (default: $LOSSVIZ_DATA)",
    )


def skip_or_fail(reason: str):
    """Skip with a reason on a developer's machine; in CI a missing prerequisite is a failure."""
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: this must not be skipped)")
    pytest.skip(reason)


def interrupt_epoch(monkeypatch, after: int = 1):
    """Make the trainer's ``train_epoch`` call number ``after + 1`` raise KeyboardInterrupt (a
    Ctrl-C once ``after`` epochs are done); returns the real function, to put back for a resume."""
    from lossviz.train import loop

    real, calls = loop.train_epoch, {"n": 0}

    def interrupted(*a, **k):
        calls["n"] += 1
        if calls["n"] == after + 1:
            raise KeyboardInterrupt
        return real(*a, **k)

    monkeypatch.setattr(loop, "train_epoch", interrupted)
    return real


def param_settings(spec) -> list[dict]:
    """Defaults, plus each parameter at both ends of its slider range and at its sweep values."""
    from lossviz.presentation import slider, sweep

    out = [{}]
    for p in spec.params:
        lo, hi, _ = slider(spec.name, p.name)
        out += [{p.name: v} for v in dict.fromkeys((lo, hi, *sweep(spec.name, p.name)))]
    return out


def param_strategy(spec):
    """Hypothesis: a dict of parameter values drawn from each parameter's slider range."""
    from hypothesis import strategies as st

    from lossviz.presentation import slider

    ranges = {p.name: slider(spec.name, p.name)[:2] for p in spec.params}
    return st.fixed_dictionaries({
        p.name: st.floats(*ranges[p.name], allow_nan=False, exclude_min=p.low_open and ranges[p.name][0] == p.low)
        for p in spec.params
    })


@pytest.fixture(scope="session")
def data_root(request) -> Path:
    """The real Fashion-MNIST, found through --data-root / LOSSVIZ_DATA."""
    root = request.config.getoption("--data-root")
    if not root:
        skip_or_fail("real Fashion-MNIST not configured: pass --data-root or set LOSSVIZ_DATA")
    return Path(root)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    import sys

    if "matplotlib.pyplot" in sys.modules:
        sys.modules["matplotlib.pyplot"].close("all")
