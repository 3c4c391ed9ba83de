"""The AG News corpus: official layout, test.csv alone (split with a fixed seed, said in corpus.info), the
archive, a checksummed download from a 127.0.0.1 server, and bad input named by file and line."""

import hashlib
import io
import os
import tarfile
from pathlib import Path

import numpy as np
import pytest

from rnnlens.data import load_corpus
from rnnlens.data.ag_news import LABEL_NAMES, TEST_CSV_SHA256
from rnnlens.errors import ArgumentError, DataError

# read at collection, before the autouse fixture of tests/data/conftest.py hides the variable from each test
REAL_DATA_DIR = os.environ.get("RNNLENS_DATA_DIR")


def _rows(n_per_class, start=0):
    out = []
    for c in range(1, 5):
        for i in range(n_per_class):
            out.append(f'"{c}","Title {c} {start + i}","Description of story {start + i}, class {c}."')
    return "\n".join(out) + "\n"


def test_official_layout_reads_both_files(write, tmp_path):
    write("ag_news/train.csv", _rows(5))
    write("ag_news/test.csv", _rows(2, start=100))
    c = load_corpus("ag_news", data_dir=tmp_path)
    assert c.label_names == LABEL_NAMES == ["World", "Sports", "Business", "Sci/Tech"]
    assert len(c.splits["test"]) == 8 and len(c.splits["train"]) + len(c.splits["validation"]) == 20
    assert c.splits["test"].texts[0] == "Title 1 100 Description of story 100, class 1."
    assert c.splits["test"].labels.tolist() == [0, 0, 1, 1, 2, 2, 3, 3]
    assert c.info["split"]["note"] == "official train.csv and test.csv"
    assert c.info["test_csv_official"] is False


def test_test_csv_alone_is_split_with_a_fixed_seed_and_said_so(write, tmp_path):
    write("ag_news_csv/test.csv", _rows(10))
    c = load_corpus("ag_news", data_dir=tmp_path)
    assert len(c.splits["test"]) == 8 and len(c.splits["train"]) + len(c.splits["validation"]) == 32
    assert c.info["class_counts"]["test"] == [2, 2, 2, 2]
    note = c.info["split"]["note"]
    assert "train.csv is absent" in note and "seed 0" in note and c.info["split"]["split_seed"] == 0
    all_texts = set(c.splits["train"].texts) | set(c.splits["validation"].texts) | set(c.splits["test"].texts)
    assert len(all_texts) == 40  # nothing dropped, nothing twice
    again = load_corpus("ag_news", data_dir=tmp_path)
    assert again.fingerprint() == c.fingerprint()  # the split is reproducible
    other = load_corpus("ag_news", data_dir=tmp_path, split_seed=1, test_fraction=0.5)
    assert len(other.splits["test"]) == 20 and other.splits["test"].texts != c.splits["test"].texts
    with pytest.raises(ArgumentError, match="test_fraction"):
        load_corpus("ag_news", data_dir=tmp_path, test_fraction=1.5)


def _archive(files: dict) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(f"ag_news_csv/{name}")
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def test_archive_is_read_without_extracting(write, tmp_path):
    write("ag_news/ag_news_csv.tgz", _archive({"train.csv": _rows(5), "test.csv": _rows(2), "classes.txt": "x"}))
    c = load_corpus("ag_news", data_dir=tmp_path)
    assert c.source.endswith("ag_news_csv.tgz") and len(c.splits["test"]) == 8
    assert not (tmp_path / "ag_news" / "ag_news_csv").exists()


def test_download_from_a_local_server_is_checksummed(tmp_path, http_server, isolated_env, monkeypatch):
    data = _archive({"train.csv": _rows(5), "test.csv": _rows(2)})
    http_server.files["/ag.tgz"] = data
    url = http_server.url + "/ag.tgz"
    # no checksum: rnnlens refuses to download unchecked and says how to give one
    with pytest.raises(DataError, match="never downloads unchecked: pass its SHA-256"):
        load_corpus("ag_news", data_dir=tmp_path / "empty", url=url, progress=False)
    assert http_server.requests == []
    with pytest.raises(DataError, match="failed its checksum"):
        load_corpus("ag_news", data_dir=tmp_path / "empty", url=url, sha256="0" * 64, progress=False)
    monkeypatch.setenv("RNNLENS_AG_NEWS_SHA256", hashlib.sha256(data).hexdigest())
    c = load_corpus("ag_news", data_dir=tmp_path / "empty", url=url, progress=False)
    dest = isolated_env / "ag_news" / "ag_news_csv.tgz"
    assert dest.read_bytes() == data and c.source == str(dest) and c.info["downloaded_from"] == url
    n = len(http_server.requests)
    load_corpus("ag_news", data_dir=tmp_path / "empty", progress=False)  # found in the cache now
    assert len(http_server.requests) == n
    dest.unlink()
    with pytest.raises(DataError, match="download=True"):
        load_corpus("ag_news", data_dir=tmp_path / "empty", download=False)


@pytest.mark.parametrize(
    "content, match",
    [
        ('"1","a","b"\n"2","only two"\n', r"test.csv, line 2: malformed row: 2 fields"),
        ('"1","a","b"\n"7","t","d"\n', r"test.csv, line 2: unknown label '7'"),
        ('"1","a","b"\n"2"," "," "\n', r"test.csv, line 2: empty document"),
        ('"1","a","b"\n"2","t,"d"\n', r"test.csv, line 2: malformed CSV"),
    ],
)
def test_bad_rows_name_the_file_and_line(write, tmp_path, content, match):
    write("ag_news/test.csv", content)
    with pytest.raises(DataError, match=match):
        load_corpus("ag_news", data_dir=tmp_path)


def test_invalid_utf8_and_bad_archive(write, tmp_path):
    write("ag_news/test.csv", b'"1","a","b"\n"2","caf\xe9","d"\n')
    with pytest.raises(DataError, match="line 2: invalid UTF-8"):
        load_corpus("ag_news", data_dir=tmp_path)
    write("b/ag_news/ag_news_csv.tgz", _archive({"readme.txt": "no csv"}))
    with pytest.raises(DataError, match="no test.csv in the archive"):
        load_corpus("ag_news", data_dir=tmp_path / "b")


@pytest.mark.skipif(REAL_DATA_DIR is None, reason="RNNLENS_DATA_DIR is not set")
def test_real_test_csv():
    folder = Path(REAL_DATA_DIR) / "ag_news"
    if not (folder / "test.csv").is_file():
        pytest.fail(f"RNNLENS_DATA_DIR={REAL_DATA_DIR} is set but holds no ag_news/test.csv")
    c = load_corpus("ag_news", data_dir=folder.parent)
    assert c.info["test_csv_sha256"] == TEST_CSV_SHA256 and c.info["test_csv_official"] is True
    assert sum(c.info["counts"].values()) == 7600
    assert c.info["class_counts"]["test"] == [380, 380, 380, 380]
    assert np.bincount(c.splits["train"].labels).tolist() == [1368] * 4
