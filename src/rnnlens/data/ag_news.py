"""AG News (Zhang, Zhao & LeCun 2015): news titles and descriptions in 4 topic classes.

The official layout is a folder ``ag_news_csv/`` (or ``ag_news/``) holding ``train.csv`` (120,000
rows) and ``test.csv`` (7,600 rows), or the archive ``ag_news_csv.tgz`` that holds that folder. Each
row is ``"class","title","description"`` without a header; classes 1-4 are World, Sports, Business,
Sci/Tech and become labels 0-3. A document's text is the title, a space, and the description, as
they are in the file (the corpus's own escapes, such as a backslash where the source had a line
break or ``#39;`` for an apostrophe, are kept; the tokenizer splits them off as punctuation).

When only ``test.csv`` is there, it is split, stratified by class and with ``split_seed``, into a
train part and a test part (``test_fraction`` of each class); the validation split is then carved
from that train part as for every corpus. ``corpus.info["split"]`` says so, with the seed and the
fraction. Numbers from such a split are not comparable with published AG News numbers, which train
on the 120,000-row train.csv.

Download: rnnlens knows the archive's usual address (:data:`AG_NEWS_URL`) but no checksum it could
verify for it, so a download needs the archive's SHA-256 from the user (``sha256=`` or
``$RNNLENS_AG_NEWS_SHA256``); it never downloads unchecked. What it can verify is the official
``test.csv``: :data:`TEST_CSV_SHA256` (the file in ``$RNNLENS_DATA_DIR/ag_news``), recorded in
``corpus.info["test_csv_official"]`` as True/False for whatever test.csv was read.
"""

from __future__ import annotations

import hashlib
import os
import tarfile
import zlib
from pathlib import Path

import numpy as np

from rnnlens.data.corpus import Split, decode_utf8
from rnnlens.data.download import download
from rnnlens.data.locate import cache_dir, find_first, missing_error
from rnnlens.data.text_formats import _check_fields, _check_text, _csv_rows, _report_multiline, to_split
from rnnlens.errors import ArgumentError, DataError

LABEL_NAMES = ["World", "Sports", "Business", "Sci/Tech"]
_MAPPING = {str(i + 1): i for i in range(4)}
AG_NEWS_URL = "https://s3.amazonaws.com/fast-ai-nlp/ag_news_csv.tgz"
# SHA-256 of the official test.csv (7,600 rows), verified against the copy in the shared data folder
TEST_CSV_SHA256 = "521465c2428ed7f02f8d6db6ffdd4b5447c1c701962353eb2c40d548c3c85699"
ARCHIVE_NAMES = ["ag_news_csv.tgz", "ag_news_csv.tar.gz"]
FOLDERS = ["ag_news", "ag_news_csv"]
DEFAULT_TEST_FRACTION = 0.2


def parse_ag_news_csv(data: bytes, where: str, info: dict | None = None) -> list[tuple[int, str, str]]:
    """Rows ``(line, title + " " + description, raw class)`` of an AG News CSV; a malformed row, an
    empty document or invalid UTF-8 raises DataError naming ``where`` and the line."""
    path = Path(where)
    rows: list = []
    multiline: list = []
    for n, fields in _csv_rows(path, decode_utf8(data, where), multiline):
        _check_fields(path, n, fields, 3, multiline, 'expected 3 ("class","title","description")')
        text = f"{fields[1].strip()} {fields[2].strip()}".strip()
        rows.append((n, _check_text(path, n, text), fields[0].strip()))
    _report_multiline(path, multiline, info)
    return rows


def split_test_file(test: Split, fraction: float, seed: int, where: str = "test.csv") -> tuple[Split, Split, dict]:
    """Split ``test`` into (train, test): ``round(fraction * n_class)`` documents of each class (drawn with
    ``numpy.random.default_rng(seed)``) form the test part; both keep the file's order. ``where``: the file
    ``test`` was read from, for the error message."""
    rng = np.random.default_rng(seed)
    is_test = np.zeros(len(test), dtype=bool)
    for c in np.unique(test.labels):
        members = np.flatnonzero(test.labels == c)
        k = min(max(1, int(round(fraction * len(members)))), len(members) - 1)
        if k < 1:
            raise DataError(
                f"{where}: AG News class {LABEL_NAMES[c]!r} has {len(members)} document(s) in it; "
                "splitting it into train and test needs at least 2 per class"
            )
        is_test[rng.choice(members, size=k, replace=False)] = True
    return (
        test.subset(np.flatnonzero(~is_test)),
        test.subset(np.flatnonzero(is_test)),
        {
            "test_fraction": fraction,
            "split_seed": seed,
            "stratified": True,
            "counts": {"train": int((~is_test).sum()), "test": int(is_test.sum())},
        },
    )


