"""Fashion-MNIST: find it, validate it, load it once into tensors.

Where the files come from, in order: ``data_root`` (``--data-root``) or ``$LOSSVIZ_DATA``; the
user cache folder (``$XDG_CACHE_HOME/lossviz``, default ``~/.cache/lossviz``); Debian's package
``dataset-fashion-mnist`` (``/usr/share/datasets/fashion-mnist``); otherwise a download through
torchvision into the cache folder. In each folder the four IDX files may sit directly, in
``raw/`` or in ``FashionMNIST/raw/``, gzip-compressed or not.
"""

from __future__ import annotations

import gzip
import os
import shutil
import struct
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch

CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
SPLITS = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
# IDX magic numbers: 0x0000 0803 = unsigned bytes, 3 dims (images); 0x0000 0801 = 1 dim (labels).
IMAGES_MAGIC, LABELS_MAGIC = 2051, 2049
HOW_TO_GET = (
    "get it with `apt-get install dataset-fashion-mnist` (Debian/Ubuntu), or run once while online "
    "(lossviz downloads it through torchvision), or point --data-root / LOSSVIZ_DATA at a folder "
    "holding the four IDX files"
)


class DataError(ValueError):
    """A data file exists but is not valid Fashion-MNIST (names the file)."""


class DataNotFound(FileNotFoundError):
    """No Fashion-MNIST anywhere lossviz looked (lists the places and how to get it)."""


@dataclass(frozen=True)
class FashionMNIST:
    """The data set in memory: uint8 images (N, 28, 28) and int64 labels (N,) per split."""

    train_images: torch.Tensor
    train_labels: torch.Tensor
    test_images: torch.Tensor
    test_labels: torch.Tensor
    source: Path


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "lossviz"


def candidate_roots(data_root: str | os.PathLike | None = None) -> list[Path]:
    """The folders searched, in order."""
    first = data_root or os.environ.get("LOSSVIZ_DATA")
    roots = [Path(first)] if first else []
    return roots + [cache_dir(), DEBIAN_DIR]


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


def _check_header(path: Path, raw_size: int, header: bytes, magic: int, item_shape: tuple) -> int:
    ndim = 1 + len(item_shape)
    if len(header) < 4 + 4 * ndim:
        raise DataError(f"{path}: truncated IDX header ({len(header)} bytes)")
    got_magic, *dims = struct.unpack(">" + "I" * (1 + ndim), header[: 4 + 4 * ndim])
    if got_magic != magic:
        raise DataError(f"{path}: wrong magic number {got_magic:#010x}, expected {magic:#010x} (not an IDX {'image' if ndim == 3 else 'label'} file?)")
    if tuple(dims[1:]) != item_shape:
        raise DataError(f"{path}: items of shape {tuple(dims[1:])}, expected {item_shape}")
    expected = 4 + 4 * ndim + dims[0] * int(torch.tensor(item_shape).prod() if item_shape else 1)
    if raw_size != expected:
        raise DataError(f"{path}: {raw_size} bytes, expected {expected} for {dims[0]} items (truncated or corrupt file)")
    return dims[0]


def _read_idx(path: Path, magic: int, item_shape: tuple) -> torch.Tensor:
    """Validate the header and size, then parse with torchvision's own IDX reader."""
    from torchvision.datasets.mnist import read_image_file, read_label_file

    reader = read_image_file if magic == IMAGES_MAGIC else read_label_file
    try:
        if path.suffix == ".gz":
            # torchvision's reader takes a path to the decompressed bytes.
            with tempfile.TemporaryDirectory() as tmp:
                plain = Path(tmp) / path.stem
                with gzip.open(path, "rb") as src, open(plain, "wb") as dst:
                    shutil.copyfileobj(src, dst, 1 << 20)
                with open(plain, "rb") as f:
                    header = f.read(16)
                _check_header(path, plain.stat().st_size, header, magic, item_shape)
                return reader(str(plain))
        with open(path, "rb") as f:
            header = f.read(16)
        _check_header(path, path.stat().st_size, header, magic, item_shape)
        return reader(str(path))
    except (OSError, EOFError, gzip.BadGzipFile) as e:
        raise DataError(f"{path}: cannot read ({e})") from None


def read_split(images_path: Path, labels_path: Path) -> tuple[torch.Tensor, torch.Tensor]:
    images = _read_idx(images_path, IMAGES_MAGIC, (28, 28))
    labels = _read_idx(labels_path, LABELS_MAGIC, ())
    if len(images) != len(labels):
        raise DataError(f"{images_path} has {len(images)} images but {labels_path} has {len(labels)} labels")
    if len(labels) and (int(labels.min()) < 0 or int(labels.max()) >= len(CLASSES)):
        raise DataError(f"{labels_path}: labels outside 0..{len(CLASSES) - 1}")
    return images, labels


def download(into: Path) -> None:
    """Download through torchvision into ``into/FashionMNIST/raw`` (needs the network)."""
    from torchvision.datasets import FashionMNIST as TVFashionMNIST

    TVFashionMNIST(str(into), train=True, download=True)
    TVFashionMNIST(str(into), train=False, download=True)


def load_fashion_mnist(data_root=None, *, allow_download: bool = True) -> FashionMNIST:
    """Find, validate and load Fashion-MNIST (see the module docstring for where it looks)."""
    files = locate(data_root)
    if files is None and allow_download:
        try:
            download(cache_dir())
        except Exception as e:  # offline, DNS, refused: all mean "not here"
            lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
            reason = f"download failed: {lines[-1] if lines else type(e).__name__}"  # the underlying cause
        else:
            reason = ""
        files = locate(data_root)
    else:
        reason = "download not allowed"
    if files is None:
        looked = ", ".join(str(r) for r in candidate_roots(data_root))
        raise DataNotFound(f"Fashion-MNIST not found (looked in: {looked}; {reason}); {HOW_TO_GET}")
    train = read_split(files[SPLITS["train"][0]], files[SPLITS["train"][1]])
    test = read_split(files[SPLITS["test"][0]], files[SPLITS["test"][1]])
    return FashionMNIST(*train, *test, source=files[SPLITS["train"][0]].parent)
