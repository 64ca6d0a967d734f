"""The figure exporter: the catalogue of notes-ready figures, written atomically, plus a gallery.

Every figure is drawn by ``plot_mpl`` from ``curves`` data, i.e. from the registry's own
functions. Output is deterministic (no dates, fixed SVG ids), so committed figures do not churn.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from lossviz import curves, plot_mpl
from lossviz.files import FIGURE_FORMATS, prepare_out_dir, write_atomic  # noqa: F401 - the exporter's API too
from lossviz.registry import activations, get, get_activation, get_loss, losses
from lossviz.registry import parse_params  # noqa: F401 - the exporter's API too

from lossviz.render import DEFAULT_DPI, check_options, render, settle_layout, usable_cores  # noqa: F401 - the exporter's API too
from lossviz.render import METADATA as _METADATA

FORMATS = FIGURE_FORMATS
DEFAULT_FORMATS = ("png", "svg")
OVERFLOW_LOGITS = (1.0, 0.0, -1.0)
TEMPERATURE_LOGITS = (2.0, 1.0, 0.1, -1.0)
TEMPERATURES = (0.5, 1.0, 2.0, 5.0)
# Parameters whose sweep has a figure of its own instead of a generic sweep_NAME_PARAM.
_OWN_FIGURE = {("softmax", "temperature"): "softmax_temperature", ("general", "alpha"): "robust_family"}


@dataclass(frozen=True)
class FigureEntry:
    """One figure of the catalogue: its file stem, what it shows, and how to draw it."""

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


def _sweep_values(param) -> tuple[float, ...]:
    if param.sweep:
        return param.sweep
    lo, hi = param.slider_range
    return tuple(lo + (hi - lo) * i / 3 for i in range(4))


def catalogue(params: dict[str, dict] | None = None, *, playground: bool = False) -> list[FigureEntry]:
    """Every default figure, built from the registry; ``params`` = {name: {param: value}}.
    ``playground``: also the playground's figures (they train small models: seconds each)."""
    params = params or {}
    for name, p in params.items():
        get(name).resolve(p)  # unknown names / parameters / ranges fail before drawing
    out: list[FigureEntry] = []

    regression = [n for n in losses() if get_loss(n).kind == "regression"]
    for name in losses():
        spec = get_loss(name)
        out.append(FigureEntry(
            f"loss_{name}", spec.title, spec.formula.value, (name,),
            lambda n=name: plot_mpl.loss_figure(curves.loss_curve(n, params.get(n))),
        ))

    def overlay():
        return plot_mpl.overlay_figure([curves.loss_curve(n, params.get(n), x_range=(-4, 4)) for n in regression])

    out.append(FigureEntry("losses_regression", "Regression losses compared: value, gradient, likelihood",
                           "", tuple(regression), overlay))

    for name in activations():
        spec = get_activation(name)
        out.append(FigureEntry(
            f"activation_{name}", spec.title, spec.formula.value, (name,),
            lambda n=name: plot_mpl.activation_figure(curves.activation_curve(n, params.get(n))),
        ))
    out.append(FigureEntry(
        "activations_grid", "All activations and their derivatives", "", tuple(activations()),
        lambda: plot_mpl.activation_grid_figure([curves.activation_curve(n, params.get(n)) for n in activations()]),
    ))

    out.append(FigureEntry(
        "softmax_temperature", "Softmax probabilities at several temperatures",
        get_activation("softmax").formula.value, ("softmax",),
        lambda: plot_mpl.temperature_figure(TEMPERATURE_LOGITS, curves.temperature_sweep(TEMPERATURE_LOGITS, TEMPERATURES)),
    ))
    out.append(FigureEntry(
        "cross_entropy_overflow", "Naive vs stable cross-entropy as logits grow",
        get_loss("cross_entropy").formula.value, ("cross_entropy",),
        lambda: plot_mpl.overflow_figure(curves.overflow_curve(OVERFLOW_LOGITS), OVERFLOW_LOGITS),
    ))

    out.append(FigureEntry(
        "surrogate_losses", "Classification losses against the margin: the surrogate losses and the 0-1 loss",
        "m = o_y - \\max_{i \\ne y} o_i", tuple(dict.fromkeys(n for n, _ in curves.SURROGATES)),
        lambda: plot_mpl.surrogate_figure(curves.margin_view(
            [(n, {**params.get(n, {}), **p}) for n, p in curves.SURROGATES])),
    ))
    out.append(FigureEntry(
        "robust_family", "Barron's general robust loss: loss, gradient and density across alpha",
        get_loss("general").formula.value, ("general",),
        lambda: plot_mpl.robust_family_figure(curves.robust_family(scale=params.get("general", {}).get("scale", 1.0))),
    ))

    for name in losses() + activations():
        spec = get(name)
        for p in spec.params:
            if (name, p.name) in _OWN_FIGURE:
                continue
            make = curves.loss_curve if name in losses() else curves.activation_curve
            out.append(FigureEntry(
                f"sweep_{name}_{p.name}", f"{spec.title} at several values of {p.name}", spec.formula.value, (name,),
                lambda n=name, p=p, make=make: plot_mpl.sweep_figure(
                    [make(n, {**params.get(n, {}), p.name: v}) for v in _sweep_values(p)], p.name),
            ))
    if playground:
        out += playground_entries()
    return out


