"""Robustness to label noise: one run per noise rate (the losses side by side), then test
accuracy against the rate, per loss (mean +- std over seeds).

The literature: MAE (L1 on the softmax probabilities) is provably robust to symmetric noise
(Ghosh, Kumar & Sastry, AAAI 2017) but underfits and trains slowly; GCE (Zhang & Sabuncu,
NeurIPS 2018) sits between MAE and cross-entropy; cross-entropy fits the noise. The study
reports what the runs show, whatever it is.

Layout of a study folder:
    study.json       what was asked: the study, the rates, the noise kind, the base config, the cells
    rate_0.00/ ...   one ``lossviz compare`` run folder per rate
    noise.json       the summary: per loss and rate, final test accuracy (mean, std, per seed) and
                     training accuracy on the (noisy) training labels
    figures/         noise.png (``lossviz figures --run STUDY`` redraws it)
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from lossviz import checks
from lossviz.files import json_bytes, prepare_out_dir, write_atomic
from lossviz.studies.grid import Cell
from lossviz.train.config import NOISE_KINDS, TrainConfig, csv
from lossviz.train.stats import mean_std

DEFAULT_RATES = (0.0, 0.2, 0.4, 0.6)
STUDY_FILE = "study.json"
SUMMARY_FILE = "noise.json"


class StudyError(ValueError):
    """A study folder that cannot be used as asked (exists, missing, damaged)."""


def default_losses() -> tuple[str, ...]:
    """cross_entropy, l1 (MAE), l2, and gce when the registry has it."""
    from lossviz.registry import losses

    return tuple(n for n in ("cross_entropy", "l1", "l2", "gce") if n in losses())


def parse_rates(text: str) -> tuple[float, ...]:
    """``"0,0.2,0.4"`` -> (0.0, 0.2, 0.4): each in [0, 1), none twice; one-line errors."""
    parts = csv(text)
    if not parts:
        raise ValueError(f"give at least one noise rate, e.g. 0,0.2,0.4; got {text!r}")
    rates = []
    for t in parts:
        try:
            r = float(t)
        except ValueError:
            raise ValueError(f"noise rate {t!r} is not a number") from None
        rates.append(checks.number(r, "noise rates", 0, 1, high_open=True))
    if len(set(rates)) != len(rates):
        raise ValueError(f"a noise rate is listed twice: {text}")
    if len(rates) > 50:
        raise ValueError(f"at most 50 noise rates, got {len(rates)}")
    return tuple(sorted(rates))


def cell_name(rate: float) -> str:
    return f"rate_{rate:.2f}" if round(rate, 2) == rate else f"rate_{rate:g}"


def noise_cells(config: TrainConfig, rates, kind: str = "symmetric") -> list[Cell]:
    """One cell per rate: the base config with ``label_noise=rate``."""
    checks.choice(kind, "noise", NOISE_KINDS)
    return [Cell(cell_name(r), replace(config, label_noise=float(r), noise=kind).validate()) for r in rates]


def check_study_out(out: Path) -> None:
    if str(out).strip() == "":
        raise StudyError("--out must name a folder, got an empty path")
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise StudyError(f"study folder {out} already exists and is not empty; choose another --out")


def remove_unstarted(out: Path, folders: list[Path] = ()) -> bool:
    """Undo a study that ended before any of its runs recorded an epoch: its study.json, each
    run folder it began (``runs.remove_unstarted``) and the ``folders`` it created
    (``lossviz.files.created_folders``). True when removed; a study with records is kept."""
    from lossviz.files import remove_created
    from lossviz.train import runs

    out = Path(out)
    if not out.is_dir() or any((p / "metrics.jsonl").exists() for p in out.iterdir() if p.is_dir()):
        return False
    for p in out.iterdir():
        if p.is_dir() and p.name.startswith("rate_"):
            runs.remove_unstarted(p, [p])
    for name in (STUDY_FILE, SUMMARY_FILE):
        (out / name).unlink(missing_ok=True)
    remove_created(list(folders))
    return True


def study_noise(config: TrainConfig, rates, data, out: Path, *, kind: str = "symmetric", runner=None,
                on_batch=None, threads: int | None = None, figures: tuple[str, ...] = ("png",)) -> dict:
    """Train one run per rate into ``out/rate_R`` and summarise them into ``out/noise.json``.

    ``runner(cells, data, out)``: how the cells run (default ``grid.run_here``, in this process;
    ``ray_grid.runner(address)`` sends them to Ray). ``figures``: formats of each run's own
    figures, drawn here (Ray tasks draw PNG). ``threads``: torch's threads per run here (default
    one, as ``train.compare``). Returns the summary.
    """
    from lossviz.studies import grid

    config = config.validate()
    if config.label_noise:
        raise ValueError("the noise study sets --label-noise itself, from --rates")
    cells = noise_cells(config, parse_rates(",".join(map(str, rates))), kind)
    out = Path(out)
    check_study_out(out)
    prepare_out_dir(out)
    study = {"study": "noise", "rates": [c.config.label_noise for c in cells], "noise": kind,
             "config": config.to_dict(), "cells": {str(c.config.label_noise): c.name for c in cells}}
    write_atomic(out / STUDY_FILE, json_bytes(study))
    if runner is None:
        grid.run_here(cells, data, out, on_batch=on_batch, threads=threads, figures=figures)
    else:
        runner(cells, data, out)
    summary = summarize_noise(out)
    write_atomic(out / SUMMARY_FILE, json_bytes(summary))
    return summary


def read_study(out: Path) -> dict:
    """A study folder's study.json; ``StudyError`` if it is not one."""
    path = Path(out) / STUDY_FILE
    if not path.is_file():
        raise StudyError(f"{out} is not a lossviz study folder (no {STUDY_FILE})")
    try:
        d = json.loads(path.read_text())
        if not (isinstance(d, dict) and isinstance(d.get("cells"), dict) and isinstance(d.get("rates"), list)):
            raise ValueError("expected an object with rates and cells")
        if not 1 <= len(d["rates"]) <= 50:
            raise ValueError(f"{len(d['rates'])} rates; a study has 1 to 50")
        for r in d["rates"]:
            rate = checks.number(r, "a rate", 0, 1, high_open=True)
            cell = d["cells"].get(str(float(rate)))
            # A cell is a folder beside study.json, never a path elsewhere.
            if not (isinstance(cell, str) and cell and cell == Path(cell).name and cell not in (".", "..")):
                raise ValueError(f"rate {rate:g} has no run folder name, got {checks.shown(cell)}")
        return d
    except RecursionError:
        raise StudyError(f"{path}: not a valid study description (nested too deeply)") from None
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise StudyError(f"{path}: not a valid study description ({checks.shown(str(e), 160)[1:-1]})") from None


