"""The default bag of words of an analysis: fitted once per corpus and settings, cached (atomically) under the
cache folder, read back on the next run, and said so; none for networks without words; --no-bow skips it."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import torch
from click.testing import CliRunner

import rnnlens.baseline_cache as baseline_cache
from rnnlens.analysis import AnalysisSettings, analyze
from rnnlens.baseline import DEFAULT_CS
from rnnlens.checkpoint import save_checkpoint
from rnnlens.cli import main
from rnnlens.data import Vocab, load_corpus
from rnnlens.model import SentimentRNN

SMALL = dict(n_train=300, n_validation=40, n_test=80, min_length=5, max_length=14)
FAST = dict(n_docs=40, n_seeds=20, n_transitions=200, n_speed=5, speed_steps=5, tol_sweep=(), modifiers=None)


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    folder = tmp_path / "cache"
    monkeypatch.setenv("RNNLENS_CACHE_DIR", str(folder))
    return folder / baseline_cache.FOLDER


@pytest.fixture(scope="module")
def corpus():
    return load_corpus("synthetic", seed=0, **SMALL)


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory, corpus):
    vocab = Vocab.build(corpus.splits["train"].texts)
    torch.manual_seed(0)
    model = SentimentRNN(len(vocab), arch="gru", embed_dim=6, hidden_size=8)
    path = tmp_path_factory.mktemp("ck") / "gru"
    save_checkpoint(
        path,
        model,
        vocab,
        {"dataset": "synthetic", "data_fingerprint": corpus.fingerprint(), "data_info": {"options": SMALL}},
    )
    return path


def _no_fit(*args, **kwargs):
    raise AssertionError("fitted again although the cache holds it")


def test_fitted_once_then_read_from_the_cache(cache, corpus, monkeypatch):
    bow, how = baseline_cache.cached_bag_of_words(corpus)
    assert how["obtained"] == "fitted now" and how["seconds"] >= 0
    assert [p.name for p in cache.iterdir()] == [baseline_cache.cache_path(corpus).name]  # no temporary left
    saved = json.loads(baseline_cache.cache_path(corpus).read_text())
    assert saved["data_fingerprint"] == corpus.fingerprint() and saved["info"]["Cs"] == list(DEFAULT_CS)
    monkeypatch.setattr(baseline_cache, "fit_bag_of_words", _no_fit)
    again, how2 = baseline_cache.cached_bag_of_words(corpus)
    assert how2 == {"obtained": "cached", "path": how["path"], "seconds": how2["seconds"]}
    assert np.array_equal(again.coef, bow.coef) and again.words == bow.words
    assert baseline_cache.describe(how2) == f"cached from {how['path']}"


def test_the_key_is_the_corpus_and_the_settings(corpus):
    other = load_corpus("synthetic", seed=1, **SMALL)
    paths = {
        baseline_cache.cache_path(corpus),
        baseline_cache.cache_path(other),
        baseline_cache.cache_path(corpus, min_count=2),
        baseline_cache.cache_path(corpus, Cs=(1.0,)),
    }
    assert len(paths) == 4
    assert baseline_cache.cache_path(corpus) == baseline_cache.cache_path(load_corpus("synthetic", seed=0, **SMALL))


def test_an_unreadable_cached_file_is_fitted_again_over(cache, corpus):
    path = baseline_cache.cache_path(corpus)
    path.parent.mkdir(parents=True)
    path.write_text("{ half a file")
    bow, how = baseline_cache.cached_bag_of_words(corpus)
    assert how["obtained"] == "fitted now" and json.loads(path.read_text())["words"] == bow.words


def test_analyze_auto_measures_the_word_valence_checks_and_says_how(corpus, ckpt):
    settings = AnalysisSettings.make(**FAST)
    none = analyze(ckpt, corpus, settings)
    assert none.provenance["bag_of_words"]["obtained"] == "none" and "spearman_bow" not in none.metrics["valence"]
    first = analyze(ckpt, corpus, settings, bow="auto")
    assert first.provenance["bag_of_words"]["obtained"] == "fitted now"
    assert -1 <= first.value("valence.spearman_bow") <= 1 and first.metrics["valence"]["bow"]["dataset"] == "synthetic"
    assert not any("bag-of-words" in m["what"] for m in first.missing)
    second = analyze(ckpt, corpus, settings, bow="auto")
    path = baseline_cache.cache_path(corpus)
    assert second.provenance["bag_of_words"]["obtained"] == "cached"
    assert second.metrics["valence"]["bow"]["obtained"] == f"cached from {path}"
    assert second.value("valence.spearman_bow") == first.value("valence.spearman_bow")


def test_auto_skips_networks_without_words(cache):
    from rnnlens import Network, Sequences

    net = Network.from_parts(rnn=torch.nn.GRU(2, 4, batch_first=True), readout=torch.nn.Linear(4, 1))
    data = Sequences.from_arrays(np.random.default_rng(0).normal(size=(6, 7, 2)), labels=np.array([0, 1, 0, 1, 0, 1]))
    r = analyze(
        net,
        data,
        AnalysisSettings.make(
            n_docs=6,
            n_seeds=4,
            tol_sweep=[],
            n_linear_docs=2,
            manifold_points=4,
            n_transitions=20,
            n_speed=2,
            speed_steps=2,
        ),
        bow="auto",
    )
    assert r.provenance["bag_of_words"] == {
        "obtained": "none",
        "why": "the data are input sequences, not text: there are no words",
    }
    assert not cache.exists()


def _run(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def test_the_command_fits_it_by_default_reuses_it_and_skips_it_with_no_bow(ckpt, tmp_path):
    args = [ckpt, "--n-docs", 40, "--n-seeds", 20, "--tol-sweep", "", "--no-modifiers"]
    r = _run("analyze", *args, "-o", tmp_path / "a")
    assert r.exit_code == 0, r.output
    assert "bag of words: fitted now in" in r.stdout and "fitted now" in r.stderr  # said before and after
    assert re.search(r"analyze \[1/\d+\] documents: documents, visited states and PCA \.\.\.", r.stderr)
    assert re.search(r"analyze \[1/\d+\] documents done: ", r.stderr) and "MiB" in r.stderr
    summary = json.loads((tmp_path / "a" / "summary.json").read_text())
    assert "spearman_bow" in summary["metrics"]["valence"] and summary["provenance"]["section_peak_rss_mib"]
    r = _run("analyze", *args, "-o", tmp_path / "b", "--quiet")
    assert r.exit_code == 0 and r.stderr == ""
    summary = json.loads((tmp_path / "b" / "summary.json").read_text())
    assert summary["provenance"]["bag_of_words"]["obtained"] == "cached"
    r = _run("analyze", *args, "-o", tmp_path / "c", "--no-bow", "--quiet")
    summary = json.loads((tmp_path / "c" / "summary.json").read_text())
    assert summary["provenance"]["bag_of_words"]["obtained"] == "none" and summary["status"] == "partial"
    assert any("bag-of-words" in m["what"] for m in summary["missing"])
    r = _run("analyze", *args, "-o", tmp_path / "d", "--no-bow", "--bow", tmp_path / "x.json")
    assert r.exit_code == 2 and "--bow and --no-bow contradict each other" in r.output
