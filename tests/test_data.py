"""The Fashion-MNIST loader on small IDX files made here: good, gzip or not, truncated, wrong magic."""

from __future__ import annotations

import gzip
import socket
import struct
import time

import pytest
import torch

from lossviz import data
from tests.idx import idx_bytes, write_fake_fashion_mnist


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    # Keep the user's cache, Debian's package and the environment out of these tests.
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("LOSSVIZ_DATA", raising=False)
    monkeypatch.delenv("LOSSVIZ_MIRRORS", raising=False)
    monkeypatch.setattr(data, "DEBIAN_DIR", tmp_path / "no-debian")


@pytest.mark.parametrize("gz", [True, False])
def test_loads_gzip_and_plain(tmp_path, gz):
    root = write_fake_fashion_mnist(tmp_path / "d" / "FashionMNIST" / "raw", n_train=50, n_test=20, gz=gz)
    d = data.load_fashion_mnist(tmp_path / "d", allow_download=False)
    assert d.train_images.shape == (50, 28, 28) and d.train_images.dtype == torch.uint8
    assert d.test_labels.shape == (20,) and d.test_labels.dtype == torch.int64
    raw = (root / ("train-images-idx3-ubyte" + (".gz" if gz else ""))).read_bytes()
    raw = gzip.decompress(raw) if gz else raw
    assert d.train_images[3].flatten().tolist() == list(raw[16 + 3 * 784: 16 + 4 * 784])


def test_search_order_env_then_cache(tmp_path, monkeypatch):
    write_fake_fashion_mnist(tmp_path / "cache" / "lossviz", n_train=30, n_test=10)
    assert data.load_fashion_mnist(allow_download=False).train_images.shape[0] == 30
    write_fake_fashion_mnist(tmp_path / "env", n_train=40, n_test=10)
    monkeypatch.setenv("LOSSVIZ_DATA", str(tmp_path / "env"))
    assert data.load_fashion_mnist(allow_download=False).train_images.shape[0] == 40


def test_truncated_file_names_the_file(tmp_path):
    root = write_fake_fashion_mnist(tmp_path / "d", gz=False)
    path = root / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(data.DataError, match="train-images-idx3-ubyte.*truncated or corrupt"):
        data.load_fashion_mnist(root, allow_download=False)


def test_truncated_gzip(tmp_path):
    root = write_fake_fashion_mnist(tmp_path / "d", gz=True)
    path = root / "t10k-labels-idx1-ubyte.gz"
    path.write_bytes(path.read_bytes()[:20])
    with pytest.raises(data.DataError, match="t10k-labels-idx1-ubyte.gz"):
        data.load_fashion_mnist(root, allow_download=False)


def test_wrong_magic(tmp_path):
    root = write_fake_fashion_mnist(tmp_path / "d", gz=False)
    (root / "train-labels-idx1-ubyte").write_bytes(idx_bytes(torch.zeros(300, dtype=torch.uint8), 2051))  # an image magic on a label file
    with pytest.raises(data.DataError, match="train-labels-idx1-ubyte: wrong magic number"):
        data.load_fashion_mnist(root, allow_download=False)


def test_label_range_and_count_mismatch(tmp_path):
    root = write_fake_fashion_mnist(tmp_path / "d", gz=False)
    (root / "train-labels-idx1-ubyte").write_bytes(idx_bytes(torch.full((300,), 11, dtype=torch.uint8), 2049))
    with pytest.raises(data.DataError, match="labels outside 0..9"):
        data.load_fashion_mnist(root, allow_download=False)
    (root / "train-labels-idx1-ubyte").write_bytes(idx_bytes(torch.zeros(299, dtype=torch.uint8), 2049))
    with pytest.raises(data.DataError, match="300 images but .* 299 labels"):
        data.load_fashion_mnist(root, allow_download=False)


