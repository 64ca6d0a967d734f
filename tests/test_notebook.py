"""docs/tour.ipynb, executed with a real kernel (nbclient + ipykernel) on the real Fashion-MNIST:
every cell runs without an error and shows what it should. The committed notebook has no outputs."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.conftest import skip_or_fail

TOUR = Path(__file__).resolve().parent.parent / "docs" / "tour.ipynb"


def _kernel_tools():
    """nbformat and nbclient (with ipykernel): the test extra's; missing, a skip here and a failure in CI."""
    try:
        import ipykernel  # noqa: F401 - the kernel nbclient starts
        import nbclient
        import nbformat
    except ImportError as e:
        skip_or_fail(f"{e.name} not installed: pip install -e .[test]")
    return nbformat, nbclient


def test_the_tour_is_committed_without_outputs():
    nbformat, _ = _kernel_tools()
    nb = nbformat.read(TOUR, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and all(c.outputs == [] and c.execution_count is None for c in code)


@pytest.mark.slow
def test_the_tour_runs_in_a_real_kernel(data_root, tmp_path, monkeypatch):
    nbformat, nbclient = _kernel_tools()
    committed = TOUR.read_bytes()
    copy = tmp_path / "tour.ipynb"  # executed here: nothing is written into docs/
    shutil.copy(TOUR, copy)
    nb = nbformat.read(copy, as_version=4)
    # The kernel inherits this environment: the data, and a run folder under tmp_path (tempfile).
    monkeypatch.setenv("LOSSVIZ_DATA", str(data_root))
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    client = nbclient.NotebookClient(nb, timeout=300, kernel_name="python3", allow_errors=False,
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()  # raises CellExecutionError on the first cell that fails

    def outputs(marker: str) -> set[str]:
        cell = next(c for c in nb.cells if c.cell_type == "code" and marker in c.source)
        return {kind for out in cell.outputs for kind in out.get("data", {})} | {out.output_type for out in cell.outputs}

    assert "image/png" in outputs('lossviz.plot_loss("huber", delta=0.5)')
    assert "application/vnd.plotly.v1+json" in outputs('backend="plotly"')
    assert "text/html" in outputs("result = lossviz.compare(")  # the results table, as HTML
    # tqdm.auto's notebook bar (an ipywidgets widget), not the text bar
    assert "application/vnd.jupyter.widget-view+json" in outputs("result = lossviz.compare(")
    assert "image/png" in outputs("result.plot()")
    assert "image/png" in outputs("plots.reliability_figure(cal)")
    runs = [p for p in tmp_path.rglob("tour") if p.is_dir()]
    assert len(runs) == 1 and (runs[0] / "figures" / "comparison.png").is_file()
    assert (runs[0] / "calibration.json").is_file()
    assert TOUR.read_bytes() == committed  # the run folder lies under tmp_path (above), the notebook is untouched
    if os.environ.get("LOSSVIZ_KEEP_TOUR"):  # to look at the outputs: the executed notebook, kept there
        nbformat.write(nb, os.environ["LOSSVIZ_KEEP_TOUR"])
