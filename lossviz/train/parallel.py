"""Optional process groups: on a multi-core CPU, groups of losses train in forked processes.

One process keeps one core busy between its matrix products (the loss gradients are many
small operations, each too small to share). With c cores and M >= c models, c groups of models
train side by side in c processes; a forked group runs on one thread (torch's OpenMP pool is not
fork-safe: see ``compare_in_groups``), the group in this process on 1/c of the cores. Every group still shares one
gather and one matrix product among its models and sees the same batches (the order depends
only on seed and epoch), so each model trains exactly as it would alone; the groups' epochs
are merged in the config's order. The plain loop (``loop.compare_here``) knows nothing of this.
"""

from __future__ import annotations

import pickle
from dataclasses import replace

import torch

from lossviz.train.config import TrainConfig
from lossviz.train.loop import Checkpoint, EpochRecord, Prepared, compare_here


def check_workers(workers: int | None) -> None:
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or not 1 <= workers <= 1024):
        raise ValueError(f"workers must be an integer in [1, 1024], got {workers!r}")


def n_workers(config: TrainConfig, device: torch.device, workers: int | None) -> int:
    """How many processes: ``workers`` (default one per core), at most one per loss; 1 off Linux
    CPUs (fork shares the data without copying it, as DataLoader workers do; macOS's system
    frameworks are not fork-safe; a daemon process may not fork)."""
    check_workers(workers)
    import multiprocessing
    import sys

    if device.type != "cpu" or not sys.platform.startswith("linux") or multiprocessing.current_process().daemon:
        return 1
    return max(1, min(len(config.losses), workers or torch.get_num_threads()))


def groups(config: TrainConfig, n: int) -> list[tuple[str, ...]]:
    """The losses cut into n contiguous groups of nearly equal size, in the config's order."""
    k, r = divmod(len(config.losses), n)
    bounds = [i * k + min(i, r) for i in range(n + 1)]
    return [config.losses[a:b] for a, b in zip(bounds, bounds[1:])]


def _group_config(config: TrainConfig, group: tuple[str, ...]) -> TrainConfig:
    params = {k: v for k, v in config.loss_params.items() if k in group}
    return replace(config, losses=group, loss_params=params).validate()


def _group_checkpoint(ck: Checkpoint, config: TrainConfig, group: tuple[str, ...]) -> Checkpoint:
    """The part of a (resume) checkpoint that concerns ``group``'s models."""
    if not ck.params:
        return replace(ck)
    lo = config.losses.index(group[0])
    return Checkpoint(ck.seed_index, ck.epoch, {k: v for k, v in ck.diverged.items() if k in group},
                      {k: v[lo:lo + len(group)] for k, v in ck.params.items()},
                      {k: v for k, v in ck.test_pred.items() if k in group})


def _merge(config: TrainConfig, parts: list[tuple[list[EpochRecord], Checkpoint]]) -> tuple[list[EpochRecord], Checkpoint]:
    """One epoch's records and checkpoints of the groups -> those of all models, in config order."""
    by_loss = {r.loss: r for records, _ in parts for r in records}
    seconds = max(r.seconds for r in by_loss.values())  # the epoch's wall time, shared
    records = [replace(by_loss[name], seconds=seconds) for name in config.losses]
    cks = [ck for _, ck in parts]
    if len({(ck.seed_index, ck.epoch) for ck in cks}) != 1:
        raise RuntimeError("training groups out of step")
    merged = Checkpoint(cks[0].seed_index, cks[0].epoch,
                        {k: v for ck in cks for k, v in ck.diverged.items()},
                        {k: torch.cat([ck.params[k] for ck in cks]) for k in cks[0].params},
                        {k: v for ck in cks for k, v in ck.test_pred.items()})
    return records, merged


def _send(conn, message) -> None:
    # Plain pickle: tensors travel by value (multiprocessing's own pickler would pass them as
    # shared-memory handles, which vanish when the sending process ends).
    conn.send_bytes(pickle.dumps(message))


def _receive(conn) -> tuple[list[EpochRecord], Checkpoint]:
    try:
        message = pickle.loads(conn.recv_bytes())
    except EOFError:
        raise RuntimeError("a training worker process ended unexpectedly") from None
    if message[0] == "error":
        raise RuntimeError(f"a training worker failed: {message[1]}")
    return message[1], message[2]


def _group_worker(config: TrainConfig, prep: Prepared, ck: Checkpoint, conn, threads: int, inherited: list) -> None:
    """A forked process: train one group, send every epoch's records and checkpoint."""
    for receiver in inherited:  # the parent's ends: with them closed, a gone parent is a broken pipe
        receiver.close()
    torch.set_num_threads(threads)
    try:
        with torch.inference_mode():
            compare_here(config, prep, ck, lambda records, c: _send(conn, ("epoch", records, c)), None)
    except (KeyboardInterrupt, BrokenPipeError):  # Ctrl-C reaches the whole process group, or
        pass  # the parent is gone: it decides what happens to the run
    except BaseException as e:  # noqa: BLE001 - reported to the parent, which raises it
        _send(conn, ("error", f"{type(e).__name__}: {e}"))
    finally:
        conn.close()


def compare_in_groups(config: TrainConfig, prep: Prepared, ck: Checkpoint, on_epoch, on_batch, n: int) -> list[EpochRecord]:
    """Group 0 trains in this process (and drives ``on_batch``), groups 1.. in forked ones."""
    import multiprocessing

    ctx = multiprocessing.get_context("fork")
    parts = groups(config, n)
    threads = torch.get_num_threads()
    per_worker = max(1, threads // n)
    conns, procs = [], []
    history: list[EpochRecord] = []

    def on_group_epoch(records: list[EpochRecord], c: Checkpoint) -> None:
        merged, merged_ck = _merge(config, [(records, c)] + [_receive(conn) for conn in conns])
        history.extend(merged)
        if on_epoch is not None:
            on_epoch(merged, merged_ck)

    try:
        for group in parts[1:]:
            receiver, sender = ctx.Pipe(duplex=False)
            conns.append(receiver)
            # One thread in a forked group: GNU OpenMP (torch's CPU thread pool) is not fork-safe,
            # and a child that enters a parallel region with more threads after this process has
            # used its pool waits forever (measured: 2 threads hang, 1 does not). DataLoader's
            # workers do the same.
            proc = ctx.Process(target=_group_worker, daemon=True,
                               args=(_group_config(config, group), prep, _group_checkpoint(ck, config, group), sender,
                                     1, conns))
            proc.start()
            sender.close()
            procs.append(proc)
        torch.set_num_threads(per_worker)
        compare_here(_group_config(config, parts[0]), prep, _group_checkpoint(ck, config, parts[0]), on_group_epoch, on_batch)
    finally:
        torch.set_num_threads(threads)
        for proc in procs:
            if proc.is_alive():
                proc.terminate()
            proc.join()
    return history
