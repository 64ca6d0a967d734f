"""The Training page in headless Chromium: prepared runs, a live tiny job, cancelling a job.

A job is a fresh process that imports torch and trains: seconds alone, minutes beside a busy
test suite. The waits are on conditions with limits sized for a loaded machine; what must be
quick is counted in the page's own cycles (poll answers), not in seconds."""

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


@pytest.fixture(autouse=True)
def patient(page):
    """A loaded machine: every wait of these tests may take up to 90 s unless it says otherwise."""
    page.set_default_timeout(90_000)


def count_polls(page) -> list:
    """A list that gains an entry as each answer of the page's poll (the job bar) lands."""
    polls = []

    def finished(request):
        if "_dash-update-component" in request.url and "training-job.children" in (request.post_data or ""):
            polls.append(request)

    page.on("requestfinished", finished)
    return polls


CM_JS = """() => { const el = document.querySelector('#training-confusion .js-plotly-plot');
    if (!(el && el.data && el.data.length && el.data[0].z)) return null;
    return {z: el.data[0].z, meta: el.data[0].meta}; }"""


def test_prepared_run_curves_confusion_grid_and_url(page, training_server):
    url, root, _ = training_server
    page.goto(url + "/training")
    data = traces(page, "training-curves", lambda d: any(list(t["meta"] or [])[:3] == ["prepared", "l1", "test_acc"] for t in d),
                  timeout_ms=60_000)
    line = next(t for t in data if list(t["meta"])[:3] == ["prepared", "l1", "test_acc"])
    config, metrics = runs.read_run(root / "runs" / "prepared")
    np.testing.assert_allclose(line["y"], [r.test_acc for r in metrics if r.loss == "l1"])
    cm = page.wait_for_function(CM_JS).json_value()
    final_ce = [r for r in metrics if r.loss == "cross_entropy"][-1].confusion
    assert [list(map(int, row)) for row in cm["z"]] == final_ce and cm["meta"][:3] == ["prepared", "cross_entropy", 3]
    # The prediction grid: one line per loss under each image, coloured by its own correctness.
    page.wait_for_selector("#training-grid-cells .pred-line")
    lines = page.eval_on_selector_all("#training-grid-cells .pred-line", "els => els.map(e => [e.dataset.loss, e.dataset.ok, getComputedStyle(e).color])")
    assert {loss for loss, _, _ in lines} == {"cross_entropy", "l2", "l1"}
    colours = {ok: c for _, ok, c in lines}
    assert colours.get("1") != colours.get("0") or len(colours) == 1
    # The view is in the URL.
    page.wait_for_function("window.location.search.includes('runs=prepared') && window.location.search.includes('loss=cross_entropy')")
    # It fits the window: nothing wider than the page.
    assert page.evaluate("document.documentElement.scrollWidth") <= page.viewport_size["width"]
    page.screenshot(path=str(ARTIFACTS / "explorer-training.png"), full_page=True)
    assert page.console_errors == []


def test_url_restores_the_view_and_hides(page, training_server):
    url, root, _ = training_server
    page.goto(url + "/training?runs=prepared,nope&loss=l2&epoch=2&smoothing=5&_hide=form,nav,export")
    cm = page.wait_for_function(CM_JS).json_value()
    assert cm["meta"][:3] == ["prepared", "l2", 2]
    note = page.inner_text("#training-url-message")
    assert "nope" in note and "smoothing=5" in note and "using 0.9" in note
    for hidden in ("#training-wrap-form", "#nav", "#training-export-row"):
        assert not page.is_visible(hidden), hidden
    page.wait_for_function("window.location.search.includes('smoothing=0.9') && window.location.search.includes('_hide=export,form,nav')")
    assert page.console_errors == []


def start_job(page, url: str, epochs: int, batch_size: int, navigate: bool = True) -> None:
    """Open the Training page (unless it is open), fill the form and press Start."""
    if navigate:
        page.goto(url + "/training")
        page.wait_for_selector("#training-start")
    page.fill("#training-form-epochs", str(epochs))
    page.fill("#training-form-batch", str(batch_size))
    page.click("#training-start")


def wait_status(page, text: str, timeout_ms: int) -> None:
    page.wait_for_function(f"document.querySelector('#training-status') && document.querySelector('#training-status').innerText.includes({text!r})",
                           timeout=timeout_ms)


def test_train_now_progress_at_the_top_and_curves_grow(page, training_server):
    url, root, app = training_server
    page.goto(url + "/training")
    page.wait_for_selector("#training-start")
    polls = count_polls(page)
    start_job(page, url, epochs=2, batch_size=64, navigate=False)
    seen = len(polls)
    # The job is on screen at the top by the first poll answers after Start (the start answer
    # restarts the poll), and the new run is selected with no stale view.
    page.wait_for_selector("#training-status")
    assert 1 <= len(polls) - seen <= 3, f"the job bar came {len(polls) - seen} poll answers after Start"
    new = page.wait_for_function("() => { const s = document.querySelector('#training-status'); return s && s.innerText.split(':')[0]; }").json_value()
    assert page.evaluate("document.querySelector('#training-job').getBoundingClientRect().top") < 400
    wait_status(page, "finished 100%", 300_000)
    assert (root / "runs" / new / "results.json").is_file()
    data = traces(page, "training-curves", lambda d: any(list(t["meta"] or [])[:1] == [new] and len(t["x"]) == 2 for t in d),
                  timeout_ms=90_000)
    config, metrics = runs.read_run(root / "runs" / new)
    line = next(t for t in data if list(t["meta"])[:3] == [new, "l2", "test_acc"])
    np.testing.assert_allclose(line["y"], [r.test_acc for r in metrics if r.loss == "l2"])
    cm = page.wait_for_function(CM_JS).json_value()
    assert cm["meta"][0] == new  # the confusion matrix is the new run's, not the previous one's
    assert page.console_errors == []


def test_second_job_refused_and_cancel(page, training_server):
    url, root, app = training_server
    start_job(page, url, epochs=100, batch_size=1)
    wait_status(page, "running", 180_000)
    page.click("#training-start")
    page.wait_for_function("document.querySelector('#training-form-message').innerText.includes('already running')")
    page.click("#training-cancel")
    wait_status(page, "cancelled", 120_000)
    assert not app.jobs.running()
    assert page.console_errors == []
