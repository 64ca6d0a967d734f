"""A study's grid on Ray: each cell (one training run) a Ray task, its run folder sent back.

The driver (the machine running ``lossviz study ... --ray``) loads the data once and puts it in
Ray's object store; each task trains its cell into a temporary folder on whichever node runs
it and returns the folder's files, which the driver writes into the study folder, atomically,
as the cells finish. Nothing needs a shared file system. Every node needs lossviz and torch
installed (``pip install 'lossviz[ray]'``), in the same versions as the driver.

Optional: Ray is imported only here, only when asked for.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

from lossviz.studies.grid import Cell

LOCAL_CPUS = 2  # a local Ray (no address) on this many CPUs


def check_ray() -> None:
    """``ValueError`` in one line when Ray is not installed."""
    try:
        import ray  # noqa: F401
    except ImportError:
        raise ValueError("--ray needs Ray, which is not installed: pip install 'lossviz[ray]'") from None


def _train_cell(name: str, config: dict, data) -> tuple[str, dict[str, bytes]]:
    """A Ray task: train one cell into a temporary folder; return its files {relative path: bytes}."""
    import tempfile

    from lossviz.studies.grid import train_run
    from lossviz.train import TrainConfig
    from lossviz.train.runs import LOCK_NAME

    with tempfile.TemporaryDirectory(prefix="lossviz-cell-") as tmp:
        out = Path(tmp) / name
        workers = config.pop("_workers", 1)
        train_run(TrainConfig.from_dict(config), data, out, workers=workers)
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


def runner(address: str | None = None, *, workers: int | None = None, num_cpus: int = LOCAL_CPUS,
           on_cell: Callable[[Cell, dict], None] | None = None):
    """A study runner (``runner(cells, data, root)``) that runs every cell as a Ray task.

    ``address``: an existing cluster ("auto", "ray://head:10001", "head:6379"); None starts a
    local Ray on ``num_cpus`` CPUs (and stops it afterwards). ``workers``: CPUs per task (the
    cell's losses in that many processes, as ``lossviz compare --workers``); default 1.
    Where Ray is already initialised (a notebook, a test), that session is used as it is.
    """
    check_ray()
    per_task = workers or 1

    def run(cells: list[Cell], data, root: Path) -> dict[str, dict]:
        import ray

        started = False
        if not ray.is_initialized():
            if address:
                ray.init(address=address, log_to_driver=False)
            else:
                ray.init(num_cpus=num_cpus, include_dashboard=False, log_to_driver=False)
            started = True
        try:
            task = ray.remote(num_cpus=per_task, max_retries=1)(_train_cell)
            data_ref = ray.put(data)
            pending = {task.remote(c.name, {**c.config.to_dict(), "_workers": per_task}, data_ref): c for c in cells}
            results = {}
            while pending:
                done, _ = ray.wait(list(pending), num_returns=1)
                for ref in done:
                    cell = pending.pop(ref)
                    try:
                        name, files = ray.get(ref)
                    except ray.exceptions.RayError as e:
                        first = str(e).strip().splitlines()[-1] if str(e).strip() else type(e).__name__
                        raise RuntimeError(f"cell {cell.name} failed on Ray: {first}") from None
                    write_cell(root, name, files)
                    results[name] = json.loads(files["results.json"])
                    if on_cell is not None:
                        on_cell(cell, results[name])
            return results
        finally:
            if started:
                ray.shutdown()

    return run
