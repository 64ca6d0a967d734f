"""Playground page: watch each loss shape a model, live, side by side (``lossviz.toy``).

Two modes, each its own schema (``?mode=regression`` / ``?mode=classification``):

- **regression**: a line (or a small MLP, for the wave) fitted with each regression loss to
  points with outliers; each point's pull |dl/dy_hat| on each fit; click the plot to add a
  point, click a point to remove it.
- **classification**: an MLP (or a linear classifier) per loss on a 2-D set; one decision map
  per loss; train/test loss and accuracy over steps.

The server is stateless: a tab holds its training state (``ToyState.to_dict(compact=True)``: float32 in base64) and its points
in a ``dcc.Store``; each tick sends them back, the server checks them (``ToyState.from_dict``
against a fresh state of the same set-up; points validated and capped), advances ``speed`` steps
and answers with the new state and the pictures (a ``dash.Patch`` of the decision maps as small
palette PNGs, or of the fit lines as float32, animated, while playing). While playing, each
answer sends the next tick from the browser (one request in flight, never a queue); a
``dcc.Interval`` is the watchdog that restarts the chain if an answer is lost. In the 2-D mode
the train/test points sit on a static overlay graph over the maps, so a frame redraws only the
map images and titles.

By job: ``schema`` (state, set-ups, points), ``figures`` (pictures and patches), ``tick`` (the
server side of a frame), ``layout``, ``callbacks`` (wiring and export).
"""

from lossviz.explorer.pages.playground.callbacks import export_file, register
from lossviz.explorer.pages.playground.layout import layout
from lossviz.explorer.pages.playground.schema import (MAX_POINTS, MODES, N_POINTS, PAGE, PATH, TITLE, reg_setup, schema,
                                                      training_key)
from lossviz.explorer.pages.playground.tick import tick

__all__ = ["MAX_POINTS", "MODES", "N_POINTS", "PAGE", "PATH", "TITLE", "export_file", "layout", "reg_setup", "register",
           "schema", "tick", "training_key"]
