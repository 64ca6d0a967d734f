"""A comparison trained into its run folder, as ``lossviz compare --out`` and ``lossviz.compare(out=...)``
write it: the data checked, the folder written through ``RunWriter``, undone when nothing finished.

The faces (the command line, the notebook API) call this and draw the run's figures afterwards
with ``lossviz.export.run_figures``; nothing here prints or draws.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from lossviz.train.config import TrainConfig


def check_fits(config: TrainConfig, data, holdout_name: str = "holdout") -> None:
    """What the config asks of the data, checked before a run folder is created (``ValueError``).
    ``holdout_name``: how the message names the setting (the command line says ``--holdout``)."""
    n = len(data.train_labels)
    if config.holdout >= n:
        raise ValueError(f"{holdout_name} {config.holdout} leaves no training image: the data has {n}; "
                         f"hold out at most {n - 1}")


def progress_span(config: TrainConfig, n_train: int, checkpoint) -> tuple[int, int]:
    """(minibatches already done, minibatches in the whole run) for a progress bar; a resumed run
    counts its finished epochs as done. ``n_train``: the images trained on (``len(prep.train_y)``)."""
    from lossviz.train.loop import batches_per_epoch

    per_epoch = batches_per_epoch(n_train, config.batch_size)
    done = (checkpoint.seed_index * config.epochs + checkpoint.epoch) * per_epoch
    return done, per_epoch * config.epochs * config.seeds


def epoch_summary(records, config: TrainConfig) -> str:
    """Train loss / test accuracy per loss after an epoch, for a progress bar."""
    seed = f"seed {records[0].seed} " if config.seeds > 1 else ""
    return f"{seed}epoch {records[0].epoch}/{config.epochs}: train loss/test acc " + ", ".join(
        f"{r.loss} {r.train_loss:.3f}/{r.test_acc:.3f}" if r.status == "ok" else f"{r.loss} diverged"
        for r in records)


def train_into(config: TrainConfig, data, out: Path, *, resume: bool = False, threads: int | None = None,
               on_start: Callable | None = None, on_epoch: Callable | None = None,
               on_batch: Callable[[int, int], None] | None = None) -> dict:
    """Train ``config`` on ``data`` (a ``lossviz.data.FashionMNIST``) into the run folder ``out``
    (``lossviz.train.runs``: config.json, metrics.jsonl, state.pt, weights, predictions, results.json);
    returns the results table (``runs.summarize``).

    ``resume``: continue the interrupted run in ``out`` (same config). ``on_start(writer, prep)``
    runs once the folder is open and the data prepared (``writer.checkpoint`` says where training
    starts, ``writer.rebuilt`` whether lost records are trained again); ``on_epoch(records,
    checkpoint)`` after each epoch is recorded; ``on_batch(i, n)`` after each minibatch.
    A new run that ends before its first epoch is recorded (an error, a KeyboardInterrupt) leaves
    nothing behind; the exception goes on. Interrupted later, the folder holds every finished
    epoch and resumes. The figures are not drawn here: ``lossviz.export.run_figures(out)``.
    """
    from lossviz import files
    from lossviz.train import compare, prepare, runs

    out = Path(out)
    made = [] if resume else files.created_folders(out)
    try:
        source = getattr(data, "source", None)  # where the data was read from (None: made in memory)
        with runs.RunWriter(out, config, resume=resume,
                            data_source=str(Path(source).resolve()) if source is not None else None) as writer:
            prep = prepare(config, data)
            writer.record_label_noise(prep)
            if on_start is not None:
                on_start(writer, prep)

            def recorded(records, checkpoint):
                writer.on_epoch(records, checkpoint)
                if on_epoch is not None:
                    on_epoch(records, checkpoint)

            compare(config, prep, checkpoint=writer.checkpoint, on_epoch=recorded, on_batch=on_batch, threads=threads)
            return writer.finish(data.test_images[: config.test_subset], data.test_labels[: config.test_subset])
    except BaseException:
        if not resume:  # (a run with a recorded epoch is never touched)
            runs.remove_unstarted(out, made)
        raise
