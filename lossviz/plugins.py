"""Plugin files: Python files of the user's that register losses and activations, loaded by path.

A plugin is an ordinary Python file that calls ``lossviz.register_loss`` /
``lossviz.register_activation``. Every command loads the files named by ``--plugin FILE`` and by
``LOSSVIZ_PLUGINS`` (paths separated by ``os.pathsep``) before it checks the names it was given;
the processes a command starts (the explorer's training jobs, the exporter's pool, Ray tasks)
load the same files. Code only ever comes from a path given by the person running lossviz,
never from a browser or a run folder. Light: imports no torch until a plugin is loaded.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
import traceback
from pathlib import Path

ENV = "LOSSVIZ_PLUGINS"

# resolved path -> (module name, the names its loading registered), in loading order
_LOADED: dict[str, tuple[str, list[str]]] = {}


class PluginError(ValueError):
    """A plugin that cannot be loaded: ``plugin FILE: what went wrong``, in one line."""

    def __init__(self, path: object, what: str):
        self.path = str(path)
        super().__init__(f"plugin {path}: {' '.join(str(what).split())}")


def env_paths(environ=None) -> list[str]:
    """The paths in ``LOSSVIZ_PLUGINS`` (empty entries skipped)."""
    raw = (os.environ if environ is None else environ).get(ENV, "")
    return [p for p in raw.split(os.pathsep) if p.strip()]


def command_paths(flags: list[str] | None, environ=None) -> list[str]:
    """What a command loads: ``LOSSVIZ_PLUGINS``'s paths, then its ``--plugin`` flags."""
    return env_paths(environ) + list(flags or [])


def loaded_paths() -> list[str]:
    """The resolved paths of the plugins loaded in this process, in loading order (what a child
    process is given to load the same entries)."""
    return list(_LOADED)


def names_from(path: str | os.PathLike) -> list[str]:
    """The names a loaded plugin registered; ``[]`` for a path not loaded."""
    return list(_LOADED.get(_key(path), ("", []))[1])


def _key(path) -> str:
    return str(Path(os.path.expanduser(os.fspath(path))).resolve())


def _module_name(key: str) -> str:
    # Unique per path: two plugins both called losses.py do not replace each other in sys.modules.
    stem = "".join(c if c.isalnum() else "_" for c in Path(key).stem)
    return f"lossviz_plugin_{stem}_{hashlib.sha1(key.encode()).hexdigest()[:10]}"


def _registered() -> list[str]:
    from lossviz.registry import activations, losses

    return losses() + activations()


def _line_in(path: str, e: BaseException) -> str:
    """`` (line N)`` of the innermost frame of ``e`` in the plugin file, if any."""
    frames = [f for f in traceback.extract_tb(e.__traceback__) if f.filename == path]
    return f" (line {frames[-1].lineno})" if frames else ""


def load_plugin(path: str | os.PathLike) -> list[str]:
    """Load one plugin file (once per path: a second call does nothing and returns ``[]``).

    Returns the names of the losses and activations it registered. ``PluginError`` (a
    ``ValueError``) in one line for a missing file, a syntax error, an exception while it runs
    or a bad registration; what a failed plugin registered before failing is removed again.
    """
    shown = os.fspath(path) if isinstance(path, (str, os.PathLike)) else path
    if not isinstance(shown, str) or not shown.strip():
        raise PluginError(shown if isinstance(shown, str) else repr(shown), "expected the path of a Python file")
    key = _key(shown)
    if key in _LOADED:
        return []
    file = Path(key)
    if not file.exists():
        raise PluginError(shown, "no such file")
    if not file.is_file():
        raise PluginError(shown, "not a file")
    from lossviz import registry  # (loads torch: a plugin's functions need it anyway)

    before = set(_registered())
    name = _module_name(key)
    spec = importlib.util.spec_from_file_location(name, key)
    if spec is None or spec.loader is None:
        raise PluginError(shown, "not a Python file (expected FILE.py)")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # (dataclasses and pickling look a module up by name)
    try:
        spec.loader.exec_module(module)
    except BaseException as e:
        sys.modules.pop(name, None)
        for added in set(_registered()) - before:  # nothing half-loaded stays registered
            registry.unregister(added)
        if isinstance(e, KeyboardInterrupt):
            raise
        if isinstance(e, SyntaxError):
            raise PluginError(shown, f"syntax error at line {e.lineno}: {e.msg}") from None
        if isinstance(e, OSError) and getattr(e, "filename", None) == key:
            raise PluginError(shown, f"cannot read it: {e.strerror}") from None
        if isinstance(e, ValueError) and any(f.filename == registry.__file__ for f in traceback.extract_tb(e.__traceback__)):
            raise PluginError(shown, f"bad registration{_line_in(key, e)}: {e}") from None
        text = f": {e}" if str(e) else ""
        raise PluginError(shown, f"{type(e).__name__}{_line_in(key, e)}{text}") from None
    added = [n for n in _registered() if n not in before]
    _LOADED[key] = (name, added)
    return added


def load_plugins(paths) -> list[str]:
    """Load each plugin file of ``paths`` (each path once); the names they registered, in order.

    ``PluginError`` in one line naming the first file that fails (the files before it stay
    loaded, that one leaves nothing registered).
    """
    names: list[str] = []
    for path in paths or ():
        names += load_plugin(path)
    return names


def unload_plugins() -> None:
    """Forget every loaded plugin and remove what it registered (for tests, which keep the
    registry as they found it)."""
    from lossviz import registry

    for key, (name, added) in reversed(list(_LOADED.items())):
        for entry in added:
            if entry in _registered():
                registry.unregister(entry)
        sys.modules.pop(name, None)
        del _LOADED[key]


# --- plugins shipped to other machines (Ray tasks) ---------------------------------------------


def shipped() -> list[tuple[str, bytes]]:
    """Every loaded plugin as (its path here, its source): what a Ray task on another machine
    needs to register the same entries (``load_shipped``)."""
    return [(key, Path(key).read_bytes()) for key in _LOADED]


def load_shipped(items) -> list[str]:
    """In a worker: load plugins sent by ``shipped()``. A path that exists here with the same
    source is loaded as it is; otherwise the source is written to a temporary file of the same
    name and loaded from there (nothing needs a shared file system)."""
    import tempfile

    names: list[str] = []
    for path, source in items or ():
        here = Path(path)
        if here.is_file() and here.read_bytes() == source:
            names += load_plugin(here)
            continue
        folder = Path(tempfile.gettempdir()) / f"lossviz-plugins-{hashlib.sha1(source).hexdigest()[:12]}"
        folder.mkdir(exist_ok=True)
        copy = folder / here.name
        if not copy.is_file() or copy.read_bytes() != source:
            copy.write_bytes(source)
        names += load_plugin(copy)
    return names
