"""The study figures of a run folder or a study folder, written through the exporter."""

from __future__ import annotations

from pathlib import Path

from lossviz import export


def study_entries(folder: Path) -> list[export.FigureEntry]:
    """The figures a folder's studies can draw: the noise study (a study folder); calibration
    and landscapes (a run folder where those studies were run)."""
    from lossviz.studies import calibration, landscape, noise, plots

    folder = Path(folder)
    entries = []
    if (folder / noise.STUDY_FILE).is_file():
        summary = noise.summarize_noise(folder)
        curves = noise.rate_curves(folder)
        entries.append(export.FigureEntry("noise", "Test accuracy against label-noise rate", "", tuple(summary["losses"]),
                                          lambda: plots.noise_figure(summary, curves)))
    if (folder / "config.json").is_file():
        results = calibration.read_calibration(folder)
        if results is not None:
            entries.append(export.FigureEntry("reliability", "Reliability diagrams per loss", "", tuple(results["losses"]),
                                              lambda: plots.reliability_figure(results)))
        ls = landscape.read_landscape(folder)
        if ls is not None:
            for stem, title, build in (("landscape_2d", "Loss on a 2-D slice", plots.landscape_2d_figure),
                                       ("landscape_3d", "Own loss on a 2-D slice, 3-D", plots.landscape_3d_figure),
                                       ("landscape_1d", "Loss from initial to trained weights", plots.landscape_1d_figure)):
                entries.append(export.FigureEntry(stem, title, "", ls.losses, lambda b=build: b(ls)))
    return entries


def export_figures(folder: Path, *, out: Path | None = None, formats=("png", "svg"), dpi: int = 150,
                   style: str = "light") -> list[Path]:
    """``lossviz figures --run FOLDER``: a run's own figures plus its study figures (or a study
    folder's figures), into ``FOLDER/figures`` (or ``out``)."""
    from lossviz.train import runs

    folder = Path(folder)
    written = []
    is_run = (folder / "config.json").is_file()
    entries = study_entries(folder)
    if not is_run and not entries:
        raise runs.RunError(f"{folder} is neither a lossviz run folder (no config.json) nor a study folder (no study.json)")
    if is_run:
        written += runs.export_run_figures(folder, out=out, formats=formats, dpi=dpi, style=style)
    if entries:
        written += export.export(entries, out or folder / "figures", formats=formats, dpi=dpi, style=style, index=False)
    return written
