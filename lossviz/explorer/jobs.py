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

from lossviz.files import write_atomic
from lossviz.train.config import TrainConfig

LOG_NAME = "job.log"
PROGRESS_NAME = "progress.json"


class JobRefused(Exception):
    """A second job while one runs, or a config that does not validate."""


# The job's interpreter starts with Ctrl-C's default handler (KeyboardInterrupt) whatever this
# process ignores: a server started as `lossviz explore &` from a script ignores SIGINT, and an
# ignored signal stays ignored across exec, so a job would never hear its cancel.
CHILD = ("import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
         "from lossviz.cli import main; sys.exit(main(sys.argv[1:]))")


def compare_command(config_file: Path, out: Path, data_root: str | None, progress_file: Path) -> list[str]:
    """The ``lossviz compare`` command for a config file (each value its own argument, no shell),
    run with SIGINT's default handler (``CHILD``), with this server's plugins (``--plugin``)."""
    from lossviz.plugins import loaded_paths

    cmd = [sys.executable, "-c", CHILD, "compare", "--config", str(config_file), "--out", str(out),
           "--progress-file", str(progress_file), *(a for path in loaded_paths() for a in ("--plugin", path))]
    return cmd + (["--data-root", str(data_root)] if data_root else [])


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

    def start(self, config: TrainConfig | dict) -> Path:
        """Start training ``config`` (a TrainConfig or its plain-data form) in a new run folder;
        ``JobRefused`` if a job runs, ``ValueError`` if the config does not validate."""
        config = TrainConfig.from_dict(config.to_dict() if isinstance(config, TrainConfig) else config)
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
            out.mkdir()  # reserves the name; compare accepts an empty folder
            # compare needs an empty run folder: the job's config file, log and
            # progress live beside it as hidden files.
            config_file = self.runs_dir / f".{out.name}.config.json"
            write_atomic(config_file, (json.dumps(config.to_dict(), indent=1) + "\n").encode())
            cmd = compare_command(config_file, out, self.data_root, self.runs_dir / f".{out.name}.{PROGRESS_NAME}")
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
                self._proc.wait()
            self._remove_if_empty()
            return True

    def _remove_if_empty(self) -> None:
        """A job cancelled before its first epoch (while it loaded torch or the data) leaves no
        empty run folder: the folder this manager reserved goes, with the job's hidden files."""
        out = self._run
        try:
            if out is not None and out.is_dir() and not any(out.iterdir()):
                out.rmdir()
                for suffix in ("config.json", PROGRESS_NAME):
                    (self.runs_dir / f".{out.name}.{suffix}").unlink(missing_ok=True)
        except OSError:
            pass

    def status(self) -> dict:
        """{"state": idle|running|finished|failed|cancelled, "run", "done", "total", "message"}."""
        if self._proc is None:
            return {"state": "idle", "run": None, "done": 0, "total": 0, "message": ""}
        progress = {"done": 0, "total": 0}
        try:
            progress = json.loads((self.runs_dir / f".{self._run.name}.{PROGRESS_NAME}").read_text())
        except (OSError, ValueError):
            pass
        code = self._proc.poll()
        log = self.runs_dir / f".{self._run.name}.log"
        if code is None:
            state, message = "running", ""
        elif code == 0:  # it finished, even if a cancel came too late to stop it
            state, message = "finished", ""
        elif self._cancelled:
            kept = self._run.is_dir()
            state, message = "cancelled", ("cancelled; the finished epochs are kept (resumable with lossviz compare --resume)"
                                           if kept else "cancelled before the first epoch finished; nothing kept")
        else:
            tail = log.read_text(errors="replace").strip().splitlines()[-1:] if log.is_file() else []
            state, message = "failed", (tail[0] if tail else f"exit status {code}")
        return {"state": state, "run": self._run.name, "done": progress.get("done", 0), "total": progress.get("total", 0), "message": message}