def summarize_noise(out: Path) -> dict:
    """Per loss and rate: the final epoch's test accuracy (mean, std over seeds, per seed) and
    training accuracy on the noisy labels, read from the rate's run folder."""
    from lossviz.train import runs

    study = read_study(out)
    rates = [float(r) for r in study["rates"]]
    losses: dict[str, dict] = {}
    for r in rates:
        run = Path(out) / study["cells"][str(r)]
        config, metrics = runs.read_run(run)
        last = [m for m in metrics if m.epoch == config.epochs]
        for name in config.losses:
            row = losses.setdefault(name, {k: [] for k in ("test_acc", "test_acc_std", "train_acc", "per_seed", "diverged")})
            ok = [m for m in last if m.loss == name and m.status == "ok"]
            accs = [m.test_acc for m in ok]
            mean, std = mean_std(accs)
            row["test_acc"].append(mean)
            row["test_acc_std"].append(std)
            row["train_acc"].append(mean_std([m.train_acc for m in ok])[0])
            row["per_seed"].append(accs)
            row["diverged"].append(sum(1 for m in last if m.loss == name and m.status == "diverged"))
    return {"rates": rates, "noise": study.get("noise", "symmetric"), "losses": losses}


def format_noise_table(summary: dict) -> str:
    """Test accuracy (mean +- std over seeds) per loss (rows) and noise rate (columns)."""
    rates = summary["rates"]
    head = f"{'loss':<15}" + "".join(f"{'rate ' + format(r, 'g'):>17}" for r in rates)
    lines = [f"final test accuracy under {summary['noise']} label noise (mean ± std over seeds)", head, "-" * len(head)]
    for name, row in summary["losses"].items():
        cells = []
        for m, s in zip(row["test_acc"], row["test_acc_std"]):
            cells.append(f"{m:.4f} ± {s:.4f}" if m is not None else "diverged")
        lines.append(f"{name:<15}" + "".join(f"{c:>17}" for c in cells))
    return "\n".join(lines)


def rate_curves(out: Path) -> dict[float, dict]:
    """{rate: the run's curves_by_loss} for the per-rate panels."""
    from lossviz.train import runs

    study = read_study(out)
    curves = {}
    for r in study["rates"]:
        config, metrics = runs.read_run(Path(out) / study["cells"][str(float(r))])
        curves[float(r)] = runs.curves_by_loss(metrics, config)
    return curves
