"""The run folder of ``lossviz compare``: write it as training goes, lock it, read it, resume it.

Layout of ``runs/NAME/``:
    config.json        the resolved TrainConfig (every loss's parameters as used), plus
                       ``data_source``: where the data was read from
    metrics.jsonl      one EpochRecord per (seed, epoch, loss) as a JSON line, with that epoch's
                       test confusion matrix; appended, flushed and fsynced each epoch
    state.pt           the latest Checkpoint, for --resume (fsynced, replaced atomically)
    confusion.json     latest confusion matrices per loss (replaced atomically)
    predictions.json   the first test images with true and predicted labels (for the grid), and
                       "top3": {loss: {"classes": (n, 3), "probs": (n, 3)}}, each grid image's
                       three most probable classes and their probabilities (the last seed's model)
    results.json       the final table, written when the run finishes; "stalls": the losses whose
                       train loss barely moved, with the causes measured (``lossviz.train.stalls``)
    weights.pt         every seed's final weights {"seed_S": {"w1": (M, ...), ...}}, for the studies
    predictions.npz    the final models' test probabilities: one (N, C) float32 array per loss named
                       by the loss (the first seed), "LOSS@S" for seed S after the first, "labels"
                       and "seeds"
    label_noise.npz    with --label-noise: which training labels flipped ("index"), from what
                       ("clean") to what ("noisy")
    figures/           comparison and predictions figures (drawn by lossviz.export.run_figures)
    .lock              held while a process trains the folder (a second writer is refused)
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from lossviz import checks
from lossviz.files import json_bytes, npz_bytes, os_error_text, prepare_out_dir, write_atomic, write_synced
from lossviz.train.config import TrainConfig
from lossviz.train.outputs import RunError, read_final_weights
from lossviz.train.stats import mean_std

METRICS = ("train_loss", "train_acc", "test_acc", "test_loss", "test_ece", "test_top3_acc")
TOP_K = 3  # predictions.json keeps each loss's TOP_K most probable classes per grid image
N_GRID = 18
LOCK_NAME = ".lock"


# What a new RunWriter writes before the first epoch is recorded: removed again when the run
# fails or is interrupted before then (``remove_unstarted``).
STARTED_FILES = ("config.json", LOCK_NAME, "label_noise.npz")


def remove_unstarted(out: Path, folders: list[Path] = ()) -> bool:
    """Undo a new run that ended before its first epoch was recorded (no metrics.jsonl): remove
    the files it wrote and the ``folders`` it created (``lossviz.files.created_folders``), so a
    corrected command can use the same --out. True when it removed it; a run with records is
    never touched."""
    from lossviz.files import remove_created

    out = Path(out)
    if (out / "metrics.jsonl").exists() or not out.is_dir():
        return False
    for name in STARTED_FILES:
        try:
            (out / name).unlink(missing_ok=True)
        except OSError:
            pass
    remove_created(list(folders))
    return True


def check_out(out: Path, resume: bool) -> None:
    """Can ``out`` hold this run? A new run needs a missing or empty folder; a resume needs a run."""
    if str(out).strip() == "":
        raise RunError("--out must name a folder, got an empty path")
    out = Path(out)
    if resume:
        if not (out / "config.json").is_file():
            raise RunError(f"nothing to resume in {out}: no config.json")
    elif out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise RunError(f"run folder {out} already exists; pass --resume to continue it or choose another --out")


def _lock(out: Path):
    """An exclusive, non-blocking lock on the run folder (released when the process ends,
    however it ends: the kernel drops flock locks with the process)."""
    from filelock import FileLock, Timeout

    lock = FileLock(str(out / LOCK_NAME), timeout=0)
    try:
        lock.acquire()
    except Timeout:
        raise RunError(f"run folder {out} is being trained by another process; wait for it to finish or choose another --out") from None
    except OSError as e:  # a read-only folder or disk: nothing can be trained into it
        raise RunError(f"cannot lock run folder {out} ({os_error_text(e, 'cannot write')}); "
                       "a run folder must be writable") from None
    return lock


class RunWriter:
    """Writes a run folder as ``train.compare`` reports epochs; see the module docstring.

    Use as a context manager (or call ``close``) so the folder's lock is released."""

    def __init__(self, out: Path, config: TrainConfig, *, resume: bool = False, data_source: str | None = None,
                 write=write_synced):
        """``write``: how state.pt's bytes reach the disk (``lossviz.files.write_atomic``'s
        ``write``; tests pass ``lossviz.files.disk_full``). ``rebuilt``: None, or the note that
        lost records are being trained again (a resume; the CLI prints it)."""
        from lossviz.train.records import Checkpoint

        self.out = Path(out)
        self._write = write
        self.rebuilt: str | None = None
        self.config = config
        self.checkpoint = Checkpoint(0)
        check_out(self.out, resume)
        if resume:
            self._lock = _lock(self.out)
            try:
                saved, _ = read_config(self.out)
                if saved.to_dict() != config.to_dict():
                    raise RunError(f"{self.out} was started with another configuration; resume it with the same options or start a new --out")
                if (self.out / "state.pt").is_file():
                    self.checkpoint = read_checkpoint(self.out)
                self._truncate_metrics()
            except OSError as e:
                self.close()
                raise RunError(f"cannot resume {self.out}: {os_error_text(e)}") from None
            except BaseException:
                self.close()
                raise
        else:
            prepare_out_dir(self.out)
            self._lock = _lock(self.out)
            write_atomic(self.out / "config.json", json_bytes({**config.to_dict(), "data_source": data_source}))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self) -> None:
        if getattr(self, "_lock", None) is not None:
            self._lock.release()
            self._lock = None

    def _done(self, rec) -> bool:
        ck = self.checkpoint
        if not ck.params:  # finished seeds only
            return rec.seed - self.config.seed < ck.seed_index
        return (rec.seed - self.config.seed, rec.epoch) <= (ck.seed_index, ck.epoch)

    def _first_lacking(self, records) -> tuple[int, int] | None:
        """(seed index, records lacking) for the first seed the checkpoint covers whose records
        are not all in ``records``; None when every covered record is there."""
        c, ck = self.config, self.checkpoint
        have: dict[tuple[int, int], set] = {}
        for r in records:
            have.setdefault((r.seed, r.epoch), set()).add(r.loss)
        full = set(c.losses)
        last = {i: c.epochs for i in range(ck.seed_index)}
        if ck.params:
            last[ck.seed_index] = ck.epoch
        for i, n in sorted(last.items()):
            lacking = sum(len(full - have.get((c.seed + i, e), set())) for e in range(1, n + 1))
            if lacking:
                return i, lacking
        return None

    def _truncate_metrics(self) -> None:
        """Keep the lines the checkpoint covers: an interrupt may fall between the metrics line
        and the checkpoint, and the epoch after the checkpoint is trained again (to the same
        numbers). A damaged line anywhere but at the end refuses the resume instead.

        Records the checkpoint covers but metrics.jsonl lacks (a cut last line, a file emptied
        or damaged after the run) are rebuilt, never given up: the checkpoint goes back to the
        start of the first seed that lacks one, and that seed and the ones after it are trained
        again (the same numbers: a run is a function of its config). Until the run finishes
        again, its results.json and weights stay as they were."""
        path = self.out / "metrics.jsonl"
        records = read_metrics(self.out, strict=True)
        lacking = self._first_lacking(records)
        if lacking is not None:
            from lossviz.train.records import Checkpoint

            first, n = lacking
            self.checkpoint = Checkpoint(first)
            self.rebuilt = (f"{path} lacks {n} record(s) the checkpoint covers (damaged or cut); "
                            f"training seed {self.config.seed + first}" + (" and later seeds" if first + 1 < self.config.seeds else "")
                            + " again from its start to rebuild them (the same numbers); the run's other files stay until it finishes")
        kept = b"".join(_line(r) for r in records if self._done(r))
        if not path.is_file() or path.read_bytes() != kept:  # records past the checkpoint, or a cut last line
            write_atomic(path, kept)

    def on_epoch(self, records, checkpoint) -> None:
        import io

        import torch

        with open(self.out / "metrics.jsonl", "ab") as f:
            f.write(b"".join(_line(r) for r in records))
            f.flush()
            os.fsync(f.fileno())
        write_atomic(self.out / "confusion.json", json_bytes({r.loss: r.confusion for r in records}))
        # In memory first, then one atomic, fsynced write: a full disk or a Ctrl-C mid-write
        # leaves the previous state.pt and no temporary file.
        buf = io.BytesIO()
        torch.save(checkpoint.to_dict(), buf)
        write_atomic(self.out / "state.pt", buf.getvalue(), write=self._write)
        self.checkpoint = checkpoint
        if checkpoint.epoch == self.config.epochs:  # a seed's final weights, kept for predictions and studies
            saved = read_final_weights(self.out) if (self.out / "weights.pt").is_file() else {}
            saved[self.config.seed + checkpoint.seed_index] = checkpoint.params
            _save_tensors(self.out / "weights.pt", {f"seed_{s}": p for s, p in saved.items()})

    def record_label_noise(self, prep) -> None:
        """label_noise.npz: which training labels ``prepare`` corrupted (nothing without noise)."""
        if prep.clean_train_y is None:
            return
        import numpy as np

        clean, noisy = prep.clean_train_y.cpu(), prep.train_y.cpu()
        index = (clean != noisy).nonzero().view(-1)
        write_atomic(self.out / "label_noise.npz", npz_bytes(index=index.numpy(), clean=clean[index].numpy(),
                                                        noisy=noisy[index].numpy(), n=np.array(len(clean))))

    def finish(self, test_images, test_labels) -> dict:
        """Write results.json, predictions.json and predictions.npz; returns the results. (The
        run's figures are drawn from these records by ``lossviz.export.run_figures``.)"""
        results = summarize(read_metrics(self.out), self.config)
        write_atomic(self.out / "results.json", json_bytes(results))
        n = min(N_GRID, len(test_labels))
        last_probs = self._write_predictions(test_images, test_labels)
        grid = {
            "images": test_images[:n].reshape(n, 28, 28).tolist() if test_images[:n].numel() == n * 784 else [],
            "labels": test_labels[:n].tolist(),
            "pred": {k: v[:n] for k, v in self.checkpoint.test_pred.items()},
        }
        if last_probs is not None:
            grid["top3"] = {name: top_classes(p[:n], TOP_K) for name, p in last_probs.items()}
        write_atomic(self.out / "predictions.json", json_bytes(grid))
        return results

    def _write_predictions(self, test_images, test_labels) -> dict | None:
        """predictions.npz from weights.pt: each finished seed's test probabilities per loss.
        Returns the last seed's {loss: probabilities (N, C)} (the model the grid's guesses
        come from), None without final weights."""
        import numpy as np

        from lossviz.train.predict import probabilities, stacked_model

        if not (self.out / "weights.pt").is_file():
            return None
        arrays = {"labels": test_labels.cpu().numpy().astype(np.int64)}
        weights = read_final_weights(self.out)
        last = {}
        for seed, params in sorted(weights.items()):
            probs = probabilities(stacked_model(self.config, params), test_images).numpy()
            for m, name in enumerate(self.config.losses):
                arrays[name if seed == self.config.seed else f"{name}@{seed}"] = probs[:, m].astype(np.float32)
                last[name] = probs[:, m]
        arrays["seeds"] = np.array(sorted(weights), dtype=np.int64)
        write_atomic(self.out / "predictions.npz", npz_bytes(**arrays))
        return last


