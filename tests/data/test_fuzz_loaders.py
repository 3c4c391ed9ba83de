"""Fuzz the corpus loaders: random bytes and random CSV / JSONL / TSV / SST-style structures give a
Corpus or a DataError / ArgumentError, never another exception, and nothing is written anywhere."""

from __future__ import annotations

import json
import os
import warnings

import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import (  # noqa: E402
    HealthCheck,
    given,
    settings,
    strategies as st,  # noqa: E402
)

from rnnlens.data import load_corpus  # noqa: E402
from rnnlens.errors import ArgumentError, DataError  # noqa: E402

FUZZ = settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# pieces a malformed text file is made of: quotes, separators, line breaks, BOMs, odd bytes
PIECES = [
    b'"',
    b",",
    b"\t",
    b"\n",
    b"\r\n",
    b"\r",
    b" ",
    b"\\n",
    b'\\"',
    b"\xef\xbb\xbf",
    b"\xff",
    b"\x00",
    b"{",
    b"}",
    b"[",
    b"]",
    b":",
    b"0",
    b"1",
    b"2",
    b"-1",
    b"text",
    b"label",
    b"sentence",
    b"good",
    b"bad film",
    b"null",
    b"true",
    b"1e999",
    b"<br />",
    "\u00e9t\u00e9".encode(),
    b"\xe2\x80",
]

raw_bytes = st.binary(max_size=400)
made_of_pieces = st.lists(st.sampled_from(PIECES), max_size=80).map(b"".join)
text_field = st.one_of(st.text(max_size=30), st.sampled_from(["good film", "bad", "", " ", "<br />", '"', "a\nb"]))
label_field = st.one_of(st.integers(-2, 6), st.sampled_from(["0", "1", "pos", "", None, 1.5, [], {}]))


def _csv_bytes(rows):
    import csv
    import io

    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["text", "label"])
    for t, l in rows:
        w.writerow([t, "" if l is None else l])
    return buf.getvalue().encode("utf-8", "surrogatepass")


csv_structured = st.lists(st.tuples(text_field, label_field), max_size=25).map(_csv_bytes)
jsonl_structured = st.lists(
    st.one_of(
        st.fixed_dictionaries({"text": text_field, "label": label_field}),
        st.dictionaries(st.sampled_from(["text", "label", "x"]), label_field, max_size=3),
        st.sampled_from([[], 3, "s", None]),
    ),
    max_size=25,
).map(lambda objs: "\n".join(json.dumps(o) for o in objs).encode("utf-8", "surrogatepass"))
tsv_structured = st.lists(st.tuples(text_field, label_field), max_size=25).map(
    lambda rows: ("sentence\tlabel\n" + "".join(f"{t}\t{l}\n" for t, l in rows)).encode("utf-8", "surrogatepass")
)
sst5_structured = st.lists(st.tuples(st.integers(-1, 6), text_field), max_size=25).map(
    lambda rows: "".join(f"{l} {t}\n" for l, t in rows).encode("utf-8", "surrogatepass")
)
zhang_structured = st.lists(st.tuples(st.integers(0, 6), text_field), max_size=25).map(
    lambda rows: "".join(f'"{l}","{t}"\n' for l, t in rows).encode("utf-8", "surrogatepass")
)


def _snapshot(root):
    return sorted((str(p), p.stat().st_size) for p in root.rglob("*"))


def _load_expecting_no_crash(tmp_path, name, rel, data):
    """Write ``data`` at ``tmp_path/rel`` (alone there), load it; a corpus or a user error only."""
    folder = tmp_path / "in"
    if folder.exists():
        for p in sorted(folder.rglob("*"), reverse=True):
            p.rmdir() if p.is_dir() else p.unlink()
    target = folder / rel
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    os.chmod(folder, 0o555)  # the loaders read; a write there would fail loudly
    before = _snapshot(tmp_path)
    opts = {"path": str(target)} if name in ("csv", "jsonl") else {"data_dir": str(folder)}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            corpus = load_corpus(name, **opts)
        assert len(corpus.splits["train"]) >= 1 and len(corpus.splits["validation"]) >= 1
        assert all(isinstance(t, str) and t.strip() for s in corpus.splits.values() for t in s.texts)
    except (DataError, ArgumentError) as e:
        assert str(folder) in str(e), f"the message names no file: {e}"
    finally:
        os.chmod(folder, 0o755)
    assert _snapshot(tmp_path) == before


@pytest.fixture
def cwd_guard(tmp_path, monkeypatch):
    home = tmp_path / "cwd"
    home.mkdir()
    monkeypatch.chdir(home)
    yield
    assert not any(home.iterdir()), "a loader wrote into the working folder"


CASES = [
    ("csv", "t.csv", csv_structured),
    ("jsonl", "t.jsonl", jsonl_structured),
    ("sst2", "sst2/train.tsv", tsv_structured),
    ("sst5", "sst5/train.txt", sst5_structured),
    ("yelp", "yelp/train.csv", zhang_structured),
]


@pytest.mark.parametrize("name,rel,structured", CASES, ids=[c[0] for c in CASES])
@FUZZ
@given(draw=st.data())
def test_fuzz_loader(tmp_path, cwd_guard, name, rel, structured, draw):
    data = draw.draw(st.one_of(raw_bytes, made_of_pieces, structured), label="file bytes")
    _load_expecting_no_crash(tmp_path, name, rel, data)
