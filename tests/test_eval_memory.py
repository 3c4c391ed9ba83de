"""Issue 23, item 7: evaluation (``evaluate``, the validation of every training epoch, the test metrics) with
documents kept whole (``--max-length 0``) takes bounded memory however long one document is: a batch whose
padded size is over the budget is read in chunks of time steps (the state carried from chunk to chunk), and the
padded batch is never built whole. The numbers are the same as without chunks (to float32 rounding)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

import rnnlens.training as training
from rnnlens.data import Split, Vocab, load_corpus
from rnnlens.model import SentimentRNN
from rnnlens.training import TrainSettings, evaluate, train

WORDS = ["good", "bad", "film", "plot", "the", "a", "not", "great", "awful", "fine"]


def _split(long_tokens: int, n_short: int = 60, seed: int = 0) -> Split:
    rng = np.random.default_rng(seed)
    texts = [" ".join(rng.choice(WORDS, size=int(rng.integers(3, 40)))) for _ in range(n_short)]
    texts.insert(n_short // 2, " ".join(rng.choice(WORDS, size=long_tokens)))
    texts.append(" ".join(rng.choice(WORDS, size=long_tokens // 3)))
    return Split(texts, rng.integers(0, 2, size=len(texts)))


@pytest.fixture
def embedding_calls(monkeypatch):
    """(grad enabled, number of ids) of every embedding lookup."""
    calls = []
    original = torch.nn.Embedding.forward

    def spy(self, ids):
        calls.append((torch.is_grad_enabled(), ids.numel()))
        return original(self, ids)

    monkeypatch.setattr(torch.nn.Embedding, "forward", spy)
    return calls


def _budget_for(model: SentimentRNN, tokens: int) -> int:
    return model.training_memory(1, 1) * tokens


def test_one_long_document_is_read_in_bounded_chunks(monkeypatch, embedding_calls):
    torch.manual_seed(0)
    vocab = Vocab.build(WORDS)
    model = SentimentRNN(len(vocab), arch="gru", embed_dim=8, hidden_size=6)
    monkeypatch.setattr(training, "EVAL_MEMORY_BUDGET", _budget_for(model, 500))
    r = evaluate(model, vocab, _split(3000), batch_size=32)
    assert r["n"] == 62
    assert max(n for _, n in embedding_calls) <= 500


def _same_numbers(a: dict, b: dict) -> None:
    """The same predictions (accuracy) and loss to float32 rounding: a chunk's matrix products have other shapes
    than the whole batch's, which BLAS may round differently in the last bit (GRU's are bitwise equal here)."""
    assert a["accuracy"] == b["accuracy"] and a["n"] == b["n"] and a["n_truncated"] == b["n_truncated"], (a, b)
    assert a["loss"] == pytest.approx(b["loss"], rel=1e-6, abs=1e-7), (a, b)


@pytest.mark.parametrize("arch", ["vanilla", "gru", "lstm", "ugrnn"])
@pytest.mark.parametrize("fast_path", ["fused", "scan"])
def test_chunked_evaluation_gives_the_same_numbers(arch, fast_path):
    torch.manual_seed(1)
    vocab = Vocab.build(WORDS[:7])  # words outside it read as <unk>
    model = SentimentRNN(len(vocab), arch=arch, embed_dim=5, hidden_size=7, num_classes=2 if arch != "lstm" else 3)
    if fast_path not in model.cell.FAST_PATHS:
        pytest.skip(f"{arch} has no {fast_path} path")
    model.cell.fast_path = fast_path
    for seed in range(2):
        split = _split(700, seed=seed)
        if model.num_classes == 3:
            split = Split(split.texts, np.arange(len(split)) % 3)
        whole = evaluate(model, vocab, split, batch_size=16, memory_budget=2**62)
        for tokens in (1, 37, 400):
            _same_numbers(evaluate(model, vocab, split, batch_size=16, memory_budget=_budget_for(model, tokens)), whole)


def test_validation_during_training_is_chunked_with_the_same_result(monkeypatch, embedding_calls, tmp_path):
    corpus = load_corpus(
        "synthetic", n_train=200, n_validation=40, n_test=40, min_length=6, max_length=12, n_neutral=10, n_per_valence=5
    )
    long_doc = " ".join(corpus.splits["validation"].texts * 8)
    val = corpus.splits["validation"]
    corpus.splits["validation"] = Split(val.texts + [long_doc], np.append(val.labels, 1))
    s = TrainSettings(arch="gru", hidden_size=6, embed_dim=4, epochs=2, batch_size=32, max_length=None, num_threads=1)
    plain = train(corpus, s, tmp_path / "a", progress=False, verbose=False)
    embedding_calls.clear()
    monkeypatch.setattr(training, "EVAL_MEMORY_BUDGET", _budget_for(plain.model, 300))
    chunked = train(corpus, s, tmp_path / "b", progress=False, verbose=False)
    assert max(n for grad, n in embedding_calls if not grad) <= 300
    a, b = chunked.record["metrics"], plain.record["metrics"]
    for key in ("validation", "test"):
        _same_numbers(a[key], b[key])
    assert [h["validation_accuracy"] for h in a["history"]] == [h["validation_accuracy"] for h in b["history"]]
    assert a["best_epoch"] == b["best_epoch"]


def test_peak_memory_of_a_long_document_among_short_ones_stays_small(tmp_path):
    # 255 short documents and one of 30,000 tokens in one evaluation batch: padded whole, the batch's
    # embeddings alone would take 256 x 30,000 x 64 x 4 bytes = 2 GB
    script = textwrap.dedent("""
        import resource, sys
        import numpy as np, torch
        from rnnlens.data import Split, Vocab
        from rnnlens.model import SentimentRNN
        from rnnlens.training import evaluate
        torch.set_num_threads(1)
        words = ["good", "bad", "film", "plot"]
        vocab = Vocab.build(words)
        rng = np.random.default_rng(0)
        texts = [" ".join(rng.choice(words, size=20)) for _ in range(255)] + [" ".join(rng.choice(words, size=30000))]
        split = Split(texts, np.arange(256) % 2)
        model = SentimentRNN(len(vocab), arch="gru", embed_dim=64, hidden_size=32)
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        r = evaluate(model, vocab, split, batch_size=256)
        grown = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
        print(r["n"], grown)
    """)
    out = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=300,
        env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"},
    )
    assert out.returncode == 0, out.stderr
    n, grown_mb = out.stdout.split()
    assert int(n) == 256 and float(grown_mb) < 600, out.stdout
