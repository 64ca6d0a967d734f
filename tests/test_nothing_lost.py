"""Nothing lost (issue 24): a damaged record never costs good results, outside files are read
with a bound, a failed command leaves no file or folder, sizes are capped, damaged study inputs
and failed writes are one line (exit 2), and the explorer's jobs end in the state they reached.

Failed writes are real ones, made without patching anything global (the tests may run as
root, where a chmod'ed folder stays writable): a path through a file (ENOTDIR), a target that
is a folder (EISDIR), and a full disk through ``lossviz.files.write_atomic``'s documented
``write`` parameter (``lossviz.files.disk_full``)."""

from __future__ import annotations

import errno
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from lossviz import files
from lossviz.train import TrainConfig, runs
from tests.clirun import cli_in_process
from tests.idx import write_fake_fashion_mnist

TRAIN = ("--losses", "cross_entropy,l2", "--epochs", "2", "--batch-size", "64", "--figures", "none")


def _one_line(res, code: int = 2) -> str:
    """The error of a refused command: exit ``code``, one short line ``lossviz: error: ...`` (after
    what the command said it was starting, if anything), no traceback."""
    lines = res.stderr.strip().splitlines()
    assert res.returncode == code, (res.returncode, res.stdout, res.stderr)
    assert "Traceback" not in res.stderr and lines and lines[-1].startswith("lossviz: error: "), res.stderr
    assert sum(line.startswith("lossviz: error") for line in lines) == 1, res.stderr
    assert len(lines[-1]) < 400, lines[-1]
    return lines[-1]


def _tmp_files(folder: Path) -> list[Path]:
    return [p for p in Path(folder).rglob("*") if p.name.endswith(".tmp")]


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return write_fake_fashion_mnist(tmp_path_factory.mktemp("nl") / "data", n_train=300, n_test=100)


@pytest.fixture(scope="module")
def finished(data, tmp_path_factory) -> Path:
    """A finished run (held-out images for the calibration study), copied by each test that damages it."""
    out = tmp_path_factory.mktemp("runs") / "run"
    res = cli_in_process("compare", "--data-root", data, *TRAIN, "--holdout", "120", "--out", out)
    assert res.returncode == 0, res.stderr
    return out


def _copy(run: Path, tmp_path: Path) -> Path:
    out = tmp_path / "copy"
    shutil.copytree(run, out)
    return out


def _resume(data, out):
    return cli_in_process("compare", "--data-root", data, *TRAIN, "--holdout", "120", "--out", out, "--resume")


def _numbers(run: Path) -> list[tuple]:
    return [(r.seed, r.epoch, r.loss, r.train_loss, r.test_acc, r.test_loss) for r in runs.read_metrics(run)]


def _results(run: Path) -> dict:
    d = json.loads((run / "results.json").read_text())
    for row in d["losses"].values():
        row.pop("seconds")  # wall time: the one field that is not a function of the config
    return d


# --- resume never destroys results ------------------------------------------------------------


@pytest.mark.parametrize("damage", ["cut last line", "one garbage line", "emptied"])
def test_resume_of_a_finished_run_rebuilds_lost_records(data, finished, tmp_path, damage):
    out = _copy(finished, tmp_path)
    path = out / "metrics.jsonl"
    if damage == "cut last line":
        path.write_bytes(path.read_bytes()[:-20])
    elif damage == "one garbage line":
        path.write_bytes(b"\x00garbage")
    else:
        path.write_bytes(b"")
    res = _resume(data, out)
    assert res.returncode == 0, res.stderr
    assert "lacks" in res.stderr and "again from its start" in res.stderr  # says so
    assert _numbers(out) == _numbers(finished)  # the same numbers, every record back
    assert _results(out) == _results(finished)
    assert all(r["status"] == "ok" for r in _results(out)["losses"].values())


def test_resume_refuses_a_damaged_middle_line_and_touches_nothing(data, finished, tmp_path):
    out = _copy(finished, tmp_path)
    lines = (out / "metrics.jsonl").read_bytes().splitlines(keepends=True)
    lines[1] = b'{"seed": 0, "epo\n'
    (out / "metrics.jsonl").write_bytes(b"".join(lines))
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    assert "line 2 is damaged" in _one_line(_resume(data, out))
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before  # results.json kept