def closed_port_url() -> str:
    """A local URL where nothing listens: a download from it fails at once (connection refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}/"


def test_not_found_lists_places_and_how(tmp_path, monkeypatch):
    monkeypatch.setenv("LOSSVIZ_MIRRORS", closed_port_url())  # "offline", without the internet
    with pytest.raises(data.DataNotFound) as e:
        data.load_fashion_mnist()
    msg = str(e.value)
    assert "no-debian" in msg and "cache" in msg and "\n" not in msg
    assert "lossviz download" in msg and "apt-get install dataset-fashion-mnist" in msg
    assert "download failed: cannot download train-images-idx3-ubyte.gz" in msg and "Connection refused" in msg
    assert not (tmp_path / "cache" / "lossviz").exists()  # no empty folders left behind
    with pytest.raises(data.DataNotFound, match="download not allowed"):
        data.load_fashion_mnist(allow_download=False)


def test_data_root_means_exactly_that_folder(tmp_path, monkeypatch):
    """A given folder with a file missing is an error naming the file, even with a full cache."""
    write_fake_fashion_mnist(tmp_path / "cache" / "lossviz", n_train=30, n_test=10)
    root = write_fake_fashion_mnist(tmp_path / "d", n_train=40, n_test=10)
    (root / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(data.DataNotFound, match=r"lacks t10k-labels-idx1-ubyte") as e:
        data.load_fashion_mnist(root, mirrors=[closed_port_url()])  # no download for a given folder
    assert "download failed" not in str(e.value)
    with pytest.raises(data.DataNotFound, match="does not exist"):
        data.load_fashion_mnist(tmp_path / "nowhere")


def test_wrong_magic_refused_before_decompressing(tmp_path):
    """A large .gz whose header is wrong is refused after its first bytes (streamed)."""
    root = write_fake_fashion_mnist(tmp_path / "d", n_train=30, n_test=10)
    big = gzip.compress(struct.pack(">IIII", 0x1234, 10**6, 28, 28) + bytes(50_000_000), compresslevel=1)
    (root / "train-images-idx3-ubyte.gz").write_bytes(big)
    start = time.perf_counter()
    with pytest.raises(data.DataError, match="train-images-idx3-ubyte.gz: wrong magic number"):
        data.load_fashion_mnist(root)
    assert time.perf_counter() - start < 1.0  # decompressing 50 MB first takes longer


def test_zero_items_names_the_file(tmp_path):
    root = write_fake_fashion_mnist(tmp_path / "d", gz=False)
    (root / "t10k-images-idx3-ubyte").write_bytes(idx_bytes(torch.zeros(0, 28, 28, dtype=torch.uint8), 2051))
    with pytest.raises(data.DataError, match="t10k-images-idx3-ubyte: holds 0 items"):
        data.load_fashion_mnist(root)


def test_decompressed_cache_is_used_and_checked(tmp_path):
    root = write_fake_fashion_mnist(tmp_path / "d", n_train=50, n_test=20)
    first = data.load_fashion_mnist(root)
    cached = sorted(p.name for p in (tmp_path / "cache" / "lossviz" / "idx").iterdir())
    assert len(cached) == 8  # four payloads, four stamps
    again = data.load_fashion_mnist(root)
    assert torch.equal(first.train_images, again.train_images) and torch.equal(first.test_labels, again.test_labels)
    # A changed source file is read anew, not served from the stale cache.
    write_fake_fashion_mnist(tmp_path / "d", n_train=50, n_test=20, seed=1)
    fresh = data.load_fashion_mnist(root)
    assert not torch.equal(fresh.train_images, first.train_images)
    # A damaged cache entry (wrong size) is ignored.
    for p in (tmp_path / "cache" / "lossviz" / "idx").glob("train-images*[0-9]"):
        p.write_bytes(b"x")
    assert torch.equal(data.load_fashion_mnist(root).train_images, fresh.train_images)


def test_real_data_complete(data_root):
    d = data.load_fashion_mnist(data_root, allow_download=False)
    assert d.train_images.shape == (60000, 28, 28) and d.test_images.shape == (10000, 28, 28)
    assert torch.bincount(d.train_labels).tolist() == [6000] * 10
    assert torch.bincount(d.test_labels).tolist() == [1000] * 10
