"""The figure exporter: the catalogue of notes-ready figures, a run's own figures, written
atomically, plus a gallery.

Every figure is drawn by ``plot_mpl`` from ``curves`` data, i.e. from the registry's own
functions; a run's figures from the records its run folder holds. Output is deterministic (no
dates, fixed SVG ids), so committed figures do not churn.
"""

from __future__ import annotations

import io
import os
import pickle
from dataclasses import dataclass, field
from functools import partial
from itertools import repeat
from pathlib import Path
from typing import Callable

from lossviz import checks, curves, plot_capacity, plot_mpl
from lossviz.files import FIGURE_FORMATS, prepare_out_dir, write_atomic  # noqa: F401 - the exporter's API too
from lossviz.presentation import sweep
from lossviz.registry import activations, get, get_activation, get_loss, losses
from lossviz.registry import parse_params  # noqa: F401 - the exporter's API too
from lossviz.render import DEFAULT_DPI, METADATA, render, settle_layout  # noqa: F401 - the exporter's API too

FORMATS = FIGURE_FORMATS
DEFAULT_FORMATS = ("png", "svg")
OVERFLOW_LOGITS = (1.0, 0.0, -1.0)
TEMPERATURE_LOGITS = (2.0, 1.0, 0.1, -1.0)
TEMPERATURES = (0.5, 1.0, 2.0, 5.0)
# Parameters whose sweep has a figure of its own instead of a generic sweep_NAME_PARAM.
_OWN_FIGURE = {("softmax", "temperature"): "softmax_temperature", ("general", "alpha"): "robust_family"}


@dataclass(frozen=True)
class FigureEntry:
    """One figure of the catalogue: its file stem, what it shows, and how to draw it.

    ``build`` (and ``gif``) should pickle (a module-level function, or a ``functools.partial``
    of one with plain data), so that a large set is drawn in a process pool; a set with one that
    does not is drawn in the calling process (the same bytes)."""

    stem: str
    title: str
    formula: str  # LaTeX for the gallery page
    names: tuple[str, ...]  # the losses / activations it is about (for --only)
    build: Callable[[], object] = field(repr=False)
    gif: Callable[[], bytes] | None = field(default=None, repr=False)  # an animation for slides, written as STEM.gif


def default_out_dir() -> Path:
    """``figures/`` at the repository root for a source checkout, else in the current folder."""
    root = Path(__file__).resolve().parent.parent
    return root / "figures" if (root / "pyproject.toml").is_file() else Path.cwd() / "figures"


# The catalogue's drawings: module-level, so that an entry's build pickles (see FigureEntry).

def _loss(name: str, params: dict | None):
    return plot_mpl.loss_figure(curves.loss_curve(name, params))


def _overlay(names: tuple[str, ...], params: dict):
    return plot_mpl.overlay_figure([curves.loss_curve(n, params.get(n), x_range=(-4, 4)) for n in names])


def _activation(name: str, params: dict | None):
    return plot_mpl.activation_figure(curves.activation_curve(name, params))


def _activation_grid(names: tuple[str, ...], params: dict):
    return plot_mpl.activation_grid_figure([curves.activation_curve(n, params.get(n)) for n in names])


def _temperature():
    return plot_mpl.temperature_figure(TEMPERATURE_LOGITS, curves.temperature_sweep(TEMPERATURE_LOGITS, TEMPERATURES))


def _overflow():
    return plot_mpl.overflow_figure(curves.overflow_curve(OVERFLOW_LOGITS), OVERFLOW_LOGITS)


def _surrogates(params: dict):
    return plot_mpl.surrogate_figure(curves.margin_view([(n, {**params.get(n, {}), **p}) for n, p in curves.SURROGATES]))


def _robust_family(scale: float):
    return plot_mpl.robust_family_figure(curves.robust_family(scale=scale))


def _sweep(name: str, param: str, values: tuple[float, ...], params: dict | None, loss: bool):
    make = curves.loss_curve if loss else curves.activation_curve
    return plot_mpl.sweep_figure([make(name, {**(params or {}), param: v}) for v in values], param)


