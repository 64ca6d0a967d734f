"""Training from a notebook: ``lossviz.compare(...)`` runs the trainer here and returns a ``Comparison``
(records, a results table that shows itself, ``.plot()``, the run folder). A face like the command line.

>>> result = lossviz.compare(losses=["cross_entropy", "l2"], epochs=2, train_subset=5000)   # doctest: +SKIP
>>> result            # the table `lossviz compare` prints (an HTML table in Jupyter)    # doctest: +SKIP
>>> result.plot()     # the comparison figure, a matplotlib Figure                       # doctest: +SKIP
"""

from __future__ import annotations

import html
import warnings
from dataclasses import dataclass, fields
from pathlib import Path

from lossviz import checks
from lossviz.files import FIGURE_FORMATS
from lossviz.train.config import TrainConfig, csv

# What compare() takes besides TrainConfig's fields: how to run, not what trains.
RUN_OPTIONS = ("data_root", "out", "resume", "figures", "threads", "progress")


class ResultsTable:
    """The final table of a comparison: ``str()`` is what ``lossviz compare`` prints (stall notes
    included), ``_repr_html_`` the same rows as an HTML table for Jupyter."""

    def __init__(self, results: dict):
        self.results = results

    def __str__(self) -> str:
        from lossviz.train.runs import format_table

        return format_table(self.results)

    __repr__ = __str__

    def _repr_html_(self) -> str:
        def f(v):
            return "-" if v is None else f"{v:.4f}"

        heads = ("loss", "status", "train loss", "train acc", "test loss", "test acc", "test ECE")
        cells = "".join(f"<th>{h}</th>" for h in heads)
        rows = [f"<tr>{cells}</tr>"]
        for name, r in self.results["losses"].items():
            values = [html.escape(name), html.escape(r["status"])] + [
                f(r[k]) for k in ("train_loss", "train_acc", "test_loss", "test_acc", "test_ece")]
            rows.append("<tr>" + "".join(f"<td>{v}</td>" for v in values) + "</tr>")
        # The lines under the rows (time, stall notes) are the text table's own, word for word.
        below = str(self).splitlines()[2 + len(self.results["losses"]):]
        notes = "".join(f"<p>{html.escape(line)}</p>" for line in below)
        return f"<table>{''.join(rows)}</table>{notes}"


@dataclass
class Comparison:
    """What ``lossviz.compare`` returns.

    config:  the TrainConfig that trained (every default filled in)
    records: one ``lossviz.train.EpochRecord`` per seed x epoch x loss
    results: the final table as results.json holds it (``lossviz.train.runs.summarize``)
    run:     the run folder when ``out=`` was given, else None
    """

    config: TrainConfig
    records: list
    results: dict
    run: Path | None = None

    @property
    def table(self) -> ResultsTable:
        return ResultsTable(self.results)

    def __str__(self) -> str:
        return str(self.table) + (f"\nrun folder: {self.run}" if self.run is not None else "")

    __repr__ = __str__

    def _repr_html_(self) -> str:
        run = f"<p>run folder: <code>{html.escape(str(self.run))}</code></p>" if self.run is not None else ""
        return self.table._repr_html_() + run

    def plot(self, *, style: str = "light"):
        """The comparison figure (loss, train and test accuracy per epoch, mean +- std over seeds)
        as a matplotlib Figure: the run folder's comparison.png, drawn from these records."""
        from lossviz import export, plot_mpl
        from lossviz.train import runs

        by_loss = runs.curves_by_loss(self.records, self.config)
        with plot_mpl.style(style):
            return plot_mpl.training_figure(by_loss, title=export.run_title(self.config), same_as=runs.coinciding(by_loss))


