"""Retake the README's screenshots: every page at 1,440 px and 390 px wide, headless Chromium.

    LOSSVIZ_DATA=/path/to/fashion-mnist python docs/screenshots/take.py

The Training page shows a short real run (5 epochs on 20,000 images, 2 seeds) trained first
into a temporary folder; without the data it uses a small synthetic set (tests/idx.py).
"""

from __future__ import annotations

import logging
import os
import socket
import sys
import tempfile
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from lossviz.cli import main as lossviz  # noqa: E402
from tests.browser.conftest import CHROMIUM_ARGS, _chromium  # noqa: E402

VIEWS = [
    ("losses", "/losses?losses=l1,l2,huber&huber.delta=0.8&y=0.5"),
    ("activations", "/activations?activations=relu,prelu,sigmoid,tanh&prelu.alpha=0.1&vanish=1"),
    ("softmax", "/softmax?classes=5&target=1&scale=2.2"),
    ("training", "/training"),
]


def main() -> int:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    from playwright.sync_api import sync_playwright
    from werkzeug.serving import make_server

    from lossviz.explorer import create_app

    tmp = Path(tempfile.mkdtemp(prefix="lossviz-shots-"))
    data = os.environ.get("LOSSVIZ_DATA")
    if not data:
        from tests.idx import write_fake_fashion_mnist

        data = str(write_fake_fashion_mnist(tmp / "data", n_train=3000, n_test=300))
    assert lossviz(["compare", "--data-root", data, "--out", str(tmp / "runs" / "softmax-demo"), "--epochs", "5",
                    "--train-subset", "20000", "--seeds", "2"]) == 0
    app = create_app(runs_dir=tmp / "runs", data_root=data)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    srv = make_server("127.0.0.1", port, app.server, threaded=True)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    out = Path(__file__).resolve().parent
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=_chromium(), args=CHROMIUM_ARGS)
            for width, height in ((1440, 1000), (390, 844)):
                page = browser.new_page(viewport={"width": width, "height": height})
                for name, path in VIEWS:
                    page.goto(f"http://127.0.0.1:{port}{path}")
                    page.wait_for_function("() => [...document.querySelectorAll('.js-plotly-plot')].some(e => e.data && e.data.length)",
                                           timeout=60000)
                    page.wait_for_timeout(2500)  # formulas typeset, fonts settled
                    page.screenshot(path=str(out / f"{name}-{width}.png"), full_page=True)
                    print(out / f"{name}-{width}.png")
                page.close()
            browser.close()
    finally:
        srv.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
