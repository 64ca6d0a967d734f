"""plotly.js's cartesian bundle for the explorer: the same plotly.js, 1.5 MB instead of 4.8 MB.

The explorer draws scatter, bar and heatmap traces only, all in plotly.js's official
"cartesian" partial bundle (npm: ``plotly.js-cartesian-dist-min``). Evaluating the full bundle
took ~0.7 s of a 2.3 s first load on this project's 2-core machine; with the cartesian one a
page is drawn in ~1.6 s. dcc.Graph uses ``window.Plotly`` when a page has already defined it.

The bundle is not in the repository: ``python -m lossviz.explorer.plotly_bundle`` (run by the
Makefile's install step) fetches the version that matches the installed plotly package's own
plotly.js from the npm registry (``$npm_config_registry``, default registry.npmjs.org), checks
it against the registry's SHA-512 integrity, and keeps it in the lossviz cache folder. Without
it (offline, a failed fetch, another plotly version) the explorer loads plotly's full bundle,
as Dash does by default: nothing breaks, a first load is slower.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import re
import sys
import tarfile
import urllib.request
from pathlib import Path

from lossviz.files import cache_dir, write_atomic

PACKAGE = "plotly.js-cartesian-dist-min"
MEMBER = "package/plotly-cartesian.min.js"
MAX_BYTES = 20 * 1024 * 1024  # a tarball or a bundle larger than this is not plotly.js
TIMEOUT_S = 20  # per request: an offline install waits at most this long before falling back


def installed_version() -> str | None:
    """The version of the plotly.js that the installed plotly package serves (its header)."""
    try:
        import plotly

        head = (Path(plotly.__file__).parent / "package_data" / "plotly.min.js").open("rb").read(400).decode("ascii", "replace")
    except (ImportError, OSError):
        return None
    m = re.search(r"plotly\.js v(\d+\.\d+\.\d+)", head)
    return m.group(1) if m else None


def bundle_path(version: str) -> Path:
    return cache_dir() / "plotly" / f"plotly-cartesian-{version}.min.js"


def _valid(data: bytes, version: str) -> bool:
    head = data[:400].decode("ascii", "replace")
    return f"plotly.js (cartesian - minified) v{version}" in head


def available() -> tuple[str, Path] | None:
    """(version, path) of a fetched cartesian bundle matching the installed plotly, or None."""
    version = installed_version()
    if version is None:
        return None
    path = bundle_path(version)
    try:
        with path.open("rb") as f:
            ok = _valid(f.read(400), version)
    except OSError:
        return None
    return (version, path) if ok else None


def _get(url: str) -> bytes:
    if not url.startswith(("https://", "http://")):
        raise ValueError(f"not an http(s) URL: {url[:100]!r}")
    with urllib.request.urlopen(url, timeout=TIMEOUT_S) as r:  # noqa: S310 - the scheme is checked above
        data = r.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        raise ValueError(f"{url}: more than {MAX_BYTES} bytes")
    return data


def fetch(version: str | None = None, registry: str | None = None) -> Path:
    """Download, verify and keep the cartesian bundle of ``version`` (default: the installed
    plotly's). Raises ``ValueError`` (bad answer, integrity mismatch) or ``OSError`` (network)."""
    version = version or installed_version()
    if version is None or not re.fullmatch(r"\d+\.\d+\.\d+", version):
        raise ValueError(f"no plotly.js version to match (got {version!r}): is plotly installed?")
    registry = (registry or os.environ.get("npm_config_registry") or "https://registry.npmjs.org").rstrip("/")
    meta = json.loads(_get(f"{registry}/{PACKAGE}/{version}"))
    dist = meta.get("dist") if isinstance(meta, dict) else None
    integrity = dist.get("integrity", "") if isinstance(dist, dict) else ""
    if not integrity.startswith("sha512-") or not isinstance(dist.get("tarball"), str):
        raise ValueError(f"{registry}: no tarball with a sha512 integrity for {PACKAGE}@{version}")
    tarball = _get(dist["tarball"])
    if base64.b64encode(hashlib.sha512(tarball).digest()).decode() != integrity[len("sha512-"):]:
        raise ValueError(f"{PACKAGE}@{version}: the tarball does not match the registry's sha512 integrity")
    with tarfile.open(fileobj=io.BytesIO(tarball), mode="r:gz") as tar:
        try:
            member = tar.getmember(MEMBER)
        except KeyError:
            raise ValueError(f"{PACKAGE}@{version}: no {MEMBER} in the tarball") from None
        if not member.isfile() or member.size > MAX_BYTES:
            raise ValueError(f"{PACKAGE}@{version}: {MEMBER} is not a plain file of a sane size")
        data = tar.extractfile(member).read()
    if not _valid(data, version):
        raise ValueError(f"{PACKAGE}@{version}: {MEMBER} is not plotly.js's cartesian bundle v{version}")
    path = bundle_path(version)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, data)
    return path


def main() -> int:
    """Fetch the bundle unless it is there; a failure is one line and exit 1 (the explorer then
    loads plotly's full bundle)."""
    found = available()
    if found:
        print(f"plotly.js cartesian bundle v{found[0]}: {found[1]}")
        return 0
    try:
        path = fetch()
    except (OSError, ValueError, tarfile.TarError) as e:
        print(f"plotly.js cartesian bundle not fetched ({e}); the explorer will load plotly's full bundle "
              "(first loads ~0.7 s slower)", file=sys.stderr)
        return 1
    print(f"plotly.js cartesian bundle fetched: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
