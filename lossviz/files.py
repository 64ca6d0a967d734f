"""Writing files safely: atomically (a temporary file beside the target, then a rename), into
folders checked first. The one place every face (exporter, trainer, explorer jobs) writes through."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

FIGURE_FORMATS = ("png", "svg", "pdf")  # what the figure exporter writes (here: the CLI checks names without matplotlib)


def cache_dir() -> Path:
    """lossviz's cache folder: ``$XDG_CACHE_HOME/lossviz``, default ``~/.cache/lossviz``."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "lossviz"


def write_atomic(path: Path, data: bytes) -> None:
    """Write to a temporary file beside ``path``, then rename: never a half-written file."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def prepare_out_dir(out: Path) -> Path:
    """Create ``out`` if needed and check it is writable; ``ValueError`` in one line otherwise."""
    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ValueError(f"cannot create output folder {out}: {e.strerror}") from None
    if not os.access(out, os.W_OK | os.X_OK):
        raise ValueError(f"output folder {out} is not writable")
    return out


def json_bytes(obj) -> bytes:
    """``obj`` as indented JSON text with a final newline, as bytes for ``write_atomic``; NaN and
    infinities refused (they are not JSON)."""
    return (json.dumps(obj, indent=1, allow_nan=False) + "\n").encode()
