"""The IMDB movie-review corpus (Maas et al. 2011), read from its archive or extracted folder."""

from __future__ import annotations

import os
import re
import tarfile
import zlib
from pathlib import Path

import numpy as np

from rnnlens.data.corpus import Split, decode_utf8
from rnnlens.data.download import download, safe_extract
from rnnlens.data.locate import cache_dir, find_first, missing_error
from rnnlens.data.tokenize import is_empty_text
from rnnlens.errors import DataError

IMDB_URL = "https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz"
IMDB_SHA256 = "c40f74a18d3b61f90feba1e17730e0d38e8b97c05fde7008942e91923d1658fe"
ARCHIVE_NAMES = ["aclImdb_v1.tar.gz", "aclImdb.tar.gz"]
LABEL_NAMES = ["negative", "positive"]
_MEMBER = re.compile(r"(?:^|/)(train|test)/(neg|pos)/(\d+)_(\d+)\.txt$")
_LABEL = {"neg": 0, "pos": 1}


def _collect(items, where: str) -> tuple[dict[str, Split], dict]:
    """Build the splits from ``(relative name, bytes-reader)`` items; ordered by (label, review id)."""
    docs: dict[str, list] = {"train": [], "test": []}
    ignored = 0
    for name, read in items:
        m = _MEMBER.search(name)
        if m is None:
            ignored += 1
            continue
        split, pol, rid, rating = m.groups()
        text = decode_utf8(read(), f"{where}: {name}")
        if is_empty_text(text):
            raise DataError(f"{where}: {name}, line 1: empty review; the file is damaged, replace the corpus")
        docs[split].append((_LABEL[pol], int(rid), text, int(rating)))
    splits, ratings = {}, {}
    for split, rows in docs.items():
        if not rows:
            raise DataError(
                f"{where}: no {split}/neg or {split}/pos reviews found; it is not a complete "
                f"aclImdb corpus (expected aclImdb/{split}/{{neg,pos}}/<id>_<rating>.txt)"
            )
        rows.sort(key=lambda r: (r[0], r[1]))
        splits[split] = Split([r[2] for r in rows], np.array([r[0] for r in rows], dtype=np.int64))
        ratings[split] = np.bincount([r[3] for r in rows], minlength=11).tolist()
    return splits, {"ignored_members": ignored, "rating_counts": ratings}


def read_imdb_archive(path: Path) -> tuple[dict[str, Split], dict]:
    """Read train/test reviews straight from the tar archive, streaming (nothing is extracted)."""
    try:
        with tarfile.open(path, "r|*") as tf:

            def items():
                for member in tf:
                    if member.isfile():
                        yield member.name, lambda m=member: tf.extractfile(m).read()

            return _collect(items(), str(path))
    except (tarfile.TarError, EOFError, zlib.error, OSError) as e:
        raise DataError(
            f"{path}: corrupt or truncated archive ({type(e).__name__}: {e}). Delete it and "
            f"download it again ({IMDB_URL}), or point --data-dir elsewhere"
        ) from None


def read_imdb_folder(path: Path) -> tuple[dict[str, Split], dict]:
    """Read train/test reviews from an extracted ``aclImdb/`` folder."""

    def items():
        for split in ("train", "test"):
            for pol in ("neg", "pos"):
                d = path / split / pol
                if d.is_dir():
                    for entry in os.scandir(d):
                        yield f"{split}/{pol}/{entry.name}", lambda p=entry.path: Path(p).read_bytes()

    return _collect(items(), str(path))


def _extract_once(archive: Path) -> Path:
    """Extract ``archive`` beside itself unless an earlier extraction of this very archive is there.

    A hidden marker ``.aclImdb.rnnlens-extracted`` (archive name, size, mtime) records what rnnlens
    extracted; such a folder is read again as it is (files the user added there stay). Anything else
    under the archive's top-level names is never replaced: :func:`safe_extract` refuses it.
    """
    import json

    from rnnlens._atomic import write_json_atomic

    folder = archive.parent / "aclImdb"
    marker = archive.parent / ".aclImdb.rnnlens-extracted"
    st = archive.stat()
    stamp = {"archive": archive.name, "size": st.st_size, "mtime_ns": st.st_mtime_ns}
    if folder.is_dir() and not folder.is_symlink() and marker.is_file():
        try:
            if json.loads(marker.read_text(encoding="utf-8")) == stamp:
                return folder
        except (OSError, ValueError):
            pass
    safe_extract(archive, archive.parent)
    write_json_atomic(marker, stamp)
    return folder


