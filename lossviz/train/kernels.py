"""Which matrix-product kernel is faster on this machine: measured once, remembered.

torch's private oneDNN linear kernel beats ``torch.nn.functional.linear`` for the trainer's
thin products on some CPUs and loses on others (both seen on 2-core AVX-512 machines), so the
choice is a measurement, not a rule: a ~50 ms micro-benchmark of the trainer's two products on
the first training run, cached per CPU, torch version and thread count in
``~/.cache/lossviz/kernels.json``. ``LOSSVIZ_ONEDNN=0/1`` overrides it.
"""

from __future__ import annotations

import json
import platform
import statistics
import time

import torch


def _machine_key() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), cpu)
    except OSError:
        pass
    return f"{cpu}|torch {torch.__version__}|{torch.get_num_threads()} threads"


def _time(fn, reps: int = 30) -> float:
    fn()  # warm-up: first-call allocations and kernel selection
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def measure(op) -> dict:
    """Median seconds of the trainer's forward and weight-gradient products, both ways."""
    g = torch.Generator().manual_seed(0)
    x = torch.rand(256, 784, generator=g)
    w = torch.randn(40, 784, generator=g)
    b = torch.zeros(40)
    d = torch.randn(40, 256, generator=g)
    ours = _time(lambda: (op(x, w, b, "none", [], ""), op(d, x.T, None, "none", [], "")))
    torch_own = _time(lambda: (torch.nn.functional.linear(x, w, b), torch.addmm(w, d, x, alpha=-1)))
    return {"onednn_s": ours, "torch_s": torch_own}


def onednn_wins(op) -> bool:
    """True when the oneDNN kernel measured faster here (measured once, then cached)."""
    from lossviz.files import cache_dir
    from lossviz.files import write_atomic

    path = cache_dir() / "kernels.json"
    key = _machine_key()
    try:
        cached = json.loads(path.read_text())
        if not isinstance(cached, dict):
            cached = {}
    except (OSError, ValueError):
        cached = {}
    entry = cached.get(key)
    if not (isinstance(entry, dict) and isinstance(entry.get("onednn_s"), float) and isinstance(entry.get("torch_s"), float)):
        try:
            entry = measure(op)
        except RuntimeError:
            return False
        cached[key] = entry
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(path, (json.dumps(cached, indent=1) + "\n").encode())
        except OSError:  # a read-only home: measure again next time
            pass
    # A clear win only: within 5 % the public API is the better choice.
    return entry["onednn_s"] < 0.95 * entry["torch_s"]
