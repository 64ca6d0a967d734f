"""The lossviz explorer: a Dash app where sliders move losses, activations and softmax."""

__all__ = ["create_app"]


def __getattr__(name: str):
    # Lazy: `python -m lossviz.explorer.plotly_bundle` (the install step) need not import Dash and torch.
    if name == "create_app":
        from lossviz.explorer.app import create_app

        return create_app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
