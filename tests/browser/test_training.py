"""The Training page in headless Chromium: prepared runs, a live tiny job, cancelling a job.

A job is a fresh process that imports torch and trains: seconds alone, minutes beside a busy
test suite. The waits are on conditions with limits sized for a loaded machine; what must be
quick is counted in the page's own cycles (poll answers), not in seconds."""

from __future__ import annotations

import numpy as np
import pytest

from lossviz.train import runs
from lossviz.cli import main
from tests.browser.conftest import ARTIFACTS, served
from tests.browser.test_explorer import traces
from tests.idx import write_fake_fashion_mnist

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def training_server(tmp_path_factory):
    from lossviz.explorer import create_app

    root = tmp_path_factory.mktemp("browser-training")
    data_root = write_fake_fashion_mnist(root / "data", n_train=3000, n_test=200)
    # A deep sigmoid MLP (its gradient vanishes, its losses stall), older than "prepared".
    assert main(["compare", "--data-root", str(data_root), "--out", str(root / "runs" / "deep"), "--epochs", "2",
                 "--batch-size", "64", "--losses", "cross_entropy,l2", "--model", "mlp", "--hidden", "16,16,16",
                 "--activation", "sigmoid"]) == 0
    assert main(["compare", "--data-root", str(data_root), "--out", str(root / "runs" / "prepared"), "--epochs", "3",
                 "--batch-size", "64", "--losses", "cross_entropy,l2,l1"]) == 0
    app = create_app(runs_dir=root / "runs", data_root=str(data_root))
    app.jobs.allow = True  # as `lossviz explore` does (`lossviz serve` turns training off unless --allow-training)
    with served(app) as url:
        yield url, root, app
        app.jobs.cancel()


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
    # the job trains on a core beside the browser and the server: allow a loaded machine time
    page.wait_for_function("document.querySelector('#training-form-message').innerText.includes('already running')", timeout=90_000)
    page.click("#training-cancel")
    wait_status(page, "cancelled", 120_000)
    assert not app.jobs.running()
    assert page.console_errors == []


def test_finished_run_is_not_resent_every_poll(page, training_server):
    """Issue 23, bug 1: the "changed?" check compared file times in nanoseconds, which a
    JavaScript number cannot hold exactly, so every 1 s poll re-sent the whole view. A finished
    run's view is sent once; the polls after it answer with nothing to draw."""
    url, root, _ = training_server
    sent = []

    def finished(response):
        req = response.request
        if "_dash-update-component" in req.url and "training-curves.figure" in (req.post_data or ""):
            try:
                body = response.body()
            except Exception:  # a body gone with a navigation
                return
            sent.append(b'"training-curves"' in body)

    page.on("response", finished)
    polls = count_polls(page)
    page.goto(url + "/training?runs=prepared")
    traces(page, "training-curves", lambda d: any(list(t["meta"] or [])[:1] == ["prepared"] for t in d), timeout_ms=60_000)
    seen = len(polls)
    while len(polls) < seen + 4:  # four more polls of the job bar: four more chances to re-send
        page.wait_for_event("requestfinished")
    assert sum(sent) == 1, f"the view was sent {sum(sent)} times for one finished run"
    assert page.console_errors == []


def test_curves_panels_ticks_and_scales(page, training_server):
    """Issue 23, bug 9: a test-loss panel, whole-epoch ticks, and the loss panels say that
    each loss has its own units (they are divided by each loss's own epoch-1 train loss)."""
    url, root, _ = training_server
    page.goto(url + "/training?runs=prepared")
    data = traces(page, "training-curves", lambda d: any(list(t["meta"] or [])[:3] == ["prepared", "l1", "test_loss"] for t in d),
                  timeout_ms=60_000)
    config, metrics = runs.read_run(root / "runs" / "prepared")
    first = [r.train_loss for r in metrics if r.loss == "l2" and r.epoch == 1][0]
    line = next(t for t in data if list(t["meta"])[:3] == ["prepared", "l2", "test_loss"])
    np.testing.assert_allclose(line["y"], [r.test_loss / first for r in metrics if r.loss == "l2"], rtol=1e-6)
    ticks = page.evaluate("""() => [...document.querySelectorAll('#training-curves .xtick text')].map(t => t.textContent)""")
    assert ticks and all(t.isdigit() for t in ticks), ticks
    titles = page.evaluate("""() => [...document.querySelectorAll('#training-curves .annotation-text')].map(t => t.textContent).join(' | ')""")
    assert "test loss" in titles and "epoch 1" in titles, titles
    assert "own units" in page.inner_text("#training-scale-note")
    assert page.console_errors == []


