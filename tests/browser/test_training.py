"""The Training page in headless Chromium: prepared runs, a live tiny job, cancelling a job."""

from __future__ import annotations

import socket
import threading

import numpy as np
import pytest

from lossviz.train import runs
from lossviz.cli import main
from tests.browser.conftest import ARTIFACTS
from tests.browser.test_explorer import traces
from tests.idx import write_fake_fashion_mnist

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def training_server(tmp_path_factory):
    from werkzeug.serving import make_server

    from lossviz.explorer import create_app

    root = tmp_path_factory.mktemp("browser-training")
    data_root = write_fake_fashion_mnist(root / "data", n_train=3000, n_test=200)
    assert main(["compare", "--data-root", str(data_root), "--out", str(root / "runs" / "prepared"), "--epochs", "3",
                 "--batch-size", "64", "--losses", "cross_entropy,l2,l1"]) == 0
    app = create_app(runs_dir=root / "runs", data_root=str(data_root))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    srv = make_server("127.0.0.1", port, app.server, threaded=True)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{port}", root, app
    app.jobs.cancel()
    srv.shutdown()


def test_prepared_run_curves_and_confusion(page, training_server):
    url, root, _ = training_server
    page.goto(url + "/training")
    data = traces(page, "training-curves", lambda d: any(list(t["meta"] or [])[:3] == ["prepared", "l1", "test_acc"] for t in d))
    line = next(t for t in data if list(t["meta"])[:3] == ["prepared", "l1", "test_acc"])
    config, metrics = runs.read_run(root / "runs" / "prepared")
    np.testing.assert_allclose(line["y"], [r.test_acc for r in metrics if r.loss == "l1"])
    # z arrives base64-encoded with a shape ({dtype, bdata, shape}), as plotly sends numpy arrays.
    cm = page.wait_for_function("""() => { const el = document.querySelector('#training-confusion .js-plotly-plot');
        if (!(el && el.data && el.data.length && el.data[0].z)) return null;
        const z = el.data[0].z; if (!z.bdata) return z;
        const types = {f8: Float64Array, i8: BigInt64Array, i4: Int32Array, i2: Int16Array, u2: Uint16Array, i1: Int8Array, u1: Uint8Array};
        const bin = atob(z.bdata); const buf = new Uint8Array(bin.length);
        for (let i = 0; i < bin.length; i++) buf[i] = bin.charCodeAt(i);
        const flat = Array.from(new types[z.dtype](buf.buffer), Number);
        const [r, c] = String(z.shape).split(',').map(Number);
        return Array.from({length: r}, (_, i) => flat.slice(i * c, (i + 1) * c)); }""").json_value()
    final_ce = [r for r in metrics if r.loss == "cross_entropy"][-1].confusion
    assert [list(map(int, row)) for row in cm] == final_ce
    page.screenshot(path=str(ARTIFACTS / "explorer-training.png"), full_page=True)
    assert page.console_errors == []


def start_job(page, url: str, epochs: int, batch_size: int) -> None:
    """Open the Training page, fill the form and press Start."""
    page.goto(url + "/training")
    page.wait_for_selector("#training-start")
    page.fill("#training-form-epochs", str(epochs))
    page.fill("#training-form-batch", str(batch_size))
    page.click("#training-start")


def wait_status(page, text: str, timeout_ms: int) -> None:
    page.wait_for_function(f"document.querySelector('#training-status').innerText.includes({text!r})", timeout=timeout_ms)


def test_train_now_progress_reaches_100_and_run_appears(page, training_server):
    url, root, app = training_server
    start_job(page, url, epochs=1, batch_size=64)
    wait_status(page, "finished 100%", 120_000)
    assert page.get_attribute("#training-progress", "value") == "100"
    new = [n for n in (root / "runs").iterdir() if n.is_dir() and n.name != "prepared"]
    assert len(new) == 1 and (new[0] / "results.json").is_file()
    # The new run is selected and its curves are drawn.
    traces(page, "training-curves", lambda d: any(list(t["meta"] or [])[:1] == [new[0].name] for t in d))
    assert page.console_errors == []


def test_second_job_refused_and_cancel(page, training_server):
    url, root, app = training_server
    start_job(page, url, epochs=100, batch_size=1)
    wait_status(page, "running", 60_000)
    page.click("#training-start")
    wait_status(page, "already running", 30_000)
    page.click("#training-cancel")
    wait_status(page, "cancelled", 60_000)
    assert not app.jobs.running()
    assert page.console_errors == []
