"""Time `lossviz figures` for the whole default set in every format, against the 5 s target.

Baseline in the same run: drawing the same figures through pyplot, the way hand-written
notebook code does (plt.figure / plt.plot / plt.savefig, one file per call).

    python bench/bench_figures.py
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time

TARGET_S = 5.0


def main() -> int:
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "lossviz.cli", "figures", "--out", out, "--format", "png,svg,pdf"], check=True, capture_output=True)
        ours = time.perf_counter() - start
    n_files = None
    from lossviz import export

    n_files = len(export.catalogue()) * 3 + 1
    baseline_code = (
        "import matplotlib; matplotlib.use('Agg'); import matplotlib.pyplot as plt, numpy as np, tempfile, os\n"
        "d = tempfile.mkdtemp(); x = np.linspace(-3, 3, 2001)\n"
        f"for i in range({len(export.catalogue())}):\n"
        "    plt.figure(figsize=(6.4, 4)); plt.plot(x, np.abs(x)); plt.plot(x, np.exp(-np.abs(x))); plt.plot(x, np.sign(x))\n"
        "    for f in ('png', 'svg', 'pdf'): plt.savefig(os.path.join(d, f'{i}.{f}'), dpi=150)\n"
        "    plt.close()\n"
    )
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", baseline_code], check=True)
    base = time.perf_counter() - start
    print(f"lossviz figures, default set, png+svg+pdf ({n_files} files, process start included): {ours:.2f} s  (target < {TARGET_S:.0f} s: {'OK' if ours < TARGET_S else 'MISSED'})")
    print(f"baseline: the same number of 3-line pyplot figures saved in 3 formats: {base:.2f} s")
    print(f"ratio lossviz / baseline: {ours / base:.2f}")
    return 0 if ours < TARGET_S else 1


if __name__ == "__main__":
    sys.exit(main())
