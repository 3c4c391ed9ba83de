"""A readout that is a callable on the final state (an MLP head): its predictions are its own, the analysis reads
it through its linearization (the Jacobian averaged over the analysed final states), and that is checked against
finite differences and against the exact linear case."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from rnnlens import Network
from rnnlens.analysis import AnalysisSettings, analyze
from rnnlens.data import Vocab, load_corpus
from rnnlens.errors import ArgumentError

FAST = dict(
    n_docs=40,
    n_seeds=20,
    n_transitions=200,
    n_speed=10,
    speed_steps=5,
    tol_sweep=(),
    n_linear_docs=10,
    manifold_points=12,
    relax_steps=20,
    modifiers=None,
)


def _net(head, dtype=torch.float64, layers=2):
    torch.manual_seed(0)
    emb, lstm = nn.Embedding(12, 4), nn.LSTM(4, 5, num_layers=layers)
    for m in (emb, lstm, head):
        if isinstance(m, nn.Module):
            m.to(dtype)
    return Network.from_parts(rnn=lstm, readout=head, embedding=emb)


def _mlp(classes=1):
    torch.manual_seed(1)
    return nn.Sequential(nn.Linear(5, 7), nn.Tanh(), nn.Linear(7, classes))


@pytest.mark.parametrize("classes", [1, 3])
def test_an_mlp_readout_predicts_with_its_own_output_and_linearizes_to_its_mean_jacobian(classes):
    head = _mlp(classes)
    net = _net(head)
    H = torch.randn(9, net.state_size, dtype=torch.float64)
    top = H[:, 10:15]  # state [h_0, c_0, h_1, c_1]: the head reads h_1
    want = head(top).squeeze(-1) if classes == 1 else head(top)
    assert torch.equal(net.logits(H), want)
    with pytest.raises(ArgumentError, match="call network.linearize_readout"):
        net.readout_matrix()
    lin = net.linearize_readout(H.numpy())
    W, b = lin.readout_matrix(), lin.readout_bias()
    # central differences of the head's outputs, averaged over the 9 states
    eps, fd = 1e-6, np.zeros((classes, net.state_size))
    for j in range(net.state_size):
        d = torch.zeros(net.state_size, dtype=torch.float64)
        d[j] = eps
        up, down = lin.logits(H + d).reshape(9, classes), lin.logits(H - d).reshape(9, classes)
        fd[:, j] = ((up - down) / (2 * eps)).mean(0).detach().numpy()
    assert np.abs(W - fd).max() < 1e-8
    assert np.all(W[:, :10] == 0) and np.all(W[:, 15:] == 0)  # nothing of the lower layer or the c's
    y = lin.logits(H).reshape(9, classes).detach().numpy()
    assert np.allclose(b, (y - H.numpy() @ W.T).mean(0), atol=1e-12)
    assert 0.0 < lin.readout.r2 < 1.0 and lin.readout.n_states == 9


def test_a_linear_callable_linearizes_to_its_own_weights_exactly():
    linear = nn.Linear(5, 1).double()
    net = _net(lambda h: linear(h))
    lin = net.linearize_readout(torch.randn(4, net.state_size, dtype=torch.float64).numpy())
    assert np.allclose(lin.readout_matrix()[0, 10:15], linear.weight.detach().numpy()[0], atol=1e-15)
    assert lin.readout_bias()[0] == pytest.approx(float(linear.bias.detach()), abs=1e-12)
    assert lin.readout.r2 == pytest.approx(1.0, abs=1e-12)


POOLED = nn.Linear(5, 1).double()


@pytest.mark.parametrize(
    "head, message",
    [
        (lambda states: POOLED(states.mean(1)), "failed on final states [3, 5]"),  # pools [B, T, H] over time
        (lambda h: h[:, :, None], "gave Tensor of shape (3, 5, 1)"),
        (lambda h: h.sum().item(), "gave float of shape ()"),
        ("not callable", "got str"),
    ],
)
def test_a_readout_that_is_not_a_function_of_the_final_state_is_refused(head, message):
    with pytest.raises(ArgumentError) as info:
        _net(head)
    assert message in str(info.value) and "Pooling or attention over all states" in str(info.value)


def test_the_analysis_reads_an_mlp_head_through_its_linearization_at_the_final_states(tmp_path):
    corpus = load_corpus("synthetic", seed=0, n_train=200, n_validation=30, n_test=60, min_length=5, max_length=12)
    vocab = Vocab.build(corpus.splits["train"].texts)
    torch.manual_seed(0)
    emb, gru = nn.Embedding(len(vocab), 4), nn.GRU(4, 5)
    net = Network.from_parts(rnn=gru, readout=_mlp(), embedding=emb, tokenizer=vocab)
    result = analyze(net, corpus, AnalysisSettings.make(**FAST), out_dir=tmp_path)
    r2 = result.value("data.readout_linear_r2")
    assert 0.0 < r2 <= 1.0 and "40 states" in result.node("data.readout_linear_r2")["definition"]
    # the matrix the sections used is the head's Jacobian averaged over the analysed documents' final states
    from rnnlens.analysis.inputs import select_documents

    d = result.settings.documents
    docs = select_documents(net.vocab, corpus.splits[d.split], d.n_docs, d.max_length, d.seed)
    finals = np.stack([t[-1] for t in docs.states(net)])
    want = net.linearize_readout(finals)
    assert np.allclose(result.arrays["readout_matrix"], want.readout_matrix(), atol=1e-6)
    assert result.value("data.rnn_accuracy") == pytest.approx(
        float((net.predict(torch.from_numpy(finals)) == docs.labels).mean())
    )


def test_the_explorer_reads_with_an_mlp_head_linearized_as_its_analysis_was(tmp_path):
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from rnnlens.explore.app import create_app
    from rnnlens.explore.engine import load_models

    corpus = load_corpus("synthetic", seed=0, n_train=200, n_validation=30, n_test=60, min_length=5, max_length=12)
    vocab = Vocab.build(corpus.splits["train"].texts)
    torch.manual_seed(0)
    net = Network.from_parts(rnn=nn.GRU(4, 5), readout=_mlp(), embedding=nn.Embedding(len(vocab), 4), tokenizer=vocab)
    result = analyze(net, corpus, AnalysisSettings.make(**FAST), out_dir=tmp_path / "an")
    (model,) = load_models([net], [tmp_path / "an"], progress=False)
    assert np.array_equal(model.network.readout_matrix(), result.arrays["readout_matrix"])
    text = f"{vocab.itos[2]} {vocab.itos[3]} {vocab.itos[4]}"
    out = TestClient(create_app([model])).post("/api/read", json={"model": model.name, "text": text}).json()
    # the page's readout is the head's own logit of every state (the initial one first), not the linearization's
    states = torch.cat([net.init_state(1), net.quick_states(torch.tensor([[2, 3, 4]]))[0]])
    assert np.allclose(out["readout"], net.logits(states).detach().numpy(), atol=1e-4)