def test_studies_hint_names_the_runs_folder(page, training_server):
    """Issue 23, bug 9: the hint names the folder the explorer reads (--runs), not runs/."""
    url, root, _ = training_server
    page.goto(url + "/training?runs=prepared")
    page.wait_for_selector("#training-studies >> text=No studies of this run yet")
    hint = page.inner_text("#training-studies")
    assert str(root / "runs" / "prepared") in hint, hint
    assert page.console_errors == []


def test_train_now_card_fits_a_phone(browser, training_server):
    """Issue 23, bug 9: on a 390 px phone the "Train now" card stays inside the window."""
    url, root, _ = training_server
    ctx = browser.new_context(viewport={"width": 390, "height": 844})
    page = ctx.new_page()
    page.set_default_timeout(90_000)
    page.goto(url + "/training?runs=prepared")
    page.wait_for_selector("#training-start")
    traces(page, "training-curves", lambda d: len(d) > 0, timeout_ms=60_000)
    # A refused start writes its reason under the button: a long line must wrap, not widen the card.
    # The reason is the MLP's hidden widths (an 80-digit width), so the model must really be the MLP:
    # the option is picked by its role and name ("text=MLP" matched the field labels "... (MLP)" and
    # left Softmax chosen, so the refusal hung on the epochs box, which clamps 100000 to 100 when it
    # loses focus: under load the clamped value could reach the start callback, and a job started).
    page.fill("#training-form-hidden", "9" * 80)
    page.click("#training-form-model")
    page.get_by_role("option", name="Multilayer perceptron").click()
    page.wait_for_function("document.querySelector('#training-form-model').value === 'Multilayer perceptron'")
    page.click("#training-start")
    page.wait_for_function("document.querySelector('#training-form-message').innerText.includes('not started')")
    assert "hidden must be" in page.inner_text("#training-form-message")
    right = page.evaluate("""() => { let worst = 0; for (const el of document.querySelectorAll('#training-wrap-form *')) {
        const r = el.getBoundingClientRect(); if (r.width) worst = Math.max(worst, r.right); } return worst; }""")
    assert right <= 390, f"the form reaches x = {right}"
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.screenshot(path=str(ARTIFACTS / "training-390.png"), full_page=True)
    ctx.close()


def test_gradient_health_and_stall_notes(page, training_server):
    """An MLP run: per-layer gradient norms on a log axis and dead/saturated units, per loss,
    the records' numbers; the stall notes measured from the run. A softmax run hides the panel."""
    from lossviz.train.stalls import health_curves, stall_notes

    url, root, _ = training_server
    page.goto(url + "/training?runs=deep")
    data = traces(page, "training-health", lambda d: any(list(t["meta"] or [])[1:] == ["l2", "grad_norm"] for t in d), timeout_ms=60_000)
    config, metrics = runs.read_run(root / "runs" / "deep")
    want = health_curves(metrics, config)
    for loss in ("cross_entropy", "l2"):
        line = next(t for t in data if list(t["meta"]) == ["deep", loss, "grad_norm"])
        np.testing.assert_allclose(line["y"], want[loss]["grad_norm"], rtol=1e-9)
        assert len(line["y"]) == 4
        sat = next(t for t in data if list(t["meta"]) == ["deep", loss, "saturated_fraction"])
        np.testing.assert_allclose(sat["y"], want[loss]["saturated_fraction"])
    assert page.evaluate("document.querySelector('#training-health .js-plotly-plot').layout.yaxis.type") == "log"
    assert page.is_visible("#training-health-wrap")
    notes = stall_notes(metrics, config)
    if notes:
        page.wait_for_selector("#training-stalls-list")
        shown = page.eval_on_selector_all("#training-stalls-list li", "els => els.map(e => [e.dataset.loss, e.innerText])")
        assert [loss for loss, _ in shown] == list(notes)
        for loss, text in shown:
            assert notes[loss]["text"].split(": ", 1)[1][:40] in text
    else:
        page.wait_for_selector("#training-stalls-none")
    page.screenshot(path=str(ARTIFACTS / "explorer-training-health.png"), full_page=True)
    # softmax regression: no hidden layers, the panel is hidden (the notes stay)
    page.goto(url + "/training?runs=prepared")
    page.wait_for_selector("#training-stalls-none, #training-stalls-list", state="attached")
    page.wait_for_function("getComputedStyle(document.querySelector('#training-health-wrap')).display === 'none'")
    assert page.console_errors == []


