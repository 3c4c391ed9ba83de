"""IMDB: archive and folder reading, lookup, download (resume, checksum), safe extraction, bad input."""

from __future__ import annotations

import hashlib
import io
import tarfile

import pytest

from rnnlens.data import download, load_corpus, safe_extract
from rnnlens.errors import DataError


@pytest.fixture
def own_cache(tmp_path, monkeypatch):
    """What the archives here leave in the cache (the reviews read, see ``read_parsed``) stays in the test's folder."""
    monkeypatch.setenv("RNNLENS_CACHE_DIR", str(tmp_path / "cache"))


def test_archive_reads_splits_in_id_order(own_cache, tmp_path, make_imdb_archive):
    make_imdb_archive(tmp_path / "imdb" / "aclImdb.tar.gz")
    c = load_corpus("imdb", data_dir=tmp_path, validation_fraction=1 / 3, download=False)
    assert c.label_names == ["negative", "positive"]
    # test: negatives by id (0, 5) then positives by id (4, 9)
    assert c.splits["test"].texts == ["Bad plot.", "Terrible <br />ending.", "Nice.", "Brilliant and moving."]
    assert c.splits["test"].labels.tolist() == [0, 0, 1, 1]
    # 6 train reviews, stratified third -> 1 neg + 1 pos in validation, 4 left in train
    assert len(c.splits["train"]) == 4 and len(c.splits["validation"]) == 2
    assert sorted(c.splits["validation"].labels.tolist()) == [0, 1]
    all_train = set(c.splits["train"].texts) | set(c.splits["validation"].texts)
    assert len(all_train) == 6 and "Loved it, loved it." in all_train
    assert c.info["ignored_members"] == 5  # README + 4 urls files
    assert c.info["rating_counts"]["train"][10] == 1
    assert c.source == str(tmp_path / "imdb" / "aclImdb.tar.gz")


def test_folder_and_archive_give_the_same_corpus(own_cache, tmp_path, make_imdb_archive):
    archive = make_imdb_archive(tmp_path / "a" / "aclImdb_v1.tar.gz")
    safe_extract(archive, tmp_path / "b")
    from_tar = load_corpus("imdb", data_dir=tmp_path / "a", download=False)
    from_dir = load_corpus("imdb", data_dir=tmp_path / "b", download=False)
    assert from_dir.source == str(tmp_path / "b" / "aclImdb")
    assert from_tar.fingerprint() == from_dir.fingerprint()
    other_seed = load_corpus("imdb", data_dir=tmp_path / "a", download=False, seed=1, validation_fraction=0.5)
    assert other_seed.fingerprint() != from_tar.fingerprint()


def test_missing_imdb_names_every_path_and_the_fix(tmp_path, monkeypatch, isolated_env):
    monkeypatch.setenv("RNNLENS_DATA_DIR", str(tmp_path / "env"))
    with pytest.raises(DataError) as e:
        load_corpus("imdb", data_dir=tmp_path / "arg", download=False)
    msg = str(e.value)
    for p in (
        tmp_path / "arg" / "imdb" / "aclImdb_v1.tar.gz",
        tmp_path / "arg" / "aclImdb.tar.gz",
        tmp_path / "env" / "imdb" / "aclImdb",
        isolated_env / "imdb" / "aclImdb.tar.gz",
    ):
        assert str(p) in msg
    # lookup order: argument before environment before cache
    assert msg.index(str(tmp_path / "arg")) < msg.index(str(tmp_path / "env")) < msg.index(str(isolated_env))
    assert "--data-dir" in msg and "RNNLENS_DATA_DIR" in msg


def test_lookup_prefers_data_dir_then_env(own_cache, tmp_path, monkeypatch, make_imdb_archive):
    make_imdb_archive(tmp_path / "env" / "aclImdb.tar.gz")  # directly in <dir>/
    monkeypatch.setenv("RNNLENS_DATA_DIR", str(tmp_path / "env"))
    assert load_corpus("imdb", download=False).source == str(tmp_path / "env" / "aclImdb.tar.gz")
    make_imdb_archive(tmp_path / "arg" / "imdb" / "aclImdb.tar.gz")
    assert load_corpus("imdb", data_dir=tmp_path / "arg", download=False).source.startswith(str(tmp_path / "arg"))


