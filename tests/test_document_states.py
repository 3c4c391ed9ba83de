"""Document states: the fused kernel that Network.sequence_states runs on the CPU gives the step path's states to
the dtype's rounding, also over long documents; padded positions hold the last state; the finiteness check."""

import copy
import math

import pytest
import torch
from torch import nn

from rnnlens.cells import ARCHS
from rnnlens.errors import ArgumentError
from rnnlens.model import SentimentRNN, all_finite, hold_last_state
from rnnlens.network import Network

V = 50
LENGTHS = torch.tensor([40, 3, 1, 17, 40, 25, 9])


def _ids(seed=0):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(1, V, (len(LENGTHS), int(LENGTHS.max())), generator=g)
    ids[torch.arange(ids.shape[1]) >= LENGTHS[:, None]] = 0
    return ids


def _same_states(a, b):
    """Equal to the dtype's rounding (the fused kernel sums its products in another order for some sizes; for
    the analysed networks' sizes in float32 it gives the step path's states bitwise with MKL)."""
    rel = (a - b).norm(dim=-1) / a.norm(dim=-1).clamp_min(1e-12)
    assert rel.max() < (1e-5 if a.dtype == torch.float32 else 1e-13)


def _gathered(hs, lengths):
    """The reference for holding the last state: gather min(t, L - 1)."""
    index = torch.minimum(torch.arange(hs.shape[1])[None], (lengths - 1)[:, None])
    return hs.gather(1, index[..., None].expand(-1, -1, hs.shape[-1]))


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("sizes", [(5, 7), (32, 64)])
def test_fused_states_are_the_step_paths(arch, dtype, sizes):
    torch.manual_seed(0)
    hidden = sizes[1] + (-sizes[1]) % 4 if arch == "s6" else sizes[1]  # the S6 state is channels x 4
    model = SentimentRNN(V, arch=arch, embed_dim=sizes[0], hidden_size=hidden).to(dtype).eval()
    ids = _ids()
    with torch.no_grad():
        exact = model.states(ids, LENGTHS)
        fused = model.states(ids, LENGTHS, fused=True)
        _same_states(exact, fused)
        assert torch.equal(exact, _gathered(model.states(ids), LENGTHS))
        net = Network(model, None)
        _same_states(exact, net.sequence_states(ids, LENGTHS))


@pytest.mark.parametrize("arch", ["vanilla", "gru"])
def test_fused_states_stay_within_rounding_over_long_documents(arch):
    torch.manual_seed(2)
    model = SentimentRNN(V, arch=arch, embed_dim=16, hidden_size=48).eval()
    with torch.no_grad():
        model.cell.rnn.weight_hh_l0.mul_(3.0)  # recurrent weights large enough for long memory
        ids = torch.randint(1, V, (4, 600), generator=torch.Generator().manual_seed(3))
        exact, fused = model.states(ids), model.states(ids, fused=True)
    _same_states(exact, fused)


@pytest.mark.parametrize("kind", [nn.GRU, nn.RNN, nn.LSTM])
def test_a_torch_module_network_states_are_its_step_paths(kind):
    torch.manual_seed(1)
    emb, rnn, lin = nn.Embedding(V, 6), kind(6, 11, batch_first=True), nn.Linear(11, 1)
    net = Network.from_parts(rnn=rnn, readout=lin, embedding=emb, tokenizer=lambda text: [1, 2])
    ids = _ids(1)
    with torch.no_grad():
        exact = _gathered(net.recurrence.run(emb(ids)), LENGTHS)
        _same_states(exact, net.sequence_states(ids, LENGTHS))
    bad = copy.deepcopy(rnn)
    with torch.no_grad():
        next(bad.parameters()).fill_(math.nan)
    net = Network.from_parts(rnn=bad, readout=lin, embedding=emb, tokenizer=lambda text: [1, 2])
    with pytest.raises(ArgumentError, match="states hold NaN or inf"):
        net.sequence_states(ids, LENGTHS)


def test_hold_last_state_is_the_gather_in_place():
    hs = torch.randn(len(LENGTHS), int(LENGTHS.max()), 4)
    want = _gathered(hs, LENGTHS)
    assert hold_last_state(hs, LENGTHS) is hs and torch.equal(hs, want)
    leaf = want.clone().requires_grad_(True)
    held = hold_last_state(leaf * 2, LENGTHS)  # recorded by autograd: a copy, gradients intact
    (grad,) = torch.autograd.grad(held.square().sum(), leaf)
    (grad_ref,) = torch.autograd.grad(_gathered(leaf * 2, LENGTHS).square().sum(), leaf)
    assert torch.equal(held, _gathered(leaf * 2, LENGTHS)) and torch.equal(grad, grad_ref)


def test_all_finite():
    x = torch.randn(3, 5, 4)
    assert all_finite(x) and all_finite(x[:0]) and all_finite(torch.ones(2, dtype=torch.long))
    for bad in (math.nan, math.inf, -math.inf):
        y = x.clone()
        y[1, 2, 3] = bad
        assert not all_finite(y)
    y = x.clone()
    y[0, 0, :2] = torch.tensor([math.inf, -math.inf])  # sums to NaN
    assert not all_finite(y)
    assert all_finite(torch.full((10,), 3e38))  # the sum overflows, every number is finite
