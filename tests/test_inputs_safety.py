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
    p.write_text(f'text,label\n"{long_text}",1\n' + _rows(9))
    c = load_corpus("csv", path=str(p))
    assert long_text in c.splits["train"].texts + c.splits["validation"].texts


def test_field_over_rnnlens_cap_says_so(tmp_path, monkeypatch):
    from rnnlens.data import text_formats

    monkeypatch.setattr(text_formats, "MAX_FIELD_CHARS", 1000)
    p = tmp_path / "t.csv"
    p.write_text(f'text,label\n"{"x" * 2000}",1\n' + _rows(9))
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


@pytest.mark.parametrize(
    "name,fname,content",
    [
        ("csv", "t.csv", "text,label\n"),
        ("jsonl", "t.jsonl", ""),
        ("sst2", "sst2/train.tsv", "sentence\tlabel\n"),
        ("sst5", "sst5/train.txt", ""),
    ],
)
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


# ------------------------------------------------------------------ long documents: capped, counted, estimated
def _long_doc_corpus(tmp_path, n_tokens: int):
    import json

    p = tmp_path / "t.jsonl"
    rows = [{"text": f"good fine film number {i}", "label": i % 2} for i in range(40)]
    rows[3]["text"] = "word " * n_tokens
    p.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return load_corpus("jsonl", path=str(p))


def test_training_caps_long_documents_by_default_and_records_it(tmp_path):
    from rnnlens.settings import DEFAULT_MAX_LENGTH, TrainSettings
    from rnnlens.training import train

    assert 2_800 * 3 < DEFAULT_MAX_LENGTH  # far above IMDB's longest review: IMDB results unchanged
    corpus = _long_doc_corpus(tmp_path, DEFAULT_MAX_LENGTH + 500)
    s = TrainSettings(epochs=1, hidden_size=4, embed_dim=4, batch_size=8, num_threads=1)
    assert s.max_length == DEFAULT_MAX_LENGTH
    ck = train(corpus, s, tmp_path / "m", progress=False)
    assert ck.record["settings"]["max_length"] == DEFAULT_MAX_LENGTH
    cut = ck.record["metrics"]["n_truncated"]
    assert cut["train"] + cut["validation"] == 1


def test_training_step_that_cannot_fit_is_refused_with_advice(monkeypatch):
    import rnnlens.model as model_mod
    from rnnlens.model import SentimentRNN

    m = SentimentRNN(10, arch="gru", embed_dim=8, hidden_size=8)
    need = m.training_memory(64, 10_000_000)
    assert need > 23 * 2**30  # the 10-million-token row: the estimate sees it coming
    monkeypatch.setattr(model_mod, "available_memory", lambda device: 2**30)
    with pytest.raises(DataError, match=r"padded to 10000000 tokens needs about .* GiB.*--max-length"):
        m.check_training_memory(64, 10_000_000)
    ids = torch.ones(2, 5, dtype=torch.int64)
    m(ids, torch.tensor([5, 3]))  # a small batch is not checked (nor slowed)
    monkeypatch.setattr(model_mod, "MEMORY_CHECK_FLOOR", 0)
    monkeypatch.setattr(model_mod, "available_memory", lambda device: 10)
    with pytest.raises(DataError, match="needs about"):
        m(ids, torch.tensor([5, 3]))
    with torch.no_grad():  # evaluation keeps no activations: not refused
        m(ids, torch.tensor([5, 3]))


def test_analysis_documents_are_capped_and_counted_by_default():
    from rnnlens.analysis.inputs import select_documents
    from rnnlens.analysis.settings import AnalysisSettings
    from rnnlens.data import Split, Vocab
    from rnnlens.settings import DEFAULT_MAX_LENGTH

    split = Split(["word " * (DEFAULT_MAX_LENGTH + 7), "good film", "bad film"], [1, 1, 0])
    default = AnalysisSettings().documents.max_length
    assert default == DEFAULT_MAX_LENGTH
    docs = select_documents(Vocab.build(split.texts), split, 10, default, 0)
    assert docs.encoded.n_truncated == 1 and docs.encoded.max_length == DEFAULT_MAX_LENGTH
    assert int(docs.encoded.lengths.max()) == DEFAULT_MAX_LENGTH
    whole = select_documents(Vocab.build(split.texts), split, 10, None, 0)  # None: no limit
    assert whole.encoded.n_truncated == 0 and int(whole.encoded.lengths.max()) == DEFAULT_MAX_LENGTH + 7


