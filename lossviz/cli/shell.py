"""What every ``lossviz`` command shares: the one-line usage error, the parser that raises it,
file errors in one line, the ``--plugin`` option, torch loaded with Ctrl-C held back, the figure
formats option and the progress bar."""

from __future__ import annotations

import argparse
import os
import sys

from lossviz import checks
from lossviz.files import FIGURE_FORMATS, os_error_text  # (not lossviz.export: that imports matplotlib and torch)
from lossviz.train.config import csv


class UsageError(Exception):
    """A mistake in what the user asked for: reported in one line, exit status 2."""


class Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one clear line instead of usage + message
        raise UsageError(message)


PLUGIN_HELP = ("a Python file registering losses or activations (lossviz.register_loss / register_activation), "
               "loaded before anything else (repeatable; also $LOSSVIZ_PLUGINS, paths separated by "
               f"{os.pathsep!r}; see docs/plugins.md)")


def plugin_option(parser: argparse.ArgumentParser) -> None:
    """``--plugin FILE`` (repeatable) on one command's parser."""
    parser.add_argument("--plugin", action="append", default=None, metavar="FILE", help=PLUGIN_HELP)


def add_plugin_option(parser: argparse.ArgumentParser) -> None:
    """``--plugin`` on every command below ``parser`` (``lossviz study noise`` included): added
    here, once, so no command module has to remember it."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in dict.fromkeys(action.choices.values()):  # (an alias maps to the same parser)
                add_plugin_option(child)
            return
    if not any("--plugin" in a.option_strings for a in parser._actions):
        plugin_option(parser)


def load_plugins(args: argparse.Namespace) -> list[str]:
    """The command's plugins ($LOSSVIZ_PLUGINS, then --plugin), loaded before its arguments that
    name losses or activations are checked. ``lossviz.plugins.PluginError`` (one line, exit 2)."""
    from lossviz import plugins

    return plugins.load_plugins(plugins.command_paths(getattr(args, "plugin", None)))


def file_errors(command):
    """``command(args)`` with a failed file operation (a full disk, a read-only folder, a path
    through a file) reported as one line naming the path, exit status 2, instead of a traceback.
    (Writes go through ``lossviz.files.write_atomic``, which leaves no temporary file.)"""
    import functools

    @functools.wraps(command)
    def run(args):
        try:
            return command(args)
        except OSError as e:
            raise UsageError(os_error_text(e, "")) from None

    return run


def typed(parse):
    """An argparse ``type`` from a parse function: its ValueError text becomes argparse's
    one-line message (argparse would otherwise say only "invalid value")."""
    def parsed(text: str):
        try:
            return parse(text)
        except ValueError as e:
            raise argparse.ArgumentTypeError(str(e)) from None

    parsed.__name__ = parse.__name__
    return parsed


def figure_formats(text: str, *, allow_none: bool = False) -> tuple[str, ...]:
    """``"png,svg"`` -> ("png", "svg"); every name checked, none twice; "none" -> () where allowed."""
    names = csv(text)
    if not names:
        raise UsageError(f"no format given in {text!r}; choose among {', '.join(FIGURE_FORMATS)}" + (" or none" if allow_none else ""))
    if allow_none and len(names) == 1 and names[0].lower() == "none":
        return ()
    for name in names:
        checks.choice(name, "format", FIGURE_FORMATS + (("none",) if allow_none else ()))
    if "none" in names:
        raise UsageError(f"format none cannot be combined with others, got {text!r}")
    return tuple(dict.fromkeys(names))


def out_path(text: str | None, what: str = "--out"):
    """``--out``'s folder (None when not given); a one-line error for an empty path."""
    return None if text is None else checks.path(text, what)


def load_torch() -> None:
    """Import torch with Ctrl-C held back until it has loaded, then honoured.

    torch's import swallows a KeyboardInterrupt raised inside some of the imports it makes
    (numpy's, at ~0.8 s here) and goes on with that module half loaded: the command then
    either ignored the Ctrl-C and ran to the end, or failed later with an AttributeError
    from numpy. A plain SIGINT handler notes the Ctrl-C during the 1.5 s import (the
    previous handler is put back right after), and the command then stops cleanly."""
    import signal
    import threading

    if "torch" in sys.modules or threading.current_thread() is not threading.main_thread():
        import torch  # noqa: F401
        return
    pressed = []
    previous = signal.signal(signal.SIGINT, lambda *_: pressed.append(True))
    try:
        import torch  # noqa: F401
    finally:
        signal.signal(signal.SIGINT, previous)
    if pressed:
        raise KeyboardInterrupt


def progress(total: int, done: int, unit: str = "batch"):
    """A tqdm bar on a terminal (or with LOSSVIZ_PROGRESS=1); None otherwise."""
    if not sys.stderr.isatty() and os.environ.get("LOSSVIZ_PROGRESS") != "1":
        return None
    from tqdm import tqdm

    return tqdm(total=total, initial=done, unit=unit, file=sys.stderr, dynamic_ncols=True)
