"""The figure exporter: drawn data equals the registry's values; files valid, deterministic, atomic."""

from __future__ import annotations

import functools
import io
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
import torch

import lossviz
from lossviz import curves, export, plot_mpl, presentation

ROOT = Path(__file__).resolve().parent.parent


def lines_by_gid(fig) -> dict:
    return {line.get_gid(): line for ax in fig.axes for line in ax.get_lines() if line.get_gid()}


def entry(stem: str, params=None):
    (e,) = [e for e in export.catalogue(params) if e.stem == stem]
    return e


@pytest.mark.parametrize("name", lossviz.losses())
def test_loss_figure_draws_registry_values(name):
    spec = lossviz.get_loss(name)
    fig = entry(f"loss_{name}").build()
    lines = lines_by_gid(fig)
    x = torch.as_tensor(lines[f"{name}-value"].get_xdata(), dtype=torch.float64)
    if spec.kind == "classification":
        # Drawn against the true-class logit of curves.DEFAULT_LOGITS (class 0).
        o = torch.tensor(curves.DEFAULT_LOGITS, dtype=torch.float64).repeat(len(x), 1)
        o[:, 0] = x
        y = torch.zeros(len(x), dtype=torch.long)
        want = {"value": spec.value(o, y), "likelihood": spec.likelihood(o, y), "grad": spec.grad(o, y)[:, 0]}
    else:
        t = torch.zeros((), dtype=torch.float64)
        want = {"value": spec.value(x, t), "likelihood": spec.likelihood(x, t), "grad": spec.grad(x, t)}
    for key, values in want.items():
        np.testing.assert_allclose(lines[f"{name}-{key}"].get_ydata(), values.numpy(), rtol=1e-12, atol=1e-12)
    assert spec.title in fig.axes[0].get_title()