def compare(losses=None, model: str = "softmax", epochs: int = 10, data_root=None, *, out=None, resume: bool = False,
            figures=("png",), threads: int | None = None, progress: bool = True, **config) -> Comparison:
    """Train ``losses`` side by side on Fashion-MNIST, in this process, as ``lossviz compare`` does.

    Args:
        losses: registry loss names (default: TrainConfig's, cross_entropy, l2, l1, huber).
        model, epochs, **config: any TrainConfig field (``hidden``, ``lr``, ``train_subset``,
            ``loss_params={"huber": {"delta": 0.1}}``, ...); checked, an unknown one is a ValueError.
        data_root: the folder of the Fashion-MNIST files (default: $LOSSVIZ_DATA, the cache, ...).
        out: a run folder to write, exactly as ``lossviz compare --out`` writes it, figures included
            (``figures``: formats among png, svg, pdf; () or "none" for none). Default: no folder.
        resume: continue the interrupted run in ``out``.
        threads: torch's threads while training (default 1; the numbers do not depend on it).
        progress: a progress bar (tqdm's notebook bar in Jupyter, a text bar elsewhere).

    Returns:
        a ``Comparison``: ``.records``, ``.results``, ``.table``, ``.plot()``, ``.run``.
    """
    valid = [f.name for f in fields(TrainConfig)]
    unknown = [k for k in config if k not in valid]
    if unknown:
        raise ValueError(f"unknown setting {checks.shown(unknown[0])}; valid: {', '.join(valid)} "
                         f"(TrainConfig's fields) and {', '.join(RUN_OPTIONS)}")
    settings = {"model": model, "epochs": epochs, **config}
    if losses is not None:
        settings["losses"] = (losses,) if isinstance(losses, str) else losses
    formats = _formats(figures)
    threads = None if threads is None else checks.integer(threads, "threads", 1, 1024)
    if resume and out is None:
        raise ValueError("resume needs out=, the run folder to continue")
    out = None if out is None else checks.path(out, "out")
    train_config = TrainConfig.from_dict(settings)

    from lossviz import data, train
    from lossviz.train import recorded, runs

    if out is not None:
        runs.check_out(out, resume)  # a taken folder is refused before the data is loaded
    fmnist = data.load_fashion_mnist(data_root)
    recorded.check_fits(train_config, fmnist)
    for a, b in train.identical_losses(train_config):
        warnings.warn(f"{b} equals {a} with these parameters (its curve lies under {a}'s)", stacklevel=2)
    bar = _Progress(train_config, progress)
    try:
        if out is None:
            prep = train.prepare(train_config, fmnist)
            bar.start(len(prep.train_y), train.Checkpoint(0))
            records = train.compare(train_config, prep, on_epoch=bar.epoch, on_batch=bar.batch, threads=threads)
            results = runs.summarize(records, train_config)
        else:
            results = recorded.train_into(train_config, fmnist, out, resume=resume, threads=threads,
                                          on_start=lambda writer, prep: bar.start(len(prep.train_y), writer.checkpoint),
                                          on_epoch=bar.epoch, on_batch=bar.batch)
            records = runs.read_metrics(out)
    finally:
        bar.close()
    if out is not None and formats:  # the trainer records; the exporter draws, as after `lossviz compare`
        from lossviz import export

        export.run_figures(out, formats=formats)
    return Comparison(train_config, records, results, out)


def _formats(figures) -> tuple[str, ...]:
    """``figures`` as formats: "png,svg", ("png",), or None / () / "none" for none."""
    names = csv(figures) if isinstance(figures, str) else (() if figures is None else tuple(figures))
    if names in (("none",), ("None",)):
        return ()
    for name in names:
        checks.choice(name, "figure format", FIGURE_FORMATS)
    return tuple(dict.fromkeys(names))


class _Progress:
    """tqdm.auto's bar over every minibatch (the notebook widget in Jupyter, text on a terminal),
    every loss's train loss / test accuracy after each epoch; nothing when not ``shown``."""

    def __init__(self, config: TrainConfig, shown: bool):
        self.config, self.shown, self.bar = config, bool(shown), None

    def start(self, n_train: int, checkpoint) -> None:
        if not self.shown:
            return
        from tqdm.auto import tqdm

        from lossviz.train.recorded import progress_span

        done, total = progress_span(self.config, n_train, checkpoint)
        self.bar = tqdm(total=total, initial=done, unit="batch", desc="training", dynamic_ncols=True)

    def epoch(self, records, checkpoint) -> None:
        if self.bar is not None:
            from lossviz.train.recorded import epoch_summary

            self.bar.set_postfix_str(epoch_summary(records, self.config))

    def batch(self, i: int, n: int) -> None:
        if self.bar is not None:
            self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
