"""The figures of a run folder (its own and its studies') or of a study folder, written through
the exporter."""

from __future__ import annotations

from functools import partial
from pathlib import Path

from lossviz import export

# Every figure the studies draw, (stem, title): the exporter writes them into a folder's
# figures/, the explorer's Training page shows them from there.
STUDY_FIGURES = (("noise", "Test accuracy against label-noise rate"),
                 ("reliability", "Reliability diagrams per loss"),
                 ("landscape_2d", "Loss on a 2-D slice"),
                 ("landscape_3d", "Own loss on a 2-D slice, 3-D"),
                 ("landscape_1d", "Loss from initial to trained weights"))
TITLES = dict(STUDY_FIGURES)


def study_entries(folder: Path) -> list[export.FigureEntry]:
    """The figures a folder's studies can draw: the noise study (a study folder); calibration
    and landscapes (a run folder where those studies were run)."""
    from lossviz.studies import calibration, landscape, noise, plots

    folder = Path(folder)
    entries = []
    if (folder / noise.STUDY_FILE).is_file():
        path = folder / noise.STUDY_FILE
        try:
            summary = noise.summarize_noise(folder)
            curves = noise.rate_curves(folder)
        except (KeyError, IndexError, TypeError, AttributeError, ValueError) as e:
            raise ValueError(export.damaged_text(path, e)) from None
        entries.append(export.FigureEntry("noise", TITLES["noise"], "", tuple(summary["losses"]),
                                          partial(export.drawn_from, path, plots.noise_figure, summary, curves)))
    if (folder / "config.json").is_file():
        results = calibration.read_calibration(folder)
        if results is not None:
            entries.append(export.FigureEntry("reliability", TITLES["reliability"], "", tuple(results["losses"]),
                                              partial(export.drawn_from, folder / calibration.RESULTS_FILE, plots.reliability_figure,
                                                      results)))
        ls = landscape.read_landscape(folder)
        if ls is not None:
            for stem, build in (("landscape_2d", plots.landscape_2d_figure), ("landscape_3d", plots.landscape_3d_figure),
                                ("landscape_1d", plots.landscape_1d_figure)):
                entries.append(export.FigureEntry(stem, TITLES[stem], "", ls.losses,
                                                  partial(export.drawn_from, folder / landscape.RESULTS_FILE, build, ls)))
    return entries


def export_figures(folder: Path, *, out: Path | None = None, formats=("png", "svg"), dpi: int = 150,
                   style: str = "light") -> list[Path]:
    """``lossviz figures --run FOLDER``: a run's own and diagnostic figures plus its study figures (or a study
    folder's figures), into ``FOLDER/figures`` (or ``out``)."""
    from lossviz.train import runs

    folder = Path(folder)
    is_run = (folder / "config.json").is_file()
    entries = study_entries(folder)
    if not is_run and not entries:
        raise runs.RunError(f"{folder} is neither a lossviz run folder (no config.json) nor a study folder (no study.json)")
    if is_run:
        entries = export.run_entries(folder) + export.diagnostic_entries(folder) + entries
    return export.export(entries, out if out is not None else folder / "figures", formats=formats, dpi=dpi, style=style,
                         index=False)