def catalogue(params: dict[str, dict] | None = None, *, playground: bool = False) -> list[FigureEntry]:
    """Every default figure, built from the registry; ``params`` = {name: {param: value}}.
    ``playground``: also the playground's figures (they train small models: seconds each)."""
    params = params or {}
    for name, p in params.items():
        get(name).resolve(p)  # unknown names / parameters / ranges fail before drawing
    out: list[FigureEntry] = []

    regression = tuple(n for n in losses() if get_loss(n).kind == "regression")
    for name in losses():
        spec = get_loss(name)
        out.append(FigureEntry(f"loss_{name}", spec.title, spec.formula.value, (name,), partial(_loss, name, params.get(name))))
    out.append(FigureEntry("losses_regression", "Regression losses compared: value, gradient, likelihood",
                           "", regression, partial(_overlay, regression, params)))

    for name in activations():
        spec = get_activation(name)
        out.append(FigureEntry(f"activation_{name}", spec.title, spec.formula.value, (name,),
                               partial(_activation, name, params.get(name))))
    out.append(FigureEntry("activations_grid", "All activations and their derivatives", "", tuple(activations()),
                           partial(_activation_grid, tuple(activations()), params)))

    out.append(FigureEntry("softmax_temperature", "Softmax probabilities at several temperatures",
                           get_activation("softmax").formula.value, ("softmax",), _temperature))
    out.append(FigureEntry("cross_entropy_overflow", "Naive vs stable cross-entropy as logits grow",
                           get_loss("cross_entropy").formula.value, ("cross_entropy",), _overflow))
    out.append(FigureEntry(
        "surrogate_losses", "Classification losses against the margin: the surrogate losses and the 0-1 loss",
        "m = o_y - \\max_{i \\ne y} o_i", tuple(dict.fromkeys(n for n, _ in curves.SURROGATES)), partial(_surrogates, params)))
    out.append(FigureEntry(
        "robust_family", "Barron's general robust loss: loss, gradient and density across alpha",
        get_loss("general").formula.value, ("general",), partial(_robust_family, params.get("general", {}).get("scale", 1.0))))

    for name in losses() + activations():
        spec = get(name)
        for p in spec.params:
            if (name, p.name) in _OWN_FIGURE:
                continue
            out.append(FigureEntry(
                f"sweep_{name}_{p.name}", f"{spec.title} at several values of {p.name}", spec.formula.value, (name,),
                partial(_sweep, name, p.name, sweep(name, p.name), params.get(name), name in losses())))
    if playground:
        out += playground_entries()
    return out


# The playground's figures: what each loss does to a small model, drawn from lossviz.toy's frames.
PLAYGROUND_REGRESSION = ("l2", "l1", "huber")
PLAYGROUND_CLASSIFICATION = ("cross_entropy", "hinge", "focal", "l2")
PLAYGROUND_STEPS = {"circle": 400, "xor": 400, "gaussian": 200, "spiral": 1500, "moons": 400}


_WAVE_TITLE = "A small MLP fitted with each loss to a wave with 15 % outliers"


def _regression_outliers():
    from lossviz import toy

    data = toy.line_data(40, outlier_frac=0.2, outlier_size=6.0, seed=0)
    setup = toy.regression_setup(data, PLAYGROUND_REGRESSION, lr=0.05)
    frame = toy.run(setup, 2000, every=2000)[-1]
    return plot_mpl.toy_regression_figure(frame, data, "A line fitted with each loss to points with 20 % outliers")


def _wave_setup():
    from lossviz import toy

    frac, size, noise, shape, _ = toy.REGRESSION_PRESETS["wave with outliers (MLP)"]
    data = toy.line_data(40, outlier_frac=frac, outlier_size=size, noise=noise, seed=0, shape=shape)
    return toy.regression_setup(data, PLAYGROUND_REGRESSION, hidden=toy.REGRESSION_MLP, activation="tanh", lr=0.05)


def _wave():
    from lossviz import toy

    setup = _wave_setup()
    return plot_mpl.toy_regression_figure(toy.run(setup, 3000, every=3000)[-1], setup.data, _WAVE_TITLE)


