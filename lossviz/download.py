"""Fashion-MNIST over HTTP: each file resumed from its partial bytes (a Range request), retried
with backoff, mirror after mirror, checked against its published MD5, renamed into place whole.

Standard library only (urllib), plus tqdm for the progress bar."""

from __future__ import annotations

import errno
import hashlib
import http.client
import os
import socket
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from lossviz.files import cache_dir


@dataclass(frozen=True)
class Resource:
    """One file to fetch: its name on a mirror, its published MD5, its size in bytes."""

    name: str
    md5: str
    size: int  # the most bytes accepted: a server sending more is cut off and the file refused


# The MD5s published in zalandoresearch/fashion-mnist's README, the same as torchvision's
# FashionMNIST.resources (torchvision 0.29, datasets/mnist.py). The sizes are those of the same
# upstream files (the README's table rounds them: 26 MB, 29 KB, 4.3 MB, 5.1 KB).
RESOURCES = (
    Resource("train-images-idx3-ubyte.gz", "8d4fb7e6c68d591d4c3dfef9ec88bf0d", 26_421_880),
    Resource("train-labels-idx1-ubyte.gz", "25c81989df183df01b3e8a0aad5dffbe", 29_515),
    Resource("t10k-images-idx3-ubyte.gz", "bef4ecab320f06d8554ea6380940ec79", 4_422_102),
    Resource("t10k-labels-idx1-ubyte.gz", "bb300cfdad3c16e7a12a480ee83cd310", 5_148),
)
# torchvision's FashionMNIST.mirrors (torchvision 0.29, datasets/mnist.py): Zalando's own bucket.
MIRRORS = ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",)
MIRRORS_ENV = "LOSSVIZ_MIRRORS"  # whitespace-separated base URLs, tried in order, instead of MIRRORS
SUBFOLDER = Path("FashionMNIST") / "raw"  # under the download folder: where lossviz.data.locate looks
CHUNK = 1 << 16
MAX_TRIES = 100  # per file and mirror, however much each try brought: a server sending a byte per
                 # connection still ends


class DownloadError(Exception):
    """A file no mirror could give whole and intact (one line: the file, then each mirror's reason)."""


class _Retry(Exception):
    """A failure worth another try at the same mirror (a timeout, a dropped connection, a 5xx)."""


class _Unavailable(Exception):
    """This mirror cannot give this file (404, refused, unknown host, another size): next mirror, the part kept."""


class _Damaged(Exception):
    """This mirror sent bytes that are not the file (more than it can hold): the part is deleted, next mirror."""


def default_mirrors() -> tuple[str, ...]:
    """``$LOSSVIZ_MIRRORS`` (whitespace-separated URLs) when set, else torchvision's mirrors."""
    given = os.environ.get(MIRRORS_ENV, "").split()
    return tuple(given) if given else MIRRORS


def check_mirrors(urls) -> tuple[str, ...]:
    """Base URLs checked (http or https, with a host), each ending in ``/`` so a file name joins on."""
    urls = [urls] if isinstance(urls, str) else list(urls)
    if not urls:
        raise ValueError("no mirror given")
    out = []
    for url in urls:
        parts = urllib.parse.urlsplit(str(url))
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"mirror {str(url)[:200]!r} is not an http:// or https:// URL")
        out.append(str(url) if str(url).endswith("/") else f"{url}/")
    return tuple(out)


def download_fashion_mnist(into=None, *, mirrors=None, resources=None, attempts: int = 5, backoff: float = 1.0,
                           max_backoff: float = 30.0, timeout: float = 30.0, progress: bool | None = None,
                           log=None, sleep=time.sleep) -> list[Path]:
    """Fetch the four Fashion-MNIST files into ``into/FashionMNIST/raw`` (where lossviz.data looks).

    A file already there with the published checksum is kept. Otherwise it is fetched into
    ``NAME.part`` beside it, resuming from the bytes the part holds (an HTTP Range request; a server
    that ignores Range restarts it from 0), and renamed into place (``os.replace``) only once whole
    and matching its MD5. A damaged download is deleted and the next mirror tried. A part left by a
    broken connection stays for the next run to resume.

    Args:
        into: the download folder. Default: the lossviz cache folder (``lossviz.files.cache_dir()``).
        mirrors: base URLs tried in order. Default: ``$LOSSVIZ_MIRRORS``, else ``MIRRORS``.
        resources: ``Resource`` or ``(name, md5, size)`` items. Default: ``RESOURCES``, the real files.
        attempts: tries in a row at one mirror that bring no new byte before the next mirror. Default: 5.
        backoff: seconds before the second such try, doubled after each (tests pass 0). Default: 1.0.
        max_backoff: the longest wait between tries, in seconds. Default: 30.0.
        timeout: seconds for connecting and for each read. Default: 30.0.
        progress: a tqdm bar per file on stderr; None: on a terminal or with LOSSVIZ_PROGRESS=1.
        log: called with a line on each event worth telling (a retry, a mirror given up); None: silent.
        sleep: how to wait between tries (``time.sleep``).

    Returns:
        The paths of the files, in the order of ``resources``.

    Raises:
        DownloadError: a file no mirror could give (the message names it and every mirror's reason).
        OSError: the folder cannot be written (its own error, naming the path).
    """
    folder = Path(into if into is not None else cache_dir()) / SUBFOLDER
    mirrors = check_mirrors(default_mirrors() if mirrors is None else mirrors)
    resources = [r if isinstance(r, Resource) else Resource(*r) for r in (RESOURCES if resources is None else resources)]
    if progress is None:
        progress = sys.stderr.isatty() or os.environ.get("LOSSVIZ_PROGRESS") == "1"
    settings = dict(attempts=max(1, int(attempts)), backoff=backoff, max_backoff=max_backoff, timeout=timeout,
                    progress=progress, log=log or (lambda line: None), sleep=sleep)
    made = [d for d in [folder, *folder.parents] if not d.exists()]
    folder.mkdir(parents=True, exist_ok=True)
    try:
        with _folder_lock(folder, settings["log"]):
            return [_fetch_file(folder, res, mirrors, **settings) for res in resources]
    finally:  # a failed download leaves no empty folder it made (a part with bytes keeps its folder)
        for d in made:
            try:
                d.rmdir()
            except OSError:
                break


