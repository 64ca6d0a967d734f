"""Background training jobs for the Training page: one ``lossviz compare`` process at a time,
the others waiting in a queue, all of it kept on disk so that every server process sees it.

The job is a separate process (never the web server's request thread), started with an
argument list (no shell), writing the same run folder format as the CLI. Cancelling sends
SIGINT, which leaves a valid, resumable run folder, as Ctrl-C does.

Under ``lossviz serve`` several worker processes answer the same visitors, so nothing about
jobs lives in a worker's memory: the running job (its pid, run folder, owner) and the queue are
in ``RUNS/.jobs.json``, read and written under an exclusive lock on ``RUNS/.jobs.lock``; the
job writes its exit status to ``RUNS/.NAME.exit`` itself, because only the worker that started
it could wait for it, and that worker may be gone.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from lossviz.files import write_atomic
from lossviz.train.config import TrainConfig

try:
    import fcntl
except ImportError:  # Windows: `lossviz explore` is one process; the thread lock is enough there
    fcntl = None

LOG_NAME = "job.log"
PROGRESS_NAME = "progress.json"
STATE_NAME = ".jobs.json"
LOCK_NAME = ".jobs.lock"
EXIT_NAME = "exit"


class JobRefused(Exception):
    """A job that may not start now: training off, the queue full, the visitor's second job."""


# The job's interpreter starts with Ctrl-C's default handler (KeyboardInterrupt) whatever this
# process ignores: a server started as `lossviz explore &` from a script ignores SIGINT, and an
# ignored signal stays ignored across exec, so a job would never hear its cancel. It writes its
# exit status to $LOSSVIZ_JOB_EXIT, so that any server process can tell how it ended.
CHILD = ("import os, signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
         "from lossviz.cli import main\n"
         "code = 1\n"
         "try:\n    code = main(sys.argv[1:])\n"
         "finally:\n    open(os.environ['LOSSVIZ_JOB_EXIT'], 'w').write(str(code))\n"
         "sys.exit(code)")


def compare_command(config_file: Path, out: Path, data_root: str | None, progress_file: Path) -> list[str]:
    """The ``lossviz compare`` command for a config file (each value its own argument, no shell),
    run with SIGINT's default handler (``CHILD``), with this server's plugins (``--plugin``)."""
    from lossviz.plugins import loaded_paths

    cmd = [sys.executable, "-c", CHILD, "compare", "--config", str(config_file), "--out", str(out),
           "--progress-file", str(progress_file), *(a for path in loaded_paths() for a in ("--plugin", path))]
    return cmd + (["--data-root", str(data_root)] if data_root else [])


def pid_alive(pid: int) -> bool:
    """Is ``pid`` a live process (not a zombie waiting to be reaped)?"""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat[stat.rindex(")") + 2] != "Z"
    except (OSError, ValueError, IndexError):
        return True


