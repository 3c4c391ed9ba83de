"""Issue 23: a fuzz test for every loader. Random bytes, random rows and random labels given to any loader
(every corpus, TSV through the csv corpus, a train file with validation and test files, the --test-file
reader, a checkpoint folder) give a result or rnnlens's own error whose message names the file; never another
exception (a traceback), and nothing is written. tests/data/test_fuzz_loaders.py fuzzes the single-file
corpora; this file the rest, and holds every message to naming its file."""

from __future__ import annotations

import io
import json
import os
import tarfile
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
from rnnlens.data.eval_file import load_labelled_file  # noqa: E402
from rnnlens.errors import ArgumentError, CheckpointError, DataError  # noqa: E402

FUZZ = settings(
    max_examples=30,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

PIECES = [
    b'"',
    b",",
    b"\t",
    b"\n",
    b"\r\n",
    b" ",
    b"\xef\xbb\xbf",
    b"\xff",
    b"\x00",
    b"{",
    b"}",
    b":",
    b"0",
    b"1",
    b"2",
    b"4",
    b"7",
    b"-1",
    b"1.0",
    b"true",
    b"text",
    b"label",
    b"sentence",
    b"good film",
    b"bad",
    b"<br />",
    "\u00e9t\u00e9".encode(),
    b"\xe2\x80",
]
raw_bytes = st.binary(max_size=300)
made_of_pieces = st.lists(st.sampled_from(PIECES), max_size=60).map(b"".join)
texts = st.one_of(st.text(max_size=20), st.sampled_from(["good film", "bad", "", " ", "<br />", '"', "a\nb"]))
# labels of every kind a careless file holds: integers, their float and bool spellings, case twins, numbers
# written oddly, rare strays
labels = st.one_of(
    st.sampled_from(
        [
            0,
            1,
            1,
            0,
            1,
            7,
            -1,
            2,
            True,
            False,
            1.0,
            0.5,
            None,
            "0",
            "1",
            "01",
            "+1",
            " 1",
            "pos",
            "neg",
            "Pos",
            "neutral",
            "",
            "1e3",
            "NaN",
        ]
    ),
    st.integers(-3, 12),
    st.text(max_size=4),
)


def _csv_text(rows, sep=","):
    import csv

    buf = io.StringIO()
    w = csv.writer(buf, delimiter=sep) if sep == "," else None
    if w is None:
        return "text\tlabel\n" + "".join(f"{t}\t{'' if lab is None else lab}\n" for t, lab in rows)
    w.writerow(["text", "label"])
    for t, lab in rows:
        w.writerow([t, "" if lab is None else lab])
    return buf.getvalue()


def _jsonl_text(rows):
    return "".join(json.dumps({"text": t, "label": lab}) + "\n" for t, lab in rows)


rows = st.lists(st.tuples(texts, labels), max_size=30)


def _table(fmt):
    encode = {"csv": _csv_text, "tsv": lambda r: _csv_text(r, "\t"), "jsonl": _jsonl_text}[fmt]
    return st.one_of(raw_bytes, made_of_pieces, rows.map(lambda r: encode(r).encode("utf-8", "surrogatepass")))


def _fresh(folder):
    if folder.exists():
        os.chmod(folder, 0o755)
        for p in sorted(folder.rglob("*"), reverse=True):
            if p.is_dir() and not p.is_symlink():
                os.chmod(p, 0o755)
                p.rmdir()
            else:
                p.unlink()
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _snapshot(root):
    return sorted((str(p), p.stat().st_size) for p in root.rglob("*"))


def _expect(call, named, errors=(DataError,)):
    """``call()`` returns, or raises one of ``errors`` whose message names one of ``named`` (paths)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return call()
    except errors as e:
        msg = str(e)
        assert any(str(p) in msg for p in named), f"the message names no file: {msg}"
        return None


@pytest.fixture
def place(tmp_path, monkeypatch):
    """``place({relative: bytes})``: the files alone in a read-only folder, made fresh for each example;
    returns the folder. The working folder is checked to stay empty."""
    home = tmp_path / "cwd"
    home.mkdir()
    monkeypatch.chdir(home)
    folder = tmp_path / "in"

    def put(files):
        _fresh(folder)
        for rel, data in files.items():
            (folder / rel).parent.mkdir(parents=True, exist_ok=True)
            (folder / rel).write_bytes(data)
        for d in [folder, *[p for p in folder.rglob("*") if p.is_dir()]]:
            os.chmod(d, 0o555)
        return folder

    yield put
    _fresh(folder)
    assert not any(home.iterdir()), "a loader wrote into the working folder"


def _corpus(name, folder, **options):
    before = _snapshot(folder.parent)
    c = _expect(lambda: load_corpus(name, data_dir=folder, **options), [folder])
    assert _snapshot(folder.parent) == before
    if c is not None:
        assert all(len(s) >= 1 for s in c.splits.values())
        assert all(0 <= int(lab) < c.num_classes for s in c.splits.values() for lab in s.labels)
        assert all(isinstance(t, str) and t.strip() for s in c.splits.values() for t in s.texts)
    return c


# ------------------------------------------------------------------------------------- text corpora


@FUZZ
@given(train=_table("csv"), val=_table("csv"), test=_table("csv"))
def test_fuzz_csv_with_validation_and_test_files(place, train, val, test):
    folder = place({"train.csv": train, "val.csv": val, "test.csv": test})
    _corpus(
        "csv", folder, path=str(folder / "train.csv"), validation=str(folder / "val.csv"), test=str(folder / "test.csv")
    )


@FUZZ
@given(train=_table("jsonl"), test=_table("jsonl"))
def test_fuzz_jsonl_with_a_test_file(place, train, test):
    folder = place({"train.jsonl": train, "test.jsonl": test})
    _corpus("jsonl", folder, path=str(folder / "train.jsonl"), test=str(folder / "test.jsonl"))


@FUZZ
@given(train=_table("tsv"))
def test_fuzz_tsv_through_the_csv_corpus(place, train):
    folder = place({"train.tsv": train})
    _corpus("csv", folder, path=str(folder / "train.tsv"))


zhang = st.lists(st.tuples(st.sampled_from(["1", "2", "3", "4", "5", "0", "x", ""]), texts), max_size=25).map(
    lambda r: "".join(f'"{lab}","{t}"\n' for lab, t in r).encode("utf-8", "surrogatepass")
)


@FUZZ
@given(train=st.one_of(raw_bytes, made_of_pieces, zhang), test=st.one_of(raw_bytes, zhang))
def test_fuzz_yelp_binary(place, train, test):
    folder = place({"yelp/train.csv": train, "yelp/test.csv": test})
    _corpus("yelp-binary", folder)


ag_rows = st.lists(st.tuples(st.sampled_from(["1", "2", "3", "4", "5", "x"]), texts, texts), max_size=30).map(
    lambda r: "".join(f'"{c}","{a}","{b}"\n' for c, a, b in r).encode("utf-8", "surrogatepass")
)


@FUZZ
@given(test=st.one_of(raw_bytes, made_of_pieces, ag_rows), train=st.one_of(st.none(), raw_bytes, ag_rows))
def test_fuzz_ag_news_files(place, test, train):
    files = {"ag_news/test.csv": test, **({} if train is None else {"ag_news/train.csv": train})}
    folder = place(files)
    _corpus("ag_news", folder, download=False)


# ------------------------------------------------------------------------------------------ archives


def _tar(members, gz=True):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz" if gz else "w") as tf:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


imdb_names = st.one_of(
    st.builds(
        lambda s, p, i, r: f"aclImdb/{s}/{p}/{i}_{r}.txt",
        st.sampled_from(["train", "test", "unsup"]),
        st.sampled_from(["neg", "pos", "odd"]),
        st.integers(0, 30),
        st.integers(0, 12),
    ),
    st.sampled_from(["aclImdb/README", "aclImdb/train/labeledBow.feat", "x.txt"]),
)
imdb_members = st.lists(
    st.tuples(imdb_names, st.one_of(texts.map(lambda t: t.encode("utf-8", "surrogatepass")), raw_bytes)), max_size=20
)


@FUZZ
@given(members=imdb_members, gz=st.booleans(), cut=st.one_of(st.none(), st.integers(0, 400)), noise=raw_bytes)
def test_fuzz_imdb_archive(place, members, gz, cut, noise):
    data = _tar(members, gz)
    data = data[:cut] if cut is not None else data
    folder = place({"imdb/aclImdb_v1.tar.gz": noise if cut == 0 else data})
    _corpus("imdb", folder, download=False)


@FUZZ
@given(members=imdb_members)
def test_fuzz_imdb_folder(place, members):
    files = {f"imdb/{name}": data for name, data in members}
    folder = place(files)
    _corpus("imdb", folder, download=False)


@FUZZ
@given(
    members=st.lists(
        st.tuples(
            st.sampled_from(["ag_news_csv/train.csv", "ag_news_csv/test.csv", "x/test.csv", "readme.txt"]),
            st.one_of(ag_rows, raw_bytes),
        ),
        max_size=4,
    ),
    cut=st.one_of(st.none(), st.integers(1, 300)),
)
def test_fuzz_ag_news_archive(place, members, cut):
    data = _tar(members)
    folder = place({"ag_news/ag_news_csv.tgz": data[:cut] if cut else data})
    _corpus("ag_news", folder, download=False)


# --------------------------------------------------------------------------- evaluate's --test-file


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".jsonl"])
@FUZZ
@given(draw=st.data(), label_map=st.one_of(st.none(), st.just({"pos": "positive", "1": "negative"})))
def test_fuzz_test_file(place, suffix, draw, label_map):
    data = draw.draw(_table({".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl"}[suffix]), label="file bytes")
    folder = place({f"t{suffix}": data})
    f = folder / f"t{suffix}"
    split = _expect(lambda: load_labelled_file(f, ["negative", "positive"], label_map=label_map), [f])
    if split is not None:
        assert len(split) >= 1 and set(split.labels.tolist()) <= {0, 1}


# ----------------------------------------------------------------------------------- the synthetic corpus


@FUZZ
@given(
    options=st.dictionaries(
        st.sampled_from(
            [
                "n_train",
                "n_validation",
                "n_test",
                "min_length",
                "max_length",
                "num_classes",
                "p_evidence",
                "n_neutral",
                "ordered",
                "bin_width",
            ]
        ),
        st.one_of(st.integers(-2, 12), st.floats(allow_nan=True), st.booleans(), st.none(), st.text(max_size=3)),
        max_size=4,
    )
)
def test_fuzz_synthetic_options(options):
    opts = {"n_train": 30, "n_validation": 10, "n_test": 10, **options}
    try:
        c = load_corpus("synthetic", **opts)
    except ArgumentError as e:
        assert str(e)
        return
    assert c.num_classes >= 2 and all(len(s) >= 1 for s in c.splits.values())


# ------------------------------------------------------------------------------------------ checkpoints


@pytest.fixture(scope="module")
def checkpoint_files(tmp_path_factory):
    import torch

    from rnnlens.checkpoint import save_checkpoint
    from rnnlens.data import Vocab
    from rnnlens.model import SentimentRNN

    torch.manual_seed(0)
    vocab = Vocab.build(["a good film", "a bad film"])
    path = save_checkpoint(
        tmp_path_factory.mktemp("ck") / "ck",
        SentimentRNN(len(vocab), embed_dim=3, hidden_size=4),
        vocab,
        {"dataset": "synthetic"},
    )
    return {name: (path / name).read_bytes() for name in ("config.json", "model.safetensors")}


def _mutate_json(config: dict, path: list, value):
    node = config
    for key in path[:-1]:
        node = node.get(key) if isinstance(node, dict) else None
        if not isinstance(node, dict):
            return config
    node[path[-1]] = value
    return config


json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-5, 10**6), st.floats(), st.text(max_size=5)),
    lambda kids: st.one_of(st.lists(kids, max_size=3), st.dictionaries(st.text(max_size=3), kids, max_size=3)),
    max_leaves=6,
)
config_paths = st.sampled_from(
    [
        ["format"],
        ["format_version"],
        ["model"],
        ["model", "vocab_size"],
        ["model", "arch"],
        ["model", "hidden_size"],
        ["model", "num_classes"],
        ["vocab"],
        ["vocab", "itos"],
        ["vocab", "settings"],
        ["record"],
        ["run_id"],
        ["extra"],
    ]
)


@FUZZ
@given(
    how=st.sampled_from(["bytes", "mutate", "weights"]),
    raw=raw_bytes,
    where=config_paths,
    value=json_values,
    cut=st.integers(0, 2000),
)
def test_fuzz_checkpoint_folder(place, checkpoint_files, how, raw, where, value, cut):
    from rnnlens.checkpoint import load_checkpoint

    config, weights = checkpoint_files["config.json"], checkpoint_files["model.safetensors"]
    if how == "bytes":
        config = raw
    elif how == "mutate":
        config = json.dumps(_mutate_json(json.loads(config), where, value)).encode()
    else:
        weights = weights[:cut] + raw
    folder = place({"ck/config.json": config, "ck/model.safetensors": weights})
    ck = _expect(lambda: load_checkpoint(folder / "ck"), [folder / "ck"], errors=(CheckpointError,))
    if ck is not None:
        assert len(ck.vocab) <= ck.model.vocab_size
