"""`lossviz explore` as a user starts it: one line, no development-server warning, no line per
request, a browser opened where one is available (issue 23, item 6)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(tmp_path, *extra, env=None):
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "lossviz.cli", "explore", "--port", str(port), "--runs", str(tmp_path / "runs"),
                             *extra], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, start_new_session=True)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 120
    while True:
        try:
            with urllib.request.urlopen(url + "losses", timeout=5) as r:
                assert r.status == 200
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise AssertionError(proc.communicate())
            time.sleep(0.3)
    return proc, url


def stop(proc) -> tuple[str, str]:
    proc.send_signal(signal.SIGINT)
    try:
        return proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.communicate()


def test_serves_quietly_with_one_line(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "BROWSER")}
    proc, url = serve(tmp_path, env=env)
    for path in ("losses", "playground", "_dash-layout", "_dash-dependencies", "nothing-here"):
        try:
            urllib.request.urlopen(url + path, timeout=10).read()
        except urllib.error.HTTPError:
            pass
    out, err = stop(proc)
    lines = out.splitlines()
    assert lines == [f"lossviz explorer: {url}  (Ctrl-C stops it)"], out
    assert "development server" not in err and "GET /" not in err and "Serving Flask" not in err, err
    assert [line for line in err.splitlines() if not line.startswith(("note: plotly.js", "lossviz: interrupted"))] == [], err


def test_opens_the_browser_where_there_is_one(tmp_path):
    opened = tmp_path / "opened.txt"
    script = tmp_path / "browser.sh"
    script.write_text(f"#!/bin/sh\necho \"$1\" > {opened}\n")
    script.chmod(0o755)
    env = {**{k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}, "BROWSER": str(script)}
    proc, url = serve(tmp_path, env=env)
    deadline = time.monotonic() + 30
    while not opened.is_file() and time.monotonic() < deadline:
        time.sleep(0.2)
    out, _ = stop(proc)
    assert opened.read_text().strip() == url
    assert "opening it in your browser" in out
    proc, url = serve(tmp_path, "--no-browser", env={**env, "BROWSER": str(tmp_path / "never.sh")})
    out, _ = stop(proc)
    assert "opening" not in out
