"""Time `lossviz figures` for the whole default set in every format, against the 5 s target.

Two baselines in the same run: the same set drawn in one process (``export.export(...,
processes=1)``: what the exporter's process pool saves), and the same number of figures drawn
through pyplot, the way hand-written notebook code does (plt.figure / plt.plot / plt.savefig,
one file per call).

    python bench/bench_figures.py
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time

TARGET_S = 5.0
FORMATS = ("png", "svg", "pdf")


def _timed(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> int:
    from lossviz import export

    n_figures = len(export.catalogue())
    n_files = n_figures * len(FORMATS) + 1
    with tempfile.TemporaryDirectory() as out:
        ours = _timed([sys.executable, "-m", "lossviz.cli", "figures", "--out", out, "--format", ",".join(FORMATS)])
    with tempfile.TemporaryDirectory() as out:
        one = _timed([sys.executable, "-c", "import sys\nfrom lossviz import export\n"
                      f"export.export(export.catalogue(), sys.argv[1], formats={FORMATS!r}, processes=1)", out])
    baseline_code = (
        "import matplotlib; matplotlib.use('Agg'); import matplotlib.pyplot as plt, numpy as np, tempfile, os\n"
        "d = tempfile.mkdtemp(); x = np.linspace(-3, 3, 2001)\n"
        f"for i in range({n_figures}):\n"
        "    plt.figure(figsize=(6.4, 4)); plt.plot(x, np.abs(x)); plt.plot(x, np.exp(-np.abs(x))); plt.plot(x, np.sign(x))\n"
        "    for f in ('png', 'svg', 'pdf'): plt.savefig(os.path.join(d, f'{i}.{f}'), dpi=150)\n"
        "    plt.close()\n"
    )
    base = _timed([sys.executable, "-c", baseline_code])
    print(f"lossviz figures, default set, png+svg+pdf ({n_files} files, process start included, "
          f"a pool of {min(n_figures, export.usable_cores())}): {ours:.2f} s  (target < {TARGET_S:.0f} s: {'OK' if ours < TARGET_S else 'MISSED'})")
    print(f"the same set drawn in one process: {one:.2f} s (pool / one process: {ours / one:.2f})")
    print(f"baseline: the same number of 3-line pyplot figures saved in 3 formats: {base:.2f} s")
    print(f"ratio lossviz / baseline: {ours / base:.2f}")
    return 0 if ours < TARGET_S else 1


if __name__ == "__main__":
    sys.exit(main())