# --- --config: bounded reads, short messages ---------------------------------------------------


def _config_error(tmp_path, path) -> str:
    start = time.monotonic()
    res = cli_in_process("compare", "--config", path, "--out", tmp_path / "never")
    assert time.monotonic() - start < 20  # bounded: no endless read, no wait on a pipe
    assert not (tmp_path / "never").exists()
    return _one_line(res)


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/urandom"])
def test_config_from_a_device_is_refused_at_once(tmp_path, device):
    if not Path(device).exists():
        pytest.skip(f"no {device}")
    assert "not a regular file" in _config_error(tmp_path, device)


def test_config_from_a_fifo_does_not_hang(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    assert "not a regular file" in _config_error(tmp_path, fifo)


def test_config_folder_and_huge_file(tmp_path):
    assert "is a folder" in _config_error(tmp_path, tmp_path)
    big = tmp_path / "big.json"
    big.write_text(json.dumps({"losses": "x" * 20_000_000}))  # a 20 MB value
    assert f"at most {files.READ_LIMIT}" in _config_error(tmp_path, big)


@pytest.mark.parametrize("content, needle", [
    ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
    ('{"losses": ' + "[" * 5000 + "]" * 5000 + "}", "nested too deeply"),
    (json.dumps({"losses": ["y" * 900_000]}), "unknown loss 'yyyy"),  # echoed cut to ~40 characters
    (json.dumps({"model": "m" * 900_000}), "unknown model 'mmmm"),
    (json.dumps({f"k{i}": 1 for i in range(200_000)}), "at most"),  # 2.7 MB: over the read bound
    (json.dumps({f"k{i}": 1 for i in range(20_000)}), "and 19995 more"),
    (json.dumps({"device": "d" * 500_000}), "unknown device"),
    ('{"epochs": "' + "9" * 500_000 + '"}', "epochs must be an integer"),
])
def test_config_contents_give_one_short_line(tmp_path, content, needle):
    path = tmp_path / "c.json"
    path.write_text(content)
    assert needle in _config_error(tmp_path, path)


# --- a failed command leaves no folder; a corrected retry works --------------------------------


def test_compare_holdout_too_large_leaves_nothing_and_a_retry_works(data, tmp_path):
    out = tmp_path / "a" / "run"
    res = cli_in_process("compare", "--data-root", data, *TRAIN, "--holdout", "60000", "--out", out)
    assert "--holdout 60000 leaves no training image" in _one_line(res)
    assert not (tmp_path / "a").exists()
    res = cli_in_process("compare", "--data-root", data, *TRAIN, "--holdout", "100", "--out", out, "--epochs", "1")
    assert res.returncode == 0, res.stderr


@pytest.mark.parametrize("extra, needle", [
    (("--holdout", "60000"), "leaves no training image"),
    (("--ray", "not a url"), "is not one Ray takes"),
    (("--ray", "ray://head:99999"), "is not one Ray takes"),
])
def test_study_noise_refusals_leave_no_folder(data, tmp_path, extra, needle):
    out = tmp_path / "s" / "study"
    res = cli_in_process("study", "noise", "--data-root", data, "--rates", "0,0.2", "--epochs", "1", "--out", out, *extra)
    assert needle in _one_line(res)
    assert not (tmp_path / "s").exists()


def test_a_run_that_fails_before_its_first_epoch_is_removed(tmp_path):
    """What ``compare`` and ``study noise`` undo after a failure: the files a new run writes before
    its first epoch and the folders the command created, never a run with records."""
    made = files.created_folders(tmp_path / "x" / "y")
    assert made == [tmp_path / "x", tmp_path / "x" / "y"]
    files.prepare_out_dir(tmp_path / "x" / "y")
    for name in runs.STARTED_FILES:
        (tmp_path / "x" / "y" / name).write_text("{}")
    assert runs.remove_unstarted(tmp_path / "x" / "y", made) and not (tmp_path / "x").exists()
    kept = tmp_path / "kept"
    kept.mkdir()
    (kept / "metrics.jsonl").write_text("{}\n")
    assert not runs.remove_unstarted(kept, [kept]) and (kept / "metrics.jsonl").is_file()


# --- sizes capped by what the machine can hold -------------------------------------------------


def test_a_model_too_large_is_refused_naming_the_cap(tmp_path):
    with pytest.raises(ValueError, match="the cap is 100,000,000"):
        TrainConfig(model="mlp", hidden=(65536, 65536)).validate()
    res = cli_in_process("compare", "--model", "mlp", "--hidden", "65536,65536", "--out", tmp_path / "r")
    assert "too large" in _one_line(res) and not (tmp_path / "r").exists()
    res = cli_in_process("compare", "--model", "mlp", "--hidden", "4096,4096", "--batch-size", "1000000", "--out", tmp_path / "r")
    assert "half this machine's memory" in _one_line(res)
    assert TrainConfig(model="mlp", hidden=(1024, 1024)).validate().hidden == (1024, 1024)  # a real model passes


def test_the_training_form_reads_the_same_cap(tmp_path):
    from lossviz.explorer.jobs import JobManager

    jobs = JobManager(tmp_path / "runs")
    with pytest.raises(ValueError, match="too large"):
        jobs.start({"model": "mlp", "hidden": [65536, 65536]})
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


# --- damaged study inputs: one line naming the file ---------------------------------------------


def _npz(path: Path, **arrays) -> None:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    path.write_bytes(buf.getvalue())


def _edit_predictions(edit):
    def damage(run: Path):
        with np.load(run / "predictions.npz") as f:
            arrays = {k: f[k] for k in f.files}
        edit(arrays)
        _npz(run / "predictions.npz", **arrays)
    return damage


def _edit_weights(edit):
    def damage(run: Path):
        w = torch.load(run / "weights.pt", weights_only=True)
        w = edit(w)
        torch.save(w, run / "weights.pt")
    return damage


def _huge_npz(run: Path) -> None:
    """A crafted predictions.npz whose header claims a (100_000_000_000, 1000) float64 array (745 GiB)."""
    header = {"descr": "<f8", "fortran_order": False, "shape": (100_000_000_000, 1000)}
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, header)
    with zipfile.ZipFile(run / "predictions.npz", "w") as z:
        z.writestr("labels.npy", buf.getvalue() + b"\0" * 64)


