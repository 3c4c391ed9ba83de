"""Tokenizer, vocabulary, encoding (truncation counts) and length-bucketed batches."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from rnnlens.data import Split, Vocab, batches, encode, tokenize
from rnnlens.errors import ArgumentError, DataError


@pytest.mark.parametrize(
    "text,tokens",
    [
        ("Great movie!<br /><br />I loved it.", ["great", "movie", "!", "i", "loved", "it", "."]),
        ("I don't think it's bad", ["i", "do", "n't", "think", "it", "'s", "bad"]),
        ("Can't, WON'T; isn’t", ["ca", "n't", ",", "wo", "n't", ";", "is", "n't"]),
        ("we've they'll I'd I'm you're", ["we", "'ve", "they", "'ll", "i", "'d", "i", "'m", "you", "'re"]),
        (
            "Wait... what?!! -- a re-imagining (7/10)",
            ["wait", "...", "what", "?", "!!", "--", "a", "re-imagining", "(", "7", "/", "10", ")"],
        ),
        ("'Quoted' crème brûlée<BR>end", ["'", "quoted", "'", "crème", "brûlée", "end"]),
        ("it 's a charming journey . ", ["it", "'s", "a", "charming", "journey", "."]),  # SST text unchanged
    ],
)
def test_tokenize(text, tokens):
    assert tokenize(text) == tokens


def test_vocab_build_counts_order_and_limits():
    texts = ["b a a c", "a b d", "a"]  # a:4 b:2 c:1 d:1
    v = Vocab.build(texts)
    assert v.itos == ["<pad>", "<unk>", "a", "b", "c", "d"]  # frequency, then alphabetical
    assert v.stoi["<pad>"] == 0 and v.stoi["<unk>"] == 1 and len(v) == 6
    assert Vocab.build(texts, min_count=2).itos == ["<pad>", "<unk>", "a", "b"]
    small = Vocab.build(texts, max_size=3)
    assert small.itos == ["<pad>", "<unk>", "a"] and small.settings["n_types_seen"] == 4
    assert v.encode("a zzz d").tolist() == [2, 1, 5] and v.encode("a").dtype == np.int64
    assert v.decode([2, 1]) == ["a", "<unk>"]
    restored = Vocab.from_dict(json.loads(json.dumps(v.to_dict())))
    assert restored == v and restored.stoi == v.stoi and restored.settings == v.settings
    assert Vocab.build([["x", "y", "x"]]).itos == ["<pad>", "<unk>", "x", "y"]  # pre-tokenized input


def test_vocab_errors():
    with pytest.raises(ArgumentError, match="max_size"):
        Vocab.build(["a"], max_size=1)
    with pytest.raises(ArgumentError, match="min_count"):
        Vocab.build(["a"], min_count=0)
    with pytest.raises(ArgumentError, match="must start with"):
        Vocab.from_dict({"itos": ["a", "<pad>"]})
    with pytest.raises(ArgumentError, match="itos"):
        Vocab.from_dict({"tokens": []})


def _split(lengths, seed=0):
    rng = np.random.default_rng(seed)
    texts = [" ".join(f"w{rng.integers(20)}" for _ in range(n)) for n in lengths]
    return Split(texts, rng.integers(0, 2, len(lengths)))


def test_encode_keeps_whole_documents_and_counts_cuts():
    split = _split([3, 10, 7, 12])
    v = Vocab.build(split.texts)
    whole = encode(v, split)
    assert [len(x) for x in whole.ids] == [3, 10, 7, 12] and whole.n_truncated == 0
    cut = encode(v, split, max_length=7)
    assert [len(x) for x in cut.ids] == [3, 7, 7, 7] and cut.n_truncated == 2 and len(cut) == 4
    assert cut.ids[1].tolist() == whole.ids[1][:7].tolist()  # the first tokens are kept
    assert cut.labels.tolist() == split.labels.tolist()
    with pytest.raises(DataError, match="document 1 has no tokens"):
        encode(v, Split(["a", "<br />"], [0, 1]))
    with pytest.raises(ArgumentError, match="max_length"):
        encode(v, split, max_length=0)


def test_batches_cover_every_document_once_and_match_rows():
    lengths = np.random.default_rng(1).integers(1, 80, 1003)
    split = _split(lengths)
    enc = encode(Vocab.build(split.texts), split)
    for shuffle in (False, True):
        seen = []
        for b in batches(enc, 32, shuffle=shuffle, seed=5, epoch=2):
            assert b.ids.dtype == b.lengths.dtype == b.labels.dtype == b.index.dtype == torch.int64
            assert b.ids.shape == (len(b), int(b.lengths.max())) and int(b.lengths.min()) >= 1
            for row, i in enumerate(b.index.tolist()):
                n = int(b.lengths[row])
                assert b.ids[row, :n].tolist() == enc.ids[i].tolist() and (b.ids[row, n:] == 0).all()
                assert int(b.labels[row]) == enc.labels[i]
            seen += b.index.tolist()
        assert sorted(seen) == list(range(1003))


def test_batches_deterministic_per_seed_and_epoch_and_cheap_padding():
    lengths = np.random.default_rng(2).integers(1, 200, 2000)
    split = _split(lengths)
    enc = encode(Vocab.build(split.texts), split)

    def order(**kw):
        return [b.index.tolist() for b in batches(enc, 16, shuffle=True, **kw)]

    assert order(seed=1, epoch=0) == order(seed=1, epoch=0)
    assert order(seed=1, epoch=0) != order(seed=1, epoch=1)
    assert order(seed=1, epoch=0) != order(seed=2, epoch=0)
    # padding: fraction of pad cells over all cells, bucketed vs one random permutation of batches
    padded = sum(b.ids.numel() for b in batches(enc, 16, shuffle=True, seed=1))
    perm = np.random.default_rng(0).permutation(len(lengths))
    naive = sum(16 * lengths[perm[i : i + 16]].max() for i in range(0, len(perm), 16))
    assert padded / lengths.sum() < 1.05 < 1.5 < naive / lengths.sum()
    sorted_batches = list(batches(enc, 16, shuffle=False))
    assert [int(b.lengths.max()) for b in sorted_batches] == sorted(int(b.lengths.max()) for b in sorted_batches)
    with pytest.raises(ArgumentError, match="batch_size"):
        next(batches(enc, 0, shuffle=False))


def test_encode_rows_and_skip_empty_count_what_was_left_out():
    from rnnlens.data import Split, Vocab, encode

    split = Split(["good film", "", "bad", "...", "good bad film"], np.array([1, 0, 0, 1, 1]))
    vocab = Vocab.build(split.texts)
    enc = encode(vocab, split, rows=[4, 1, 2], skip_empty=True)
    assert enc.index.tolist() == [4, 2] and enc.n_empty == 1
    assert enc.labels.tolist() == [1, 0] and [len(x) for x in enc.ids] == [3, 1]
    with pytest.raises(DataError, match="document 1 has no tokens"):
        encode(vocab, split)
