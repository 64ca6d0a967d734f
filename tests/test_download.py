"""The Fashion-MNIST downloader against local HTTP servers in threads that drop connections, ignore
Range, send damaged or oversized files, or fail; no test touches the internet, none sleeps."""

from __future__ import annotations

import hashlib
import socket
import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from lossviz import data, download
from tests.clirun import cli_in_process
from tests.idx import write_fake_fashion_mnist

NAMES = [r.name for r in download.RESOURCES]
MB = 1 << 20


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    # The user's cache, Debian's package, the environment's mirrors and proxies kept out.
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    for name in ("LOSSVIZ_DATA", "LOSSVIZ_MIRRORS", "LOSSVIZ_PROGRESS", "http_proxy", "HTTP_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.setattr(data, "DEBIAN_DIR", tmp_path / "no-debian")


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, bytes]:
    """Fake Fashion-MNIST .gz files; the training images about 4 MB, to be cut after 1 MB twice."""
    root = write_fake_fashion_mnist(tmp_path_factory.mktemp("src"), n_train=7000, n_test=100)
    out = {name: (root / name).read_bytes() for name in NAMES}
    assert len(out["train-images-idx3-ubyte.gz"]) > 3 * MB + 3
    return out


def resources(files) -> list[tuple[str, str, int]]:
    """The checksums of the fake files, passed where the published ones are the default."""
    return [(name, hashlib.md5(b).hexdigest(), len(b)) for name, b in files.items()]


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):  # quiet
        pass

    def do_GET(self):
        m = self.server.mirror
        name, asked = self.path.lstrip("/"), self.headers.get("Range")
        with m.lock:
            m.requests.append((name, asked))
            drop = m.dropped.get(name, 0) < m.drops
            m.dropped[name] = m.dropped.get(name, 0) + drop
        if m.stall:  # a server that accepts and then says nothing
            m.release.wait(m.stall)
            return
        if m.status:
            return self.send_error(m.status)
        body = m.files.get(name)
        if body is None:
            return self.send_error(404)
        if m.damage:  # one flipped byte in the middle: same size, another MD5
            body = body[: len(body) // 2] + bytes([body[len(body) // 2] ^ 0xFF]) + body[len(body) // 2 + 1:]
        start = 0
        if asked and not m.ignore_range:
            start = int(asked.removeprefix("bytes=").split("-")[0])
            if m.refuse_ranges or start >= len(body):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(body)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            self.send_response(200)
        rest = body[start:] + m.extra
        if not m.extra or m.announce_extra:  # else no length: the body ends when the connection closes
            self.send_header("Content-Length", str(len(rest)))
        self.end_headers()
        if drop:  # a broken connection: fewer bytes than announced, then closed
            rest = rest[: min(MB, len(body) // 3)]
        try:
            self.wfile.write(rest)
        except (BrokenPipeError, ConnectionResetError):  # the client refused the file and hung up
            pass


class _Server(ThreadingHTTPServer):
    def handle_error(self, request, client_address):  # quiet: a test's stderr is the CLI's
        pass


@contextmanager
def mirror(files=None, *, drops=0, ignore_range=False, damage=False, extra=b"", announce_extra=False, status=None,
           refuse_ranges=False, stall=0.0):
    """A local HTTP server in a thread; ``.requests`` lists (file name, Range header or None)."""
    server = _Server(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    server.mirror = m = type("Mirror", (), {})()
    m.files, m.drops, m.ignore_range, m.damage, m.extra = files or {}, drops, ignore_range, damage, extra
    m.announce_extra, m.status, m.refuse_ranges = announce_extra, status, refuse_ranges
    m.stall, m.release = stall, threading.Event()
    m.lock, m.requests, m.dropped = threading.Lock(), [], {}
    m.url = f"http://127.0.0.1:{server.server_address[1]}/"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield m
    finally:
        m.release.set()
        server.shutdown()
        server.server_close()
        thread.join()


def closed_port_url() -> str:
    """A local URL where nothing listens (connection refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


def fetch(into, mirrors, files, **kw):
    kw = {"resources": resources(files), "backoff": 0, "timeout": 10, "progress": False, **kw}
    return download.download_fashion_mnist(into, mirrors=mirrors, **kw)


def ranges(m, name):
    return [r for n, r in m.requests if n == name]


def left_in(folder) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")) if folder.exists() else []


def test_drops_twice_per_file_resumes_with_range_and_loads(tmp_path, files):
    """The issue's case: every file's connection is cut twice (the training images after 1 MB);
    each try resumes where the last one stopped, and the result has the right checksums."""
    lines = []
    with mirror(files, drops=2) as m:
        paths = fetch(tmp_path / "into", [m.url], files, log=lines.append)
    assert [p.name for p in paths] == NAMES
    for p in paths:
        assert p.parent == tmp_path / "into" / "FashionMNIST" / "raw"
        assert hashlib.md5(p.read_bytes()).hexdigest() == hashlib.md5(files[p.name]).hexdigest()
        q = min(MB, len(files[p.name]) // 3)
        assert ranges(m, p.name) == [None, f"bytes={q}-", f"bytes={2 * q}-"]
    assert ranges(m, "train-images-idx3-ubyte.gz")[1] == f"bytes={MB}-"
    assert left_in(tmp_path / "into" / "FashionMNIST" / "raw") == sorted(NAMES)  # no .part left
    assert any("resuming" in line for line in lines)
    fm = data.load_fashion_mnist(tmp_path / "into", allow_download=False)  # found and its IDX headers checked
    assert fm.train_images.shape == (7000, 28, 28) and fm.test_labels.shape == (100,)


def test_resumes_a_part_left_by_an_earlier_run(tmp_path, files):
    raw = tmp_path / "into" / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    name = "t10k-images-idx3-ubyte.gz"
    (raw / (name + ".part")).write_bytes(files[name][:1000])
    whole = "train-labels-idx1-ubyte.gz"  # a part already whole: checked and renamed, never asked for
    (raw / (whole + ".part")).write_bytes(files[whole])
    with mirror(files) as m:
        fetch(tmp_path / "into", [m.url], files)
    assert ranges(m, name) == ["bytes=1000-"] and ranges(m, whole) == []
    assert (raw / name).read_bytes() == files[name] and (raw / whole).read_bytes() == files[whole]
    # A second run finds every file there with its checksum and asks for nothing.
    with mirror(files) as m:
        fetch(tmp_path / "into", [m.url], files)
    assert m.requests == []


def test_a_stale_part_is_checked_and_started_over(tmp_path, files):
    """A part whose bytes do not match (a different file's) fails the checksum once whole, and is
    fetched again from byte 0 at the same mirror rather than blamed on it."""
    raw = tmp_path / "into" / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    name = "t10k-images-idx3-ubyte.gz"
    (raw / (name + ".part")).write_bytes(bytes(100))
    with mirror(files) as m:
        fetch(tmp_path / "into", [m.url], files)
    assert ranges(m, name) == ["bytes=100-", None]
    assert (raw / name).read_bytes() == files[name]


def test_416_discards_the_part_and_starts_over(tmp_path, files):
    raw = tmp_path / "into" / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    name = "train-labels-idx1-ubyte.gz"
    (raw / (name + ".part")).write_bytes(files[name][:500])
    with mirror(files, refuse_ranges=True) as m:
        fetch(tmp_path / "into", [m.url], files)
    assert ranges(m, name) == ["bytes=500-", None]
    assert (raw / name).read_bytes() == files[name]


def test_damaged_file_refused_left_nowhere_next_mirror_used(tmp_path, files):
    raw = tmp_path / "into" / "FashionMNIST" / "raw"
    seen_when_refused = []

    def log(line):
        if "giving up" in line:  # right after the damaged mirror's file was refused
            seen_when_refused.append(left_in(raw))

    with mirror(files, damage=True) as bad, mirror(files) as good:
        fetch(tmp_path / "into", [bad.url, good.url], files, log=log)
    assert seen_when_refused == [sorted(NAMES[:k]) for k in range(4)]  # the earlier files only: no damaged file, no .part
    assert [n for n, _ in bad.requests] == NAMES and [n for n, _ in good.requests] == NAMES
    assert all((raw / n).read_bytes() == files[n] for n in NAMES)


def test_damaged_everywhere_leaves_nothing(tmp_path, files):
    with mirror(files, damage=True) as bad:
        with pytest.raises(download.DownloadError) as e:
            fetch(tmp_path / "into", [bad.url], files)
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith("cannot download train-images-idx3-ubyte.gz:")
    assert "checksum mismatch" in msg and bad.url in msg
    assert not (tmp_path / "into").exists()  # no file, no .part, no empty folder


def test_every_mirror_failing_is_one_line_naming_the_file(tmp_path, files):
    refused = closed_port_url()
    with mirror(files, status=404) as missing, mirror(files, status=503) as busy:
        with pytest.raises(download.DownloadError) as e:
            fetch(tmp_path / "into", [missing.url, busy.url, refused], files, attempts=3)
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith("cannot download train-images-idx3-ubyte.gz:")
    assert f"{missing.url}train-images-idx3-ubyte.gz: HTTP 404" in msg
    assert f"{busy.url}train-images-idx3-ubyte.gz: HTTP 503" in msg and "(after 3 tries)" in msg
    assert f"{refused}train-images-idx3-ubyte.gz: Connection refused" in msg
    assert len(missing.requests) == 1 and len(busy.requests) == 3  # a 404 is not retried, a 503 is
    assert not (tmp_path / "into").exists()


def test_backoff_is_exponential_and_capped(tmp_path, files):
    waits = []
    with mirror(files, status=500) as m:
        with pytest.raises(download.DownloadError):
            fetch(tmp_path / "into", [m.url], files, attempts=6, backoff=1.0, max_backoff=5.0, sleep=waits.append)
    assert waits == [1, 2, 4, 5, 5]  # before tries 2..6: base 1 s doubled, at most 5 s
    assert len(m.requests) == 6


def test_cli_every_mirror_failing_exit_2(tmp_path):
    refused = closed_port_url()
    with mirror(status=404) as m:
        r = cli_in_process("download", "--into", tmp_path / "d", "--mirror", m.url, "--mirror", refused)
    assert r.returncode == 2 and r.stdout == ""
    errors = [line for line in r.stderr.splitlines() if line.startswith("lossviz: error:")]
    assert errors == [r.stderr.splitlines()[-1]]
    assert errors[0].startswith("lossviz: error: cannot download train-images-idx3-ubyte.gz:")
    assert not (tmp_path / "d").exists()


def test_server_ignoring_range_restarts_from_zero(tmp_path, files):
    lines = []
    with mirror(files, drops=1, ignore_range=True) as m:
        paths = fetch(tmp_path / "into", [m.url], files, log=lines.append)
    for p in paths:
        q = min(MB, len(files[p.name]) // 3)
        assert ranges(m, p.name) == [None, f"bytes={q}-"]  # asked for the rest, answered 200 with all of it
        assert p.read_bytes() == files[p.name]
    assert any("ignores Range" in line for line in lines)


@pytest.mark.parametrize("announce", [False, True], ids=["unannounced", "announced"])
def test_more_bytes_than_the_file_holds_is_refused(tmp_path, files, announce):
    """A server that sends the file and more (without a length, cut off one byte past the file's
    size; or with a length larger than the file's) has its file refused; the next mirror serves."""
    with mirror(files, extra=b"x" * 100_000, announce_extra=announce) as big:
        with pytest.raises(download.DownloadError) as e:
            fetch(tmp_path / "into", [big.url], files)
        assert ("the server's file has " if announce else "the server sent more than the file's") in str(e.value)
        assert not (tmp_path / "into").exists()
        with mirror(files) as good:
            fetch(tmp_path / "into", [big.url, good.url], files)
    assert all((tmp_path / "into" / "FashionMNIST" / "raw" / n).read_bytes() == files[n] for n in NAMES)


def test_mirrors_checked_and_taken_from_the_environment(monkeypatch):
    assert download.default_mirrors() == download.MIRRORS
    monkeypatch.setenv("LOSSVIZ_MIRRORS", "http://a.example/x  https://b.example/y/")
    assert download.check_mirrors(download.default_mirrors()) == ("http://a.example/x/", "https://b.example/y/")
    for bad in ("ftp://a.example/", "a.example", "http:///x"):
        with pytest.raises(ValueError, match="not an http:// or https:// URL"):
            download.check_mirrors([bad])
    r = cli_in_process("download", "--mirror", "file:///tmp/x")
    assert r.returncode == 2 and r.stderr.strip().startswith("lossviz: error: mirror 'file:///tmp/x' is not")


def test_cli_download_end_to_end(tmp_path, files, monkeypatch):
    # The command checks the published MD5s; here the fake files' stand in for them (restored after the test).
    monkeypatch.setattr(download, "RESOURCES", tuple(download.Resource(*r) for r in resources(files)))
    with mirror(files, drops=1) as m:
        r = cli_in_process("download", "--into", tmp_path / "d", "--mirror", m.url)
    assert r.returncode == 0, r.stderr
    raw = tmp_path / "d" / "FashionMNIST" / "raw"
    assert r.stdout.strip() == f"Fashion-MNIST in {raw} (MD5s checked); use it with --data-root {tmp_path / 'd'}"
    assert all(len(ranges(m, n)) == 2 and ranges(m, n)[1] is not None for n in NAMES)  # each cut once, resumed
    assert left_in(raw) == sorted(NAMES)
    assert data.load_fashion_mnist(tmp_path / "d", allow_download=False).train_images.shape == (7000, 28, 28)


def test_cli_download_refuses_files_unlike_the_published_ones(tmp_path, files):
    """With the real checksums, the fake files are refused (their size already differs)."""
    with mirror(files) as m:
        r = cli_in_process("download", "--into", tmp_path / "d", "--mirror", m.url)
    assert r.returncode == 2
    last = r.stderr.splitlines()[-1]
    assert last.startswith("lossviz: error: cannot download train-images-idx3-ubyte.gz:")
    assert "the published one 26421880: refused" in last
    assert not (tmp_path / "d").exists()


def test_load_downloads_into_the_cache_when_nothing_is_found(tmp_path, files):
    with mirror(files, drops=1) as m:
        fm = data.load_fashion_mnist(mirrors=[m.url], resources=resources(files))
    assert fm.train_images.shape == (7000, 28, 28)
    assert fm.source == tmp_path / "cache" / "lossviz" / "FashionMNIST" / "raw"
    assert len(m.requests) == 8  # each file cut once and resumed


def test_compare_downloads_through_the_same_path(tmp_path, files, monkeypatch):
    """`lossviz compare` with no data anywhere downloads from $LOSSVIZ_MIRRORS through the same
    code: the real checksums refuse the fake files, one line, exit 2, nothing left in the cache."""
    with mirror(files) as m:
        monkeypatch.setenv("LOSSVIZ_MIRRORS", m.url)
        r = cli_in_process("compare", "--epochs", "1", "--figures", "none", "--out", tmp_path / "run")
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and "lossviz: error: Fashion-MNIST not found (looked in: " in r.stderr
    assert f"download failed: cannot download train-images-idx3-ubyte.gz: {m.url}" in r.stderr
    assert ranges(m, "train-images-idx3-ubyte.gz") == [None]
    assert not (tmp_path / "cache" / "lossviz" / "FashionMNIST").exists() and not (tmp_path / "run").exists()



def test_a_second_download_into_the_folder_waits_for_the_first(tmp_path, files):
    """Two downloads appending to one part would damage it: the second waits for the folder's lock,
    then finds every file there and checked."""
    fcntl = pytest.importorskip("fcntl")
    import os

    raw = tmp_path / "into" / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    lines, done = [], []
    fd = os.open(raw, os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_EX)  # as another download holds it
    with mirror(files) as m:
        t = threading.Thread(target=lambda: done.append(fetch(tmp_path / "into", [m.url], files, log=lines.append)))
        t.start()
        t.join(0.5)
        assert t.is_alive() and m.requests == [] and lines == [f"waiting for another download into {raw}"]
        os.close(fd)
        t.join(10)
    assert done and all((raw / n).read_bytes() == files[n] for n in NAMES)


def test_a_silent_server_times_out_and_the_next_mirror_serves(tmp_path, files):
    with mirror(files, stall=30) as silent, mirror(files) as good:
        fetch(tmp_path / "into", [silent.url, good.url], files, timeout=0.3, attempts=2)
    assert len(silent.requests) == 8  # each file: two tries, each ended by the timeout
    assert all((tmp_path / "into" / "FashionMNIST" / "raw" / n).read_bytes() == files[n] for n in NAMES)
