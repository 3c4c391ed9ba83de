"""A Network built from a user's own parts (plain torch modules, any tokenizer): the same analysis as the
native path, stacked RNNs as one system, and clear errors for what is not a dynamical system."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
import torch
from torch import nn

from rnnlens import Network
from rnnlens.analysis import AnalysisSettings, analyze
from rnnlens.checkpoint import save_checkpoint
from rnnlens.data import Vocab, load_corpus
from rnnlens.errors import ArgumentError
from rnnlens.model import SentimentRNN
from rnnlens.training import TrainSettings, train

SMALL = dict(n_train=300, n_validation=40, n_test=80, min_length=5, max_length=14)
FAST = dict(
    n_docs=50,
    n_seeds=30,
    n_transitions=300,
    n_speed=10,
    speed_steps=5,
    tol_sweep=(),
    n_linear_docs=20,
    manifold_points=16,
    relax_steps=30,
    modifiers=None,
)


@pytest.fixture(scope="module")
def corpus():
    return load_corpus("synthetic", seed=0, **SMALL)


@pytest.fixture(scope="module")
def trained_gru(tmp_path_factory, corpus):
    s = TrainSettings(
        arch="gru", hidden_size=12, embed_dim=8, epochs=2, batch_size=32, lr=1e-2, num_threads=1, checkpoint_every=0
    )
    return train(corpus, s, tmp_path_factory.mktemp("gru") / "ck", resume=False, progress=False)


def _flat(d, prefix=""):
    if isinstance(d, dict):
        return {k2: v2 for k, v in d.items() for k2, v2 in _flat(v, f"{prefix}.{k}" if prefix else k).items()}
    return {prefix: json.dumps(d, default=str)}


def test_a_checkpoint_exported_to_plain_torch_gives_the_same_analysis(trained_gru, corpus):
    m = trained_gru.model
    parts = Network.from_parts(
        rnn=copy.deepcopy(m.cell.rnn),
        readout=copy.deepcopy(m.readout),
        embedding=copy.deepcopy(m.embedding),
        tokenizer=trained_gru.vocab,
    )
    settings = AnalysisSettings.make(**FAST)
    bow = {w: float(v) for w, v in corpus.truth.valence.items()}
    native, mine = analyze(trained_gru, corpus, settings, bow=bow), analyze(parts, corpus, settings, bow=bow)
    a, b = _flat(native.metrics), _flat(mine.metrics)
    assert set(a) == set(b) and len(a) > 150
    assert [k for k in a if a[k] != b[k]] == []  # every metric, exactly (the untrained null too)
    assert [c["passed"] for c in native.checks] == [c["passed"] for c in mine.checks]
    for name in native.arrays:
        np.testing.assert_array_equal(native.arrays[name], mine.arrays[name], err_msg=name)
    assert mine.provenance["model"]["parts"]["rnn"].startswith("GRU(8, 12")


def test_a_two_layer_lstm_written_in_plain_torch_is_one_system(corpus, tmp_path):
    vocab = Vocab.build(corpus.splits["train"].texts)
    torch.manual_seed(0)
    emb, lstm, lin = nn.Embedding(len(vocab), 6), nn.LSTM(6, 5, num_layers=2, batch_first=False), nn.Linear(5, 1)
    net = Network.from_parts(rnn=lstm, readout=lin, embedding=emb, tokenizer=vocab, num_classes=2)
    assert net.state_size == 2 * 2 * 5 and net.num_classes == 2
    W = net.readout_matrix()
    # state [h_0, c_0, h_1, c_1]: the readout reads h_1, the top layer's h
    assert np.array_equal(W[:, 10:15], lin.weight.detach().double().numpy())
    assert not W[:, :10].any() and not W[:, 15:].any()
    # the final state's top h is what the module itself outputs last; the readout reads it
    ids = torch.tensor([vocab.encode("good film").tolist() + [1]])
    with torch.no_grad():
        out, _ = lstm(emb(ids).transpose(0, 1))
        state = net.sequence_states(ids, torch.tensor([ids.shape[1]]))[0, -1]
    np.testing.assert_allclose(state[10:15].numpy(), out[-1, 0].numpy(), atol=1e-6)
    np.testing.assert_allclose(
        net.logits(state[None]).detach().numpy(), lin(out[-1]).squeeze(-1).detach().numpy(), atol=1e-6
    )
    r = analyze(net, corpus, AnalysisSettings.make(**FAST), out_dir=tmp_path / "an")
    assert r.value("data.state_size") == 20 and r.value("fixed_points.n_seeds") == 30
    # every fixed point under tol is one: one float64 step of the stack moves it by q < tol
    fps = r.fixed_points
    pts = torch.as_tensor(fps.points)[torch.as_tensor(fps.converged)].double()
    assert len(pts) > 0
    from rnnlens.steps import torch_rnn_step

    with torch.no_grad():
        F = torch_rnn_step(copy.deepcopy(lstm).double())(torch.zeros(len(pts), 6, dtype=torch.float64), pts)
    assert float(((F - pts) ** 2).mean(1).max()) < 1e-8
    from rnnlens.report import make_report

    assert "Checks against the paper" in make_report([tmp_path / "an"], tmp_path / "rep").read_text()


def test_a_callable_or_hugging_face_tokenizer(corpus):
    vocab = Vocab.build(corpus.splits["train"].texts)
    torch.manual_seed(0)
    emb, gru, lin = nn.Embedding(len(vocab), 4), nn.GRU(4, 3, batch_first=True), nn.Linear(3, 1)
    mine = Network.from_parts(rnn=gru, readout=lin, embedding=emb, tokenizer=lambda text: vocab.encode(text))
    assert mine.itos is None and mine.vocab.encode("good film").tolist() == vocab.encode("good film").tolist()
    tokenizers = pytest.importorskip("tokenizers")
    hf = tokenizers.Tokenizer(tokenizers.models.WordLevel({t: i for i, t in enumerate(vocab.itos)}, unk_token="<unk>"))
    hf.pre_tokenizer = tokenizers.pre_tokenizers.Whitespace()
    net = Network.from_parts(rnn=gru, readout=lin, embedding=emb, tokenizer=hf)
    assert net.itos == vocab.itos and net.vocab.unk_id == 1
    assert net.vocab.encode("good film zzzz").tolist() == vocab.encode("good film zzzz").tolist()


class MeanOverTime(nn.Module):
    """A readout of the mean over time of all states ``[B, T, H]``: not a readout of the final state."""

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(3, 1)

    def forward(self, states):
        return self.linear(states.mean(1))


def _parts(vocab_size=10, classes=1):
    return nn.Embedding(vocab_size, 4), nn.GRU(4, 3, batch_first=True), nn.Linear(3, classes)


@pytest.mark.parametrize(
    "case, message",
    [
        ("bidirectional", "GRU with bidirectional=True: a bidirectional RNN reads the sequence backwards too"),
        (
            "pooling",
            "the readout must be an nn.Linear or a callable on the final state's top-layer h ([B, 3] -> logits "
            "[B] or [B, k]); MeanOverTime gave Tensor of shape (1,) for final states [3, 3]",
        ),
        (
            "classes",
            "the readout has 1 output(s), which is 2 classes (1 output: a binary classifier; k outputs: k "
            "classes), not num_classes=3",
        ),
        ("width", "the embedding gives vectors of 5 numbers but the recurrence reads inputs of 4"),
        ("readout_width", "the readout reads 7 numbers but the recurrence's readout part has 3"),
    ],
)
def test_what_is_not_one_system_read_out_at_its_final_state_is_refused(case, message):
    emb, gru, lin = _parts()
    kw = dict(rnn=gru, readout=lin, embedding=emb)
    if case == "bidirectional":
        kw["rnn"] = nn.GRU(4, 3, bidirectional=True)
    elif case == "pooling":
        kw["readout"] = MeanOverTime()
    elif case == "classes":
        kw["num_classes"] = 3
    elif case == "width":
        kw["embedding"] = nn.Embedding(10, 5)
    elif case == "readout_width":
        kw["readout"] = nn.Linear(7, 1)
    with pytest.raises(ArgumentError) as info:
        Network.from_parts(**kw)
    assert message in str(info.value)


def test_token_ids_outside_the_embedding_are_refused_with_the_reason():
    emb, gru, lin = _parts(vocab_size=5)
    net = Network.from_parts(rnn=gru, readout=lin, embedding=emb, tokenizer=lambda text: [1, 2, 9])
    with pytest.raises(ArgumentError, match=r"token ids from 1 to 9, outside the embedding's 5 rows"):
        net.sequence_states(torch.tensor([[1, 2, 9]]), torch.tensor([3]))


def test_an_lstm_checkpoint_exported_to_plain_torch_steps_alike(tmp_path):
    # one layer: the adapter runs the rnnlens cell with the module's weights, so the states are those of the
    # native path exactly; a stacked module is stepped from its own weights
    torch.manual_seed(1)
    model = SentimentRNN(12, arch="lstm", embed_dim=4, hidden_size=3)
    vocab = Vocab(["<pad>", "<unk>", *[f"w{i}" for i in range(10)]])
    save_checkpoint(tmp_path / "ck", model, vocab, {"dataset": "synthetic"})
    native = Network.resolve(tmp_path / "ck")
    parts = Network.from_parts(
        rnn=copy.deepcopy(model.cell.rnn),
        readout=copy.deepcopy(model.readout),
        embedding=copy.deepcopy(model.embedding),
        tokenizer=vocab,
    )
    ids, lengths = torch.tensor([[2, 3, 4, 0], [5, 6, 0, 0]]), torch.tensor([3, 2])
    assert torch.equal(native.sequence_states(ids, lengths), parts.sequence_states(ids, lengths))
    assert np.array_equal(native.readout_matrix(), parts.readout_matrix())


USER_FILE = """
import torch
from torch import nn