def test_truncated_archive_is_a_data_error(own_cache, tmp_path, make_imdb_archive):
    archive = make_imdb_archive(tmp_path / "imdb" / "aclImdb.tar.gz")
    data = archive.read_bytes()
    archive.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match=r"aclImdb\.tar\.gz: corrupt or truncated archive"):
        load_corpus("imdb", data_dir=tmp_path, download=False)


def test_garbage_archive_is_a_data_error(tmp_path, write):
    write("imdb/aclImdb.tar.gz", b"this is not a tar file at all" * 10)
    with pytest.raises(DataError, match="corrupt or truncated archive"):
        load_corpus("imdb", data_dir=tmp_path, download=False)


def test_invalid_utf8_empty_review_and_incomplete_layout(own_cache, tmp_path, make_imdb_archive):
    bad = {
        ("train", "neg"): [(1, 1, b"ok line\nbad \xff byte")],
        ("train", "pos"): [(2, 9, "good")],
        ("test", "neg"): [(3, 1, "bad")],
        ("test", "pos"): [(4, 9, "good")],
    }
    make_imdb_archive(tmp_path / "u" / "aclImdb.tar.gz", reviews=bad)
    with pytest.raises(DataError, match=r"train/neg/1_1\.txt, line 2: invalid UTF-8"):
        load_corpus("imdb", data_dir=tmp_path / "u", download=False)
    bad[("train", "neg")] = [(1, 1, "  <br /> ")]
    make_imdb_archive(tmp_path / "e" / "aclImdb.tar.gz", reviews=bad)
    with pytest.raises(DataError, match=r"train/neg/1_1\.txt, line 1: empty review"):
        load_corpus("imdb", data_dir=tmp_path / "e", download=False)
    make_imdb_archive(tmp_path / "t" / "aclImdb.tar.gz", reviews={("train", "neg"): [(1, 1, "x")]})
    with pytest.raises(DataError, match="no test/neg or test/pos reviews"):
        load_corpus("imdb", data_dir=tmp_path / "t", download=False)


# ------------------------------------------------------------------------------------------ download


@pytest.fixture
def served_archive(tmp_path, make_imdb_archive, http_server):
    data = make_imdb_archive(tmp_path / "served" / "small.tar.gz").read_bytes()
    http_server.files["/small.tar.gz"] = data
    return http_server, data, hashlib.sha256(data).hexdigest()


def test_load_corpus_downloads_into_cache_when_missing(tmp_path, served_archive, isolated_env, monkeypatch):
    srv, data, sha = served_archive
    monkeypatch.setenv("RNNLENS_IMDB_URL", srv.url + "/small.tar.gz")
    monkeypatch.setenv("RNNLENS_IMDB_SHA256", sha)
    c = load_corpus("imdb", data_dir=tmp_path / "empty", progress=False)
    dest = isolated_env / "imdb" / "aclImdb_v1.tar.gz"
    assert c.source == str(dest) and dest.read_bytes() == data
    assert not dest.with_name(dest.name + ".part").exists()
    assert len(c.splits["test"]) == 4
    assert "Range" not in srv.requests[0]
    # a second load finds the cached archive and does not download again
    load_corpus("imdb", data_dir=tmp_path / "empty", progress=False)
    assert len(srv.requests) == 1


class _StopAfterLoading(Exception):
    pass


def _stop_analysis(monkeypatch):
    import rnnlens.analysis

    def stop(*args, **kwargs):
        raise _StopAfterLoading

    monkeypatch.setattr(rnnlens.analysis, "analyze", stop)


def test_demo_downloads_imdb_by_default(tmp_path, served_archive, isolated_env, monkeypatch):
    from click.testing import CliRunner

    from rnnlens.cli import main

    srv, data, sha = served_archive
    monkeypatch.setenv("RNNLENS_IMDB_URL", srv.url + "/small.tar.gz")
    monkeypatch.setenv("RNNLENS_IMDB_SHA256", sha)
    _stop_analysis(monkeypatch)  # the 4-review corpus is only for the download; stop before analysing
    for args in ([], ["--download"]):  # --download is still accepted (and is the default)
        r = CliRunner().invoke(main, ["demo", "-o", str(tmp_path / "demo"), "--arch", "gru", *args])
        assert isinstance(r.exception, _StopAfterLoading), r.output
    assert (isolated_env / "imdb" / "aclImdb_v1.tar.gz").read_bytes() == data
    assert len(srv.requests) == 1  # the second run found the cached archive