def test_top3_switch_and_decision_view(page, training_server):
    """The grid's top-3 switch shows each loss's three classes with probabilities (predictions.json);
    the decision view draws the library's curves for the chosen class and moves with the slider."""
    import json

    from lossviz.data import CLASSES
    from lossviz.train.decisions import run_decisions

    url, root, _ = training_server
    page.goto(url + "/training?runs=prepared")
    page.wait_for_selector("#training-grid-cells .pred-line")
    assert page.locator(".pred-top3").count() == 0
    page.click("#training-top3 + *, label[for=training-top3]") if page.locator("label[for=training-top3]").count() else page.check("#training-top3")
    page.wait_for_selector(".pred-top3")
    grid = json.loads((root / "runs" / "prepared" / "predictions.json").read_text())
    got = page.eval_on_selector_all(".pred-top3", "els => els.map(e => [e.dataset.loss, e.dataset.top3])")
    assert len(got) == len(grid["labels"]) * len(grid["pred"])
    loss, top = got[0]
    assert [c for c, _ in json.loads(top)] == [CLASSES[k] for k in grid["top3"][loss]["classes"][0]]
    page.wait_for_function("window.location.search.includes('top3=1')")
    # The decision view: pick class 6 (Shirt), then a threshold from the URL
    page.goto(url + "/training?runs=prepared&class=6&t=0.3")
    want = run_decisions(root / "runs" / "prepared", 6)
    data = traces(page, "training-decisions", lambda d: any(list(t["meta"] or []) == ["l1", "at"] for t in d), timeout_ms=60_000)
    for loss, c in want.items():
        rec = next(t for t in data if list(t["meta"]) == [loss, "recall"])
        np.testing.assert_allclose(rec["y"], np.nan_to_num(c.recall), atol=1e-12)
        at = next(t for t in data if list(t["meta"]) == [loss, "at"])
        assert at["y"][0] == pytest.approx(float(np.nan_to_num(c.recall[30])))
        assert at["x"][0] == pytest.approx(float(np.nan_to_num(c.false_alarm[30])))
    rows = page.eval_on_selector_all("#training-decision-table tbody tr", "els => els.map(e => [e.dataset.loss, +e.dataset.caught])")
    assert [r[0] for r in rows] == list(want)
    # The slider: keyboard steps move the threshold, the markers and the table follow
    page.focus("#training-dec-threshold [role=slider]")
    for _ in range(20):
        page.keyboard.press("ArrowRight")
    page.wait_for_function("document.querySelector('#training-dec-t-show').innerText === '0.50'")
    data = traces(page, "training-decisions", lambda d: d[0].get("meta") is not None and any(
        list(t["meta"] or []) == ["l1", "at"] and abs(t["y"][0] - float(np.nan_to_num(want["l1"].recall[50]))) < 1e-9 for t in d))
    page.wait_for_function("window.location.search.includes('t=0.5') && window.location.search.includes('class=6')")
    assert "Shirt" in page.inner_text("#training-dec-readout")
    page.screenshot(path=str(ARTIFACTS / "explorer-training-decisions.png"), full_page=True)
    assert page.console_errors == []
