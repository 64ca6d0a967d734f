"""The Fashion-MNIST loader on small IDX files made here: good, gzip or not, truncated, wrong magic."""

from __future__ import annotations

import gzip

import pytest
import torch

from lossviz import data
from tests.idx import idx_bytes, write_fake_fashion_mnist


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    # Keep the user's cache, Debian's package and the environment out of these tests.
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("LOSSVIZ_DATA", raising=False)
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


def test_not_found_lists_places_and_how(tmp_path, monkeypatch):
    def offline(into):
        raise OSError("network is unreachable")

    monkeypatch.setattr(data, "download", offline)
    with pytest.raises(data.DataNotFound) as e:
        data.load_fashion_mnist(tmp_path / "nowhere")
    msg = str(e.value)
    assert str(tmp_path / "nowhere") in msg and "no-debian" in msg and "cache" in msg
    assert "apt-get install dataset-fashion-mnist" in msg and "network is unreachable" in msg


def test_real_data_complete(data_root):
    d = data.load_fashion_mnist(data_root, allow_download=False)
    assert d.train_images.shape == (60000, 28, 28) and d.test_images.shape == (10000, 28, 28)
    assert torch.bincount(d.train_labels).tolist() == [6000] * 10
    assert torch.bincount(d.test_labels).tolist() == [1000] * 10