def top_classes(probs, k: int = TOP_K) -> dict:
    """Each row's k most probable classes, most probable first, and their probabilities:
    probabilities (n, C) -> {"classes": n lists of k ints, "probs": n lists of k floats}."""
    import numpy as np

    probs = np.asarray(probs, dtype=np.float64)
    k = min(k, probs.shape[1]) if probs.ndim == 2 else k
    order = np.argsort(-probs, axis=1, kind="stable")[:, :k]  # ties: the lower class first
    return {"classes": order.tolist(), "probs": np.take_along_axis(probs, order, 1).round(6).tolist()}


def _save_tensors(path: Path, obj) -> None:
    import io

    import torch

    buf = io.BytesIO()
    torch.save(obj, buf)
    write_atomic(path, buf.getvalue())


def _line(record) -> bytes:
    return json.dumps(record.to_dict(), allow_nan=False).encode() + b"\n"


def read_config(run: Path) -> tuple[TrainConfig, str | None]:
    """The run's config and data source; ``RunError`` naming config.json if it is not one."""
    path = Path(run) / "config.json"
    if not path.is_file():
        raise RunError(f"{run} is not a lossviz run folder (no config.json)")
    try:
        d = json.loads(path.read_text())
        if not isinstance(d, dict):
            raise ValueError(f"a JSON object is expected, got {type(d).__name__}")
        d = dict(d)
        source = d.pop("data_source", None)
        return TrainConfig.from_dict(d), source if isinstance(source, str) else None
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise RunError(f"{path}: not a valid run configuration ({e})") from None


