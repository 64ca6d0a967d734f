"""A study's grid on Ray: each cell (one training run) a Ray task, its run folder sent back;
and a landscape's grid points, cut into parts, each part a Ray task.

The driver (the machine running ``lossviz study ... --ray``) loads the data once and puts it in
Ray's object store; each task trains its cell into a temporary folder on whichever node runs
it and returns the folder's files, which the driver writes into the study folder, atomically,
as the cells finish. Nothing needs a shared file system: the driver's plugin files travel
with the tasks (``lossviz.plugins.shipped``). Every node needs lossviz and torch
installed (``pip install 'lossviz[ray]'``), in the same versions as the driver.

Optional: Ray is imported only here, only when asked for.
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from pathlib import Path
from typing import Callable

from lossviz import checks, plugins
from lossviz.studies.grid import Cell

LOCAL_CPUS = 2  # a local Ray (no address) on this many CPUs


def check_ray() -> None:
    """``ValueError`` in one line when Ray is not installed."""
    try:
        import ray  # noqa: F401 - only whether it imports
    except ImportError:
        raise ValueError("--ray needs Ray, which is not installed: pip install 'lossviz[ray]'") from None


def _train_cell(name: str, config: dict, data, threads: int, plugins=()) -> tuple[str, dict[str, bytes]]:
    """A Ray task: train one cell into a temporary folder, on ``threads`` threads as
    ``train.compare`` runs here (the same numbers); return its files {relative path: bytes}.
    ``plugins``: the driver's plugin files (``lossviz.plugins.shipped``), loaded first."""
    import tempfile

    from lossviz.plugins import load_shipped

    load_shipped(plugins)

    from lossviz.studies.grid import train_run
    from lossviz.train import TrainConfig
    from lossviz.train.runs import LOCK_NAME

    with tempfile.TemporaryDirectory(prefix="lossviz-cell-") as tmp:
        out = Path(tmp) / name
        train_run(TrainConfig.from_dict(config), data, out, threads=threads)
        files = {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*"))
                 if p.is_file() and p.name != LOCK_NAME}
    return name, files


def write_cell(root: Path, name: str, files: dict[str, bytes]) -> None:
    """A returned run folder into ``root/name``: each file atomically, the names checked."""
    from lossviz.files import prepare_out_dir, write_atomic

    folder = (Path(root) / name).resolve()
    for rel, data in files.items():
        path = (folder / rel).resolve()
        if folder not in path.parents:  # a task's answer never writes outside its cell
            raise ValueError(f"a Ray task returned a file outside its run folder: {rel}")
        prepare_out_dir(path.parent)
        write_atomic(path, data)


def check_address(address: str) -> str:
    """A Ray address as Ray takes it: "auto", "local", ``host:port`` or ``ray://host:port``;
    ``ValueError`` in one line otherwise (before any folder is created or Ray is started)."""
    import re

    if address in ("auto", "local"):
        return address
    m = re.fullmatch(r"(ray://)?([A-Za-z0-9.\-_]+|\[[0-9A-Fa-f:.]+\]):([0-9]{1,5})", address) if isinstance(address, str) else None
    if m is None or not 1 <= int(m.group(3)) <= 65535:
        raise ValueError(f"--ray address {checks.shown(address)} is not one Ray takes: use auto, HOST:PORT or "
                         "ray://HOST:PORT (e.g. ray://head:10001), or --ray alone for a local Ray")
    return address


def check_reachable(address: str, timeout: float = 5.0) -> None:
    """For ``host:port`` or ``ray://host:port``: ``ValueError`` in one line unless something
    listens there (Ray itself would retry for minutes). "auto" and the like pass through."""
    import socket

    target = address.removeprefix("ray://")
    host, sep, port = target.rpartition(":")
    if not sep or not host or not port.isdigit():
        return
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout):
            pass
    except OSError as e:
        raise ValueError(f"cannot reach a Ray cluster at {address}: {e.strerror or e}; "
                         "is `ray start --head` running there, and the port open?") from None


@contextmanager
def session(address: str | None = None, num_cpus: int = LOCAL_CPUS):
    """Ray, connected: to the cluster at ``address``, or a local Ray on ``num_cpus`` CPUs (stopped
    afterwards); where Ray is already initialised (a notebook, a test), that session as it is."""
    import ray

    started = False
    if not ray.is_initialized():
        if address:
            check_reachable(address)
            try:
                ray.init(address=address, log_to_driver=False)
            except (ConnectionError, RuntimeError, ValueError) as e:
                first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
                raise ValueError(f"cannot connect to a Ray cluster at {address}: {first}") from None
        else:
            ray.init(num_cpus=num_cpus, include_dashboard=False, log_to_driver=False)
        started = True
    try:
        yield ray
    finally:
        if started:
            ray.shutdown()