def _wave_gif() -> bytes:
    return toy_gif(_wave_setup(), 3000 // GIF_FRAMES, title=_WAVE_TITLE)


def _boundaries_setup(name: str):
    from lossviz import toy

    data = toy.points_data(name, 400, noise=0.05, seed=0)
    return toy.classification_setup(data, PLAYGROUND_CLASSIFICATION, hidden=(8, 8), lr=0.1, batch_size=10)


def _boundaries(name: str):
    from lossviz import toy

    setup, steps = _boundaries_setup(name), PLAYGROUND_STEPS[name]
    return plot_mpl.toy_boundaries_figure(toy.run(setup, steps, every=steps)[-1], setup.data)


def _boundaries_gif(name: str) -> bytes:
    return toy_gif(_boundaries_setup(name), PLAYGROUND_STEPS[name] // GIF_FRAMES)


def playground_entries() -> list[FigureEntry]:
    """Regression with outliers per loss, and the decision maps per loss for each 2-D set."""
    from lossviz import toy

    # "playground" among the names: `lossviz figures --playground --only playground` draws just these.
    out = [FigureEntry("playground_regression_outliers", "Regression with outliers: each loss's fit and each point's pull",
                       "", ("playground", *PLAYGROUND_REGRESSION), _regression_outliers),
           FigureEntry("playground_regression_wave", "A wave with outliers: each loss's MLP fit and each point's pull",
                       "", ("playground", *PLAYGROUND_REGRESSION), _wave, gif=_wave_gif)]
    for name in toy.DATASETS:
        out.append(FigureEntry(f"playground_boundaries_{name}", f"Decision maps per loss on {name}", "",
                               ("playground", *PLAYGROUND_CLASSIFICATION), partial(_boundaries, name),
                               gif=partial(_boundaries_gif, name) if name == "spiral" else None))
    out += [FigureEntry("playground_capacity", "Capacity: train and test loss against the polynomial degree (d2l 4.4)",
                        "", ("playground", "capacity"), _capacity),
            FigureEntry("playground_capacity_curves", "Degrees 1, 3 and 20 on 20 points, without and with weight decay",
                        "", ("playground", "capacity"), _capacity_curves),
            FigureEntry("playground_capacity_weights", "Learned polynomial weights beside the true ones", "",
                        ("playground", "capacity"), _capacity_weights)]
    return out


# The capacity figures (d2l 4.4-4.5), all on d2l's data and settings (100 + 100 points, 400
# epochs, seed 0): degree 20 overfits there and lambda = 0.01 narrows the gap; lambda >= 0.1
# underfits (see docs/playground.md for the seeds where decay does not help).
CAPACITY_DECAY = 0.01


def _capacity():
    from lossviz import capacity

    return plot_capacity.capacity_figure({"lambda=0": capacity.capacity_curve(),
                                          f"lambda={CAPACITY_DECAY:g}": capacity.capacity_curve(weight_decay=CAPACITY_DECAY)},
                                         "Capacity on d2l's 100 points: final train and test loss against the degree")


def _capacity_curves():
    from lossviz import capacity

    fits = {d: tuple(capacity.polynomial_fit(d, weight_decay=wd) for wd in (0.0, CAPACITY_DECAY)) for d in (1, 3, 20)}
    return plot_capacity.loss_curves_figure(fits, "Train (solid) and test (dashed) loss on d2l's 100 points, without and with weight decay")


def _capacity_weights():
    from lossviz import capacity

    fits = {"degree 3": capacity.polynomial_fit(3), "degree 20": capacity.polynomial_fit(20),
            f"degree 20, lambda={CAPACITY_DECAY:g}": capacity.polynomial_fit(20, weight_decay=CAPACITY_DECAY)}
    return plot_capacity.coefficients_figure(fits, "Polynomials fitted to d2l's 100 points (d2l 4.4's data)")


GIF_FRAMES = 24


def toy_view(setup, grid: int = 60):
    """(frame function, matplotlib drawing) for a toy set-up of either task."""
    from lossviz import toy

    if setup.task == "regression":
        return toy.regression_frame, plot_mpl.toy_regression_figure
    return (lambda s, st: toy.classification_frame(s, st, grid)), plot_mpl.toy_boundaries_figure


def toy_gif(setup, speed: int, frames: int | None = None, dpi: int = 60, title: str = "") -> bytes:
    """An animated GIF of a toy training from step 0 (for slides): ``frames`` (default
    GIF_FRAMES) frames, ``speed`` steps apart, each drawn by matplotlib from the toy's frame, as the exported figure."""
    from PIL import Image

    from lossviz import toy

    frame_of, draw = toy_view(setup)
    state, images = setup.new_state(), []
    for _ in range(GIF_FRAMES if frames is None else frames):
        fig = draw(frame_of(setup, state), setup.data, title)
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=dpi, metadata=METADATA["png"])
        images.append(Image.open(io.BytesIO(buf.getvalue())).convert("P", palette=Image.ADAPTIVE))
        state = toy.advance(setup, state, speed)
    out = io.BytesIO()
    images[0].save(out, format="GIF", save_all=True, append_images=images[1:], duration=150, loop=0)
    return out.getvalue()


def select(entries: list[FigureEntry], only: list[str] | None) -> list[FigureEntry]:
    """Entries whose stem, or one of whose names, is in ``only`` (all when ``only`` is empty)."""
    if not only:
        return entries
    valid = sorted({e.stem for e in entries} | {n for e in entries for n in e.names})
    for o in only:
        checks.choice(o, "figure or name", valid)
    return [e for e in entries if e.stem in only or set(e.names) & set(only)]


def check_options(formats, dpi: int, style: str = "light") -> tuple[tuple[str, ...], int]:
    """The formats (none twice) and dpi, checked through ``lossviz.checks`` before anything is
    drawn; ``ValueError`` naming the first value the exporter cannot use."""
    formats = tuple(dict.fromkeys(checks.choice(f, "format", FORMATS) for f in formats))
    checks.choice(style, "style", plot_mpl.STYLES)
    return formats, checks.integer(dpi, "dpi", 30, 1200)


def export(entries: list[FigureEntry], out: Path, *, formats=DEFAULT_FORMATS, dpi: int = DEFAULT_DPI,
           style: str = "light", index: bool = True, processes: int | None = None) -> list[Path]:
    """Draw ``entries`` and write each in every format; returns the written paths.

    All figures are rendered in memory before the first file is written, so a failure while
    drawing leaves the folder as it was. ``processes``: how many draw (1: this one; default:
    a pool of one per core for a set of ``POOL_FROM`` figures or more); the bytes are the same.
    """
    formats, dpi = check_options(formats, dpi, style)
    if processes is not None:
        processes = checks.integer(processes, "processes", 1, 1024)
    out = prepare_out_dir(out)
    rendered: dict[Path, bytes] = {}
    for e, files in zip(entries, _render_all(entries, formats, dpi, style, processes)):
        for fmt, data in zip((*formats, "gif"), files):  # the animation, where there is one, comes last
            rendered[out / f"{e.stem}.{fmt}"] = data
    if index:
        rendered[out / "index.md"] = gallery(entries, formats).encode()
    for path, data in rendered.items():
        write_atomic(path, data)
    return list(rendered)


# A pool pays from about this many figures: its processes start by importing torch and
# matplotlib (~2.5 s, side by side), one figure in three formats takes ~0.45 s to draw.
POOL_FROM = 12


def _render_entry(entry: FigureEntry, formats: tuple[str, ...], dpi: int) -> list[bytes]:
    """One entry in every format (the layout, solved for the first, serves them all), then its
    animation if it has one."""
    fig = entry.build()
    return [render(fig, fmt, dpi) for fmt in formats] + ([entry.gif()] if entry.gif else [])


def _render_in_worker(entry: FigureEntry, formats: tuple[str, ...], dpi: int, style: str, rc: dict) -> list[bytes]:
    """``_render_entry`` in a pool process, under the caller's rcParams and style: the bytes the
    caller would have drawn itself."""
    from matplotlib import rc_context

    with rc_context(rc), plot_mpl.style(style):
        return _render_entry(entry, formats, dpi)


def _start_worker(plugin_paths: list[str] = ()) -> None:
    """A pool process: Ctrl-C is the caller's to handle (it cancels the figures not yet drawn
    and ends the pool), torch runs on one thread (the pool has one process per core), and the
    caller's plugins are loaded (their entries are drawn here too)."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    from lossviz.plugins import load_plugins

    load_plugins(plugin_paths)
    import torch

    torch.set_num_threads(1)


def usable_cores() -> int:
    """The cores this process may run on (its affinity), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _picklable(entries: list[FigureEntry]) -> bool:
    try:
        pickle.dumps([(e.build, e.gif) for e in entries])
    except (pickle.PicklingError, AttributeError, TypeError):
        return False
    return True


def _render_all(entries: list[FigureEntry], formats: tuple[str, ...], dpi: int, style: str,
                processes: int | None = None) -> list[list[bytes]]:
    """Every entry drawn and rendered in every format, in order: here, or by a pool of
    ``processes`` (default: for a large set on a machine with several cores, one per core;
    matplotlib draws on one core). The pool's processes come from a forkserver (a fresh,
    single-threaded process), never forked from this one, which may run threads (torch's, a
    web server's). Entries that do not pickle are drawn here. Either way the bytes are the
    same: rendering is deterministic, and each job carries this process's rcParams."""
    if processes is None:
        processes = usable_cores() if len(entries) >= POOL_FROM else 1
    n = min(len(entries), processes)
    if n < 2 or not _picklable(entries):
        with plot_mpl.style(style):
            return [_render_entry(e, formats, dpi) for e in entries]
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    from matplotlib import rcParams

    from lossviz.plugins import loaded_paths

    pool = ProcessPoolExecutor(n, mp_context=multiprocessing.get_context("forkserver"), initializer=_start_worker,
                               initargs=(loaded_paths(),))
    try:
        return list(pool.map(_render_in_worker, entries, repeat(formats), repeat(dpi), repeat(style), repeat(dict(rcParams))))
    finally:  # (after an error or a Ctrl-C: the figures not started are cancelled, not drawn)
        pool.shutdown(cancel_futures=True)


# --- a run's own figures ----------------------------------------------------------------------


def run_title(config) -> str:
    """The title of a run's comparison figure: the data, the model and the training settings."""
    from lossviz.train.models import get_model

    model = get_model(config.model).title
    if config.hidden:
        model += f" ({'-'.join(map(str, config.hidden))} {config.activation})"
    seeds = f", {config.seeds} seeds (mean ± std)" if config.seeds > 1 else ""
    wd = f", weight decay {config.weight_decay:g}" if config.weight_decay else ""
    return f"Fashion-MNIST, {model}, lr {config.lr:g}, batch {config.batch_size}{wd}{seeds}"


def damaged_text(path: Path, e: BaseException) -> str:
    """One line for a record file whose contents a figure cannot be drawn from."""
    return f"{path}: damaged, cannot draw its figure ({type(e).__name__}: {checks.shown(str(e), 120)[1:-1]})"


def drawn_from(path: Path, build, *args, **kwargs):
    """``build(*args, **kwargs)``: a figure drawn from the record file ``path``. What the file's
    reader did not catch (a value of the wrong kind deep inside) ends as a ``ValueError`` in one
    line naming the file, not a traceback from the middle of the drawing."""
    try:
        return build(*args, **kwargs)
    except (KeyError, IndexError, TypeError, AttributeError, ValueError) as e:
        raise ValueError(damaged_text(path, e)) from None


def run_entries(run: Path, classes: tuple[str, ...] | None = None) -> list[FigureEntry]:
    """A run folder's own figures, from its records: the curves of every loss ("comparison")
    and, where the run kept test images, the prediction grid ("predictions"), labelled with
    ``classes`` (default: Fashion-MNIST's). ``RunError`` for a folder with nothing to draw."""
    from lossviz.train import runs

    run = Path(run)
    config, metrics = runs.read_run(run)
    if not metrics:
        raise runs.RunError(f"{run} has no finished epoch yet")
    by_loss = runs.curves_by_loss(metrics, config)
    entries = [FigureEntry("comparison", run_title(config), "", tuple(config.losses), partial(
        drawn_from, run / "metrics.jsonl", plot_mpl.training_figure, by_loss, title=run_title(config),
        same_as=runs.coinciding(by_loss)))]
    grid = runs.read_prediction_grid(run)
    if grid is not None and grid.get("images"):
        if classes is None:
            from lossviz.data import CLASSES as classes
        entries.append(FigureEntry("predictions", "Test images and each loss's prediction", "", tuple(grid["pred"]),
                                   partial(drawn_from, run / "predictions.json", plot_mpl.predictions_figure, grid, classes)))
    return entries


def diagnostic_entries(run: Path, classes: tuple[str, ...] | None = None) -> list[FigureEntry]:
    """A run's diagnostic figures, drawn by ``lossviz figures --run`` (not after every
    ``compare``): the per-layer gradient norms of an MLP run ("grad_norms", from the records'
    grad_norm), the decision trade-off for the class the losses find hardest ("decisions", from
    predictions.npz) and the prediction grid with each loss's 3 most probable classes
    ("predictions_top3"); each only where the run recorded what it needs."""
    from lossviz import plot_runs
    from lossviz.train import runs, stalls

    run = Path(run)
    config, metrics = runs.read_run(run)
    entries = []
    health = stalls.health_curves(metrics, config)
    if config.hidden and health:
        entries.append(FigureEntry("grad_norms", "Weight-gradient norm per layer (d2l 4.8)", "", tuple(health), partial(
            drawn_from, run / "metrics.jsonl", plot_runs.grad_norm_figure, health, title=run_title(config))))
    if classes is None:
        from lossviz.data import CLASSES as classes
    if (run / "predictions.npz").is_file():
        from lossviz.train.decisions import run_decisions

        curves = run_decisions(run)
        cls = next(iter(curves.values())).cls
        name = classes[cls] if cls < len(classes) else str(cls)
        entries.append(FigureEntry("decisions", f"Flag an image as {name}: recall and false alarms against the threshold",
                                   "", tuple(curves), partial(drawn_from, run / "predictions.npz", plot_runs.decision_figure,
                                                              curves, name)))
    grid = runs.read_prediction_grid(run)
    if grid is not None and grid.get("images") and grid.get("top3"):
        entries.append(FigureEntry("predictions_top3", "Test images and each loss's three most probable classes", "",
                                   tuple(grid["pred"]), partial(drawn_from, run / "predictions.json",
                                                                plot_mpl.predictions_figure, grid, classes, top_k=3)))
    return entries


def gradient_comparison(runs_by_label: dict[str, Path], loss: str = "cross_entropy") -> FigureEntry:
    """One figure of ``loss``'s per-layer gradient norms across several MLP runs, e.g.
    {"sigmoid": runs/sig, "relu": runs/relu} for the vanishing gradient of d2l 4.8 (a figure
    for notes: pass it to ``export``)."""
    from lossviz import plot_runs
    from lossviz.train import runs, stalls

    health = {}
    for label, run in runs_by_label.items():
        config, metrics = runs.read_run(Path(run))
        per_loss = stalls.health_curves(metrics, config)
        if loss not in per_loss:
            raise runs.RunError(f"{run} has no gradient norms for {loss} (not compared there, or an older run)")
        health[f"{label}: {loss}"] = per_loss[loss]
    return FigureEntry("grad_norms_compared", f"Weight-gradient norm per layer: {', '.join(runs_by_label)}", "", (loss,),
                       partial(plot_runs.grad_norm_figure, health, title=f"{loss}: " + " vs ".join(runs_by_label)))


def run_figures(run: Path, *, out: Path | None = None, formats=("png", "svg"), dpi: int = DEFAULT_DPI,
                style: str = "light") -> list[Path]:
    """Draw a run's own figures (``run_entries``) into ``run/figures`` (or ``out``); returns the
    paths. ``lossviz compare`` calls it once the run is finished; the trainer never draws."""
    return export(run_entries(run), Path(out) if out is not None else Path(run) / "figures",
                  formats=formats, dpi=dpi, style=style, index=False)


def gallery(entries: list[FigureEntry], formats) -> str:
    """``index.md``: each figure with its title and formula, ready to paste into notes."""
    img = "svg" if "svg" in formats else formats[0]
    lines = ["# lossviz figures", "", "Regenerate with `lossviz figures`. Each figure is drawn from the",
             "lossviz registry's own functions (the same numbers as the explorer).", ""]
    for e in entries:
        lines += [f"## {e.title}", ""]
        if e.formula:
            lines += [f"$${e.formula}$$", ""]
        lines += [f"![{e.title}]({e.stem}.{img})", "", "Files: " + ", ".join(f"[{fmt}]({e.stem}.{fmt})" for fmt in formats)
                  + (f", [animation]({e.stem}.gif)" if e.gif else ""), ""]
    return "\n".join(lines)