@contextmanager
def _folder_lock(folder: Path, log):
    """One download at a time into ``folder``: two appending to one part would damage it. A second
    one waits, then finds the files there and checked (an advisory lock, where fcntl exists)."""
    try:
        import fcntl
    except ImportError:  # Windows: no lock
        yield
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log(f"waiting for another download into {folder}")
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # (releases the lock)


def _fetch_file(folder: Path, res: Resource, mirrors, *, progress, log, **settings) -> Path:
    target, part = folder / res.name, folder / (res.name + ".part")
    if target.is_file():
        if md5sum(target) == res.md5:
            log(f"{res.name}: already there, checksum matches")
            return target
        log(f"{res.name}: the file there does not match the published MD5; downloading it again")
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=res.size, initial=_size(part), desc=res.name, unit="B", unit_scale=True, unit_divisor=1024,
                   file=sys.stderr, dynamic_ncols=True, leave=True)
        log = _beside_bar(log, bar)
    failures = []
    try:
        for mirror in mirrors:
            url = urllib.parse.urljoin(mirror, urllib.parse.quote(res.name))
            have = _size(part)
            log(f"{res.name}: {f'resuming at byte {have} from' if have else 'downloading from'} {url}")
            why = _from_mirror(url, part, res, bar=bar, log=log, **settings)
            if why is None:
                _sync(part)
                os.replace(part, target)  # whole and checked: only now is it where the data belongs
                return target
            failures.append(f"{url}: {why}")
            log(f"{res.name}: giving up on {url}: {why}")
    finally:
        if bar is not None:
            bar.close()
    if _size(part) == 0:
        part.unlink(missing_ok=True)
    kept = f"; the {_size(part)} bytes received are kept in {part} for the next try" if part.exists() else ""
    raise DownloadError(f"cannot download {res.name}: " + "; ".join(failures) + kept)


def _beside_bar(log, bar):
    """``log`` with the bar cleared while it writes, then drawn again (no line through the bar)."""
    def logged(line):
        with bar.external_write_mode(file=sys.stderr):
            log(line)

    return logged


def _from_mirror(url: str, part: Path, res: Resource, *, attempts, backoff, max_backoff, timeout, bar, log, sleep):
    """Bring ``part`` to the whole, checked file from ``url``: None, or why this mirror failed."""
    fails, tries, last = 0, 0, "no answer"
    fresh = _size(part) == 0  # every byte in the part will have come from this mirror
    reached = _size(part)  # the furthest the part got here: a try that passes it made progress
    while True:
        have = _size(part)
        if have > res.size:  # a stale part longer than the file can hold nothing useful
            part.unlink()
            fresh, have = True, 0
        if have == res.size:  # complete: check it
            got = md5sum(part)
            if got == res.md5:
                return None
            part.unlink()  # a damaged file is left nowhere
            if not fresh:  # the bad bytes may be an earlier run's or another mirror's: once more from 0 here
                log(f"{res.name}: the resumed file does not match the published MD5; starting over from {url}")
                fresh = True
                continue
            return f"checksum mismatch (MD5 {got}, published {res.md5}): damaged file refused"
        if fails >= attempts or tries >= MAX_TRIES:
            return f"{last} (after {tries} tries)"
        if fails:  # exponential backoff, capped; a try that brought bytes is followed at once
            sleep(min(backoff * 2 ** (fails - 1), max_backoff))
        tries += 1
        try:
            _request(url, part, res, timeout, bar, log)
        except _Retry as e:
            last = str(e)
            # (a try that fetched again bytes already had, after a restart from 0, is no progress)
            fails = 0 if _size(part) > reached else fails + 1
            reached = max(reached, _size(part))
            if fails < attempts:
                log(f"{res.name}: {last}; {'resuming' if _size(part) else 'retrying'} ({url})")
        except _Unavailable as e:
            return str(e)
        except _Damaged as e:
            part.unlink(missing_ok=True)
            return f"{e}: file refused"