def _gather(ray, pending: dict, on_done: Callable[[object, object], None]) -> None:
    """Wait for every task of ``pending`` {ref: key}; ``on_done(key, result)`` as each finishes."""
    while pending:
        done, _ = ray.wait(list(pending), num_returns=1)
        for ref in done:
            key = pending.pop(ref)
            try:
                result = ray.get(ref)
            except ray.exceptions.RayError as e:
                first = str(e).strip().splitlines()[-1] if str(e).strip() else type(e).__name__
                what = f"cell {key.name}" if isinstance(key, Cell) else f"part {key}"
                raise RuntimeError(f"{what} failed on Ray: {first}") from None
            on_done(key, result)


def runner(address: str | None = None, *, threads: int | None = None, num_cpus: int = LOCAL_CPUS,
           on_cell: Callable[[Cell, dict], None] | None = None):
    """A study runner (``runner(cells, data, root)``) that runs every cell as a Ray task.

    ``address``: an existing cluster ("auto", "ray://head:10001", "head:6379"); None starts a
    local Ray on ``num_cpus`` CPUs (and stops it afterwards). ``threads``: torch's threads per task,
    and the CPUs each task asks Ray for (default ``train.DEFAULT_THREADS``, one).
    Where Ray is already initialised (a notebook, a test), that session is used as it is.
    """
    check_ray()
    if threads is not None:
        checks.integer(threads, "threads", 1, 1024)

    def run(cells: list[Cell], data, root: Path) -> dict[str, dict]:
        from lossviz.train import DEFAULT_THREADS

        per_task = threads or DEFAULT_THREADS
        with session(address, num_cpus) as ray:
            task = ray.remote(num_cpus=per_task, max_retries=1)(_train_cell)
            data_ref = ray.put(data)
            shipped = ray.put(plugins.shipped())  # the driver's plugin files, sent to every task
            pending = {task.remote(c.name, c.config.to_dict(), data_ref, per_task, shipped): c for c in cells}
            results = {}

            def done(cell, answer):
                name, files = answer
                write_cell(root, name, files)
                results[name] = json.loads(files["results.json"])
                if on_cell is not None:
                    on_cell(cell, results[name])

            _gather(ray, pending, done)
            return results

    return run


def _landscape_part(config: dict, params, directions, coords, x, y, n_classes: int, plugins=()):
    """A Ray task: the losses at one part of a landscape's grid points (the driver's plugins loaded first)."""
    from lossviz.plugins import load_shipped
    from lossviz.studies.landscape import losses_at

    load_shipped(plugins)
    from lossviz.train import TrainConfig, intra_op_threads

    with intra_op_threads():  # the policy of a landscape computed here
        return losses_at(TrainConfig.from_dict(config), params, directions, coords, x, y, n_classes=n_classes)


def landscape_evaluator(address: str | None = None, *, num_cpus: int = LOCAL_CPUS, parts: int | None = None):
    """An ``evaluate`` for ``landscape.run_landscape``: the grid points cut into ``parts`` (default:
    4 per CPU of the cluster), each part a 1-CPU Ray task; the same numbers as ``losses_at``."""
    check_ray()

    def evaluate(config, params, directions, coords, x, y, *, n_classes, on_chunk=None):
        import torch

        with session(address, num_cpus) as ray:
            n = parts or max(1, 4 * int(ray.cluster_resources().get("CPU", 1)))
            pieces = [p for p in torch.arange(len(coords)).tensor_split(min(n, len(coords))) if len(p)]
            task = ray.remote(num_cpus=1, max_retries=1)(_landscape_part)
            shared = [ray.put(v) for v in (params, directions, x, y)]
            cfg = config.to_dict()
            shipped = ray.put(plugins.shipped())
            pending = {task.remote(cfg, *shared[:2], coords[idx], *shared[2:], n_classes, shipped): i
                       for i, idx in enumerate(pieces)}
            results = {}

            def done(i, answer):
                results[i] = answer
                if on_chunk is not None:
                    on_chunk(len(pieces[i]))

            _gather(ray, pending, done)
            own = torch.cat([results[i][0] for i in range(len(pieces))], 1)
            ce = torch.cat([results[i][1] for i in range(len(pieces))], 1)
            return own, ce

    return evaluate
