"""Training on generated tasks through rnnlens.train (rnnlens.task_training): the flip-flop learned and analysed
(its 8 stable fixed points), the checkpoint that records the task, resume, the refused settings, and the
analysis's masking of steps without a target."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import rnnlens
from rnnlens.checkpoint import load_checkpoint, load_training_corpus
from rnnlens.data import load_corpus
from rnnlens.errors import ArgumentError
from rnnlens.model import SequenceRNN
from rnnlens.network import Network
from rnnlens.task_training import evaluate_sequences


def test_a_small_gru_learns_the_flipflop_and_its_analysis_finds_the_8_stable_fixed_points(tmp_path):
    torch.set_num_threads(1)
    corpus = load_corpus("flipflop", n_train=512, n_validation=64, n_test=64, steps=60, p=0.1)
    s = rnnlens.TrainSettings(
        arch="gru", hidden_size=16, epochs=20, batch_size=32, lr=1e-2, lr_decay=1.0, patience=None
    )
    ck = rnnlens.train(corpus, s, tmp_path / "ck", progress=False, verbose=False)
    test = ck.record["metrics"]["test"]
    assert test["mse"] < 0.02 and test["accuracy"] > 0.99
    settings = rnnlens.AnalysisSettings.make(n_docs=64, n_seeds=2000, seed_noise=0.5, tol_sweep=[])
    # rnnlens analyze CKPT regenerates the data from the record
    result = rnnlens.analyze(ck.path, load_training_corpus(ck.path), settings)
    assert result.value("modes.n_distinct_stable") == 8
    assert result.value("data.target_mse") == pytest.approx(test["mse"], rel=1e-4)  # all 64 test sequences
    assert result.value("data.target_sign_accuracy") == pytest.approx(test["accuracy"])
    assert result.provenance["trained_on_same_corpus"] is True


def test_the_checkpoint_records_the_task_and_network_builds_from_it(tmp_path):
    corpus = load_corpus("sine", n_train=16, n_validation=8, n_test=8, steps=12)
    s = rnnlens.TrainSettings(arch="lstm", hidden_size=5, epochs=1, batch_size=8, initial_state="learned")
    rnnlens.train(corpus, s, tmp_path / "ck", progress=False, verbose=False)
    ck = load_checkpoint(tmp_path / "ck")
    assert isinstance(ck.model, SequenceRNN) and ck.vocab is None
    assert ck.record["task"]["name"] == "sine" and ck.record["task"]["options"]["n_freq"] == 51
    assert load_training_corpus(ck).fingerprint() == ck.record["data_fingerprint"]
    net = Network.resolve(ck)
    assert net.state_size == 10 and net.readout_matrix().shape == (1, 10)
    assert net.x_star("zero").tolist() == [0.0]
    assert net.x_star("task").tolist() == [pytest.approx(25 / 51 + 0.25)]  # the middle frequency's cue
    x = torch.tensor(np.stack(corpus.splits["test"].inputs), dtype=torch.float32)
    with torch.no_grad():  # the model's per-step outputs are the Network's readout of the step path's states
        np.testing.assert_allclose(ck.model(x), net.logits(net.recurrence.run(x)).reshape(8, 12, 1), atol=1e-5)


def test_an_interrupted_run_resumes_to_the_same_weights_and_the_best_validation_loss_is_kept(tmp_path):
    corpus = load_corpus("context", n_train=24, n_validation=8, n_test=4, steps=10, score_steps=3)
    s = rnnlens.TrainSettings(arch="ugrnn", hidden_size=4, epochs=3, batch_size=8, checkpoint_every=1, lr=0.05)
    full = rnnlens.train(corpus, s, tmp_path / "full", progress=False, verbose=False)

    class Stop(Exception):
        pass

    def stop(loop):
        if loop["epoch"] == 1 and loop["batch"] == 2:
            raise Stop

    with pytest.raises(Stop):
        rnnlens.train(corpus, s, tmp_path / "cut", progress=False, verbose=False, on_batch=stop)
    again = rnnlens.train(corpus, s, tmp_path / "cut", progress=False, verbose=False)
    for k, v in full.model.state_dict().items():
        torch.testing.assert_close(again.model.state_dict()[k], v, rtol=0, atol=0)
    hist = full.record["metrics"]["history"]
    best = int(np.argmin([h["validation_loss"] for h in hist])) + 1
    assert full.record["metrics"]["best_epoch"] == best
    assert full.record["metrics"]["validation"]["loss"] == min(h["validation_loss"] for h in hist)


@pytest.mark.parametrize(
    "setting, value",
    [("embed_dim", 8), ("vocab_size", 100), ("max_length", 50), ("embedding_init", "orthogonal"), ("min_count", 2)],
)
def test_the_settings_about_words_are_refused_naming_the_setting(tmp_path, setting, value):
    corpus = load_corpus("flipflop", n_train=4, n_validation=2, n_test=2, steps=5)
    with pytest.raises(ArgumentError) as info:
        rnnlens.train(corpus, rnnlens.TrainSettings(**{setting: value}), tmp_path / "ck", progress=False)
    assert f"training setting {setting}={value!r} does not apply to input sequences" in str(info.value)
    with pytest.raises(ArgumentError, match="fast_path='scan' does not apply"):
        rnnlens.train(corpus, rnnlens.TrainSettings(fast_path="scan"), tmp_path / "ck", progress=False)


def test_steps_without_a_target_are_left_out_of_the_loss_and_the_analysis(tmp_path):
    corpus = load_corpus("context", n_train=16, n_validation=8, n_test=12, steps=9, score_steps=2)
    s = rnnlens.TrainSettings(arch="vanilla", hidden_size=6, epochs=1, batch_size=8)
    ck = rnnlens.train(corpus, s, tmp_path / "ck", progress=False, verbose=False)
    ev = evaluate_sequences(ck.model, corpus.splits["test"])
    assert ev["n_scored"] == 12 * 2 and ev == ck.record["metrics"]["test"]
    x = torch.tensor(np.stack(corpus.splits["test"].inputs), dtype=torch.float32)
    with torch.no_grad():
        y = ck.model(x)[:, -2:, 0].double().numpy()
    want = np.stack(corpus.splits["test"].targets)[:, -2:, 0]
    assert ev["mse"] == pytest.approx(((y - want) ** 2).mean(), rel=1e-6)
    assert ev["accuracy"] == pytest.approx((np.sign(y) == want).mean())
    settings = rnnlens.AnalysisSettings.make(n_docs=12, n_seeds=20, tol_sweep=[], input_point="task")
    result = rnnlens.analyze(ck, corpus, settings)
    assert result.value("data.target_mse") == pytest.approx(ev["mse"], rel=1e-4)
    assert result.value("data.target_sign_accuracy") == pytest.approx(ev["accuracy"])
    assert "the 24 entries that have a target" in result.node("data.target_mse")["definition"]
