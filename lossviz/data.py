"""Fashion-MNIST: find it, validate it, load it once into tensors, fast the second time.

Where the files come from: ``data_root`` (``--data-root``) or ``$LOSSVIZ_DATA`` when given, and
then exactly that folder (a missing file is an error naming it). Otherwise, in order: the user
cache folder (``$XDG_CACHE_HOME/lossviz``, default ``~/.cache/lossviz``); Debian's package
``dataset-fashion-mnist`` (``/usr/share/datasets/fashion-mnist``); a download into the cache
folder (``lossviz.download``: resumable, checked against the published MD5s; the mirrors from
``mirrors=`` or ``$LOSSVIZ_MIRRORS``). In each folder the four IDX files may sit directly, in
``raw/`` or in ``FashionMNIST/raw/``, gzip-compressed or not.

Reading: the IDX header is checked before the bulk is read (a gzip file is streamed, so a
wrong file is refused after 16 bytes, not after decompressing it). The payload of a gzip file
is then kept, decompressed, in ``~/.cache/lossviz/idx/`` stamped with the source's size and
SHA-256, so the next run reads plain bytes instead of inflating 30 MB again.
"""

from __future__ import annotations

import errno
import gzip
import hashlib
import json
import os
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from lossviz.files import cache_dir

CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
SPLITS = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
# IDX magic numbers: 0x0000 0803 = unsigned bytes, 3 dims (images); 0x0000 0801 = 1 dim (labels).
IMAGES_MAGIC, LABELS_MAGIC = 2051, 2049
HOW_TO_GET = (
    "get it with `lossviz download` while online (other mirrors: --mirror URL or LOSSVIZ_MIRRORS), or "
    "`apt-get install dataset-fashion-mnist` (Debian/Ubuntu), or point --data-root / LOSSVIZ_DATA at a "
    "folder holding the four IDX files"
)


class DataError(ValueError):
    """A data file exists but is not valid Fashion-MNIST (names the file)."""


class DataNotFound(FileNotFoundError):
    """No Fashion-MNIST anywhere lossviz looked (lists the places and how to get it)."""

    def __init__(self, message: str):
        # ENOENT with the whole message as its strerror: a handler that prints an OSError's
        # strerror (the CLI's file-error line) shows the message, not the class name.
        super().__init__(errno.ENOENT, message)

    def __str__(self) -> str:
        return self.strerror


@dataclass(frozen=True)
class FashionMNIST:
    """The data set in memory: uint8 images (N, 28, 28) and int64 labels (N,) per split."""

    train_images: torch.Tensor
    train_labels: torch.Tensor
    test_images: torch.Tensor
    test_labels: torch.Tensor
    source: Path




def candidate_roots(data_root: str | os.PathLike | None = None) -> list[Path]:
    """The folders searched, in order: the given folder alone, or the default places."""
    first = data_root or os.environ.get("LOSSVIZ_DATA")
    return [Path(first)] if first else [cache_dir(), DEBIAN_DIR]


def _find(folder: Path, stem: str) -> Path | None:
    for sub in ("", "raw", "FashionMNIST/raw"):
        for name in (stem, stem + ".gz"):
            p = folder / sub / name
            if p.is_file():
                return p
    return None


def locate(data_root=None) -> dict[str, Path] | None:
    """The four files from the first folder that has all of them, or None."""
    for root in candidate_roots(data_root):
        found = {stem: _find(root, stem) for pair in SPLITS.values() for stem in pair}
        if all(found.values()):
            return found
    return None


def _missing(root: Path) -> list[str]:
    return [stem for pair in SPLITS.values() for stem in pair if _find(root, stem) is None]


def _parse_header(path: Path, header: bytes, magic: int, item_shape: tuple) -> int:
    """The item count of an IDX header, after checking magic number and item shape."""
    ndim = 1 + len(item_shape)
    if len(header) < 4 + 4 * ndim:
        raise DataError(f"{path}: truncated IDX header ({len(header)} bytes)")
    got_magic, *dims = struct.unpack(">" + "I" * (1 + ndim), header[: 4 + 4 * ndim])
    if got_magic != magic:
        raise DataError(f"{path}: wrong magic number {got_magic:#010x}, expected {magic:#010x} (not an IDX {'image' if ndim == 3 else 'label'} file?)")
    if tuple(dims[1:]) != item_shape:
        raise DataError(f"{path}: items of shape {tuple(dims[1:])}, expected {item_shape}")
    if dims[0] == 0:
        raise DataError(f"{path}: holds 0 items")
    return dims[0]


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _cached_payload(path: Path, n_bytes: int) -> np.ndarray | None:
    """The decompressed payload of ``path`` from the cache, if its stamp still fits the file."""
    entry = cache_dir() / "idx" / f"{path.stem}.{n_bytes}"
    try:
        stamp = json.loads(entry.with_suffix(entry.suffix + ".json").read_text())
        st = path.stat()
        if stamp.get("source") != str(path.resolve()) or stamp.get("size") != st.st_size:
            return None
        # The hash is recomputed only when the file's modification time moved (as make and
        # ccache trust mtimes); equal size and hash then still accept it.
        if stamp.get("mtime_ns") != st.st_mtime_ns and stamp.get("sha256") != _sha256(path):
            return None
        payload = np.fromfile(entry, dtype=np.uint8)
    except (OSError, ValueError, AttributeError):
        return None
    return payload if payload.size == n_bytes else None