def load_imdb(
    data_dir,
    *,
    download_missing: bool = True,
    url: str | None = None,
    sha256: str | None = None,
    extract: bool = False,
    progress: bool = True,
) -> tuple[dict[str, Split], str, dict]:
    """Find (or download) IMDB and read it; returns (splits, source path, info)."""
    path, tried = find_first("imdb", ["imdb"], ARCHIVE_NAMES, data_dir)
    if path is None:
        folder, tried_dirs = find_first("imdb", ["imdb"], ["aclImdb"], data_dir, is_dir=True)
        tried += tried_dirs
        if folder is not None:
            splits, info = read_imdb_folder(folder)
            return splits, str(folder), info
        url = url or os.environ.get("RNNLENS_IMDB_URL") or IMDB_URL
        sha256 = sha256 or os.environ.get("RNNLENS_IMDB_SHA256") or IMDB_SHA256
        if not download_missing:
            raise missing_error("imdb", tried, f"Or let rnnlens download it (download=True) from {url}.")
        dest = cache_dir() / "imdb" / ARCHIVE_NAMES[0]
        try:
            path = download(url, dest, sha256=sha256, progress=progress)
        except DataError as e:
            raise missing_error("imdb", tried, f"The download into {dest} failed: {e}") from None
    info = {}
    if extract:
        folder = _extract_once(path)
        info["extracted_to"] = str(folder)
        splits, more = read_imdb_folder(folder)
        return splits, str(folder), {**info, **more}
    splits, more = read_parsed(path)
    return splits, str(path), {**info, **more}


PARSED_VERSION = 1


def parsed_path(archive: Path) -> Path:
    """Where the reviews read from ``archive`` are kept: ``<cache>/parsed/imdb-<key>.npz``, the key a hash of the
    archive's absolute path, size, modification time and :data:`PARSED_VERSION` (a changed archive gets a new
    file)."""
    import hashlib

    st = archive.stat()
    stamp = f"{archive.resolve()}|{st.st_size}|{st.st_mtime_ns}|{PARSED_VERSION}"
    return cache_dir() / "parsed" / f"imdb-{hashlib.sha256(stamp.encode()).hexdigest()[:16]}.npz"


def read_parsed(archive: Path) -> tuple[dict[str, Split], dict]:
    """:func:`read_imdb_archive`, through a cache of what it read: decompressing and walking the 50,000 members
    takes seconds, the cached reviews (their UTF-8 bytes, offsets and labels in an ``.npz`` read without
    pickle; about the corpus's size) a fraction of one. A cache that cannot be read is read around (the archive
    is read again and the cache rewritten); one that cannot be written is skipped."""
    import json

    cached = parsed_path(archive)
    try:
        with np.load(cached, allow_pickle=False) as z:
            splits = {}
            for split in ("train", "test"):
                blob, ends = z[f"{split}_text"].tobytes(), z[f"{split}_ends"]
                starts = np.concatenate([[0], ends[:-1]])
                texts = [blob[a:b].decode("utf-8") for a, b in zip(starts.tolist(), ends.tolist())]
                splits[split] = Split(texts, z[f"{split}_labels"].astype(np.int64))
            return splits, json.loads(z["info"].tobytes().decode("utf-8"))
    except (OSError, KeyError, ValueError, UnicodeDecodeError):
        pass
    splits, info = read_imdb_archive(archive)
    _write_parsed(cached, splits, info)
    return splits, info


def _write_parsed(cached: Path, splits: dict[str, Split], info: dict) -> None:
    import json

    from rnnlens._atomic import atomic_file

    arrays: dict[str, np.ndarray] = {"info": np.frombuffer(json.dumps(info).encode("utf-8"), dtype=np.uint8)}
    for split, sp in splits.items():
        encoded = [t.encode("utf-8") for t in sp.texts]
        arrays[f"{split}_text"] = np.frombuffer(b"".join(encoded), dtype=np.uint8)
        arrays[f"{split}_ends"] = np.cumsum([len(e) for e in encoded], dtype=np.int64)
        arrays[f"{split}_labels"] = sp.labels
    try:
        with atomic_file(cached) as tmp:
            with open(tmp, "wb") as f:
                np.savez(f, **arrays)  # type: ignore[arg-type]
    except OSError:
        pass