# The playground's figures: what each loss does to a small model, drawn from lossviz.toy's frames.
PLAYGROUND_REGRESSION = ("l2", "l1", "huber")
PLAYGROUND_CLASSIFICATION = ("cross_entropy", "hinge", "focal", "l2")
PLAYGROUND_STEPS = {"circle": 400, "xor": 400, "gaussian": 200, "spiral": 1500, "moons": 400}


def playground_entries() -> list[FigureEntry]:
    """Regression with outliers per loss, and the decision maps per loss for each 2-D set."""
    from lossviz import toy

    def regression():
        data = toy.line_data(40, outlier_frac=0.2, outlier_size=6.0, seed=0)
        setup = toy.regression_setup(data, PLAYGROUND_REGRESSION, lr=0.05)
        frame = toy.run(setup, 2000, every=2000)[-1]
        return plot_mpl.toy_regression_figure(frame, data, "A line fitted with each loss to points with 20 % outliers")

    def wave_setup():
        frac, size, noise, shape, _ = toy.REGRESSION_PRESETS["wave with outliers (MLP)"]
        data = toy.line_data(40, outlier_frac=frac, outlier_size=size, noise=noise, seed=0, shape=shape)
        return toy.regression_setup(data, PLAYGROUND_REGRESSION, hidden=toy.REGRESSION_MLP, activation="tanh", lr=0.05)

    wave_title = "A small MLP fitted with each loss to a wave with 15 % outliers"

    def wave():
        setup = wave_setup()
        return plot_mpl.toy_regression_figure(toy.run(setup, 3000, every=3000)[-1], setup.data, wave_title)

    def boundaries_setup(name: str):
        data = toy.points_data(name, 400, noise=0.05, seed=0)
        return toy.classification_setup(data, PLAYGROUND_CLASSIFICATION, hidden=(8, 8), lr=0.1, batch_size=10)

    def boundaries(name: str):
        setup, steps = boundaries_setup(name), PLAYGROUND_STEPS[name]
        return plot_mpl.toy_boundaries_figure(toy.run(setup, steps, every=steps)[-1], setup.data)

    # "playground" among the names: `lossviz figures --playground --only playground` draws just these.
    out = [FigureEntry("playground_regression_outliers", "Regression with outliers: each loss's fit and each point's pull",
                       "", ("playground", *PLAYGROUND_REGRESSION), regression),
           FigureEntry("playground_regression_wave", "A wave with outliers: each loss's MLP fit and each point's pull",
                       "", ("playground", *PLAYGROUND_REGRESSION), wave,
                       gif=lambda: toy_gif(wave_setup(), 3000 // GIF_FRAMES, title=wave_title))]
    for name in toy.DATASETS:
        out.append(FigureEntry(f"playground_boundaries_{name}", f"Decision maps per loss on {name}", "",
                               ("playground", *PLAYGROUND_CLASSIFICATION), lambda n=name: boundaries(n),
                               gif=(lambda n=name: toy_gif(boundaries_setup(n), PLAYGROUND_STEPS[n] // GIF_FRAMES)) if name == "spiral" else None))
    return out


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
        fig.savefig(buf, format="png", dpi=dpi, metadata=_METADATA["png"])
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
    unknown = [o for o in only if o not in valid]
    if unknown:
        raise ValueError(f"unknown figure or name {unknown[0]!r}; valid: {', '.join(valid)}")
    return [e for e in entries if e.stem in only or set(e.names) & set(only)]


def export(entries: list[FigureEntry], out: Path, *, formats=DEFAULT_FORMATS, dpi: int = DEFAULT_DPI,
           style: str = "light", index: bool = True) -> list[Path]:
    """Draw ``entries`` and write each in every format; returns the written paths.

    All figures are rendered in memory before the first file is written, so a failure while
    drawing leaves the folder as it was.
    """
    check_options(formats, dpi)
    out = prepare_out_dir(out)
    rendered: dict[Path, bytes] = {}
    with plot_mpl.style(style):
        for e, files in zip(entries, _render_all(entries, tuple(formats), dpi)):
            for fmt, data in zip((*formats, "gif"), files):  # the animation, where there is one, comes last
                rendered[out / f"{e.stem}.{fmt}"] = data
    if index:
        rendered[out / "index.md"] = gallery(entries, formats).encode()
    for path, data in rendered.items():
        write_atomic(path, data)
    return list(rendered)


def _render_entry(entry: FigureEntry, formats: tuple[str, ...], dpi: int) -> list[bytes]:
    """One entry in every format (the layout, solved for the first, serves them all), then its
    animation if it has one."""
    fig = entry.build()
    return [render(fig, fmt, dpi) for fmt in formats] + ([entry.gif()] if entry.gif else [])


def _render_all(entries: list[FigureEntry], formats: tuple[str, ...], dpi: int) -> list[list[bytes]]:
    """Every entry drawn and rendered in every format, in order. Figures are independent and
    matplotlib draws on one core, so they are drawn by renderer processes, one per core, forked
    here: they inherit the entries (closures, which do not pickle) and the style in force (the
    same bytes: rendering is deterministic)."""
    import functools

    from lossviz.render import Renderers

    jobs = [functools.partial(_render_entry, e, formats, dpi) for e in entries]
    with Renderers(min(len(entries), usable_cores()), warm=False, inherited=jobs) as renderers:
        return renderers.run_all(jobs)


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