class JobManager:
    """Starts, queues, watches and cancels training processes; its state is in the runs folder.

    ``allow``: may the page start jobs at all (``lossviz serve`` turns it off unless told).
    ``max_jobs``: jobs running or waiting at once; one runs, the others queue (1: a second job
    is refused while one runs, as ``lossviz explore`` always did). ``per_visitor``: each visitor
    (a random id the page keeps) has at most one job, and cancels only their own.
    """

    def __init__(self, runs_dir: Path, data_root: str | None = None, *, allow: bool = True, max_jobs: int = 1,
                 per_visitor: bool = False):
        self.runs_dir = Path(runs_dir)
        self.data_root = data_root
        self.allow = allow
        self.max_jobs = max_jobs
        self.per_visitor = per_visitor
        self._lock = threading.Lock()
        self._proc: subprocess.Popen | None = None

    # --- the shared state ------------------------------------------------------------------------
    @contextlib.contextmanager
    def _state(self):
        """The jobs' state (``{"current": {...} | None, "queue": [...]}``) under the lock; written back on exit."""
        with self._lock:
            self.runs_dir.mkdir(parents=True, exist_ok=True)
            with open(self.runs_dir / LOCK_NAME, "a") as lock:
                if fcntl is not None:
                    fcntl.flock(lock, fcntl.LOCK_EX)
                try:
                    path = self.runs_dir / STATE_NAME
                    try:
                        state = json.loads(path.read_text())
                    except (OSError, ValueError):
                        state = {}
                    state = {"current": state.get("current"), "queue": list(state.get("queue") or [])}
                    before = json.dumps(state, sort_keys=True)
                    yield state
                    if json.dumps(state, sort_keys=True) != before:
                        write_atomic(path, (json.dumps(state, indent=1) + "\n").encode())
                finally:
                    if fcntl is not None:
                        fcntl.flock(lock, fcntl.LOCK_UN)

    def _hidden(self, name: str, suffix: str) -> Path:
        return self.runs_dir / f".{name}.{suffix}"

    def _is_running(self, current: dict | None) -> bool:
        return bool(current) and not self._hidden(current["run"], EXIT_NAME).exists() and pid_alive(current["pid"])

    def _launch(self, state: dict, config: dict, visitor: str | None) -> Path:
        stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
        out = self.runs_dir / f"{config['model']}-{stamp}"
        n = 1
        while out.exists():
            n += 1
            out = self.runs_dir / f"{config['model']}-{stamp}-{n}"
        out.mkdir()  # reserves the name; compare accepts an empty folder
        # compare needs an empty run folder: the job's config file, log, progress and exit
        # status live beside it as hidden files.
        config_file = self._hidden(out.name, "config.json")
        write_atomic(config_file, (json.dumps(config, indent=1) + "\n").encode())
        self._hidden(out.name, EXIT_NAME).unlink(missing_ok=True)
        cmd = compare_command(config_file, out, self.data_root, self._hidden(out.name, PROGRESS_NAME))
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "LOSSVIZ_JOB_EXIT": str(self._hidden(out.name, EXIT_NAME))}
        with open(self._hidden(out.name, "log"), "wb") as log:
            proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                                    start_new_session=True)
        state["current"] = {"run": out.name, "pid": proc.pid, "visitor": visitor, "cancelled": False}
        self._proc = proc  # the last job this process started (tests read its return code)

        def reap():  # no zombie while this process lives; then the next queued job starts at once
            proc.wait()
            with contextlib.suppress(Exception):
                self.advance()

        threading.Thread(target=reap, daemon=True).start()
        return out

    def _advance(self, state: dict) -> None:
        while state["queue"] and not self._is_running(state["current"]):
            entry = state["queue"].pop(0)
            try:
                self._launch(state, entry["config"], entry.get("visitor"))
            except OSError:
                continue

    def advance(self) -> None:
        """Start the next queued job if none runs (every status poll does it, from any process)."""
        with self._state() as state:
            self._advance(state)

    # --- what the page calls ---------------------------------------------------------------------
    def running(self) -> bool:
        with self._state() as state:
            return self._is_running(state["current"])

    def start(self, config: TrainConfig | dict, visitor: str | None = None) -> Path | int:
        """Start training ``config`` (a TrainConfig or its plain-data form) in a new run folder
        (returned), or queue it (its place, 1 = next, returned); ``JobRefused`` if it may not,
        ``ValueError`` if the config does not validate."""
        config = TrainConfig.from_dict(config.to_dict() if isinstance(config, TrainConfig) else config).to_dict()
        if not self.allow:
            raise JobRefused("training from this page is off on this server (its operator starts it with --allow-training)")
        with self._state() as state:
            current = state["current"]
            running = self._is_running(current)
            if self.per_visitor and visitor is not None:
                if running and current.get("visitor") == visitor or any(q.get("visitor") == visitor for q in state["queue"]):
                    raise JobRefused("you already have a training job running or waiting; one per visitor")
            if running and self.max_jobs <= 1:
                raise JobRefused(f"a training job is already running ({current['run']}); wait for it or cancel it")
            if running + len(state["queue"]) >= self.max_jobs:
                raise JobRefused(f"the training queue is full ({self.max_jobs} jobs); try again when one has finished")
            if running or state["queue"]:
                state["queue"].append({"config": config, "visitor": visitor, "queued": time.time()})
                self._advance(state)
                return next((i + 1 for i, q in enumerate(state["queue"]) if q["config"] is config), 0) or self._launched(state)
            return self._launch(state, config, visitor)

    def _launched(self, state: dict) -> Path:
        return self.runs_dir / state["current"]["run"]

    def cancel(self, visitor: str | None = None) -> bool:
        """Cancel the running job (with ``per_visitor``, only the visitor's own job, running or
        waiting); False if there was none."""
        with self._state() as state:
            if self.per_visitor and visitor is not None:
                mine = [q for q in state["queue"] if q.get("visitor") == visitor]
                if mine:
                    state["queue"] = [q for q in state["queue"] if q.get("visitor") != visitor]
                    return True
            current = state["current"]
            if not self._is_running(current) or (self.per_visitor and current.get("visitor") != visitor):
                return False
            current["cancelled"] = True
            pid = current["pid"]
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGINT)  # KeyboardInterrupt: finished epochs stay, resumable
            deadline = time.monotonic() + 10
            while pid_alive(pid) and time.monotonic() < deadline:
                time.sleep(0.05)
            if pid_alive(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                while pid_alive(pid) and time.monotonic() < deadline + 5:
                    time.sleep(0.05)
            if self._proc is not None and self._proc.pid == pid:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self._proc.wait(timeout=5)  # reaped here: its return code is known at once
            self._remove_if_empty(current["run"])
            self._advance(state)
            return True

    def _remove_if_empty(self, name: str) -> None:
        """A job cancelled before its first epoch (while it loaded torch or the data) leaves no
        empty run folder: the folder this manager reserved goes, with the job's hidden files."""
        out = self.runs_dir / name
        try:
            if out.is_dir() and not any(out.iterdir()):
                out.rmdir()
                for suffix in ("config.json", PROGRESS_NAME):
                    self._hidden(name, suffix).unlink(missing_ok=True)
        except OSError:
            pass

    def status(self, visitor: str | None = None) -> dict:
        """{"state": idle|running|finished|failed|cancelled, "run", "done", "total", "message",
        "queued": jobs waiting, "place": the visitor's place in the queue (1 = next) or None}."""
        with self._state() as state:
            self._advance(state)
            current, queue = state["current"], state["queue"]
            running = self._is_running(current)
        place = next((i + 1 for i, q in enumerate(queue) if visitor is not None and q.get("visitor") == visitor), None)
        extra = {"queued": len(queue), "place": place, "mine": bool(current and visitor is not None and current.get("visitor") == visitor)}
        if current is None:
            return {"state": "idle", "run": None, "done": 0, "total": 0, "message": "", **extra}
        name = current["run"]
        progress = {"done": 0, "total": 0}
        try:
            progress = json.loads(self._hidden(name, PROGRESS_NAME).read_text())
        except (OSError, ValueError):
            pass
        own = self._proc if self._proc is not None and self._proc.pid == current["pid"] else None
        try:
            code = int(self._hidden(name, EXIT_NAME).read_text().strip())
        except (OSError, ValueError):
            code = None if running else -9  # gone without a word: killed
        if own is not None and own.returncode is not None and not running:
            code = own.returncode  # this process started it and reaped it: its own word
        log = self._hidden(name, "log")
        if running:
            state_name, message = "running", ""
        elif code == 0:  # it finished, even if a cancel came too late to stop it
            state_name, message = "finished", ""
        elif current.get("cancelled"):
            kept = (self.runs_dir / name).is_dir()
            state_name, message = "cancelled", ("cancelled; the finished epochs are kept (resumable with lossviz compare --resume)"
                                                if kept else "cancelled before the first epoch finished; nothing kept")
        else:
            tail = log.read_text(errors="replace").strip().splitlines()[-1:] if log.is_file() else []
            state_name, message = "failed", (tail[0] if tail else f"exit status {code}")
        return {"state": state_name, "run": name, "done": progress.get("done", 0), "total": progress.get("total", 0),
                "message": message, **extra}
