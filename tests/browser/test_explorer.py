"""The explorer end to end in headless Chromium: pages, sliders, shared URLs, export, console."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import lossviz
from tests.browser.conftest import ARTIFACTS

pytestmark = pytest.mark.browser

# Plotly receives numpy arrays base64-encoded ({dtype, bdata}); decode them the way plotly.js does.
JS_TRACES = """(sel) => {
  const el = document.querySelector(sel + ' .js-plotly-plot');
  if (!el || !el.data || !el.data.length) return null;
  const types = {f8: Float64Array, f4: Float32Array, i4: Int32Array, i1: Int8Array, u1: Uint8Array, i8: BigInt64Array};
  const arr = (v) => {
    if (v && v.bdata !== undefined) {
      const bin = atob(v.bdata); const buf = new Uint8Array(bin.length);
      for (let i = 0; i < bin.length; i++) buf[i] = bin.charCodeAt(i);
      return Array.from(new types[v.dtype](buf.buffer), Number);
    }
    return Array.from(v || []);
  };
  return el.data.map(t => ({name: t.name, meta: t.meta, x: arr(t.x), y: arr(t.y)}));
}"""


def traces(page, graph_id: str, predicate=lambda t: True, timeout_ms=15000):
    """Poll until the graph holds data satisfying ``predicate`` (the element exists before its data)."""
    deadline = page.evaluate("Date.now()") + timeout_ms
    while True:
        data = page.evaluate(JS_TRACES, f"#{graph_id}")
        if data and predicate(data):
            return data
        if page.evaluate("Date.now()") > deadline:
            raise AssertionError(f"{graph_id}: expected data never arrived; last: {json.dumps(data)[:300] if data else data}")
        page.wait_for_timeout(100)


def by_meta(data, name, key):
    return next(t for t in data if t["meta"] == [name, key])


def test_losses_page_matches_library_and_slider_moves(page, server):
    page.goto(server + "/losses?losses=l2,huber&huber.delta=1")
    data = traces(page, "losses-graph", lambda d: any(t["meta"] == ["huber", "grad"] for t in d))
    g = by_meta(data, "huber", "grad")
    x = torch.tensor(g["x"], dtype=torch.float64)
    want = lossviz.get_loss("huber").grad(x, torch.zeros((), dtype=torch.float64), delta=1.0)
    np.testing.assert_allclose(g["y"], want.numpy(), rtol=1e-6, atol=1e-9)
    lik = by_meta(data, "l2", "likelihood")
    np.testing.assert_allclose(lik["y"], np.exp(-0.5 * np.array(lik["x"]) ** 2), rtol=1e-6)
    # Move the delta slider down with the keyboard: the gradient's plateau follows.
    page.focus("#losses-param-huber-delta [role=slider]")
    for _ in range(10):
        page.keyboard.press("ArrowLeft")
    data = traces(page, "losses-graph", lambda d: max(by_meta(d, "huber", "grad")["y"]) < 0.99)
    delta = max(by_meta(data, "huber", "grad")["y"])
    assert delta == pytest.approx(0.5, abs=1e-6)
    assert "huber.delta=0.5" in page.url  # the state is in the URL
    page.screenshot(path=str(ARTIFACTS / "explorer-losses.png"), full_page=True)
    assert page.console_errors == []


def test_shared_url_restores_state_and_hides_controls(page, server):
    page.goto(server + "/losses?losses=l1&y=1.5&_hide=losses,y")
    data = traces(page, "losses-graph", lambda d: any(t["meta"] == ["l1", "value"] for t in d))
    v = by_meta(data, "l1", "value")
    np.testing.assert_allclose(v["y"], np.abs(np.array(v["x"]) - 1.5), rtol=1e-6, atol=1e-9)
    assert not page.is_visible("#losses-box-losses") and not page.is_visible("#losses-box-y")
    assert page.is_visible("#losses-box-huber\\.delta") is False or True  # not asked to hide: either is fine
    assert page.is_visible("#losses-box-xrange")
    assert page.console_errors == []


def test_activations_page(page, server):
    page.goto(server + "/activations?activations=prelu&prelu.alpha=0.1&vanish=1")
    data = traces(page, "activations-graph", lambda d: any(t["meta"] == ["prelu", "grad"] for t in d))
    g = by_meta(data, "prelu", "grad")
    want = lossviz.get_activation("prelu").grad(torch.tensor(g["x"], dtype=torch.float64), alpha=0.1)
    np.testing.assert_allclose(g["y"], want.numpy(), rtol=1e-6)
    page.screenshot(path=str(ARTIFACTS / "explorer-activations.png"), full_page=True)
    assert page.console_errors == []


def test_softmax_page_and_large_logits(page, server):
    page.goto(server + "/softmax?classes=3&o0=2&o1=1&o2=0.1&temperature=1&target=0")
    data = traces(page, "softmax-graph", lambda d: len(d[0]["y"]) == 3)
    probs = next(t for t in data if t["meta"] == "probs")["y"]
    want = torch.softmax(torch.tensor([2.0, 1.0, 0.1], dtype=torch.float64), -1)
    np.testing.assert_allclose(probs, want.numpy(), rtol=1e-6)
    grad = next(t for t in data if t["meta"] == "grad")["y"]
    np.testing.assert_allclose(grad, (want - torch.tensor([1.0, 0, 0], dtype=torch.float64)).numpy(), rtol=1e-6, atol=1e-9)
    # Large logits: scale by 10^4, the naive form breaks and the stable one does not.
    page.goto(server + "/softmax?classes=3&o0=2&o1=1&o2=0.1&target=1&scale=4")
    page.wait_for_function("document.querySelector('#softmax-loss') && document.querySelector('#softmax-loss').innerText.includes('naive')")
    text = page.inner_text("#softmax-loss")
    assert "stable, log-sum-exp): 10000" in text and ("inf" in text or "NaN" in text)
    page.screenshot(path=str(ARTIFACTS / "explorer-softmax.png"), full_page=True)
    assert page.console_errors == []


def test_export_for_notes_downloads_svg(page, server):
    page.goto(server + "/losses?losses=l1")
    traces(page, "losses-graph")
    with page.expect_download() as info:
        page.click("#losses-export")
    path = info.value.path()
    assert open(path, "rb").read().lstrip().startswith(b"<?xml")
    assert page.console_errors == []


def test_every_nav_link_opens_a_page(page, server):
    page.goto(server + "/")
    for link, graph in (("#nav-activations", "activations-graph"), ("#nav-softmax", "softmax-graph"), ("#nav-losses", "losses-graph")):
        page.click(link)
        traces(page, graph)
    assert page.console_errors == []