CALIBRATION_DAMAGE = {
    "no labels": _edit_predictions(lambda a: a.pop("labels")),
    "no seeds": _edit_predictions(lambda a: a.pop("seeds")),
    "no loss": _edit_predictions(lambda a: a.pop("l2")),
    "label out of range": _edit_predictions(lambda a: a["labels"].__setitem__(0, 12)),
    "negative label": _edit_predictions(lambda a: a["labels"].__setitem__(0, -1)),
    "float labels": _edit_predictions(lambda a: a.__setitem__("labels", a["labels"].astype(float))),
    "2-D labels": _edit_predictions(lambda a: a.__setitem__("labels", a["labels"][:, None])),
    "NaN probabilities": _edit_predictions(lambda a: a["l2"].__setitem__((0, 0), np.nan)),
    "inf probabilities": _edit_predictions(lambda a: a["cross_entropy"].__setitem__((3, 1), np.inf)),
    "negative probabilities": _edit_predictions(lambda a: a["l2"].__setitem__((0, 0), -0.5)),
    "probabilities of another shape": _edit_predictions(lambda a: a.__setitem__("l2", a["l2"][:10])),
    "1 class": _edit_predictions(lambda a: a.__setitem__("l2", a["l2"][:, :1])),
    "integer probabilities": _edit_predictions(lambda a: a.__setitem__("l2", a["l2"].astype(np.int64))),
    "seed outside the run": _edit_predictions(lambda a: a.__setitem__("seeds", np.array([7]))),
    "empty labels": _edit_predictions(lambda a: a.update(labels=a["labels"][:0])),
    "745 GiB header": _huge_npz,
    "not a zip": lambda run: (run / "predictions.npz").write_bytes(b"PK\x03\x04garbage"),
    "empty weights": _edit_weights(lambda w: {}),
    "weights of another shape": _edit_weights(lambda w: {k: {n: t[:, :3] for n, t in p.items()} for k, p in w.items()}),
    "integer weights": _edit_weights(lambda w: {k: {n: t.long() for n, t in p.items()} for k, p in w.items()}),
    "NaN weights": _edit_weights(lambda w: {k: {n: t.fill_(float("nan")) for n, t in p.items()} for k, p in w.items()}),
    "a layer missing": _edit_weights(lambda w: {k: {"w1": p["w1"]} for k, p in w.items()}),
    "weights not a mapping": _edit_weights(lambda w: [1, 2]),
    "weights of another seed": _edit_weights(lambda w: {"seed_5": w["seed_0"]}),
}


