"""A real headless Chromium (Debian's /usr/bin/chromium) driven by Playwright, and a live explorer."""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import threading
from pathlib import Path

import pytest

from tests.conftest import skip_or_fail
from tests.procs import free_port

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]


def _chromium() -> str | None:
    for path in (os.environ.get("LOSSVIZ_CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium"), shutil.which("chromium-browser")):
        if path and Path(path).exists():
            return path
    return None


@pytest.fixture(scope="session")
def browser():
    path = _chromium()
    if path is None:
        skip_or_fail("no Chromium found (apt-get install chromium; or set LOSSVIZ_CHROMIUM)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        skip_or_fail("playwright is not installed (pip install -e '.[test]')")
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=path, headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


@contextlib.contextmanager
def served(app):
    """A Dash app (the explorer) on a free loopback port in a background thread; yields its
    base URL. The tests' fixtures, the browser benchmarks and the screenshot script serve
    through it."""
    from werkzeug.serving import make_server

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    port = free_port()
    srv = make_server("127.0.0.1", port, app.server, threaded=True)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        srv.shutdown()


@pytest.fixture(scope="session")
def server():
    """The explorer served on a free loopback port in a background thread."""
    from lossviz.explorer import create_app

    with served(create_app()) as url:
        yield url


@pytest.fixture
def page(browser):
    ARTIFACTS.mkdir(exist_ok=True)
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    pg = ctx.new_page()
    errors: list[str] = []
    pg.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.console_errors = errors
    yield pg
    ctx.close()


@pytest.fixture
def plugin_server():
    """The explorer with the worked example's plugin loaded (docs/examples/student_losses.py:
    abs_cubic's hand-written gradient is wrong for r < 0), served on its own port; the plugin is
    unloaded afterwards, so the other tests see the plain registry."""
    from lossviz import plugins
    from lossviz.explorer import create_app

    plugins.load_plugins([Path(__file__).resolve().parents[2] / "docs" / "examples" / "student_losses.py"])
    try:
        with served(create_app()) as url:
            yield url
    finally:
        plugins.unload_plugins()
