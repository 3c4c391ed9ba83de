"""Issue 23, item 9c: a checkpoint whose vocabulary does not fit its model (more tokens than the model's
``vocab_size`` rows of embedding) is refused when loaded, with a CheckpointError naming config.json, not
left to fail (or index out of range) inside the first forward pass that meets one of the extra tokens."""

import json

import pytest
import torch

from rnnlens.checkpoint import CONFIG_FILE, load_checkpoint, save_checkpoint
from rnnlens.data import Vocab
from rnnlens.errors import ArgumentError, CheckpointError
from rnnlens.model import SentimentRNN


def _saved(tmp_path):
    torch.manual_seed(0)
    vocab = Vocab.build(["a good film", "a bad film", "not good"])
    model = SentimentRNN(len(vocab), arch="gru", embed_dim=4, hidden_size=5)
    return save_checkpoint(tmp_path / "ck", model, vocab, {"dataset": "synthetic"}), len(vocab)


@pytest.mark.parametrize("extra", [1, 40])
def test_a_vocabulary_longer_than_vocab_size_is_refused_at_load(tmp_path, extra):
    path, n = _saved(tmp_path)
    config = json.loads((path / CONFIG_FILE).read_text())
    config["vocab"]["itos"] += [f"added{i}" for i in range(extra)]
    (path / CONFIG_FILE).write_text(json.dumps(config))
    with pytest.raises(
        CheckpointError,
        match=rf"config\.json: the vocabulary has {n + extra} tokens but the model's "
        rf"embedding has vocab_size={n} rows",
    ):
        load_checkpoint(path)


def test_a_vocabulary_shorter_than_vocab_size_loads(tmp_path):
    # embedding rows no token uses are harmless (a model may reserve rows); every id still has a row
    path, n = _saved(tmp_path)
    config = json.loads((path / CONFIG_FILE).read_text())
    config["vocab"]["itos"] = config["vocab"]["itos"][:-1]
    (path / CONFIG_FILE).write_text(json.dumps(config))
    ck = load_checkpoint(path)
    assert len(ck.vocab) == n - 1 and ck.model.vocab_size == n


def test_saving_a_vocabulary_longer_than_the_model_is_refused_before_writing(tmp_path):
    vocab = Vocab.build(["a good film", "a bad film", "not good"])
    model = SentimentRNN(len(vocab) - 1, arch="gru", embed_dim=4, hidden_size=5)
    with pytest.raises(ArgumentError, match=rf"vocabulary has {len(vocab)} tokens .* vocab_size={len(vocab) - 1}"):
        save_checkpoint(tmp_path / "ck", model, vocab, {})
    assert not (tmp_path / "ck").exists()


def test_a_fitting_vocabulary_loads(tmp_path):
    path, n = _saved(tmp_path)
    ck = load_checkpoint(path)
    assert len(ck.vocab) == ck.model.vocab_size == n
