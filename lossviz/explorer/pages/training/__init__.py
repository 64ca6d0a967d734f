"""Training page: compare run folders, and train a comparison live in a background process.

The page's view (runs overlaid, smoothing, the loss and epoch of the confusion matrix) is in the
URL; the form is built from the registries (losses and their parameters, models, activations)
and ``TrainConfig`` validates what it sends. A live job shows its progress at the top, and its
curves, confusion matrix and prediction grid fill in as epochs land.

By job: ``views`` (what a run folder shows), ``form`` (the "Train now" form), ``layout``,
``callbacks``.
"""

from lossviz.explorer.pages.training.callbacks import register
from lossviz.explorer.pages.training.form import data_message, form_config, form_default
from lossviz.explorer.pages.training.layout import PAGE, PATH, TITLE, layout
from lossviz.explorer.pages.training.views import (RIGHT, WRONG, chosen_runs, confusion_figure, curves_figure, describe, list_runs,
                                                   prediction_grid, run_signature, study_views)

__all__ = ["PAGE", "PATH", "RIGHT", "TITLE", "WRONG", "chosen_runs", "confusion_figure", "curves_figure", "data_message", "describe",
           "form_config", "form_default", "layout", "list_runs", "prediction_grid", "register", "run_signature", "study_views"]
