"""Extraction only ever creates what it extracts: it never replaces or deletes what was already there."""

import io
import tarfile

import pytest

from rnnlens.data import load_corpus, safe_extract
from rnnlens.errors import DataError


def _tar(path, names):
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz") as tf:
        for name in names:
            data = name.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return path


def test_existing_folder_of_the_user_is_refused_and_kept(tmp_path):
    archive = _tar(tmp_path / "a.tar.gz", ["aclImdb/a/b.txt", "other/c.txt"])
    target = tmp_path / "out"
    (target / "other").mkdir(parents=True)
    (target / "other" / "mine.txt").write_text("mine")
    with pytest.raises(DataError) as e:
        safe_extract(archive, target)
    msg = str(e.value)
    assert str(target / "other") in msg and "move it" in msg and "corrupt" not in msg
    assert (target / "other" / "mine.txt").read_text() == "mine"
    # nothing was created either: not the other member, not a temporary folder
    assert sorted(p.name for p in target.iterdir()) == ["other"]


def test_member_named_like_the_archive_does_not_delete_the_archive(tmp_path):
    archive = _tar(tmp_path / "x.tar.gz", ["x.tar.gz", "aclImdb/a.txt"])
    before = archive.read_bytes()
    with pytest.raises(DataError, match="x.tar.gz"):
        safe_extract(archive, tmp_path)
    assert archive.read_bytes() == before
    assert not (tmp_path / "aclImdb").exists()


def test_symlinked_folder_is_not_called_a_corrupt_archive(tmp_path):
    archive = _tar(tmp_path / "data" / "aclImdb.tar.gz", ["aclImdb/a.txt"])
    real = tmp_path / "elsewhere"
    real.mkdir()
    (real / "keep.txt").write_text("keep")
    (tmp_path / "data" / "aclImdb").symlink_to(real, target_is_directory=True)
    with pytest.raises(DataError) as e:
        safe_extract(archive, tmp_path / "data")
    msg = str(e.value)
    assert "corrupt" not in msg and "delete it" not in msg and str(tmp_path / "data" / "aclImdb") in msg
    assert (tmp_path / "data" / "aclImdb").is_symlink() and (real / "keep.txt").read_text() == "keep"
    assert archive.exists()


def test_extract_twice_reuses_the_extraction_and_keeps_user_files(tmp_path, make_imdb_archive):
    make_imdb_archive(tmp_path / "imdb" / "aclImdb.tar.gz")
    first = load_corpus("imdb", data_dir=tmp_path, download=False, extract=True)
    notes = tmp_path / "imdb" / "aclImdb" / "my-notes.txt"
    notes.write_text("mine")
    again = load_corpus("imdb", data_dir=tmp_path, download=False, extract=True)
    assert again.fingerprint() == first.fingerprint()
    assert notes.read_text() == "mine"


def test_extract_refuses_a_folder_it_did_not_create(tmp_path, make_imdb_archive):
    make_imdb_archive(tmp_path / "imdb" / "aclImdb.tar.gz")
    mine = tmp_path / "imdb" / "aclImdb"
    mine.mkdir()
    (mine / "thesis.tex").write_text("mine")
    with pytest.raises(DataError) as e:
        load_corpus("imdb", data_dir=tmp_path, download=False, extract=True)
    assert str(mine) in str(e.value)
    assert (mine / "thesis.tex").read_text() == "mine" and sorted(p.name for p in mine.iterdir()) == ["thesis.tex"]