@pytest.mark.parametrize("name", lossviz.activations())
def test_activation_figure_draws_registry_values(name):
    spec = lossviz.get_activation(name)
    lines = lines_by_gid(entry(f"activation_{name}").build())
    x = torch.as_tensor(lines[f"{name}-value"].get_xdata(), dtype=torch.float64)
    if spec.kind == "vector":
        o = torch.tensor(curves.DEFAULT_LOGITS, dtype=torch.float64).repeat(len(x), 1)
        o[:, 0] = x
        value, grad = spec.value(o)[:, 0], spec.grad(o)[:, 0, 0]
    else:
        value, grad = spec.value(x), spec.grad(x)
    np.testing.assert_allclose(lines[f"{name}-value"].get_ydata(), value.numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(lines[f"{name}-grad"].get_ydata(), grad.numpy(), rtol=1e-12, atol=1e-12)


def test_param_override_reaches_the_drawing():
    lines = lines_by_gid(entry("loss_huber", {"huber": {"delta": 0.5}}).build())
    grad = lines["huber-grad"].get_ydata()
    assert grad.max() == pytest.approx(0.5) and grad.min() == pytest.approx(-0.5)


def test_sweep_draws_each_value():
    fig = entry("sweep_huber_delta").build()
    lines = lines_by_gid(fig)
    for i, delta in enumerate(presentation.sweep("huber", "delta")):
        assert lines[f"huber-grad-{i}"].get_ydata().max() == pytest.approx(min(delta, 3.0))


def test_overflow_figure_marks_naive_failure():
    data = curves.overflow_curve(export.OVERFLOW_LOGITS)
    bad = ~np.isfinite(data["naive"])
    assert bad.any() and np.isfinite(data["stable"]).all()
    # exp overflows float32 just above 88.7; the naive form fails from there on.
    assert 85 < data["scale"][bad][0] < 95
    fig = entry("cross_entropy_overflow").build()
    naive_line = lines_by_gid(fig)["ce-naive"]
    assert np.isnan(naive_line.get_ydata()[bad]).all()
    assert any("inf" in t.get_text() for t in fig.axes[0].texts)


def test_every_catalogue_entry_builds_and_is_named_predictably():
    stems = [e.stem for e in export.catalogue()]
    assert len(stems) == len(set(stems))
    for name in lossviz.losses():
        assert f"loss_{name}" in stems
    for name in lossviz.activations():
        assert f"activation_{name}" in stems


def test_formats_valid(tmp_path):
    written = export.export(export.select(export.catalogue(), ["loss_l2"]), tmp_path, formats=("png", "svg", "pdf"))
    assert {p.name for p in written} == {"loss_l2.png", "loss_l2.svg", "loss_l2.pdf", "index.md"}
    assert (tmp_path / "loss_l2.png").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert ET.parse(tmp_path / "loss_l2.svg").getroot().tag.endswith("svg")
    assert (tmp_path / "loss_l2.pdf").read_bytes().startswith(b"%PDF-")
    assert "loss_l2.svg" in (tmp_path / "index.md").read_text()
    assert not list(tmp_path.glob(".*tmp"))


def test_deterministic_svg_and_pdf(tmp_path):
    chosen = export.select(export.catalogue(), ["huber"])
    a = export.export(chosen, tmp_path / "a", formats=("svg", "pdf"))
    b = export.export(chosen, tmp_path / "b", formats=("svg", "pdf"))
    for pa, pb in zip(a, b):
        assert pa.read_bytes() == pb.read_bytes(), pa.name


@pytest.mark.parametrize("stem", ["loss_huber", "losses_regression", "sweep_huber_delta"])
def test_layout_solved_once_draws_what_matplotlib_draws(stem):
    """``render`` solves the constrained layout once and keeps it (one draw per file instead of a
    dry run and a draw per format): the PNG is byte for byte matplotlib's own savefig, and the
    formats after it neither solve it again nor move an axes."""
    fig = entry(stem).build()
    assert fig.get_layout_engine() is not None
    ours = export.render(fig, "png")
    assert fig.get_layout_engine() is None
    positions = [ax.get_position().bounds for ax in fig.axes]
    own = io.BytesIO()
    entry(stem).build().savefig(own, format="png", dpi=export.DEFAULT_DPI, metadata=export.METADATA["png"])
    assert ours == own.getvalue()
    export.render(fig, "svg")
    assert [ax.get_position().bounds for ax in fig.axes] == positions


def test_layout_kept_when_rc_asks_for_an_engine():
    """A user's matplotlibrc with figure.autolayout must not swap in tight layout afterwards."""
    import matplotlib

    fig = entry("loss_l1").build()
    with matplotlib.rc_context({"figure.autolayout": True}):
        export.render(fig, "png")
        assert fig.get_layout_engine() is None
        other = entry("loss_l2").build()
        export.settle_layout(other)  # called on its own too
        assert other.get_layout_engine() is None


def test_styles_change_the_colours(tmp_path):
    with plot_mpl.style("dark"):
        fig = entry("loss_l1").build()
    assert fig.get_facecolor()[:3] != (1.0, 1.0, 1.0)
    with pytest.raises(ValueError, match="unknown style"):
        with plot_mpl.style("neon"):
            pass


def test_plot_api_matplotlib_and_plotly():
    from matplotlib.figure import Figure

    fig = lossviz.plot_loss("huber", delta=0.5)
    assert isinstance(fig, Figure)
    assert lines_by_gid(fig)["huber-grad"].get_ydata().max() == pytest.approx(0.5)
    pfig = lossviz.plot_loss("huber", backend="plotly", delta=0.5)
    grad_trace = [t for t in pfig.data if t.name == "gradient"][0]
    assert np.max(grad_trace.y) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="unknown backend"):
        lossviz.plot_loss("l1", backend="bokeh")
    with pytest.raises(ValueError, match="huber.delta"):
        lossviz.plot_loss("huber", delta=-1)


def _cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "lossviz.cli", "figures", *args], capture_output=True, text=True, cwd=cwd)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--only", "swishy"], "unknown figure or name 'swishy'"),
        (["--param", "huber.delta"], "malformed --param"),
        (["--param", "huber.delta=abc"], "is not a number"),
        (["--param", "huber.delta=-1"], r"huber.delta must be a number in \(0, inf\)"),
        (["--param", "huber.beta=1"], "has no parameter 'beta'"),
        (["--param", "mse.delta=1"], "unknown loss or activation 'mse'"),
        (["--format", "gif"], "unknown format 'gif'"),
        (["--dpi", "5"], "dpi must be"),
        (["--style", "neon"], "invalid choice"),
    ],
)
def test_cli_errors_one_line_exit_2(tmp_path, args, message):
    from tests.clirun import cli_in_process

    res = cli_in_process("figures", "--out", tmp_path / "out", *args)
    assert res.returncode == 2, res.stderr
    assert len(res.stderr.strip().splitlines()) == 1
    assert __import__("re").search(message, res.stderr), res.stderr
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_cli_only_keeps_the_gallery(tmp_path):
    (tmp_path / "index.md").write_text("the full gallery")
    res = _cli("--out", str(tmp_path), "--only", "huber", "--format", "svg")
    assert res.returncode == 0, res.stderr
    assert (tmp_path / "index.md").read_text() == "the full gallery"
    assert {p.name for p in tmp_path.iterdir()} == {"index.md", "loss_huber.svg", "sweep_huber_delta.svg", "losses_regression.svg"}


