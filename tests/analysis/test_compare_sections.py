"""The sections rnnlens.compare reads: ``trajectories`` (raw states of the first documents, capped) and
``topology`` (the fixed-point graph), saved and loaded like every section."""

import numpy as np
import pytest
import torch

from rnnlens import Network
from rnnlens.analysis import AnalysisSettings, analyze, load_analysis
from rnnlens.checkpoint import save_checkpoint
from rnnlens.data import Vocab, load_corpus
from rnnlens.model import SentimentRNN

SMALL = dict(n_train=200, n_validation=40, n_test=60, min_length=5, max_length=12)
FAST = dict(n_docs=40, n_seeds=30, n_transitions=200, n_speed=5, speed_steps=5, tol_sweep=(), modifiers=None)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    corpus = load_corpus("synthetic", seed=0, **SMALL)
    vocab = Vocab.build(corpus.splits["train"].texts)
    torch.manual_seed(0)
    model = SentimentRNN(len(vocab), arch="gru", embed_dim=6, hidden_size=8)
    path = tmp_path_factory.mktemp("ck") / "gru"
    save_checkpoint(path, model, vocab, {"dataset": "synthetic", "data_fingerprint": corpus.fingerprint()})
    return corpus, path


def test_trajectories_and_topology_are_saved(setup, tmp_path):
    corpus, ckpt = setup
    analyze(ckpt, corpus, AnalysisSettings.make(n_trajectories=5, **FAST), out_dir=tmp_path / "an")
    a = load_analysis(tmp_path / "an")
    lengths, states, pos = a.arrays["traj_lengths"], a.arrays["traj_states"], a.arrays["traj_positions"]
    assert states.dtype == np.float32 and states.shape == (lengths.sum(), 8) and len(pos) == 5
    assert a.value("trajectories.n_saved") == 5 and a.value("trajectories.n_left_out") == 0
    # the saved states are the network's own on those documents of the split
    net = Network.resolve(ckpt)
    ids = torch.as_tensor(net.vocab.encode(corpus.splits["test"].texts[pos[0]]))[None]
    with torch.no_grad():
        h = net.sequence_states(ids, torch.tensor([ids.shape[1]]))[0].numpy()
    np.testing.assert_allclose(states[: lengths[0]], h, atol=1e-5)
    # the graph: its arrays agree with its metrics
    idx, edges = a.arrays["topo_index"], a.arrays["topo_edges"]
    assert a.value("topology.counts_by_index") == np.bincount(idx, minlength=1).tolist()
    assert a.value("topology.n_edges") == len(edges) and edges.shape[1] == 2
    assert a.value("topology.n_nodes") == len(idx) >= a.value("modes.n_distinct")


def test_the_cap_keeps_whole_documents_and_the_sections_switch_off(setup):
    corpus, ckpt = setup
    r = analyze(ckpt, corpus, AnalysisSettings.make(n_trajectories=10, max_trajectory_values=200, **FAST))
    n = r.value("trajectories.n_saved")
    assert 0 < n < 10 and r.value("trajectories.n_left_out") == 10 - n
    assert r.arrays["traj_states"].size <= 200
    off = analyze(ckpt, corpus, AnalysisSettings.make(n_trajectories=0, fixed_point_graph="off", **FAST))
    assert "traj_states" not in off.arrays and "topo_index" not in off.arrays