def _store_payload(path: Path, payload: np.ndarray) -> None:
    """Keep a validated, decompressed payload for the next run (best effort, atomic)."""
    from lossviz.files import write_atomic

    entry = cache_dir() / "idx" / f"{path.stem}.{payload.size}"
    try:
        entry.parent.mkdir(parents=True, exist_ok=True)
        st = path.stat()
        write_atomic(entry, payload.tobytes())
        stamp = {"source": str(path.resolve()), "size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": _sha256(path)}
        write_atomic(entry.with_suffix(entry.suffix + ".json"), json.dumps(stamp).encode())
    except OSError:  # a read-only or full home: the next run decompresses again
        pass


def _read_idx(path: Path, magic: int, item_shape: tuple) -> torch.Tensor:
    """One IDX file as a uint8 tensor (N, *item_shape): header checked first, then the bulk."""
    ndim = 1 + len(item_shape)
    item = int(np.prod(item_shape)) if item_shape else 1
    try:
        with (gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")) as f:
            n = _parse_header(path, f.read(4 + 4 * ndim), magic, item_shape)
            n_bytes = n * item
            payload = _cached_payload(path, n_bytes) if path.suffix == ".gz" else None
            if payload is None:
                buf = bytearray(n_bytes)
                got = _read_into(f, buf)
                extra = len(f.read(1))
                payload = np.frombuffer(buf, dtype=np.uint8)
                if got != n_bytes or extra:
                    size = 4 + 4 * ndim + got + extra
                    raise DataError(f"{path}: {'more than ' if extra else ''}{size} bytes of data, expected {4 + 4 * ndim + n_bytes} "
                                    f"for {n} items (truncated or corrupt file)")
                if path.suffix == ".gz":
                    _store_payload(path, payload)
    except (OSError, EOFError, zlib.error) as e:
        raise DataError(f"{path}: cannot read ({e})") from None
    return torch.from_numpy(payload).view(n, *item_shape)


def _read_into(f, buf: bytearray) -> int:
    """Fill ``buf`` from ``f`` (a gzip stream may return less per call); bytes read."""
    view, got = memoryview(buf), 0
    while got < len(buf):
        k = f.readinto(view[got:])
        if not k:
            break
        got += k
    return got


def read_split(images_path: Path, labels_path: Path) -> tuple[torch.Tensor, torch.Tensor]:
    images = _read_idx(images_path, IMAGES_MAGIC, (28, 28))
    labels = _read_idx(labels_path, LABELS_MAGIC, ())
    if len(images) != len(labels):
        raise DataError(f"{images_path} has {len(images)} images but {labels_path} has {len(labels)} labels")
    if int(labels.max()) >= len(CLASSES):
        raise DataError(f"{labels_path}: labels outside 0..{len(CLASSES) - 1}")
    return images, labels.long()


def download(into: Path, *, mirrors=None, resources=None) -> list[Path]:
    """Download into ``into/FashionMNIST/raw`` (``lossviz.download.download_fashion_mnist``: resumable,
    retried, mirror after mirror, checked against the published MD5s); the four paths."""
    from lossviz.download import download_fashion_mnist

    return download_fashion_mnist(into, mirrors=mirrors, resources=resources)


def load_fashion_mnist(data_root=None, *, allow_download: bool = True, mirrors=None, resources=None) -> FashionMNIST:
    """Find, validate and load Fashion-MNIST (see the module docstring for where it looks).

    ``mirrors`` and ``resources`` go to ``lossviz.download.download_fashion_mnist`` when nothing is
    found and a download is allowed (defaults: ``$LOSSVIZ_MIRRORS`` or torchvision's mirror; the
    published files and MD5s)."""
    given = data_root or os.environ.get("LOSSVIZ_DATA")
    if given:
        root = Path(given)
        if not root.is_dir():
            raise DataNotFound(f"Fashion-MNIST folder {root} does not exist; {HOW_TO_GET}")
        missing = _missing(root)
        if missing:
            raise DataNotFound(f"{root} lacks {', '.join(missing)} (plain or .gz, directly, in raw/ or in "
                               f"FashionMNIST/raw/); {HOW_TO_GET}")
        files = locate(root)
    else:
        files = locate()
        reason = "download not allowed"
        if files is None and allow_download:
            from lossviz.download import DownloadError

            try:
                download(cache_dir(), mirrors=mirrors, resources=resources)
            except (DownloadError, OSError) as e:  # every mirror failed, or the cache is not writable
                reason = f"download failed: {' '.join(str(e).split()) or type(e).__name__}"
            else:
                reason = ""
            files = locate()
        if files is None:
            looked = ", ".join(str(r) for r in candidate_roots())
            raise DataNotFound(f"Fashion-MNIST not found (looked in: {looked}; {reason}); {HOW_TO_GET}")
    train = read_split(files[SPLITS["train"][0]], files[SPLITS["train"][1]])
    test = read_split(files[SPLITS["test"][0]], files[SPLITS["test"][1]])
    return FashionMNIST(*train, *test, source=files[SPLITS["train"][0]].parent)
