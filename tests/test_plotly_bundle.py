"""The explorer's plotly.js cartesian bundle: fetched from an npm registry, verified against the
registry's SHA-512 integrity, kept in the cache; the app serves it when present and falls back to
plotly's full bundle when not. A local HTTP server plays the registry (no network in tests)."""

from __future__ import annotations

import base64
import hashlib
import http.server
import io
import json
import tarfile
import threading

import pytest

from lossviz.explorer import plotly_bundle

VERSION = "9.8.7"
BODY = f"/**\n* plotly.js (cartesian - minified) v{VERSION}\n*/\nwindow.Plotly = {{version: '{VERSION}'}};\n".encode()


def tarball(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


@pytest.fixture
def registry(tmp_path, monkeypatch):
    """A fake registry serving one package version; returns a function that sets what it serves."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(plotly_bundle, "installed_version", lambda: VERSION)
    served: dict[str, bytes] = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            body = served.get(self.path)
            self.send_response(200 if body is not None else 404)
            self.end_headers()
            self.wfile.write(body or b"{}")

        def log_message(self, *args):
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{srv.server_port}"

    def serve(tar: bytes, integrity: str | None = None):
        integrity = integrity or "sha512-" + base64.b64encode(hashlib.sha512(tar).digest()).decode()
        served[f"/{plotly_bundle.PACKAGE}/{VERSION}"] = json.dumps({"dist": {"tarball": f"{base}/t.tgz", "integrity": integrity}}).encode()
        served["/t.tgz"] = tar
        return base

    yield serve
    srv.shutdown()


def test_fetch_verifies_and_keeps_the_bundle(registry):
    base = registry(tarball({plotly_bundle.MEMBER: BODY}))
    assert plotly_bundle.available() is None
    path = plotly_bundle.fetch(registry=base)
    assert path.read_bytes() == BODY and plotly_bundle.available() == (VERSION, path)


@pytest.mark.parametrize("case,match", [
    ("integrity", "does not match the registry's sha512"),
    ("member", "no package/plotly-cartesian.min.js"),
    ("content", "is not plotly.js's cartesian bundle"),
])
def test_a_bad_download_is_refused_and_nothing_kept(registry, case, match):
    tar = tarball({plotly_bundle.MEMBER: BODY})
    if case == "integrity":
        base = registry(tar, integrity="sha512-" + base64.b64encode(hashlib.sha512(b"other").digest()).decode())
    elif case == "member":
        base = registry(tarball({"package/../../evil.js": BODY}))
    else:
        base = registry(tarball({plotly_bundle.MEMBER: b"alert('not plotly')"}))
    with pytest.raises(ValueError, match=match):
        plotly_bundle.fetch(registry=base)
    assert plotly_bundle.available() is None
    assert not plotly_bundle.bundle_path(VERSION).exists()


def test_the_app_serves_the_bundle_when_present_and_falls_back_when_not(registry):
    from lossviz.explorer import create_app

    def index(app):
        return app.server.test_client().get("/", headers={"Host": "localhost"}).get_data(as_text=True)

    app = create_app()
    html = index(app)
    assert "plotly/package_data/plotly.min.js" in html and "plotly-cartesian" not in html  # the full bundle, preloaded
    assert app.server.config["LOSSVIZ_PLOTLY_BUNDLE"] is None  # `lossviz explore` notes it
    plotly_bundle.fetch(registry=registry(tarball({plotly_bundle.MEMBER: BODY})))
    app = create_app()
    html = index(app)
    assert app.server.config["LOSSVIZ_PLOTLY_BUNDLE"][0] == VERSION
    url = f"/plotly-bundle/plotly-cartesian-{VERSION}.min.js"  # a static file, beside no route of ours for the curves
    assert f'<script src="{url}"></script>' in html and f'<link rel="preload" href="{url}"' in html
    assert html.index(url + '"></script>') < html.index("dash_renderer")  # defined before Dash's scripts
    r = app.server.test_client().get(url, headers={"Host": "localhost"})
    assert r.status_code == 200 and r.get_data() == BODY and "immutable" in r.headers["Cache-Control"]
