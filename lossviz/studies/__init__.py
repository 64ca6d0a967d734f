"""Studies of what a loss does to a trained model: label noise, calibration, loss landscapes.

    grid.py         a study is a grid of training runs (cells); run here, in-process, or on Ray
    noise.py        robustness to label noise: one run per noise rate, accuracy against rate
    calibration.py  reliability diagrams, ECE / MCE / Brier, temperature scaling
    landscape.py    1-D interpolation and 2-D filter-normalised slices of the loss surface
    plots.py        matplotlib builders of the study figures (arrays -> Figure, no files)
    figures.py      the study figures of a run or study folder, through the exporter

Studies build on ``lossviz.train`` (configs, run folders) and ``lossviz.export``; nothing below
imports them.
"""