def test_demo_offline_never_downloads(tmp_path, served_archive, isolated_env, monkeypatch):
    from click.testing import CliRunner

    from rnnlens.cli import main

    srv, _, sha = served_archive
    monkeypatch.setenv("RNNLENS_IMDB_URL", srv.url + "/small.tar.gz")
    monkeypatch.setenv("RNNLENS_IMDB_SHA256", sha)
    r = CliRunner().invoke(main, ["demo", "-o", str(tmp_path / "demo"), "--offline"])
    assert r.exit_code == 2 and "without --offline" in r.output and "Traceback" not in r.output
    r = CliRunner().invoke(main, ["baseline", "--dataset", "imdb", "--offline", "-o", str(tmp_path / "b")])
    assert r.exit_code == 2 and "error: " in r.output
    r = CliRunner().invoke(main, ["demo", "--offline", "--download", "-o", str(tmp_path / "demo")])
    assert r.exit_code == 2 and "--offline forbids" in r.output
    assert srv.requests == [] and not (isolated_env / "imdb").exists()


def test_demo_without_network_says_what_to_do(tmp_path, served_archive, isolated_env, monkeypatch):
    from click.testing import CliRunner

    from rnnlens.cli import main

    srv, _, sha = served_archive
    monkeypatch.setenv("RNNLENS_IMDB_URL", srv.url + "/gone.tar.gz")  # 404, like a host out of reach
    monkeypatch.setenv("RNNLENS_IMDB_SHA256", sha)
    r = CliRunner().invoke(main, ["demo", "-o", str(tmp_path / "demo")])
    assert r.exit_code == 2 and "Traceback" not in r.output, r.output
    assert "download" in r.output and "HTTP 404" in r.output and "aclImdb_v1.tar.gz" in r.output
    assert "--data-dir" in r.output and not (tmp_path / "demo" / "report").exists()


def test_download_resumes_a_partial_file(tmp_path, served_archive):
    srv, data, sha = served_archive
    dest = tmp_path / "dl" / "a.tar.gz"
    dest.parent.mkdir()
    half = len(data) // 2
    dest.with_name("a.tar.gz.part").write_bytes(data[:half])
    download(srv.url + "/small.tar.gz", dest, sha256=sha, progress=False)
    assert srv.requests[-1]["Range"] == f"bytes={half}-"
    assert dest.read_bytes() == data


def test_download_restarts_when_server_ignores_range(tmp_path, served_archive):
    srv, data, sha = served_archive
    srv.ignore_range = True
    dest = tmp_path / "a.tar.gz"
    dest.with_name("a.tar.gz.part").write_bytes(b"stale bytes")
    download(srv.url + "/small.tar.gz", dest, sha256=sha, progress=False)
    assert dest.read_bytes() == data


def test_download_of_complete_part_file_verifies_it(tmp_path, served_archive):
    srv, data, sha = served_archive
    dest = tmp_path / "a.tar.gz"
    dest.with_name("a.tar.gz.part").write_bytes(data)
    download(srv.url + "/small.tar.gz", dest, sha256=sha, progress=False)  # server answers 416
    assert dest.read_bytes() == data


def test_checksum_mismatch_leaves_no_file(tmp_path, served_archive):
    srv, data, _ = served_archive
    dest = tmp_path / "a.tar.gz"
    with pytest.raises(DataError, match="failed its checksum: expected SHA-256 " + "0" * 64):
        download(srv.url + "/small.tar.gz", dest, sha256="0" * 64, progress=False)
    assert not dest.exists() and not dest.with_name("a.tar.gz.part").exists()


def test_failed_download_reports_paths_and_reason(tmp_path, served_archive):
    srv, _, sha = served_archive
    with pytest.raises(DataError) as e:
        load_corpus("imdb", data_dir=tmp_path / "empty", url=srv.url + "/nope.tar.gz", sha256=sha, progress=False)
    msg = str(e.value)
    assert "HTTP 404" in msg and "download" in msg and str(tmp_path / "empty" / "imdb") in msg


def test_extract_option_unpacks_and_reads_the_folder(tmp_path, make_imdb_archive):
    archive = make_imdb_archive(tmp_path / "imdb" / "aclImdb.tar.gz")
    c = load_corpus("imdb", data_dir=tmp_path, download=False, extract=True)
    assert c.source == str(tmp_path / "imdb" / "aclImdb")
    assert (tmp_path / "imdb" / "aclImdb" / "test" / "pos" / "9_10.txt").read_text() == "Brilliant and moving."
    plain = load_corpus("imdb", data_dir=tmp_path, download=False)  # archive found first
    assert plain.source == str(archive) and plain.fingerprint() == c.fingerprint()