@pytest.mark.parametrize("damage", list(CALIBRATION_DAMAGE))
def test_study_calibration_of_damaged_inputs_is_one_line(data, finished, tmp_path, damage):
    run = _copy(finished, tmp_path)
    CALIBRATION_DAMAGE[damage](run)
    err = _one_line(cli_in_process("study", "calibration", run, "--data-root", data, "--figures", "none"))
    assert "predictions.npz" in err or "weights.pt" in err, err
    assert not (run / "calibration.json").exists() and not _tmp_files(run)


@pytest.mark.parametrize("damage", ["empty weights", "weights of another shape", "NaN weights", "a layer missing"])
def test_landscape_of_damaged_weights_is_one_line(data, finished, tmp_path, damage):
    run = _copy(finished, tmp_path)
    CALIBRATION_DAMAGE[damage](run)
    err = _one_line(cli_in_process("landscape", run, "--data-root", data, "--grid", "3", "--subset", "50", "--figures", "none"))
    assert "weights.pt" in err and not (run / "landscape.npz").exists()


@pytest.fixture(scope="module")
def studied(data, finished, tmp_path_factory) -> Path:
    """The finished run with its calibration and landscape results (no figures)."""
    run = tmp_path_factory.mktemp("studied") / "run"
    shutil.copytree(finished, run)
    for argv in (("study", "calibration", run, "--data-root", data, "--figures", "none"),
                 ("landscape", run, "--data-root", data, "--grid", "3", "--subset", "50", "--figures", "none")):
        res = cli_in_process(*argv)
        assert res.returncode == 0, res.stderr
    return run


def _edit_json(name, edit):
    def damage(run: Path):
        d = json.loads((run / name).read_text())
        (run / name).write_text(json.dumps(edit(d)))
    return damage


def _edit_landscape(edit):
    def damage(run: Path):
        with np.load(run / "landscape.npz") as f:
            arrays = {k: f[k] for k in f.files}
        edit(arrays)
        _npz(run / "landscape.npz", **arrays)
    return damage


def _first(d):
    return next(iter(next(iter(d["losses"].values()))["seeds"].values()))


FIGURE_DAMAGE = {
    "calibration.json: a list": ("calibration.json", lambda run: (run / "calibration.json").write_text("[]")),
    "calibration.json: not JSON": ("calibration.json", lambda run: (run / "calibration.json").write_text("{")),
    "calibration.json: n_bins a string": ("calibration.json", _edit_json("calibration.json", lambda d: {**d, "n_bins": "15"})),
    "calibration.json: n_bins 10**9": ("calibration.json", _edit_json("calibration.json", lambda d: {**d, "n_bins": 10**9})),
    "calibration.json: no seeds": ("calibration.json", _edit_json("calibration.json",
                                                                  lambda d: {**d, "losses": {k: {} for k in d["losses"]}})),
    "calibration.json: short counts": ("calibration.json", _edit_json("calibration.json", lambda d: (
        _first(d)["before"].__setitem__("count", [1, 2]), d)[1])),
    "calibration.json: 10,000 losses": ("calibration.json", _edit_json("calibration.json", lambda d: {
        **d, "losses": {f"l{i}": next(iter(d["losses"].values())) for i in range(10_000)}})),
    "landscape.npz: garbage": ("landscape.npz", lambda run: (run / "landscape.npz").write_bytes(b"not a zip")),
    "landscape.npz: a key missing": ("landscape.npz", _edit_landscape(lambda a: a.pop("surface_ce"))),
    "landscape.npz: wrong shape": ("landscape.npz", _edit_landscape(lambda a: a.__setitem__("surface_own", a["surface_own"][:, :2]))),
    "landscape.npz: strings": ("landscape.npz", _edit_landscape(lambda a: a.__setitem__("line_own", a["line_own"].astype(str)))),
}


