"""The training choices of the paper's recipe: weight initialisation, a trained initial state, Adam's epsilon, an
L2 penalty in the loss, per-step learning-rate decay and dropping long documents; each checked against what it
should do (closed forms, gradients, counts), through `train` and the command line."""

import json
import math

import numpy as np
import pytest
import torch

from rnnlens.cells import ARCHS, make_cell
from rnnlens.checkpoint import load_checkpoint
from rnnlens.constants import PAPER_ARCHS
from rnnlens.data import Corpus, Split, encode, load_corpus
from rnnlens.errors import ArgumentError, DataError
from rnnlens.model import SentimentRNN
from rnnlens.network import Network
from rnnlens.training import TrainSettings, _comparable, _l2_term, train

SMALL = dict(n_train=600, n_validation=120, n_test=120, min_length=5, max_length=40, n_neutral=20, n_per_valence=10)
FAST = dict(
    arch="vanilla",
    embed_dim=8,
    hidden_size=16,
    epochs=2,
    lr=1e-2,
    batch_size=32,
    num_threads=1,
    checkpoint_every=0,
    patience=None,
)


@pytest.fixture(scope="module")
def corpus():
    return load_corpus("synthetic", **SMALL)


# ------------------------------------------------------------------ initialisation


@pytest.mark.parametrize("arch", PAPER_ARCHS)  # the others have no recurrent matrix (tests/test_diagonal_cells.py)
def test_normal_init_draws_each_gate_block_with_std_gain_over_root_fan_in(arch):
    torch.manual_seed(0)
    cell = make_cell(arch, 96, 192).initialize("normal", 0.9, "normal", 1.5)
    W, U = cell._weight_matrices()
    for block in U.detach().split(192, 0):
        assert block.std().item() == pytest.approx(0.9 / math.sqrt(192), rel=0.02)
        assert abs(block.mean().item()) < 3 * 0.9 / 192
    for block in W.detach().split(192, 0):
        assert block.std().item() == pytest.approx(1.5 / math.sqrt(96), rel=0.02)


def test_normal_init_gives_a_vanilla_spectral_radius_near_the_gain():
    torch.manual_seed(1)
    radii = [
        torch.linalg.eigvals(make_cell("vanilla", 8, 400).initialize("normal", g).rnn.weight_hh_l0.detach())
        .abs()
        .max()
        .item()
        for g in (0.5, 1.0)
    ]
    assert radii[0] == pytest.approx(0.5, rel=0.1) and radii[1] == pytest.approx(1.0, rel=0.1)
    torch.manual_seed(1)  # torch's own draw: about 0.58, the figure
    default = torch.linalg.eigvals(make_cell("vanilla", 8, 400).rnn.weight_hh_l0.detach()).abs().max().item()
    assert default == pytest.approx(1 / math.sqrt(3), rel=0.1)


@pytest.mark.parametrize("arch", PAPER_ARCHS)
def test_orthogonal_init_sets_every_singular_value_to_the_gain(arch):
    torch.manual_seed(0)
    cell = make_cell(arch, 12, 20).initialize("orthogonal", 0.8, "orthogonal", 2.0)
    W, U = cell._weight_matrices()
    for block in U.detach().split(20, 0):
        assert torch.allclose(torch.linalg.svdvals(block), torch.full((20,), 0.8), atol=1e-5)
    for block in W.detach().split(20, 0):  # [20, 12]: semi-orthogonal, 12 singular values
        assert torch.allclose(torch.linalg.svdvals(block), torch.full((12,), 2.0), atol=1e-5)


def test_default_init_changes_nothing_and_draws_nothing():
    torch.manual_seed(0)
    cell = make_cell("gru", 4, 6)
    before = {k: v.clone() for k, v in cell.state_dict().items()}
    rng = torch.get_rng_state()
    cell.initialize()
    assert torch.equal(rng, torch.get_rng_state())
    assert all(torch.equal(before[k], v) for k, v in cell.state_dict().items())


def test_lstm_keeps_its_forget_bias_after_init():
    cell = make_cell("lstm", 4, 6).initialize("orthogonal", 1.0, "normal", 1.0)
    b = (cell.rnn.bias_ih_l0 + cell.rnn.bias_hh_l0).detach()
    assert torch.allclose(b[6:12], torch.ones(6))


@pytest.mark.parametrize(
    "kw,msg",
    [
        (dict(recurrent="glorot"), "recurrent='glorot'"),
        (dict(inputs="normal", input_gain=0.0), "inputs gain"),
        (dict(recurrent_gain=float("nan")), "recurrent gain"),
    ],
)
def test_bad_init_is_named(kw, msg):
    with pytest.raises(ArgumentError, match=msg):
        make_cell("vanilla", 3, 4).initialize(**kw)


