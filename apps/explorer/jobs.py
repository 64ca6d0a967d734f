"""Background training jobs for the Training page: one ``lossviz compare`` process at a time.

The job is a separate process (never the web server's request thread), started with an
argument list (no shell), writing the same run folder format as the CLI. Cancelling sends
SIGINT, which leaves a valid, resumable run folder, as Ctrl-C does.
"""

from __future__ import annotations

import datetime
import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

from lossviz.train import TrainConfig

LOG_NAME = "job.log"
PROGRESS_NAME = "progress.json"


class JobRefused(Exception):
    """A second job while one runs, or a config that does not validate."""


def compare_args(config: TrainConfig, out: Path, data_root: str | None) -> list[str]:
    """The ``lossviz compare`` argument list for a config (each value its own argument)."""
    args = ["--losses", ",".join(config.losses), "--model", config.model, "--activation", config.activation,
            "--hidden", str(config.hidden), "--epochs", str(config.epochs), "--lr", repr(config.lr),
            "--batch-size", str(config.batch_size), "--seeds", str(config.seeds), "--seed", str(config.seed),
            "--regression-target", config.regression_target, "--device", config.device, "--out", str(out)]
    for name, params in config.loss_params.items():
        args += [a for k, v in params.items() for a in ("--param", f"{name}.{k}={v!r}")]
    args += [a for k, v in config.activation_params.items() for a in ("--param", f"{config.activation}.{k}={v!r}")]
    if config.train_subset:
        args += ["--train-subset", str(config.train_subset)]
    if config.test_subset:
        args += ["--test-subset", str(config.test_subset)]
    if data_root:
        args += ["--data-root", str(data_root)]
    return args


class JobManager:
    """Starts, watches and cancels the one training process."""

    def __init__(self, runs_dir: Path, data_root: str | None = None):
        self.runs_dir = Path(runs_dir)
        self.data_root = data_root
        self._lock = threading.Lock()
        self._proc: subprocess.Popen | None = None
        self._run: Path | None = None
        self._cancelled = False

    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self, config: TrainConfig) -> Path:
        config.validate()
        with self._lock:
            if self.running():
                raise JobRefused(f"a training job is already running ({self._run.name}); wait for it or cancel it")
            self.runs_dir.mkdir(parents=True, exist_ok=True)
            stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
            out = self.runs_dir / f"{config.model}-{stamp}"
            n = 1
            while out.exists():
                n += 1
                out = self.runs_dir / f"{config.model}-{stamp}-{n}"
            out.mkdir()
            cmd = [sys.executable, "-m", "lossviz.cli", "compare", *compare_args(config, out, self.data_root),
                   "--progress-file", str(out / PROGRESS_NAME)]
            # The run folder must be empty for compare: the log goes there once it has started.
            log = open(self.runs_dir / f".{out.name}.log", "wb")
            env = {**os.environ, "PYTHONUNBUFFERED": "1"}
            self._proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                                          start_new_session=True)
            log.close()
            self._run, self._cancelled = out, False
            return out

    def cancel(self) -> bool:
        with self._lock:
            if not self.running():
                return False
            self._cancelled = True
            self._proc.send_signal(signal.SIGINT)  # KeyboardInterrupt: finished epochs stay, resumable
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
            return True

    def status(self) -> dict:
        """{"state": idle|running|finished|failed|cancelled, "run", "done", "total", "message"}."""
        if self._proc is None:
            return {"state": "idle", "run": None, "done": 0, "total": 0, "message": ""}
        progress = {"done": 0, "total": 0}
        try:
            progress = json.loads((self._run / PROGRESS_NAME).read_text())
        except (OSError, ValueError):
            pass
        code = self._proc.poll()
        log = self.runs_dir / f".{self._run.name}.log"
        if code is None:
            state, message = "running", ""
        elif self._cancelled:
            state, message = "cancelled", "cancelled; the finished epochs are kept (resumable with lossviz compare --resume)"
        elif code == 0:
            state, message = "finished", ""
        else:
            tail = log.read_text(errors="replace").strip().splitlines()[-1:] if log.is_file() else []
            state, message = "failed", (tail[0] if tail else f"exit status {code}")
        return {"state": state, "run": self._run.name, "done": progress.get("done", 0), "total": progress.get("total", 0), "message": message}