def _request(url: str, part: Path, res: Resource, timeout: float, bar, log) -> None:
    """One GET of the rest of the file, appended to ``part`` (or written anew from byte 0)."""
    have = _size(part)
    headers = {"User-Agent": "lossviz", "Accept-Encoding": "identity"}
    if have:
        headers["Range"] = f"bytes={have}-"
    try:
        response = urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout)
    except urllib.error.HTTPError as e:
        e.close()
        if e.code == 416:  # the part reaches past the server's file (a complete part is never asked for)
            total = _range_total(e.headers.get("Content-Range"))
            if total is not None and total != res.size:
                raise _Unavailable(f"the server's file has {total} bytes, the published one {res.size}: refused") from None
            part.unlink()  # stale: start over
            raise _Retry(f"HTTP 416 for bytes {have}-: the partial file does not fit this server's, starting over") from None
        if e.code in (408, 429) or e.code >= 500:
            raise _Retry(f"HTTP {e.code} {e.reason}") from None
        raise _Unavailable(f"HTTP {e.code} {e.reason}") from None
    except urllib.error.URLError as e:
        reason = e.reason
        # As wget and curl do: a refused connection or an unknown host is not retried, a timeout is.
        if isinstance(reason, (ConnectionRefusedError, socket.gaierror)) or (
                isinstance(reason, OSError) and reason.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH)):
            raise _Unavailable(_reason(reason)) from None
        raise _Retry(_reason(reason)) from None
    except (OSError, http.client.HTTPException) as e:
        raise _Retry(_reason(e)) from None
    with response:
        if response.status == 206:
            answered = response.headers.get("Content-Range")
            start, total = _range_start(answered), _range_total(answered)
            if start == 0:  # the whole file after all: as a 200
                have, mode = 0, "wb"
            elif start == have:
                mode = "ab"
            else:  # the part is kept for a server that answers what was asked
                raise _Unavailable(f"asked for bytes {have}-, the server answered bytes {start}-: refused")
        elif response.status == 200:
            if have:
                log(f"{res.name}: the server ignores Range requests; starting over from byte 0")
            have, mode, total = 0, "wb", None
        else:
            raise _Unavailable(f"HTTP {response.status} {response.reason}")
        length = response.headers.get("Content-Length", "").strip()
        if total is None and length.isdigit():
            total = have + int(length)
        if total is not None and total != res.size:  # another file, or another version: refused before a byte is kept
            raise _Unavailable(f"the server's file has {total} bytes, the published one {res.size}: refused")
        if bar is not None:
            bar.n = have
            bar.refresh()
        limit, written = res.size - have, 0
        with open(part, mode) as f:
            while True:
                try:  # one byte more than the file can hold tells a server that sends too much
                    block = response.read(min(CHUNK, limit - written + 1))
                except (OSError, http.client.HTTPException) as e:  # dropped, reset, timed out mid-file
                    raise _Retry(f"{_reason(e)} after byte {have + written}") from None
                if not block:
                    break
                if written + len(block) > limit:
                    raise _Damaged(f"the server sent more than the file's {res.size} bytes")
                f.write(block)  # (a full disk raises its own OSError, naming the part)
                written += len(block)
                if bar is not None:
                    bar.update(len(block))
    if written < limit:
        raise _Retry(f"connection closed at byte {have + written} of {res.size}")


def _reason(e: BaseException) -> str:
    if isinstance(e, http.client.IncompleteRead):
        return "connection closed mid-file"
    if isinstance(e, (TimeoutError, socket.timeout)):
        return "timed out"
    text = getattr(e, "strerror", None) or str(e) or type(e).__name__
    return " ".join(str(text).split())[:200]


def _range_start(header: str | None) -> int | None:
    """The first byte of ``Content-Range: bytes START-END/TOTAL`` (None when unreadable)."""
    try:
        unit, _, rest = (header or "").strip().partition(" ")
        return int(rest.split("-", 1)[0]) if unit == "bytes" else None
    except ValueError:
        return None


def _range_total(header: str | None) -> int | None:
    """The TOTAL of ``Content-Range: bytes START-END/TOTAL`` or ``bytes */TOTAL`` (None when unknown)."""
    total = (header or "").rpartition("/")[2].strip()
    return int(total) if total.isdigit() else None


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _sync(path: Path) -> None:
    """The bytes on the disk before the rename makes them the file (survives a power cut)."""
    with open(path, "rb") as f:
        os.fsync(f.fileno())


def md5sum(path: Path) -> str:
    """The hex MD5 of a file, read in blocks (MD5 only to compare with the published sums)."""
    h = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
