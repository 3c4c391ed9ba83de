"""Fixtures for the rnnlens.data tests: tiny corpora in the official layouts, an HTTP server."""

from __future__ import annotations

import http.server
import io
import tarfile
import threading
from pathlib import Path

import pytest

IMDB_REVIEWS = {
    # (split, polarity): [(id, rating, text)]
    ("train", "neg"): [
        (3, 1, "Awful.<br /><br />Don't watch it."),
        (10, 2, "Boring, too long."),
        (2, 4, "Meh; it's weak."),
    ],
    ("train", "pos"): [(7, 9, "A great film!"), (1, 10, "Loved it, loved it."), (12, 8, "Fine acting.")],
    ("test", "neg"): [(0, 3, "Bad plot."), (5, 1, "Terrible <br />ending.")],
    ("test", "pos"): [(4, 7, "Nice."), (9, 10, "Brilliant and moving.")],
}


@pytest.fixture(autouse=True)
def isolated_env(tmp_path_factory, monkeypatch):
    """Every test sees an empty cache and no RNNLENS_DATA_DIR / IMDB overrides."""
    monkeypatch.delenv("RNNLENS_DATA_DIR", raising=False)
    monkeypatch.delenv("RNNLENS_IMDB_URL", raising=False)
    monkeypatch.delenv("RNNLENS_IMDB_SHA256", raising=False)
    cache = tmp_path_factory.mktemp("cache")
    monkeypatch.setenv("RNNLENS_CACHE_DIR", str(cache))
    return cache


def _add(tf: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tf.addfile(info, io.BytesIO(data))


@pytest.fixture
def make_imdb_archive():
    """Write a small aclImdb archive: ``make(path, reviews=IMDB_REVIEWS, extra=[(name, bytes)])``."""

    def make(path: Path, reviews=None, extra=()) -> Path:
        reviews = IMDB_REVIEWS if reviews is None else reviews
        path.parent.mkdir(parents=True, exist_ok=True)
        with tarfile.open(path, "w:gz") as tf:
            _add(tf, "aclImdb/README", b"readme")
            for (split, pol), rows in reviews.items():
                for rid, rating, text in rows:
                    data = text if isinstance(text, bytes) else text.encode()
                    _add(tf, f"aclImdb/{split}/{pol}/{rid}_{rating}.txt", data)
                _add(tf, f"aclImdb/{split}/urls_{pol}.txt", b"http://x\n")
            for name, data in extra:
                _add(tf, name, data)
        return path

    return make


@pytest.fixture
def write(tmp_path):
    """Write text (str) or bytes to ``tmp_path / relative``; returns the path."""

    def w(relative: str, content) -> Path:
        p = tmp_path / relative
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(content if isinstance(content, bytes) else content.encode())
        return p

    return w


class _RangeHandler(http.server.BaseHTTPRequestHandler):
    """Serves ``server.files[path]``; honours ``Range: bytes=N-`` unless ``server.ignore_range``."""

    def do_GET(self):  # noqa: N802 (http.server's naming)
        srv = self.server
        srv.requests.append(dict(self.headers))
        data = srv.files.get(self.path)
        if data is None:
            self.send_error(404)
            return
        rng = self.headers.get("Range")
        start = int(rng.split("=")[1].rstrip("-")) if rng and not srv.ignore_range else 0
        if start >= len(data) and rng:
            self.send_response(416)
            self.end_headers()
            return
        self.send_response(206 if start else 200)
        if start:
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        self.send_header("Content-Length", str(len(data) - start))
        self.end_headers()
        self.wfile.write(data[start:])

    def log_message(self, *args):
        pass


@pytest.fixture
def http_server():
    """An HTTP server on 127.0.0.1: set ``.files = {"/name": bytes}``; ``.requests`` logs headers."""
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _RangeHandler)
    srv.files, srv.requests, srv.ignore_range = {}, [], False
    srv.url = f"http://127.0.0.1:{srv.server_address[1]}"
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()
