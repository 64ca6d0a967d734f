"""Small IDX files made by the tests (the Fashion-MNIST format, gzip or not)."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import torch

from lossviz.data import SPLITS


def idx_bytes(tensor: torch.Tensor, magic: int) -> bytes:
    header = struct.pack(">I" + "I" * tensor.dim(), magic, *tensor.shape)
    return header + tensor.to(torch.uint8).contiguous().numpy().tobytes()


def write_fake_fashion_mnist(root: Path, n_train: int = 300, n_test: int = 100, gz: bool = True, seed: int = 0) -> Path:
    """A learnable toy set in the real layout: class c has a bright c-th row band."""
    g = torch.Generator().manual_seed(seed)
    root.mkdir(parents=True, exist_ok=True)
    for split, n in (("train", n_train), ("test", n_test)):
        labels = torch.randint(0, 10, (n,), generator=g)
        images = torch.randint(0, 60, (n, 28, 28), generator=g)
        for i, c in enumerate(labels.tolist()):
            images[i, 2 * c + 4: 2 * c + 6, :] = 230
        for stem, tensor, magic in ((SPLITS[split][0], images, 2051), (SPLITS[split][1], labels, 2049)):
            data = idx_bytes(tensor, magic)
            path = root / (stem + (".gz" if gz else ""))
            path.write_bytes(gzip.compress(data, mtime=0) if gz else data)
    return root
