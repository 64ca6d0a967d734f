"""Retake the docs' screenshots: every page at 1,440 px and 390 px wide, and the curve and
training pages at 1,440 x 900 in presentation mode (``NAME-present-1440.png``), headless Chromium.

    LOSSVIZ_DATA=/path/to/fashion-mnist python docs/screenshots/take.py [--out DIR] [NAME ...]

The only writer of docs/screenshots/*.png (the tests write images under test-artifacts/ only).
NAME picks views (e.g. ``playground``); none: all of them. ``--out``: another folder. The Training page shows a short
real run (5 epochs on 20,000 images, 2 seeds) trained first into a temporary folder; without the
data it uses a small synthetic set (tests/idx.py). The playground views are played for a few
hundred steps and paused before they are taken.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from lossviz.cli import main as lossviz  # noqa: E402
from tests.browser.conftest import CHROMIUM_ARGS, _chromium, served  # noqa: E402

# name, path, (playground prefix, steps to play before the picture) or None
VIEWS = [
    ("losses", "/losses?losses=l1,l2,huber&huber.delta=0.8&y=0.5", None),
    ("activations", "/activations?activations=relu,prelu,sigmoid,tanh&prelu.alpha=0.1&vanish=1", None),
    ("losses-check", "/losses?losses=abs_cubic,pseudo_huber&check=1", None),  # with the worked example's plugin
    ("classification", "/classification", None),
    ("softmax", "/softmax?classes=5&target=1&scale=2.2", None),
    ("training", "/training", None),
    ("playground", "/playground?mode=regression&speed=20", ("playground-r", 200)),
    ("playground-classification", "/playground?mode=classification&speed=20", ("playground-c", 300)),
    ("training-gradients", "/training?runs=mlp-sigmoid-demo&_hide=form,studies,export,confusion,grid", None),
    ("playground-capacity", "/playground?mode=capacity&degree=20", None),
    ("playground-capacity-decay", "/playground?mode=capacity&degree=20&wd=0.01", None),
    ("playground-gradients", "/playground?mode=classification&layers=3&activation=sigmoid&speed=20", ("playground-c", 300)),
]

# Every graph drawn (data, or the decision maps' images), formulas typeset, fonts loaded.
DRAWN_JS = """() => {
  const graphs = [...document.querySelectorAll('.js-plotly-plot')];
  const drawn = graphs.length > 0 && graphs.every(e => e._fullLayout && ((e.data && e.data.length) || (e.layout.images || []).length
                                                                       || (e.layout.annotations || []).length));
  const formulas = [...document.querySelectorAll('.formulas')];
  const typeset = formulas.every(f => !f.textContent.includes('$') || f.querySelector('mjx-container'));
  return drawn && typeset && document.fonts.status === 'loaded';
}"""
STEP_JS = "([p, n]) => { const r = document.querySelector('#' + p + '-readout'); return r && parseInt(r.innerText.split(' ')[1]) >= n; }"
# The readout has not changed for a second: paused, the last answer drawn.
QUIET_JS = """(p) => { const r = document.querySelector('#' + p + '-readout');
  if (!window.__lvQuiet) { window.__lvQuiet = {text: r.innerText, at: performance.now()}; }
  if (r.innerText !== window.__lvQuiet.text) { window.__lvQuiet = {text: r.innerText, at: performance.now()}; }
  return performance.now() - window.__lvQuiet.at > 1000; }"""


def take(page, base: str, name: str, path: str, play, out: Path, width: int) -> Path:
    page.goto(base + path)
    page.wait_for_function(DRAWN_JS, timeout=60_000)
    if play is not None:
        prefix, steps = play
        page.click(f"#{prefix}-play")
        page.wait_for_function(STEP_JS, arg=[prefix, steps], timeout=120_000)
        page.click(f"#{prefix}-pause")
        page.wait_for_function(QUIET_JS, arg=prefix, timeout=30_000, polling=100)
    page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")  # the last frame painted
    file = out / f"{name}-{width}.png"
    page.screenshot(path=str(file), full_page=True)
    return file


def main(args: list[str]) -> int:
    from playwright.sync_api import sync_playwright

    from lossviz.explorer import create_app

    out = Path(__file__).resolve().parent
    if args[:1] == ["--out"] and len(args) >= 2:
        out, args = Path(args[1]), args[2:]
        out.mkdir(parents=True, exist_ok=True)
    names = args
    unknown = set(names) - {v[0] for v in VIEWS}
    if unknown:
        print(f"unknown view(s) {', '.join(sorted(unknown))}; valid: {', '.join(v[0] for v in VIEWS)}", file=sys.stderr)
        return 2
    views = [v for v in VIEWS if not names or v[0] in names]
    tmp = Path(tempfile.mkdtemp(prefix="lossviz-shots-"))
    data = os.environ.get("LOSSVIZ_DATA")
    if not data:
        from tests.idx import write_fake_fashion_mnist

        data = str(write_fake_fashion_mnist(tmp / "data", n_train=3000, n_test=300))
    if any(v[0] == "training" for v in views):
        assert lossviz(["compare", "--data-root", data, "--out", str(tmp / "runs" / "softmax-demo"), "--epochs", "5",
                        "--train-subset", "20000", "--seeds", "2"]) == 0
    if any(v[0] == "training-gradients" for v in views):  # a deep sigmoid MLP: vanishing gradients, stalled losses
        assert lossviz(["compare", "--data-root", data, "--out", str(tmp / "runs" / "mlp-sigmoid-demo"), "--epochs", "3",
                        "--train-subset", "20000", "--model", "mlp", "--hidden", "64,64,64,64", "--activation", "sigmoid"]) == 0
    if any(v[0] == "losses-check" for v in views):  # the gradient check of a student's plugin (abs_cubic is wrong for r < 0)
        from lossviz import plugins

        plugins.load_plugins([ROOT / "docs" / "examples" / "student_losses.py"])
    app = create_app(runs_dir=tmp / "runs", data_root=data)
    with served(app) as base:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=_chromium(), args=CHROMIUM_ARGS)
            for width, height, present in ((1440, 1000, False), (390, 844, False), (1440, 900, True)):
                page = browser.new_page(viewport={"width": width, "height": height})
                for name, path, play in views:
                    if present and play is not None:
                        continue  # presentation mode: the curve and training pages
                    if present:
                        name, path = f"{name}-present", path + ("&" if "?" in path else "?") + "present=1"
                    print(take(page, base, name, path, play, out, width))
                page.close()
            browser.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