def test_orthogonal_embedding_has_orthonormal_columns_and_a_zero_padding_row():
    torch.manual_seed(0)
    m = SentimentRNN(500, arch="vanilla", embed_dim=16, hidden_size=4).initialize_embedding("orthogonal")
    E = m.embedding.weight.detach().double()
    assert torch.equal(E[0], torch.zeros(16, dtype=torch.float64))
    # orthonormal before the padding row was zeroed: E^T E = I - e0 e0^T, whose entries are far below torch's N(0, 1)
    G = E.T @ E
    assert (torch.linalg.eigvalsh(G) <= 1 + 1e-6).all() and torch.trace(G).item() == pytest.approx(16.0, abs=0.1)
    assert E[1:].std().item() == pytest.approx(1 / math.sqrt(500), rel=0.1)
    rng = torch.get_rng_state()
    m.initialize_embedding("default")  # draws nothing, changes nothing
    assert torch.equal(rng, torch.get_rng_state()) and torch.equal(m.embedding.weight.detach().double(), E)
    with pytest.raises(ArgumentError, match="how='xavier'"):
        m.initialize_embedding("xavier")


# ------------------------------------------------------------------ a trained initial state


@pytest.mark.parametrize("arch", ARCHS)
def test_learned_initial_state_starts_every_path_and_gets_a_gradient(arch):
    torch.manual_seed(0)
    m = SentimentRNN(30, arch=arch, embed_dim=5, hidden_size=8 if arch == "s6" else 7, initial_state="learned")
    with torch.no_grad():
        m.cell.h0.copy_(torch.randn(m.cell.state_size) * 0.5)
    ids = torch.randint(1, 30, (4, 9))
    lengths = torch.tensor([9, 3, 6, 1])
    x = m.embedding(ids)
    h = m.cell.h0.expand(4, -1)
    for t in range(9):  # by hand, from h0; a row that ended keeps its state
        h = torch.where((t < lengths)[:, None], m.cell.step(x[:, t], h), h)
    for path in m.cell.FAST_PATHS:
        m.cell.fast_path = path
        assert torch.allclose(m.cell.final_state(x, lengths), h, atol=1e-5)
    assert torch.allclose(m.cell.run(x)[:, 0], m.cell.step(x[:, 0], m.cell.h0.expand(4, -1)), atol=1e-6)
    assert torch.allclose(m.cell.run_fused(x), m.cell.run(x), atol=1e-5)
    assert torch.equal(m.cell.init_state(2), m.cell.h0.detach().expand(2, -1))
    m(ids, lengths).sum().backward()
    assert m.cell.h0.grad is not None and m.cell.h0.grad.abs().sum() > 0


def test_zero_initial_state_model_has_no_h0_and_an_unchanged_config():
    m = SentimentRNN(30, arch="gru", embed_dim=5, hidden_size=7)
    assert m.cell.h0 is None and "initial_state" not in m.config()
    assert "cell.h0" not in m.state_dict()
    with pytest.raises(ArgumentError, match="initial_state='trained'"):
        SentimentRNN(30, initial_state="trained")


def test_learned_initial_state_survives_the_checkpoint_and_starts_the_networks_documents(corpus, tmp_path):
    s = TrainSettings(**{**FAST, "initial_state": "learned", "recurrent_init": "normal", "input_init": "normal"})
    ck = train(corpus, s, tmp_path / "ck", progress=False, verbose=False)
    h0 = ck.model.cell.h0.detach()
    assert h0.abs().max() > 1e-3  # trained away from zero
    again = load_checkpoint(tmp_path / "ck")
    assert again.model.config()["initial_state"] == "learned"
    assert torch.equal(again.model.cell.h0.detach(), h0)
    net = Network(again.model, again.vocab)
    assert torch.equal(net.init_state(3), h0.expand(3, -1))
    good = torch.tensor([[5]])  # any word
    first = net.sequence_states(good, torch.tensor([1]))[0, 0]
    expected = again.model.cell.step(again.model.embedding(good[0]), h0[None])[0]
    assert torch.allclose(first, expected.detach(), atol=1e-5)


# ------------------------------------------------------------------ optimizer and loss


