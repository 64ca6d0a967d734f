"""The lossviz explorer: a Dash app where sliders move losses, activations and softmax."""

from lossviz.explorer.app import create_app

__all__ = ["create_app"]
