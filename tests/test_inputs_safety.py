"""Issue 9, the input side: long documents, multi-line CSV records, huge fields, numeric options,
non-finite weights and messages that point the right way."""

from __future__ import annotations

import warnings

import pytest
import torch

from rnnlens.data import load_corpus
from rnnlens.errors import ArgumentError, DataError
from rnnlens.fixedpoints import find_fixed_points


@pytest.fixture(autouse=True)
def _isolated(tmp_path_factory, monkeypatch):
    monkeypatch.delenv("RNNLENS_DATA_DIR", raising=False)
    monkeypatch.setenv("RNNLENS_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))


def _rows(n: int, start: int = 0) -> str:
    return "".join(f"row {i} words here,{i % 2}\n" for i in range(start, start + n))


# ------------------------------------------------------------------ CSV records spanning lines
def test_unclosed_quote_names_the_lines_it_spans(tmp_path):
    p = tmp_path / "t.csv"
    p.write_text("text,label\n" + _rows(4) + '"opened here,1\n' + _rows(9, 10) + 'closed",0,extra\n')
    with pytest.raises(DataError, match=r"t\.csv, lines 6-16: malformed row.*quote opened on line 6"):
        load_corpus("csv", path=str(p))


def test_multiline_record_is_kept_but_counted_and_reported(tmp_path):
    p = tmp_path / "t.csv"
    p.write_text("text,label\n" + _rows(6) + '"a review\n\nin two paragraphs",1\n' + _rows(6, 20))
    with pytest.warns(UserWarning, match=r"1 record\(s\) span several lines.*lines 8-10"):
        c = load_corpus("csv", path=str(p))
    assert c.info["multiline_records"] == {str(p): {"count": 1, "lines": [[8, 10]]}}
    texts = c.splits["train"].texts + c.splits["validation"].texts
    assert "a review\n\nin two paragraphs" in texts and len(texts) == 13


def test_single_line_csv_reports_nothing(tmp_path):
    p = tmp_path / "t.csv"
    p.write_text("text,label\n" + _rows(10))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        c = load_corpus("csv", path=str(p))
    assert "multiline_records" not in c.info


# ------------------------------------------------------------------ long fields
def test_field_longer_than_csv_default_limit_is_read(tmp_path):
    p = tmp_path / "t.csv"
    long_text = "good " * 60_000  # 300,000 characters: over csv's default 131,072
    p.write_text(f"text,label\n\"{long_text}\",1\n" + _rows(9))
    c = load_corpus("csv", path=str(p))
    assert long_text in c.splits["train"].texts + c.splits["validation"].texts


def test_field_over_rnnlens_cap_says_so(tmp_path, monkeypatch):
    from rnnlens.data import text_formats

    monkeypatch.setattr(text_formats, "MAX_FIELD_CHARS", 1000)
    p = tmp_path / "t.csv"
    p.write_text(f"text,label\n\"{'x' * 2000}\",1\n" + _rows(9))
    with pytest.raises(DataError, match=r"t\.csv, line 2: a field longer than 1,000 characters"):
        load_corpus("csv", path=str(p))


# ------------------------------------------------------------------ messages that point the right way
def test_folder_given_as_file_is_called_a_folder(tmp_path):
    (tmp_path / "d").mkdir()
    with pytest.raises(DataError, match=r"is a folder; pass the csv file itself"):
        load_corpus("csv", path=str(tmp_path / "d"))


def test_folder_where_a_corpus_file_is_expected_is_marked(tmp_path):
    (tmp_path / "sst2" / "train.tsv").mkdir(parents=True)
    with pytest.raises(DataError, match=r"train\.tsv  \(exists, but is a folder\)"):
        load_corpus("sst2", data_dir=tmp_path)


@pytest.mark.parametrize("name,fname,content", [
    ("csv", "t.csv", "text,label\n"),
    ("jsonl", "t.jsonl", ""),
    ("sst2", "sst2/train.tsv", "sentence\tlabel\n"),
    ("sst5", "sst5/train.txt", ""),
])
def test_header_only_file_is_named(tmp_path, name, fname, content):
    p = tmp_path / fname
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(content)
    opts = {"path": str(p)} if name in ("csv", "jsonl") else {"data_dir": tmp_path}
    with pytest.raises(DataError, match=rf"{p.name}.*no documents|{p.name}, line 1: empty file"):
        load_corpus(name, **opts)


def test_infinite_q_is_diverged_not_slow():
    def F(x, h):  # q overflows float32 at the first seed; the second is an ordinary fixed point
        return 0.5 * h + 1e19 * torch.sin(h)

    seeds = torch.tensor([[3e19, 3e19], [0.1, 0.2]])
    for solver in ("lm", "newton"):
        fp = find_fixed_points(F, seeds, torch.zeros(1, 1), solver=solver, max_iter=30)
        assert not torch.isfinite(fp.q[0])
        assert bool(fp.diverged[0]) and not bool(fp.slow[0]), solver
        assert "diverged 1" in fp.summary()