# ---------------------------------------------------------------------------------- safe extraction


def _tar_with(path, members):
    with tarfile.open(path, "w:gz") as tf:
        for info, data in members:
            tf.addfile(info, io.BytesIO(data) if data is not None else None)
    return path


def _file(name, data=b"x"):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    return info, data


def _link(name, target, kind):
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, target
    return info, None


@pytest.mark.parametrize(
    "bad",
    [
        _file("../escape.txt"),
        _file("/abs/escape.txt"),
        _file("aclImdb/../../escape.txt"),
        _link("aclImdb/link", "/etc/passwd", tarfile.SYMTYPE),
        _link("aclImdb/hard", "../x", tarfile.LNKTYPE),
    ],
    ids=["dotdot", "absolute", "nested-dotdot", "symlink", "hardlink"],
)
def test_safe_extract_refuses_members_outside_target(tmp_path, bad):
    archive = _tar_with(tmp_path / "evil.tar.gz", [_file("aclImdb/ok.txt"), bad])
    target = tmp_path / "out" / "inner"
    with pytest.raises(DataError, match="refusing to extract"):
        safe_extract(archive, target)
    assert list(target.iterdir()) == []  # nothing written, not even the good member
    assert not (tmp_path / "out" / "escape.txt").exists() and not (tmp_path / "escape.txt").exists()


def test_safe_extract_writes_files_and_never_replaces_an_old_tree(tmp_path):
    archive = _tar_with(tmp_path / "ok.tar.gz", [_file("aclImdb/a/b.txt", b"hello")])
    safe_extract(archive, tmp_path / "new")
    assert (tmp_path / "new" / "aclImdb" / "a" / "b.txt").read_bytes() == b"hello"
    assert sorted(p.name for p in (tmp_path / "new").iterdir()) == ["aclImdb"]  # no temp folder left
    (tmp_path / "out" / "aclImdb").mkdir(parents=True)
    (tmp_path / "out" / "aclImdb" / "stale.txt").write_text("old")
    with pytest.raises(DataError, match="already exists"):
        safe_extract(archive, tmp_path / "out")
    assert (tmp_path / "out" / "aclImdb" / "stale.txt").read_text() == "old"  # what it did not write stays
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["aclImdb"]


def test_the_reviews_read_from_an_archive_are_cached_and_read_back_the_same(
    own_cache, tmp_path, make_imdb_archive, monkeypatch
):
    import os

    from rnnlens.data import imdb

    archive = make_imdb_archive(tmp_path / "imdb" / "aclImdb.tar.gz")
    first = load_corpus("imdb", data_dir=tmp_path, download=False)
    cached = imdb.parsed_path(archive)
    assert cached.is_file() and cached.parent == tmp_path / "cache" / "parsed"

    def no_archive(*a, **k):
        raise AssertionError("the archive was opened although its reviews are cached")

    monkeypatch.setattr(imdb.tarfile, "open", no_archive)
    again = load_corpus("imdb", data_dir=tmp_path, download=False)
    assert again.fingerprint() == first.fingerprint() and again.info == first.info
    assert again.splits["test"].texts[1] == "Terrible <br />ending." and again.splits["test"].labels.dtype == "int64"
    monkeypatch.undo()
    monkeypatch.setenv("RNNLENS_CACHE_DIR", str(tmp_path / "cache"))
    # a damaged cache is read around: the archive is read again and the cache rewritten
    cached.write_bytes(b"not an npz")
    assert load_corpus("imdb", data_dir=tmp_path, download=False).fingerprint() == first.fingerprint()
    assert cached.stat().st_size > 100
    # a changed archive (other reviews, so another size and time) gets its own cache
    reviews = {
        ("train", "neg"): [(1, 2, "Dull."), (5, 1, "Poor.")],
        ("train", "pos"): [(2, 9, "Fine."), (6, 7, "Fun.")],
        ("test", "neg"): [(3, 1, "Awful.")],
        ("test", "pos"): [(4, 8, "Good.")],
    }
    make_imdb_archive(archive, reviews=reviews)
    os.utime(archive, ns=(1, 1))
    changed = load_corpus("imdb", data_dir=tmp_path, validation_fraction=0.5, download=False)
    assert changed.splits["test"].texts == ["Awful.", "Good."] and imdb.parsed_path(archive) != cached
