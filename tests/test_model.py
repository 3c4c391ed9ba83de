"""SentimentRNN: readout of the last valid state, fast path vs step path, readout matrix, errors."""

import pytest
import torch

from rnnlens.cells import ARCHS
from rnnlens.errors import ArgumentError
from rnnlens.model import SentimentRNN

V, E, H = 30, 5, 7
LENGTHS = torch.tensor([10, 4, 1, 7])


def _batch(seed=0):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(2, V, (len(LENGTHS), int(LENGTHS.max())), generator=g)
    ids[torch.arange(ids.shape[1]) >= LENGTHS[:, None]] = 0  # pad with 0
    return ids


def _hidden(arch):
    return 8 if arch == "s6" else H  # the S6 state is channels x 4


def _model(arch, num_classes=2):
    torch.manual_seed(0)
    return SentimentRNN(V, arch=arch, embed_dim=E, hidden_size=_hidden(arch), num_classes=num_classes)


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("num_classes", [2, 3])
def test_forward_reads_last_valid_state(arch, num_classes):
    model = _model(arch, num_classes)
    ids = _batch()
    logits = model(ids, LENGTHS)
    assert logits.shape == ((4,) if num_classes == 2 else (4, num_classes))
    hs = model.states(ids)  # exact path, every position read
    expected = model.logits_from_state(hs[torch.arange(4), LENGTHS - 1])
    assert (logits - expected).abs().max().item() < 1e-5
    # states with lengths repeat the last valid state past the end
    held = model.states(ids, LENGTHS)
    assert (model.logits_from_state(held[:, -1]) - logits).abs().max().item() < 1e-5
    assert torch.equal(held[3, 7:], hs[3, 6].expand(3, -1))
    # appending padding does not change the logits
    padded = torch.cat([ids, torch.zeros(4, 6, dtype=torch.long)], 1)
    assert (model(padded, LENGTHS) - logits).abs().max().item() < 1e-6


def test_one_past_the_end_would_differ():
    """Guard against the off-by-one: the state one step past the end gives different logits."""
    model = _model("gru")
    ids = _batch()
    past = model.logits_from_state(model.states(ids)[0:2, LENGTHS[1]])[1]
    assert abs(past.item() - model(ids, LENGTHS)[1].item()) > 1e-4


@pytest.mark.parametrize("arch", ARCHS)
def test_readout_matrix_and_config(arch):
    model = _model(arch, 3)
    S = model.cell.state_size
    R = model.readout_matrix()
    assert R.shape == (3, S)
    if arch in ("lstm", "lru"):  # the readout sees h (not c), Re z (not Im z)
        assert torch.equal(R[:, H:], torch.zeros(3, H))
    h = torch.randn(5, S)
    assert torch.allclose(h @ R.t() + model.readout.bias, model.logits_from_state(h), atol=1e-6)
    assert model.config() == dict(vocab_size=V, arch=arch, embed_dim=E, hidden_size=_hidden(arch), num_classes=3)
    clone = SentimentRNN(**model.config())
    clone.load_state_dict(model.state_dict())
    ids = _batch(1)
    assert torch.equal(clone(ids, LENGTHS), model(ids, LENGTHS))


def test_padding_embedding_is_zero_and_binary_has_one_logit():
    model = _model("ugrnn")
    assert torch.equal(model.embedding.weight[0], torch.zeros(E))
    assert model.readout.out_features == 1 and model.n_out == 1


def test_user_errors_are_clear():
    with pytest.raises(ArgumentError, match="arch='cnn'"):
        SentimentRNN(V, arch="cnn")
    with pytest.raises(ArgumentError, match="num_classes must be an integer >= 2, got 1"):
        SentimentRNN(V, num_classes=1)
    model = _model("gru")
    ids = _batch()
    bad = ids.clone()
    bad[0, 0] = V
    with pytest.raises(ArgumentError, match=r"token ids must lie in \[0, vocab_size=30\).*to 30"):
        model(bad, LENGTHS)
    with pytest.raises(ArgumentError, match=r"lengths must lie in \[1, 10\].*from 0 to 10"):
        model(ids, torch.tensor([10, 0, 1, 7]))
    with pytest.raises(ArgumentError, match="lengths is required"):
        model(ids, None)
    with pytest.raises(ArgumentError, match="ids must be an integer tensor"):
        model(ids.float(), LENGTHS)
    with pytest.raises(ArgumentError, match="last dimension state_size=7"):
        model.logits_from_state(torch.zeros(2, 14))