@pytest.mark.parametrize("damage", list(FIGURE_DAMAGE))
def test_figures_of_damaged_study_results_are_one_line(studied, tmp_path, damage):
    name, edit = FIGURE_DAMAGE[damage]
    run = _copy(studied, tmp_path)
    edit(run)
    err = _one_line(cli_in_process("figures", "--run", run, "--format", "png"))
    assert name in err, err
    assert not _tmp_files(run)


@pytest.fixture(scope="module")
def study_folder(data, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("study") / "noise"
    res = cli_in_process("study", "noise", "--data-root", data, "--rates", "0,0.5", "--losses", "cross_entropy",
                         "--epochs", "1", "--batch-size", "64", "--figures", "none", "--out", out)
    assert res.returncode == 0, res.stderr
    return out


@pytest.mark.parametrize("edit", [
    lambda d: {**d, "cells": {k: "../../etc" for k in d["cells"]}},
    lambda d: {**d, "cells": {}},
    lambda d: {**d, "rates": ["x"]},
    lambda d: {**d, "rates": []},
    lambda d: {**d, "rates": [0.0] * 100},
    lambda d: "study",
], ids=["cell outside", "no cells", "rate not a number", "no rates", "100 rates", "a string"])
def test_figures_of_a_damaged_study_json_are_one_line(study_folder, tmp_path, edit):
    out = tmp_path / "study"
    shutil.copytree(study_folder, out)
    d = json.loads((out / "study.json").read_text())
    (out / "study.json").write_text(json.dumps(edit(d)))
    assert "study.json" in _one_line(cli_in_process("figures", "--run", out, "--format", "png"))


# --- full disk, read-only folder, Ctrl-C mid-write ----------------------------------------------


def test_write_atomic_on_a_full_disk_keeps_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "results.json"
    target.write_bytes(b"good")
    with pytest.raises(OSError) as info:
        files.write_atomic(target, b"new" * 1000, write=files.disk_full)
    assert info.value.errno == errno.ENOSPC and info.value.filename == str(target)
    assert target.read_bytes() == b"good" and not _tmp_files(tmp_path)
    assert "results.json: No space left on device" in files.os_error_text(info.value, "")


def test_write_atomic_interrupted_leaves_no_temporary(tmp_path):
    def interrupted(f, data):
        f.write(data[:10])
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        files.write_atomic(tmp_path / "state.pt", b"x" * 100, write=interrupted)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("fail", [files.disk_full, "interrupt"])
def test_checkpoint_write_failing_leaves_the_previous_state_and_no_temporary(finished, tmp_path, fail):
    """A full disk or a Ctrl-C while state.pt is written: the previous checkpoint stays, no .tmp."""
    from lossviz.train.records import Checkpoint

    out = _copy(finished, tmp_path)
    config, _ = runs.read_config(out)
    before = (out / "state.pt").read_bytes()

    def interrupted(f, data):
        f.write(data[:100])
        raise KeyboardInterrupt

    writer = runs.RunWriter(out, config, resume=True, write=fail if callable(fail) else interrupted)
    ck = writer.checkpoint
    with writer, pytest.raises(OSError if callable(fail) else KeyboardInterrupt):
        writer.on_epoch([], Checkpoint(ck.seed_index, ck.epoch, params={"w1": torch.zeros(2, 2)}))
    assert (out / "state.pt").read_bytes() == before and not _tmp_files(out)


def test_resume_in_an_unwritable_folder_is_one_line(data, finished, tmp_path):
    out = _copy(finished, tmp_path)
    (out / ".lock").unlink()
    (out / ".lock").mkdir()  # the lock cannot be opened: what a read-only folder does, even as root
    err = _one_line(_resume(data, out))
    assert "cannot lock run folder" in err and ".lock" in err


def test_compare_write_failure_mid_training_is_one_line_and_leaves_no_temporary(data, finished, tmp_path):
    out = _copy(finished, tmp_path)
    (out / "metrics.jsonl").write_bytes(b"")  # the resume trains again ...
    (out / "confusion.json").unlink()
    (out / "confusion.json").mkdir()  # ... and its first write fails
    err = _one_line(_resume(data, out))
    assert "confusion.json" in err
    assert not _tmp_files(out) and _results(out) == _results(finished)  # the good results stay


def test_compare_into_a_path_through_a_file_is_one_line(data, tmp_path):
    (tmp_path / "file").write_text("x")
    err = _one_line(cli_in_process("compare", "--data-root", data, *TRAIN, "--out", tmp_path / "file" / "run"))
    assert "file" in err


@pytest.mark.parametrize("argv, name", [
    (lambda run, data: ("study", "calibration", run, "--data-root", data, "--figures", "none"), "calibration.json"),
    (lambda run, data: ("landscape", run, "--data-root", data, "--grid", "3", "--subset", "50", "--figures", "none"), "landscape.npz"),
])
def test_study_write_failure_is_one_line_naming_the_file(data, finished, tmp_path, argv, name):
    run = _copy(finished, tmp_path)
    (run / name).mkdir()  # the results cannot replace a folder: a failed write, as root too
    err = _one_line(cli_in_process(*argv(run, data)))
    assert name in err and not _tmp_files(run)


def test_figures_into_an_unwritable_place_is_one_line(finished, tmp_path):
    run = _copy(finished, tmp_path)
    (run / "figures").write_text("a file where the folder goes")
    assert "figures" in _one_line(cli_in_process("figures", "--run", run, "--format", "png"))
    (tmp_path / "f").write_text("x")
    assert "f/out" in _one_line(cli_in_process("figures", "--run", run, "--format", "png", "--out", tmp_path / "f" / "out"))
    assert "f/out" in _one_line(cli_in_process("figures", "--only", "loss_l2", "--format", "png", "--out", tmp_path / "f" / "out"))


# --- the explorer: export of a broken run, jobs ---------------------------------------------------


def test_training_page_export_of_a_broken_config_says_what_is_wrong(finished, tmp_path):
    import dash

    from lossviz.explorer.pages.training.views import export_errors

    run = _copy(finished, tmp_path)
    (run / "config.json").write_text("{")

    def export_curves(n, fmt, names):
        runs.read_run(run)
        return "bytes", ""

    download, message = export_errors(export_curves)(1, "svg", [run.name])
    assert download is dash.no_update
    assert "config.json" in message and "not a valid run configuration" in message and "internal" not in message


def _wait(jobs, states, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        s = jobs.status()
        if s["state"] in states:
            return s
        time.sleep(0.1)
    raise AssertionError(f"job never reached {states}: {jobs.status()}")


def test_job_cancelled_while_loading_leaves_no_run_folder(data, tmp_path):
    from lossviz.explorer.jobs import JobManager

    jobs = JobManager(tmp_path / "runs", str(data))
    out = jobs.start(TrainConfig(losses=("cross_entropy",), epochs=1).validate())
    time.sleep(0.3)  # the job is importing torch
    assert jobs.cancel()
    s = jobs.status()
    assert s["state"] == "cancelled" and "nothing kept" in s["message"]
    assert not out.exists()


def test_jobs_hear_sigint_when_the_server_ignores_it_and_a_finished_job_is_finished(data, tmp_path):
    """`lossviz explore &` from a script ignores SIGINT; its jobs must not inherit that."""
    script = f"""
import signal, sys, time
signal.signal(signal.SIGINT, signal.SIG_IGN)
sys.path.insert(0, {str(Path(__file__).parents[1])!r})
from lossviz.explorer.jobs import JobManager
from lossviz.train import TrainConfig
jobs = JobManager({str(tmp_path / 'runs')!r}, {str(data)!r})
out = jobs.start(TrainConfig(losses=("cross_entropy",), epochs=50, batch_size=1).validate())
deadline = time.monotonic() + 120
while not (out / "state.pt").is_file() and time.monotonic() < deadline:
    time.sleep(0.05)
t = time.monotonic()
jobs.cancel()
print(jobs.status()["state"], jobs._proc.returncode, round(time.monotonic() - t, 1))
jobs._cancelled = True  # a cancel that came after the job finished
jobs._proc.returncode = 0
print(jobs.status()["state"])
"""
    res = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    state, code, seconds, after = res.stdout.split()
    assert state == "cancelled" and int(code) == 130, res.stdout + res.stderr  # KeyboardInterrupt, not a kill
    assert float(seconds) < 10
    assert after == "finished"