def test_l2_term_is_lambda_times_the_sum_of_squares_and_adds_two_lambda_theta_to_the_gradient():
    torch.manual_seed(0)
    m = SentimentRNN(20, arch="vanilla", embed_dim=3, hidden_size=4, initial_state="learned")
    ids, lengths = torch.randint(1, 20, (3, 5)), torch.tensor([5, 2, 4])
    expected = 0.01 * sum(float(p.detach().square().sum()) for p in m.parameters())
    assert float(_l2_term(m, 0.01).detach()) == pytest.approx(expected, rel=1e-6)
    assert _l2_term(m, 0.0) is None
    m(ids, lengths).sum().backward()
    plain = {n: p.grad.clone() for n, p in m.named_parameters()}
    m.zero_grad()
    (m(ids, lengths).sum() + _l2_term(m, 0.01)).backward()
    for n, p in m.named_parameters():
        assert torch.allclose(p.grad - plain[n], 0.02 * p.detach(), atol=1e-6), n


def test_l2_penalty_in_training_shrinks_the_weights(corpus, tmp_path):
    fast = {**FAST, "lr": 5e-2}  # 38 Adam steps of about 0.05: far enough for the penalty to pull every weight in
    base = train(corpus, TrainSettings(**fast), tmp_path / "a", progress=False, verbose=False)
    pen = train(corpus, TrainSettings(**fast, l2_penalty=1.0), tmp_path / "b", progress=False, verbose=False)
    norm = lambda ck: sum(float(p.detach().square().sum()) for p in ck.model.parameters())  # noqa: E731
    assert norm(pen) < 0.25 * norm(base)


def test_adam_eps_reaches_the_optimizer(corpus, tmp_path):
    # the optimizer's param_groups are saved with the resume state
    s = TrainSettings(**{**FAST, "epochs": 1, "adam_eps": 0.1, "checkpoint_every": 5})

    class Stop(Exception):
        pass

    def stop(loop):
        if loop["batch"] >= 6:
            raise Stop

    with pytest.raises(Stop):
        train(corpus, s, tmp_path / "r", progress=False, verbose=False, on_batch=stop)
    state = json.loads((tmp_path / "r" / "resume" / "state.json").read_text())
    assert state["optimizer"]["param_groups"][0]["eps"] == 0.1


def test_step_decay_sets_the_learning_rate_by_the_number_of_steps(corpus, tmp_path):
    s = TrainSettings(**{**FAST, "lr_decay": 0.5, "lr_decay_steps": 10})
    ck = train(corpus, s, tmp_path / "ck", progress=False, verbose=False)
    n_batches = math.ceil(ck.record["metrics"]["n_train"] / FAST["batch_size"])
    lrs = [h["lr"] for h in ck.record["metrics"]["history"]]
    assert lrs == pytest.approx([1e-2 * 0.5 ** (e * n_batches / 10) for e in (1, 2)], rel=1e-9)


def test_step_decay_and_learned_state_resume_to_the_same_weights(corpus, tmp_path):
    s = TrainSettings(
        **{
            **FAST,
            "lr_decay": 0.5,
            "lr_decay_steps": 7,
            "initial_state": "learned",
            "l2_penalty": 1e-3,
            "adam_eps": 1e-2,
            "checkpoint_every": 10,
            "recurrent_init": "orthogonal",
        }
    )

    class Stop(Exception):
        pass

    def stop(loop):
        if loop["epoch"] * loop["batches_in_epoch"] + loop["batch"] >= 25:
            raise Stop

    with pytest.raises(Stop):
        train(corpus, s, tmp_path / "r", progress=False, verbose=False, on_batch=stop)
    a = train(corpus, s, tmp_path / "r", progress=False, verbose=False)
    b = train(corpus, s, tmp_path / "u", progress=False, verbose=False)
    sa, sb = a.model.state_dict(), b.model.state_dict()
    assert "cell.h0" in sa and all(torch.equal(sa[k], sb[k]) for k in sa)


# ------------------------------------------------------------------ dropping long documents


def _lengths_corpus():
    def split(lengths, offset):
        texts = [" ".join(["good" if (i + offset) % 2 else "bad"] * n) for i, n in enumerate(lengths)]
        return Split(texts=texts, labels=[(i + offset) % 2 for i in range(len(lengths))])

    train_len = [3, 5, 12, 4, 20, 6] * 10
    return Corpus(
        name="lengths",
        splits={
            "train": split(train_len, 0),
            "validation": split([3, 11, 5, 30], 1),
            "test": split([2, 4, 15, 9, 10], 0),
        },
        label_names=["neg", "pos"],
        source="test",
    )