# ------------------------------------------------------------------ non-finite weights
def test_nan_weights_never_give_an_accuracy():
    from rnnlens.data import Split, Vocab
    from rnnlens.model import SentimentRNN
    from rnnlens.training import evaluate

    split = Split(["good film", "bad film", "fine"], [1, 0, 1])
    vocab = Vocab.build(split.texts)
    m = SentimentRNN(len(vocab), hidden_size=4, embed_dim=4)
    with torch.no_grad():
        m.readout.weight[0, 0] = float("nan")
    with pytest.raises(ArgumentError, match=r"NaN or inf.*readout\.weight"):
        evaluate(m, vocab, split)
    with pytest.raises(ArgumentError, match="NaN or inf"):
        m.train()
        m(torch.ones(1, 2, dtype=torch.int64), torch.tensor([2]))
    with torch.no_grad():
        m.readout.weight[0, 0] = 0.0
        m.cell.weight_ih.fill_(float("inf")) if hasattr(m.cell, "weight_ih") else next(m.cell.parameters()).fill_(
            float("inf")
        )
    with pytest.raises(ArgumentError, match="NaN or inf"):
        m.states(torch.ones(1, 2, dtype=torch.int64))


# ------------------------------------------------------------------ numeric options
@pytest.mark.parametrize(
    "kw",
    [
        dict(tol=0),
        dict(tol=-1e-8),
        dict(tol=float("nan")),
        dict(tol_sweep=[1e-6, -1]),
        dict(tol_sweep=[float("inf")]),
        dict(tol_sweep=1e-6),
        dict(max_length=0),
        dict(max_length=-5),
        dict(max_length=2.5),
        dict(n_linear_docs=0),
        dict(seed=-1),
        dict(untrained_seed=1.5),
    ],
)
def test_analysis_numbers_are_checked_before_work(kw):
    from rnnlens.analysis.settings import AnalysisSettings

    AnalysisSettings.make(tol=1e-8, tol_sweep=(1e-7,), max_length=None, n_linear_docs=None, seed=0, untrained_seed=0)
    ((name, value),) = kw.items()
    with pytest.raises(ArgumentError, match=f"^analysis setting {name}=.* is invalid: "):
        AnalysisSettings.make(**kw)


@pytest.mark.parametrize(
    "kw",
    [
        dict(n_train=-1),
        dict(n_train=0),
        dict(n_test=-3),
        dict(min_length=0),
        dict(max_length=-1),
        dict(p_evidence=float("nan")),
        dict(p_modifier=-0.1),
        dict(p_evidence="0.3"),
        dict(n_train=2.5),
        dict(not_scope=-1),
        dict(negation="no"),
    ],
)
def test_synthetic_numbers_are_checked(kw):
    with pytest.raises(ArgumentError):
        load_corpus("synthetic", **kw)


@pytest.mark.parametrize(
    "kw",
    [
        dict(validation_fraction=0),
        dict(validation_fraction=1.0),
        dict(validation_fraction=float("nan")),
        dict(seed=-1),
        dict(seed=1.5),
    ],
)
def test_load_corpus_numbers_are_checked(kw):
    with pytest.raises(ArgumentError):
        load_corpus("synthetic", n_train=50, **kw)


@pytest.mark.parametrize(
    "kw",
    [
        dict(text_column=""),
        dict(label_column=3),
        dict(text_column="label"),
        dict(label_names=["only"]),
        dict(label_names="ab"),
        dict(label_names=["a", "a"]),
        dict(path=3.5),
    ],
)
def test_table_options_are_checked(tmp_path, kw):
    p = tmp_path / "t.csv"
    p.write_text("text,label\n" + _rows(10))
    with pytest.raises(ArgumentError):
        load_corpus("csv", **{"path": str(p), **kw})
