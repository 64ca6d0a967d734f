"""Writing and reading files safely: atomically (a temporary file beside the target, then a
rename), into folders checked first, and reading outside files with a bound. The one place every
face (exporter, trainer, explorer jobs) writes through."""

from __future__ import annotations

import errno
import json
import os
import stat
import tempfile
from pathlib import Path

FIGURE_FORMATS = ("png", "svg", "pdf")  # what the figure exporter writes (here: the CLI checks names without matplotlib)
READ_LIMIT = 1 << 20  # bytes read from a small outside file (a --config file): 1 MiB


def cache_dir() -> Path:
    """lossviz's cache folder: ``$XDG_CACHE_HOME/lossviz``, default ``~/.cache/lossviz``."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "lossviz"


def write_all(f, data: bytes) -> None:
    """The default writer of ``write_atomic``: every byte."""
    f.write(data)


def write_synced(f, data: bytes) -> None:
    """A writer for ``write_atomic`` that also flushes and fsyncs: the bytes are on the disk before
    the rename makes them the file (a checkpoint that must survive a power cut)."""
    f.write(data)
    f.flush()
    os.fsync(f.fileno())


def disk_full(f, data: bytes) -> None:
    """A writer for ``write_atomic(..., write=disk_full)``: writes half the bytes, then fails as a
    full disk does (ENOSPC). Tests use it to check that a failed write leaves nothing behind."""
    f.write(data[: len(data) // 2])
    f.flush()
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(getattr(f, "name", "")))


def write_atomic(path: Path, data: bytes, *, write=write_all) -> None:
    """Write to a temporary file beside ``path``, then rename: never a half-written file.

    On any failure (a full disk, a read-only folder, a Ctrl-C) the temporary file is removed and
    ``path`` is as it was; the error is raised. ``write(file, data)``: how the bytes go into the
    open temporary file (default ``write_all``; ``disk_full`` simulates a full disk)."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f, data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException as e:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(e, OSError) and e.errno is not None:  # name the file meant, not the temporary one
            raise OSError(e.errno, e.strerror or str(e), str(path)) from None
        raise


def os_error_text(e: OSError, doing: str = "cannot write") -> str:
    """One line for a failed file operation, naming the path: "cannot write P: No space left on
    device" ("P: ..." when ``doing`` is empty)."""
    from lossviz.checks import shown

    where = e.filename if e.filename not in (None, "") else None
    reason = e.strerror or type(e).__name__
    if where is None:  # an error that words itself (no path, no errno text): its own message
        return (f"{doing}: " if doing else "") + (str(e) if e.strerror is None and str(e) else reason)
    where = str(where)
    where = where if len(where) <= 300 else shown(where, 300)
    return f"{doing} {where}: {reason}" if doing else f"{where}: {reason}"


def read_bounded(path: Path, limit: int = READ_LIMIT, what: str = "file") -> bytes:
    """The bytes of a regular file of at most ``limit`` bytes; ``ValueError`` in one line for
    anything else (a device such as /dev/zero, a FIFO, a folder, a larger file), without reading
    more than ``limit`` + 1 bytes or waiting on a pipe."""
    path = Path(path)
    try:
        # O_NONBLOCK: opening a FIFO with no writer returns at once instead of hanging.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as e:
        raise ValueError(os_error_text(e, f"cannot read {what}")) from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            kind = "a folder" if stat.S_ISDIR(info.st_mode) else "not a regular file"
            raise ValueError(f"{what} {path} is {kind}; give a regular file")
        if info.st_size > limit:
            raise ValueError(f"{what} {path} is {info.st_size} bytes; at most {limit} are read")
        chunks, size = [], 0
        while size <= limit:
            chunk = os.read(fd, limit + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > limit:  # a file that grew while read
            raise ValueError(f"{what} {path} is over {limit} bytes; at most {limit} are read")
        return b"".join(chunks)
    except OSError as e:
        raise ValueError(os_error_text(e, f"cannot read {what}")) from None
    finally:
        os.close(fd)


NPZ_LIMIT = 4 << 30  # bytes of arrays read from one .npz file (a run's predictions are ~5 MB)


def read_npz(path: Path, limit: int = NPZ_LIMIT) -> dict:
    """The arrays of a .npz file as {name: numpy array}, each checked before it is allocated:
    plain numbers only (no pickled objects), and the size its header claims within what the
    file holds and within ``limit`` bytes in all. ``ValueError`` in one line naming the file
    otherwise (a damaged or crafted file never asks for 745 GiB)."""
    import zipfile

    import numpy as np

    path = Path(path)
    total = 0
    try:
        with zipfile.ZipFile(path) as z:
            for info in z.infolist():
                name = info.filename.removesuffix(".npy")
                with z.open(info) as f:
                    version = np.lib.format.read_magic(f)
                    read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
                    shape, _, dtype = read_header(f)
                    if dtype.hasobject:
                        raise ValueError(f"array {name!r} holds Python objects")
                    nbytes = int(np.prod(shape, dtype=object)) * dtype.itemsize
                    total += nbytes
                    if nbytes > info.file_size or total > limit:
                        raise ValueError(f"array {name!r} claims {nbytes} bytes, more than the file holds or {limit} in all")
        with np.load(path, allow_pickle=False) as f:
            return {k: f[k] for k in f.files}
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, NotImplementedError, RuntimeError) as e:
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        from lossviz.checks import shown

        raise ValueError(f"{path}: cannot read ({shown(reason, 120)[1:-1]})") from None


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


def created_folders(out: Path) -> list[Path]:
    """The folders ``prepare_out_dir(out)`` would create (``out`` and missing parents), outermost
    first: what to remove if the command that creates them fails (``remove_created``)."""
    out = Path(out)
    missing = []
    for p in (out, *out.parents):
        if p.exists() or p.is_symlink():
            break
        missing.append(p)
    return missing[::-1]


def remove_created(folders: list[Path], files: tuple[str, ...] = ()) -> None:
    """Undo a failed command: remove ``files`` (names) from the innermost folder, then each
    folder of ``folders`` (``created_folders``' list) that is empty, innermost first. A folder
    that holds anything else is left as it is: only what the command made goes."""
    if not folders:
        return
    for name in files:
        try:
            (folders[-1] / name).unlink(missing_ok=True)
        except OSError:
            pass
    for p in reversed(folders):
        try:
            p.rmdir()
        except OSError:
            return


def json_bytes(obj) -> bytes:
    """``obj`` as indented JSON text with a final newline, as bytes for ``write_atomic``; NaN and
    infinities refused (they are not JSON)."""
    return (json.dumps(obj, indent=1, allow_nan=False) + "\n").encode()


def npz_bytes(**arrays) -> bytes:
    """Arrays as the bytes of a compressed .npz file (to be written with ``write_atomic``)."""
    import io

    import numpy as np

    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    return buf.getvalue()
