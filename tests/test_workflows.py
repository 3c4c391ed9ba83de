"""The whole jobs: `reproduce` (train -> evaluate -> analyze -> report, resumable) and `demo`."""

import json

import numpy as np
import pytest

from rnnlens.analysis import AnalysisSettings
from rnnlens.errors import DataError
from rnnlens.workflows import PAPER_ACCURACY, accuracy_table, pretrained_checkpoints, run_demo, run_reproduce

SMALL = {"n_train": 600, "n_validation": 150, "n_test": 150}


def test_reproduce_trains_analyzes_reports_and_resumes(tmp_path):
    out = tmp_path / "rep"
    kw = dict(
        settings={"hidden_size": 16, "embed_dim": 8, "epochs": 2, "checkpoint_every": 0},
        archs=("gru", "vanilla"),
        corpus_options=SMALL,
        analysis_settings=AnalysisSettings.make(n_docs=40, n_seeds=20),
        progress=False,
    )
    res = run_reproduce("synthetic", out, **kw)
    assert res.report.is_file() and res.report.stat().st_size > 10_000
    saved = json.loads((out / "accuracy.json").read_text())
    assert set(saved["accuracy"]) == {"baseline", "gru", "vanilla"}
    for arch in ("gru", "vanilla"):
        record = json.loads((out / "models" / arch / "config.json").read_text())["record"]
        assert saved["accuracy"][arch] == pytest.approx(100 * record["metrics"]["test"]["accuracy"])
        assert (out / "analysis" / arch / "summary.json").is_file()
        assert f"{saved['accuracy'][arch]:.2f}" in res.table_markdown
    html = res.report.read_text()
    assert "Test accuracy on synthetic" in html
    # a second run finds every step done and recomputes nothing, the report included
    stamps = {p: p.stat().st_mtime_ns for p in [*out.rglob("summary.json"), res.report]}
    again = run_reproduce("synthetic", out, **kw)
    assert again.accuracy == res.accuracy and again.report == res.report
    assert {p: p.stat().st_mtime_ns for p in [*out.rglob("summary.json"), res.report]} == stamps


def test_accuracy_table_puts_the_papers_numbers_beside_ours():
    md, html = accuracy_table("imdb", {"gru": 88.86, "baseline": 88.44})
    assert "88.86 (86.86)" in md and "88.44 (88.53)" in md and "— (87.08)" in md
    assert "88.86 (86.86)" in html
    assert PAPER_ACCURACY["sst2"]["gru"] == 80.25


def test_shipped_checkpoints_record_how_they_were_made():
    found = pretrained_checkpoints()
    assert set(found) == {"vanilla", "ugrnn", "gru", "lstm"}
    total = sum(f.stat().st_size for d in found.values() for f in d.iterdir())
    assert total < 8e6  # "a few MB in all"
    for arch, folder in found.items():
        assert sorted(p.name for p in folder.iterdir()) == ["config.json", "model.safetensors"]
        record = json.loads((folder / "config.json").read_text())["record"]
        assert record["dataset"] == "imdb" and record["settings"]["arch"] == arch
        assert record["command"].startswith("rnnlens train") and "--dataset imdb" in record["command"]
        assert len(record["data_fingerprint"]) == 64 and record["code_version"]
        assert record["metrics"]["test"]["n"] == 25000


def test_shipped_bag_of_words_is_a_bag_of_words_file_for_the_same_corpus():
    from rnnlens.baseline import load_bag_of_words

    bow = load_bag_of_words(pretrained_checkpoints()["gru"].parent / "bag_of_words.json")
    record = json.loads((pretrained_checkpoints()["gru"] / "config.json").read_text())["record"]
    assert bow.dataset == "imdb" and bow.data_fingerprint == record["data_fingerprint"]
    assert bow.label_names == record["label_names"] and bow.coef.shape == (1, len(bow.words))
    # trimmed to the words the shipped networks read; the scores are the full model's
    vocab = set()
    for folder in pretrained_checkpoints().values():
        vocab.update(json.loads((folder / "config.json").read_text())["vocab"]["itos"])
    assert set(bow.words) <= vocab and bow.info["subset"]["n_words_fitted"] > len(bow.words)
    assert bow.C == 0.1 and bow.accuracy["test"] == pytest.approx(0.88436) and bow.n["test"] == 25000


def test_demo_offline_without_imdb_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setenv("RNNLENS_DATA_DIR", str(tmp_path / "nothing"))
    monkeypatch.setenv("RNNLENS_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("RNNLENS_IMDB_URL", "http://127.0.0.1:9/never-asked")  # never a real host
    with pytest.raises(DataError, match="without --offline"):
        run_demo(tmp_path / "demo", progress=False, download=False)
    assert not (tmp_path / "demo" / "report").exists() and not (tmp_path / "cache").exists()


@pytest.mark.realdata
@pytest.mark.slow
def test_shipped_networks_reach_their_recorded_accuracy_on_imdb(real_corpus_dir):
    # every shipped network on a seeded subset of 2,000 IMDB test reviews: within 2 points of the accuracy
    # its record says it reached on all 25,000 (one standard error at n = 2,000 is about 0.75 points)
    from rnnlens.checkpoint import load_checkpoint
    from rnnlens.data import load_corpus
    from rnnlens.data.corpus import Split
    from rnnlens.training import evaluate

    corpus = load_corpus("imdb", data_dir=real_corpus_dir("imdb").parent, download=False)
    test = corpus.splits["test"]
    rows = np.sort(np.random.default_rng(0).choice(len(test.texts), 2000, replace=False))
    subset = Split(texts=[test.texts[i] for i in rows], labels=np.asarray(test.labels)[rows])
    for arch, folder in pretrained_checkpoints().items():
        ck = load_checkpoint(folder)
        assert ck.record["data_fingerprint"] == corpus.fingerprint(), arch
        got = evaluate(ck.model, ck.vocab, subset)["accuracy"]
        assert got == pytest.approx(ck.record["metrics"]["test"]["accuracy"], abs=0.02), arch