def test_cli_unwritable_folder(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    res = _cli("--out", str(blocker / "sub"))
    assert res.returncode == 2 and "cannot create output folder" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1


def test_committed_figures_are_current(tmp_path):
    """`lossviz figures` regenerates exactly the committed figures/ set (run it after a change)."""
    res = _cli("--out", str(tmp_path))
    assert res.returncode == 0, res.stderr
    committed = sorted(p.name for p in (ROOT / "figures").iterdir() if p.is_file())  # figures/playground: its own test
    fresh = sorted(p.name for p in tmp_path.iterdir())
    assert committed == fresh
    for name in fresh:
        if name.endswith((".svg", ".md", ".png")):
            assert (tmp_path / name).read_bytes() == (ROOT / "figures" / name).read_bytes(), f"figures/{name} is stale: run `lossviz figures`"


def test_playground_figures_draw_the_toy_frames(tmp_path):
    """The playground's exported figures show lossviz.toy's own numbers; the committed
    figures/playground set has one PNG and one SVG per entry."""
    from lossviz import export, toy

    entries = {e.stem: e for e in export.playground_entries()}
    fig = entries["playground_regression_outliers"].build()
    data = toy.line_data(40, outlier_frac=0.2, outlier_size=6.0, seed=0)
    setup = toy.regression_setup(data, export.PLAYGROUND_REGRESSION, lr=0.05)
    frame = toy.run(setup, 2000, every=2000)[-1]
    lines = {l.get_gid(): l for ax in fig.axes for l in ax.get_lines()}
    for i, name in enumerate(export.PLAYGROUND_REGRESSION):
        np.testing.assert_allclose(lines[f"fit-{name}"].get_ydata(), frame["fit"][i], rtol=1e-6)
    committed = sorted(p.name for p in (ROOT / "figures" / "playground").iterdir())
    gifs = [f"{stem}.gif" for stem, e in entries.items() if e.gif]
    assert gifs == ["playground_regression_wave.gif", "playground_boundaries_spiral.gif"]
    assert committed == sorted([f"{stem}.{fmt}" for stem in entries for fmt in ("png", "svg")] + gifs + ["index.md"])


def test_toy_gif_is_an_animation_of_the_run():
    from PIL import Image

    from lossviz import export, toy

    data = toy.line_data(20, outlier_frac=0.2, seed=0)
    setup = toy.regression_setup(data, ("l2", "l1"), lr=0.05)
    gif = Image.open(io.BytesIO(export.toy_gif(setup, 50, frames=5)))
    assert gif.format == "GIF" and gif.n_frames == 5
    gif.seek(0)
    a = np.asarray(gif.convert("RGB")).copy()
    gif.seek(4)
    b = np.asarray(gif.convert("RGB"))
    assert (a != b).any()  # the fits moved between the first and the last frame


# --- the surrogate-losses view and Barron's family --------------------------------------------


def test_margin_view_binary_closed_forms():
    # Two classes, the rival's logit at 0: the margin is o_y itself; cross-entropy is the
    # logistic loss log(1 + e^-m), hinge max(0, 1 - m), p_y = sigmoid(m) (textbook forms).
    view = curves.margin_view([("cross_entropy", {}), ("hinge", {})], n=401)
    m = torch.as_tensor(view.margin)
    ce, hinge = view.curves
    np.testing.assert_allclose(ce.series["value"], torch.nn.functional.softplus(-m).numpy(), rtol=1e-12)
    np.testing.assert_allclose(ce.series["grad"], (-torch.sigmoid(-m)).numpy(), rtol=1e-12)
    np.testing.assert_allclose(hinge.series["value"], torch.clamp(1 - m, min=0).numpy())
    np.testing.assert_allclose(view.p_true, torch.sigmoid(m).numpy(), rtol=1e-12)
    np.testing.assert_array_equal(view.zero_one, (view.margin <= 0).astype(float))
    with pytest.raises(ValueError, match="not a classification loss"):
        curves.margin_view([("l2", {})])


def test_surrogate_figure_draws_the_margin_view():
    fig = entry("surrogate_losses").build()
    lines = lines_by_gid(fig)
    view = curves.margin_view()
    assert [c.name for c in view.curves] == [n for n, _ in curves.SURROGATES]
    for i, c in enumerate(view.curves):
        for key in ("value", "grad"):
            np.testing.assert_allclose(lines[f"{c.name}-{key}-{i}"].get_ydata(), c.series[key], rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(lines["zero_one-value"].get_ydata(), view.zero_one)
    # The label-smoothed cross-entropy is drawn apart from the plain one (dashed).
    assert lines["cross_entropy-value-4"].get_linestyle() != lines["cross_entropy-value-0"].get_linestyle()


def test_robust_family_figure_has_no_density_below_zero():
    fig = entry("robust_family").build()
    lines = lines_by_gid(fig)
    family = curves.robust_family()
    spec = lossviz.get_loss("general")
    for i, c in enumerate(family):
        x = torch.as_tensor(c.x)
        np.testing.assert_allclose(lines[f"general-value-{i}"].get_ydata(), spec.value(x, 0.0, **c.params).numpy(), rtol=1e-12)
        np.testing.assert_allclose(lines[f"general-grad-{i}"].get_ydata(), spec.grad(x, 0.0, **c.params).numpy(), rtol=1e-12)
        if c.params["alpha"] >= 0:
            dens = spec.likelihood(x, 0.0, normalized=True, **c.params).numpy()
            np.testing.assert_allclose(lines[f"general-likelihood-{i}"].get_ydata(), dens, rtol=1e-12)
        else:
            assert f"general-likelihood-{i}" not in lines
    assert any("no density" in t.get_text() for t in fig.axes[2].texts)
    assert [c.labels["member"] for c in family if c.params["alpha"] in (0.0, 1.0, 2.0)] == ["Cauchy", "pseudo-Huber", "L2"]


def test_new_sweeps_in_the_catalogue():
    stems = {e.stem for e in export.catalogue()}
    assert {"sweep_focal_gamma", "sweep_gce_q", "sweep_cross_entropy_label_smoothing", "robust_family", "surrogate_losses"} <= stems
    assert "sweep_general_alpha" not in stems  # robust_family is its sweep
    fig = entry("sweep_focal_gamma").build()
    lines = lines_by_gid(fig)
    for i, gamma in enumerate(presentation.sweep("focal", "gamma")):
        c = curves.loss_curve("focal", {"gamma": gamma})
        np.testing.assert_allclose(lines[f"focal-value-{i}"].get_ydata(), c.series["value"], rtol=1e-12)


def test_prediction_grid_draws_each_guess_with_its_own_correctness():
    from lossviz.data import CLASSES

    rng = np.random.default_rng(0)
    grid = {"images": rng.integers(0, 255, (8, 28, 28)).tolist(), "labels": [0, 1, 2, 3, 4, 5, 6, 7],
            "pred": {"cross_entropy": [0, 1, 2, 3, 4, 5, 6, 0], "l1": [9, 1, 2, 3, 4, 5, 6, 7]}}
    fig = plot_mpl.predictions_figure(grid, CLASSES)  # class names are data: the caller's
    texts = {t.get_gid(): t for ax in fig.axes for t in ax.texts}
    for i, label in enumerate(grid["labels"]):
        assert texts[f"true-{i}"].get_text() == CLASSES[label]
        for name, guesses in grid["pred"].items():
            ok = guesses[i] == label
            t = texts[f"pred-{i}-{name}-{'right' if ok else 'wrong'}"]
            assert t.get_text() == f"{name}: {CLASSES[guesses[i]]}"
    (ax,) = fig.axes
    assert [im.get_gid() for im in ax.get_images()] == [f"image-{i}" for i in range(8)]  # 8 images, a 6-wide grid
    for i, image in enumerate(ax.get_images()):
        assert np.array_equal(image.get_array(), np.asarray(grid["images"][i]))
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig)  # drawn without constrained layout, nothing overlaps:
    canvas.draw()  # each cell's lines stay inside its column, below its image and above the next row
    r = canvas.get_renderer()

    def box(gids):
        extents = [texts[g].get_window_extent(r) for g in gids if g in texts] + [im.get_window_extent(r) for im in ax.get_images()
                                                                     if im.get_gid() in gids]
        return min(e.x0 for e in extents), max(e.x1 for e in extents), min(e.y0 for e in extents), max(e.y1 for e in extents)

    cells = [box([f"image-{i}", f"true-{i}"] + [g for g in texts if g.startswith(f"pred-{i}-")]) for i in range(8)]
    for i in range(7):
        if i % 6 != 5:  # the next cell in the same row starts right of this one's widest line
            assert cells[i][1] < cells[i + 1][0]
    for i in range(2):  # the cell below (row 2) ends above this one's last line (y up in pixels)
        assert cells[i + 6][3] < cells[i][2]
    assert max(c[1] for c in cells) <= fig.bbox.width and min(c[2] for c in cells) >= 0


def _run_grid():
    rng = np.random.default_rng(1)
    return {"images": rng.integers(0, 255, (3, 28, 28)).tolist(), "labels": [0, 1, 2],
            "pred": {"cross_entropy": [0, 1, 3], "l2": [0, 2, 2]}}


def _run_curves():
    return {name: {"train_loss": ([1, 2], [1.0, 0.5], [0, 0]), "test_loss": ([1, 2], [1.1, 0.6], [0, 0]),
                   "train_acc": ([1, 2], [0.5, acc], [0, 0]), "test_acc": ([1, 2], [0.5, acc], [0, 0])}
            for name, acc in (("cross_entropy", 0.8), ("l2", 0.7))}


def test_a_pool_draws_the_bytes_drawn_here(tmp_path):
    """A large set is drawn by a process pool: every file is the bytes drawn in this process,
    under this process's rcParams and style (curves with mathtext, a trained playground figure
    on the pool's one torch thread, a run's two figures; every format)."""
    from matplotlib import rc_context

    stems = ("loss_huber", "surrogate_losses")
    entries = [entry(s) for s in stems] + [e for e in export.playground_entries() if e.stem == "playground_boundaries_gaussian"]
    entries += [export.FigureEntry("p", "", "", (), functools.partial(plot_mpl.predictions_figure, _run_grid(), tuple("abcdefghij"))),
                export.FigureEntry("t", "", "", (), functools.partial(plot_mpl.training_figure, _run_curves()))]
    with rc_context({"axes.grid": False, "font.size": 9}):  # a caller's own settings reach the pool too
        here = export.export(entries, tmp_path / "here", formats=("png", "svg", "pdf"), style="dark", processes=1)
        pooled = export.export(entries, tmp_path / "pool", formats=("png", "svg", "pdf"), style="dark", processes=2)
    assert [p.name for p in here] == [p.name for p in pooled] and len(here) == 3 * len(entries) + 1
    for a, b in zip(here, pooled):
        assert a.read_bytes() == b.read_bytes(), a.name
    plain = export.export(entries[:1], tmp_path / "plain", formats=("svg",), processes=1)
    assert plain[0].read_bytes() != (tmp_path / "here" / "loss_huber.svg").read_bytes()  # the rc and style did count


def _session_has(session: int, text: str) -> bool:
    """Whether a process of the session ``session`` has ``text`` in its command line."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[3]) == session and text in (stat.parent / "cmdline").read_text():
                return True
        except (OSError, ValueError, IndexError):
            continue
    return False


@pytest.mark.skipif(not Path("/proc/self/stat").is_file(), reason="reads the process table from /proc")
def test_ctrl_c_while_the_pool_draws_ends_in_one_line(tmp_path):
    """A Ctrl-C (SIGINT to the whole process group, as a terminal sends it) while the pool draws:
    the command says so in one line and exits 130, the pool's processes end, nothing is written."""
    import os
    import signal
    import time

    proc = subprocess.Popen([sys.executable, "-m", "lossviz.cli", "figures", "--out", str(tmp_path / "out"), "--format", "png"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 120
    while not _session_has(proc.pid, "forkserver") and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(1.0)  # the workers starting or drawing
    os.killpg(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130 and err == "lossviz: interrupted\n", err
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
    deadline = time.monotonic() + 30
    while _session_has(proc.pid, "python") and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _session_has(proc.pid, "python")


def test_entries_that_do_not_pickle_are_drawn_here(tmp_path):
    entries = [export.FigureEntry(f"p{i}", "", "", (), lambda: plot_mpl.predictions_figure(_run_grid(), tuple("abcdefghij")))
               for i in range(2)]
    written = export.export(entries, tmp_path, formats=("png",), processes=2, index=False)
    assert [p.name for p in written] == ["p0.png", "p1.png"] and written[0].read_bytes() == written[1].read_bytes()


def test_svg_is_laid_out_as_the_png_whatever_comes_first():
    """The layout is solved once, with Agg's metrics: an SVG written alone draws everything where
    an SVG written after the PNG does (only matplotlib's hashed element ids differ)."""
    import re

    def geometry(svg: bytes) -> str:
        ids: dict[str, str] = {}
        return re.sub(r"\b([a-z]+)[0-9a-f]{10}\b", lambda m: ids.setdefault(m.group(0), f"id{len(ids)}"), svg.decode())

    alone = export.render(entry("loss_huber").build(), "svg")
    fig = entry("loss_huber").build()
    export.render(fig, "png")
    assert geometry(export.render(fig, "svg")) == geometry(alone)


def test_training_figure_ticks_whole_epochs():
    fig = plot_mpl.training_figure(_run_curves())
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig).draw()
    for ax in fig.axes:
        ticks = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
        assert ticks and all(float(t).is_integer() for t in ticks), ticks