def test_encode_drops_documents_longer_than_the_limit_and_counts_them():
    from rnnlens.data import Vocab

    c = _lengths_corpus()
    vocab = Vocab.build(c.splits["train"].texts)
    e = encode(vocab, c.splits["test"], drop_longer=9)
    assert e.n_dropped == 2 and list(e.index) == [0, 1, 3] and list(e.lengths) == [2, 4, 9]
    e = encode(vocab, c.splits["test"], drop_longer=9, max_length=3)  # dropped on the whole length, then cut
    assert e.n_dropped == 2 and e.n_truncated == 2 and list(e.lengths) == [2, 3, 3]
    with pytest.raises(ArgumentError, match="drop_longer"):
        encode(vocab, c.splits["test"], drop_longer=0)


def test_training_drops_long_documents_and_scores_the_test_split_both_ways(tmp_path, capsys):
    s = TrainSettings(**{**FAST, "epochs": 1, "drop_longer": 10})
    ck = train(_lengths_corpus(), s, tmp_path / "ck", progress=False, verbose=False)
    m = ck.record["metrics"]
    assert m["n_dropped"] == {"train": 20, "validation": 2, "test": 1}  # 10 tokens is not longer than 10
    assert m["n_train"] == 40
    assert m["test"]["n"] == 5 and m["test"]["within_drop_longer"]["n"] == 4
    assert "drop_longer=10 left out 20 of 60 train and 2 of 4 validation documents" in capsys.readouterr().err


def test_dropping_every_training_document_is_an_error_that_says_so(tmp_path):
    with pytest.raises(DataError, match="all 60 documents have more than drop_longer=2"):
        train(
            _lengths_corpus(),
            TrainSettings(**{**FAST, "drop_longer": 2}),
            tmp_path / "ck",
            progress=False,
            verbose=False,
        )


# ------------------------------------------------------------------ settings


@pytest.mark.parametrize(
    "field,value,msg",
    [
        ("recurrent_init", "xavier", "choose one of default, normal, orthogonal"),
        ("recurrent_gain", 0.0, "use a number > 0"),
        ("input_gain", -1.0, "use a number > 0"),
        ("initial_state", "random", "choose one of zero, learned"),
        ("embedding_init", "normal", "choose one of default, orthogonal"),
        ("adam_eps", 0.0, "use a number > 0"),
        ("l2_penalty", -1e-4, "use a number >= 0"),
        ("lr_decay_steps", 0, "use a positive integer"),
        ("drop_longer", 0, "use a positive integer"),
    ],
)
def test_bad_recipe_settings_name_the_setting(field, value, msg):
    with pytest.raises(ArgumentError, match=f"{field}=.*{msg}"):
        TrainSettings(**{field: value})


def test_a_record_without_the_new_settings_compares_equal_to_their_defaults():
    old = TrainSettings().to_dict()
    for name in (
        "lr_decay_steps",
        "l2_penalty",
        "adam_eps",
        "recurrent_init",
        "recurrent_gain",
        "input_init",
        "input_gain",
        "initial_state",
        "drop_longer",
        "embedding_init",
    ):
        old.pop(name)
    assert _comparable(old) == _comparable(TrainSettings().to_dict())
    assert _comparable(old) != _comparable(TrainSettings(adam_eps=0.1).to_dict())


def test_command_line_takes_every_recipe_option(tmp_path):
    from click.testing import CliRunner

    from rnnlens.cli import main

    args = [
        "train",
        "--dataset",
        "synthetic",
        "--option",
        "n_train=300",
        "--option",
        "n_test=50",
        "--option",
        "n_validation=50",
        "--arch",
        "ugrnn",
        "--hidden",
        "8",
        "--embed",
        "4",
        "--epochs",
        "1",
        "--recurrent-init",
        "orthogonal",
        "--recurrent-gain",
        "0.9",
        "--input-init",
        "normal",
        "--input-gain",
        "1.0",
        "--initial-state",
        "learned",
        "--embedding-init",
        "orthogonal",
        "--adam-eps",
        "0.1",
        "--l2-penalty",
        "1e-4",
        "--lr-decay-steps",
        "100",
        "--drop-longer",
        "25",
        "--out",
        str(tmp_path / "ck"),
        "--no-progress",
    ]
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 0, r.output
    settings = load_checkpoint(tmp_path / "ck").record["settings"]
    assert (
        settings["recurrent_init"],
        settings["recurrent_gain"],
        settings["input_init"],
        settings["initial_state"],
        settings["adam_eps"],
        settings["l2_penalty"],
        settings["lr_decay_steps"],
        settings["drop_longer"],
        settings["embedding_init"],
    ) == ("orthogonal", 0.9, "normal", "learned", 0.1, 1e-4, 100, 25, "orthogonal")
    assert np.isfinite(load_checkpoint(tmp_path / "ck").record["metrics"]["test"]["accuracy"])