def read_checkpoint(run: Path):
    """The run's state.pt as a Checkpoint; ``RunError`` naming the file if it is damaged."""
    import pickle

    import torch

    from lossviz.train.records import Checkpoint

    path = Path(run) / "state.pt"
    try:
        return Checkpoint.from_dict(torch.load(path, weights_only=True))
    except (OSError, RuntimeError, EOFError, pickle.UnpicklingError, ValueError, AttributeError, TypeError) as e:
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise RunError(f"{path}: not a lossviz checkpoint ({reason}); start a new run with another --out") from None


def read_metrics(run: Path, *, strict: bool = False) -> list:
    """The run's EpochRecords. A damaged last line (a crash mid-write) is skipped; a damaged
    line before valid ones raises ``RunError`` naming the line with ``strict=True`` (resume:
    nothing valid is ever rewritten away) and ends the reading otherwise (viewers)."""
    from lossviz.train.records import EpochRecord

    path = Path(run) / "metrics.jsonl"
    if not path.is_file():
        return []
    lines = path.read_bytes().splitlines()
    out = []
    for i, line in enumerate(lines, start=1):
        try:
            out.append(EpochRecord.from_dict(json.loads(line)))
        except (ValueError, TypeError, UnicodeDecodeError) as e:
            if i == len(lines) or not any(ln.strip() for ln in lines[i:]):
                break  # the last line, cut by a crash: the checkpoint decides what counts
            if strict:
                raise RunError(f"{path} line {i} is damaged ({e}); the run cannot be resumed safely") from None
            break
    return out