import rnnlens
from rnnlens.data import Vocab, load_corpus


def build():
    corpus = load_corpus("synthetic", seed=0, n_train=300, n_validation=40, n_test=80, min_length=5, max_length=14)
    vocab = Vocab.build(corpus.splits["train"].texts)
    torch.manual_seed(0)
    return rnnlens.Network.from_parts(rnn=nn.LSTM(6, 5, num_layers=2), readout=nn.Linear(5, 1),
                                      embedding=nn.Embedding(len(vocab), 6), tokenizer=vocab)


def not_a_network():
    return 42
"""


def test_the_command_line_analyses_a_network_from_the_users_file(tmp_path, monkeypatch):
    monkeypatch.setenv("RNNLENS_CACHE_DIR", str(tmp_path / "cache"))  # analyze fits its bag of words there
    from click.testing import CliRunner

    from rnnlens.cli import main

    (tmp_path / "my_model.py").write_text(USER_FILE)
    corpus_opts = [a for k, v in SMALL.items() for a in ("--option", f"{k}={v}")]
    args = [
        "analyze",
        "--network",
        f"{tmp_path / 'my_model.py'}:build",
        "--dataset",
        "synthetic",
        *corpus_opts,
        "--n-docs",
        "30",
        "--n-seeds",
        "20",
        "--tol-sweep",
        "",
        "--no-modifiers",
        "--n-transitions",
        "200",
        "-o",
        str(tmp_path / "an"),
        "--quiet",
    ]
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 0, r.output
    summary = json.loads((tmp_path / "an" / "summary.json").read_text())
    assert summary["provenance"]["model"]["arch"] == "LSTM x2"
    assert summary["metrics"]["data"]["state_size"]["value"] == 20
    for bad, message in (
        (
            ["--network", f"{tmp_path / 'my_model.py'}:not_a_network", "--dataset", "synthetic"],
            "not_a_network() returned a int, not an rnnlens.Network",
        ),
        (["--network", f"{tmp_path / 'my_model.py'}:nothing", "--dataset", "synthetic"], "has no function 'nothing'"),
        (["--network", f"{tmp_path / 'missing.py'}:build", "--dataset", "synthetic"], "is not a file"),
        (["--network", f"{tmp_path / 'my_model.py'}:build"], "--network needs --dataset"),
        ([], "give a CHECKPOINT folder or --network FILE.py:FUNCTION"),
    ):
        r = CliRunner().invoke(main, ["analyze", *bad, "-o", str(tmp_path / "x")])
        assert r.exit_code == 2 and message in r.output, r.output


def test_the_explorer_reads_a_text_with_a_users_network_and_tokenizer(corpus, tmp_path):
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from rnnlens.explore.app import create_app
    from rnnlens.explore.engine import load_models

    vocab = Vocab.build(corpus.splits["train"].texts)
    torch.manual_seed(0)
    emb, lstm, lin = nn.Embedding(len(vocab), 6), nn.LSTM(6, 5, num_layers=2), nn.Linear(5, 1)
    with_vocab = Network.from_parts(rnn=lstm, readout=lin, embedding=emb, tokenizer=vocab)
    with_callable = Network.from_parts(rnn=lstm, readout=lin, embedding=emb, tokenizer=vocab.encode)
    analyze(with_vocab, corpus, AnalysisSettings.make(**FAST), out_dir=tmp_path / "an")
    with pytest.raises(ArgumentError, match="records no corpus to analyse it on"):
        load_models([with_vocab], progress=False)
    models = load_models([with_vocab, with_callable], [tmp_path / "an", tmp_path / "an"], progress=False)
    assert [m.name for m in models] == ["LSTM x2", "LSTM x2-2"]
    client = TestClient(create_app(models))
    text = f"{vocab.itos[2]} {vocab.itos[3]} zzzz"
    a = client.post("/api/read", json={"model": "LSTM x2", "text": text}).json()
    b = client.post("/api/read", json={"model": "LSTM x2-2", "text": text}).json()
    assert a["tokens"] == [vocab.itos[2], vocab.itos[3], "zzzz"] and a["unknown"] == [False, False, True]
    assert b["tokens"] == ["2", "3", "1"] and b["readout"] == a["readout"]  # a tokenizer without a word list


def test_the_modifier_section_runs_on_a_stacked_torch_network():
    # the modifier analysis linearizes the user's float32 stack at float64 points (the step as as_step wraps it)
    corpus = load_corpus(
        "synthetic",
        seed=0,
        n_train=300,
        n_validation=40,
        n_test=80,
        min_length=5,
        max_length=14,
        negation=True,
        intensifier=True,
    )
    vocab = Vocab.build(corpus.splits["train"].texts)
    torch.manual_seed(0)
    net = Network.from_parts(
        rnn=nn.LSTM(6, 5, num_layers=2), readout=nn.Linear(5, 1), embedding=nn.Embedding(len(vocab), 6), tokenizer=vocab
    )
    s = AnalysisSettings.make(
        **{**FAST, "modifiers": ["not", "very"]},
        n_contexts=20,
        n_boot=0,
        n_eig_contexts=5,
        max_gap=3,
        return_steps=4,
        n_words=5,
        n_neutral=10,
        min_count=1,
    )
    r = analyze(net, corpus, s)
    factor = r.value("modifiers.factor")
    assert set(factor) == {"not", "very"} and all(len(v) == 3 and np.isfinite(v).all() for v in factor.values())
