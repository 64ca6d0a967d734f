"""A study is a grid of training runs: cells, each a TrainConfig trained into its own run folder.

By default the cells run here, one after the other (each one's losses side by side, as
``lossviz compare`` trains them). ``lossviz.studies.ray_grid`` runs the same cells as Ray tasks.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from lossviz.train.config import TrainConfig


@dataclass(frozen=True)
class Cell:
    """One training run of a study: its folder name (under the study folder) and its config."""

    name: str
    config: TrainConfig


def train_run(config: TrainConfig, data, out: Path, *, on_batch: Callable[[int, int], None] | None = None,
              threads: int | None = None, figures: tuple[str, ...] = ("png",)) -> dict:
    """Train ``config`` on ``data`` into the run folder ``out`` (as ``lossviz compare`` does:
    metrics, weights, predictions.npz, label_noise.npz, figures); returns the results table.
    ``threads``: as for ``train.compare`` (default one)."""
    from lossviz.train.recorded import train_into

    results = train_into(config, data, Path(out), threads=threads, on_batch=on_batch)
    if figures:
        from lossviz import export

        export.run_figures(out, formats=figures)
    return results


def batches_of(cell: Cell, data) -> int:
    """Minibatches a cell trains (for a progress bar over the whole grid)."""
    from lossviz.train import batches_per_epoch

    c = cell.config
    n = min(len(data.train_labels) - c.holdout, c.train_subset or len(data.train_labels))
    return batches_per_epoch(n, c.batch_size) * c.epochs * c.seeds


def run_here(cells: list[Cell], data, root: Path, *, on_batch: Callable[[], None] | None = None,
             on_cell: Callable[[Cell, dict], None] | None = None, threads: int | None = None,
             figures: tuple[str, ...] = ("png",)) -> dict[str, dict]:
    """Every cell in this process, one after the other; returns {cell name: results}."""
    out = {}
    for cell in cells:
        out[cell.name] = train_run(cell.config, data, Path(root) / cell.name, threads=threads, figures=figures,
                                   on_batch=(lambda i, n: on_batch()) if on_batch else None)
        if on_cell is not None:
            on_cell(cell, out[cell.name])
    return out