def _read_archive(path: Path, info: dict) -> dict[str, tuple[bytes, str]]:
    """``{"train"|"test": (bytes, "archive:member")}`` from a tar archive holding ``*/train.csv`` and ``*/test.csv``."""
    found: dict[str, tuple[bytes, str]] = {}
    try:
        with tarfile.open(path, "r|*") as tf:
            for member in tf:
                name = member.name.rsplit("/", 1)[-1]
                if member.isfile() and name in ("train.csv", "test.csv"):
                    found[name[:-4]] = (tf.extractfile(member).read(), f"{path}:{member.name}")
    except (tarfile.TarError, EOFError, zlib.error, OSError) as e:
        raise DataError(
            f"{path}: corrupt or truncated archive ({type(e).__name__}: {e}). Delete it and "
            "download it again, or point --data-dir elsewhere"
        ) from None
    if "test" not in found:
        raise DataError(
            f"{path}: no test.csv in the archive; it is not an AG News archive "
            "(expected ag_news_csv/train.csv and ag_news_csv/test.csv)"
        )
    info["archive_members"] = {s: w for s, (_, w) in found.items()}
    return found


def _check_options(split_seed, test_fraction) -> tuple[int, float]:
    if isinstance(split_seed, bool) or not isinstance(split_seed, (int, np.integer)) or split_seed < 0:
        raise ArgumentError(f"ag_news option split_seed must be an integer >= 0; got {split_seed!r}")
    if (
        isinstance(test_fraction, bool)
        or not isinstance(test_fraction, (int, float))
        or not 0.0 < float(test_fraction) < 1.0
    ):
        raise ArgumentError(
            f"ag_news option test_fraction must be a number strictly between 0 and 1; got {test_fraction!r}"
        )
    return int(split_seed), float(test_fraction)


def load_ag_news(
    data_dir,
    *,
    download_missing: bool = True,
    url: str | None = None,
    sha256: str | None = None,
    progress: bool = True,
    split_seed: int = 0,
    test_fraction: float = DEFAULT_TEST_FRACTION,
) -> tuple[dict[str, Split], str, dict]:
    """Find (or download) AG News and read it; returns (splits, source path, info).

    Lookup (``data_dir``, ``$RNNLENS_DATA_DIR``, the cache; in each ``ag_news/``, ``ag_news_csv/``, then
    the folder itself): a ``test.csv`` (with ``train.csv`` beside it when there is one), else an archive
    ``ag_news_csv.tgz``. When nothing is found and ``download_missing``, the archive is downloaded into the
    cache from ``url`` (``$RNNLENS_AG_NEWS_URL``, default :data:`AG_NEWS_URL`), which needs ``sha256``
    (or ``$RNNLENS_AG_NEWS_SHA256``).
    """
    split_seed, test_fraction = _check_options(split_seed, test_fraction)
    info: dict = {}
    test_path, tried = find_first("ag_news", FOLDERS, ["test.csv"], data_dir)
    if test_path is not None:
        files = {"test": test_path}
        if (test_path.parent / "train.csv").is_file():
            files["train"] = test_path.parent / "train.csv"
        raw = {}
        for s, p in files.items():
            try:
                raw[s] = (p.read_bytes(), str(p))
            except OSError as e:
                raise DataError(f"{p}: cannot read ({e.strerror})") from None
        source = str(test_path.parent)
        info["files"] = {s: str(p) for s, p in files.items()}
    else:
        archive, tried_archives = find_first("ag_news", FOLDERS, ARCHIVE_NAMES, data_dir)
        tried += tried_archives
        if archive is None:
            url = url or os.environ.get("RNNLENS_AG_NEWS_URL") or AG_NEWS_URL
            sha256 = sha256 or os.environ.get("RNNLENS_AG_NEWS_SHA256")
            if not download_missing:
                raise missing_error("ag_news", tried, f"Or let rnnlens download it (download=True) from {url}.")
            if not sha256:
                raise missing_error(
                    "ag_news",
                    tried,
                    (
                        f"rnnlens can download the archive from {url}, but it ships no checksum it has verified for "
                        "that archive and never downloads unchecked: pass its SHA-256 (Python: sha256=...; command "
                        "line: --option sha256=...; or RNNLENS_AG_NEWS_SHA256=...)."
                    ),
                )
            archive = cache_dir() / "ag_news" / ARCHIVE_NAMES[0]
            try:
                download(url, archive, sha256=sha256, progress=progress)
            except DataError as e:
                raise missing_error("ag_news", tried, f"The download into {archive} failed: {e}") from None
            info["downloaded_from"] = url
        raw = _read_archive(archive, info)
        source = str(archive)
    info["test_csv_sha256"] = hashlib.sha256(raw["test"][0]).hexdigest()
    info["test_csv_official"] = info["test_csv_sha256"] == TEST_CSV_SHA256
    splits = {
        s: to_split(parse_ag_news_csv(data, where, info), _MAPPING, Path(where)) for s, (data, where) in raw.items()
    }
    info["text"] = "title + ' ' + description, as in the file"
    if "train" not in splits:
        splits["train"], splits["test"], record = split_test_file(
            splits["test"], test_fraction, split_seed, raw["test"][1]
        )
        record["note"] = (
            f"train.csv is absent: test.csv ({sum(record['counts'].values())} rows) was split, "
            f"stratified by class with seed {split_seed}, into train and test ({test_fraction:g} "
            "of each class); validation is then carved from that train part. Not comparable with "
            "published AG News numbers (trained on the 120,000-row train.csv)."
        )
        info["split"] = record
    else:
        info["split"] = {"note": "official train.csv and test.csv"}
    return splits, source, info