def read_run(run: Path) -> tuple[TrainConfig, list]:
    config, _ = read_config(run)
    return config, read_metrics(run)


def curves_by_loss(metrics: list, config: TrainConfig) -> dict:
    """{loss: {metric: (epochs, mean, std)}} over the seeds that have a value at each epoch."""
    out = {}
    for name in config.losses:
        rows = [r for r in metrics if r.loss == name]
        per = {}
        for key in METRICS:
            epochs, means, stds = [], [], []
            for e in sorted({r.epoch for r in rows}):
                vals = [getattr(r, key) for r in rows if r.epoch == e and getattr(r, key) is not None]
                if vals:
                    m, s = mean_std(vals)
                    epochs.append(e), means.append(m), stds.append(s)
            per[key] = (epochs, means, stds)
        out[name] = per
    return out


def coinciding(by_loss: dict, key: str = "test_acc", tol: float = 1e-9) -> dict[str, str]:
    """{loss: the earlier loss whose curve it repeats}: curves that would hide each other."""
    out: dict[str, str] = {}
    names = list(by_loss)
    for i, b in enumerate(names):
        for a in names[:i]:
            ea, ma, _ = by_loss[a][key]
            eb, mb, _ = by_loss[b][key]
            if ea and ea == eb and all(abs(x - y) <= tol for x, y in zip(ma, mb)):
                out[b] = out.get(a, a)
                break
    return out


def summarize(metrics: list, config: TrainConfig) -> dict:
    """The final table: per loss, the last epoch's metrics (mean and std over seeds)."""
    table = {}
    for name in config.losses:
        rows = [r for r in metrics if r.loss == name]
        last = [r for r in rows if r.epoch == config.epochs]
        ok = [r for r in last if r.status == "ok"]
        row = {"status": "ok" if last and len(ok) == len(last) else ("diverged" if last else "incomplete"),
               "diverged_seeds": [r.seed for r in last if r.status == "diverged"],
               "seconds": sum({(r.seed, r.epoch): r.seconds for r in metrics}.values())}
        for key in METRICS:
            vals = [getattr(r, key) for r in ok if getattr(r, key) is not None]  # (an older run lacks top-3)
            row[key], row[key + "_std"] = mean_std(vals) if vals else (None, None)
        table[name] = row
    from lossviz.train.stalls import stall_notes

    return {"config": config.to_dict(), "losses": table, "stalls": stall_notes(metrics, config)}


def format_table(results: dict) -> str:
    head = f"{'loss':<15}{'status':<10}{'train loss':>11}{'train acc':>11}{'test loss':>11}{'test acc':>10}{'test ECE':>10}"
    lines = [head, "-" * len(head)]

    def f(v, d=4):
        return f"{v:.{d}f}" if v is not None else "-"

    for name, r in results["losses"].items():
        lines.append(f"{name:<15}{r['status']:<10}{f(r['train_loss']):>11}{f(r['train_acc']):>11}{f(r['test_loss']):>11}"
                     f"{f(r['test_acc']):>10}{f(r['test_ece']):>10}")
    seconds = max((r["seconds"] for r in results["losses"].values()), default=0.0)
    lines.append(f"(losses trained side by side in {seconds:.1f} s; each loss's own value, so losses compare by accuracy and ECE)")
    lines += [f"note: {note['text']}" for note in (results.get("stalls") or {}).values()]
    return "\n".join(lines)


def read_prediction_grid(run: Path) -> dict | None:
    """The run's predictions.json ({"images", "labels", "pred": {loss: guesses}}), None if the run
    has none; ``RunError`` if it cannot be read."""
    path = Path(run) / "predictions.json"
    if not path.is_file():
        return None
    try:
        grid = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise RunError(f"{path}: cannot read ({e})") from None
    if not (isinstance(grid, dict) and isinstance(grid.get("pred", {}), dict)):
        raise RunError(f"{path}: not a prediction grid")
    return grid
