"""Training: learns the synthetic language, deterministic, resumable after SIGKILL, clear errors."""

import json
import math
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from rnnlens.data import Corpus, Split, load_corpus, tokenize
from rnnlens.errors import ArgumentError, CheckpointError, DataError
from rnnlens.training import TrainSettings, evaluate, loss_and_correct, train

# A small synthetic language a GRU learns in about a second (few word types, short documents).
SMALL = dict(n_train=2000, n_validation=300, n_test=300, min_length=10, max_length=30, n_neutral=20, n_per_valence=10)
FAST = dict(
    arch="gru",
    embed_dim=16,
    hidden_size=32,
    epochs=6,
    lr=2e-2,
    lr_decay=1.0,
    batch_size=32,
    num_threads=1,
    checkpoint_every=0,
    patience=None,
)


@pytest.fixture(scope="module")
def small_corpus():
    return load_corpus("synthetic", **SMALL)


@pytest.fixture(scope="module")
def trained(small_corpus, tmp_path_factory):
    return train(small_corpus, TrainSettings(**FAST), tmp_path_factory.mktemp("t") / "ck", progress=False)


def test_learns_the_synthetic_language(trained, small_corpus):
    m = trained.record["metrics"]
    assert m["validation"]["accuracy"] > 0.90
    assert m["validation"]["n"] == 300 and m["n_train"] == 2000
    # the vocabulary comes from the train split only: 20 neutral + 4 * 10 valence words + <pad>, <unk>
    assert len(trained.vocab) == 62
    test = evaluate(trained.model, trained.vocab, small_corpus.splits["test"])
    assert test["n"] == 300 and test["accuracy"] > 0.88


def test_keeps_the_best_validation_model(trained, small_corpus):
    m = trained.record["metrics"]
    accs = [h["validation_accuracy"] for h in m["history"]]
    assert len(accs) == 6
    assert m["validation"]["accuracy"] == max(accs)
    assert m["best_epoch"] == 1 + accs.index(max(accs))
    # the saved weights reproduce the best epoch's validation numbers exactly
    again = evaluate(trained.model, trained.vocab, small_corpus.splits["validation"])
    assert again["accuracy"] == m["validation"]["accuracy"]
    assert again["loss"] == pytest.approx(m["validation"]["loss"], rel=1e-6)


def test_record_holds_settings_data_and_versions(trained, small_corpus):
    r = trained.record
    assert r["dataset"] == "synthetic" and r["data_fingerprint"] == small_corpus.fingerprint()
    assert r["settings"] == TrainSettings(**FAST).to_dict()
    assert r["label_names"] == ["negative", "positive"]
    assert r["code_version"] and r["timestamp"] and "command" in r
    assert r["metrics"]["train_tokens_per_s"] > 0
    assert r["metrics"]["fast_path"] == "scan"  # "auto" on CPU


def test_fused_and_scan_paths_train_alike(small_corpus, tmp_path):
    # three AdamW steps on 96 documents: the two implementations of the same maths agree to rounding
    few = Corpus(
        "few",
        small_corpus.label_names,
        {"train": small_corpus.splits["train"].subset(range(96)), "validation": small_corpus.splits["validation"]},
        "memory",
    )
    runs = [
        train(few, TrainSettings(**{**FAST, "epochs": 1, "fast_path": fp}), tmp_path / fp, progress=False)
        for fp in ("fused", "scan")
    ]
    assert [r.record["metrics"]["fast_path"] for r in runs] == ["fused", "scan"]
    a, b = (r.model.state_dict() for r in runs)
    # Adam divides by sqrt(v): for near-zero gradients rounding differences grow, but stay far below one
    # step (lr = 0.02); a path computing other gradients would differ by about lr
    assert max(float((a[k] - b[k]).abs().max()) for k in a) < 2e-4
    with pytest.raises(ArgumentError, match="fast_path='fused' is invalid: the UGRNN has only the scan"):
        train(small_corpus, TrainSettings(**{**FAST, "arch": "ugrnn", "fast_path": "fused"}), tmp_path / "u")


def test_two_runs_same_seed_give_identical_weights(small_corpus, tmp_path):
    s = TrainSettings(**{**FAST, "epochs": 2, "arch": "ugrnn"})
    train(small_corpus, s, tmp_path / "a", progress=False)
    train(small_corpus, s, tmp_path / "b", progress=False)
    train(
        small_corpus, TrainSettings(**{**FAST, "epochs": 2, "arch": "ugrnn", "seed": 1}), tmp_path / "c", progress=False
    )
    wa, wb, wc = (load_file(str(p / "model.safetensors")) for p in (tmp_path / "a", tmp_path / "b", tmp_path / "c"))
    assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)
    assert not torch.equal(wa["readout.weight"], wc["readout.weight"])


def test_three_classes_use_softmax(tmp_path):
    corpus = load_corpus(
        "synthetic",
        num_classes=3,
        n_train=1500,
        n_validation=300,
        n_test=100,
        min_length=10,
        max_length=30,
        n_neutral=20,
        n_per_class=8,
    )
    ck = train(corpus, TrainSettings(**{**FAST, "epochs": 4}), tmp_path / "k3", progress=False)
    assert ck.model.readout.out_features == 3
    assert ck.record["metrics"]["validation"]["accuracy"] > 0.75  # chance is about 1/3


def test_loss_and_correct_closed_form():
    logits = torch.tensor([0.0, 2.0, -1.0])
    labels = torch.tensor([1, 0, 0])
    loss, correct = loss_and_correct(logits, labels)
    want = (math.log(2) + (2 + math.log1p(math.exp(-2))) + math.log1p(math.exp(-1))) / 3
    assert float(loss) == pytest.approx(want, rel=1e-6) and int(correct) == 1  # logit 0 predicts class 0
    logits3 = torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, 3.0]])
    loss3, correct3 = loss_and_correct(logits3, torch.tensor([0, 1]))
    z = math.log(math.e + 2)
    assert float(loss3) == pytest.approx(((z - 1) + (math.log(2 + math.e**3))) / 2, rel=1e-6)
    assert int(correct3) == 1


def test_max_length_cuts_are_counted(small_corpus, tmp_path):
    ck = train(small_corpus, TrainSettings(**{**FAST, "epochs": 1, "max_length": 15}), tmp_path / "m", progress=False)
    want = {
        k: sum(len(tokenize(t)) > 15 for t in small_corpus.splits[k].texts) for k in ("train", "validation", "test")
    }
    assert want["train"] > 0
    assert ck.record["metrics"]["n_truncated"] == want
    r = evaluate(ck.model, ck.vocab, small_corpus.splits["test"], max_length=15)
    assert r["n_truncated"] == want["test"]
    # the record's test accuracy (provenance only) is the selected model's, with the same cut
    assert ck.record["metrics"]["test"]["accuracy"] == r["accuracy"]
    assert ck.record["metrics"]["test"]["n"] == len(small_corpus.splits["test"].texts)


@pytest.mark.parametrize("patience", [1, 2])
def test_early_stopping_stops_after_exactly_patience_epochs_without_gain(small_corpus, tmp_path, patience):
    # lr so small the weights hardly move: epoch 1 sets the best validation accuracy and no later epoch
    # beats it, so the run stops after epoch 1 + patience, with the epoch-1 weights kept
    ck = train(
        small_corpus,
        TrainSettings(**{**FAST, "epochs": 8, "lr": 1e-7, "patience": patience}),
        tmp_path / "e",
        progress=False,
    )
    m = ck.record["metrics"]
    accs = [h["validation_accuracy"] for h in m["history"]]
    assert max(accs[1:]) <= accs[0]  # the premise: nothing improved after epoch 1
    assert m["stopped_early"] is True
    assert m["epochs_run"] == len(m["history"]) == 1 + patience
    assert m["best_epoch"] == 1 and m["validation"]["accuracy"] == accs[0]


def test_no_early_stop_when_patience_would_end_at_the_last_epoch(small_corpus, tmp_path):
    # 1 + patience == epochs: the run ends because the epochs are used up, not by the early-stop rule
    ck = train(
        small_corpus, TrainSettings(**{**FAST, "epochs": 3, "lr": 1e-7, "patience": 2}), tmp_path / "e", progress=False
    )
    m = ck.record["metrics"]
    assert m["epochs_run"] == 3 and m["stopped_early"] is False


def test_learning_rate_history_is_lr_times_decay_to_the_epoch(small_corpus, tmp_path):
    s = TrainSettings(**{**FAST, "epochs": 4, "lr": 3e-3, "lr_decay": 0.5})
    hist = train(small_corpus, s, tmp_path / "d", progress=False).record["metrics"]["history"]
    assert [h["epoch"] for h in hist] == [1, 2, 3, 4]
    assert [h["lr"] for h in hist] == pytest.approx([3e-3 * 0.5**k for k in range(4)], rel=1e-12)


def test_evaluate_equals_a_per_document_loop(trained, small_corpus):
    # batch size 7 does not divide the 300 test documents: the last batch holds 6
    split = small_corpus.splits["test"]
    assert len(split.texts) % 7 != 0
    got = evaluate(trained.model, trained.vocab, split, batch_size=7)
    model = trained.model.eval()
    losses, correct = [], 0
    with torch.no_grad():
        for text, label in zip(split.texts, split.labels.tolist()):
            ids = torch.as_tensor(trained.vocab.encode(tokenize(text)), dtype=torch.long)[None]
            logit = float(model(ids, torch.tensor([ids.shape[1]])).reshape(()))
            # logistic loss of one logit: log(1 + exp(-s * logit)), s = +1 for label 1 and -1 for label 0
            losses.append(math.log1p(math.exp(-(1 if label == 1 else -1) * logit)))
            correct += int((logit > 0) == (label == 1))
    assert got["n"] == 300
    assert got["accuracy"] == correct / 300
    assert got["loss"] == pytest.approx(sum(losses) / 300, rel=1e-5)
    # and the batch size changes nothing
    assert evaluate(trained.model, trained.vocab, split, batch_size=300)["accuracy"] == got["accuracy"]


# ------------------------------------------------------------------ resume

_CHILD = textwrap.dedent("""
    import sys, time, torch
    torch.set_num_threads(1)
    from rnnlens.data import load_corpus
    from rnnlens.training import TrainSettings, train
    mode, out = sys.argv[1], sys.argv[2]
    corpus = load_corpus("synthetic", n_train=400, n_validation=100, n_test=10, min_length=5, max_length=15,
                         n_neutral=20, n_per_valence=10)
    s = TrainSettings(arch="lstm", embed_dim=8, hidden_size=8, epochs=3, batch_size=16, lr=1e-2, lr_decay=0.7,
                      weight_decay=0.01, checkpoint_every=3, num_threads=1, seed=3, patience=None)
    slow = (lambda loop: time.sleep(0.04)) if mode == "slow" else None
    train(corpus, s, out, progress=(mode == "resume"), on_batch=slow)
""")


def _child(mode, out, **kw):
    return subprocess.Popen(
        [sys.executable, "-c", _CHILD, mode, str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw
    )


@pytest.mark.slow
def test_resume_after_sigkill_gives_the_same_weights(tmp_path):
    killed, clean = tmp_path / "killed", tmp_path / "clean"
    uninterrupted = _child("fast", clean)
    proc = _child("slow", killed)
    state_file = killed / "resume" / "state.json"
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        try:
            loop = json.loads(state_file.read_text())["loop"]
        except (FileNotFoundError, json.JSONDecodeError, KeyError):
            loop = None
        if loop and loop["epoch"] == 1 and loop["batch"] >= 3:  # a resume state in the middle of epoch 2
            os.kill(proc.pid, signal.SIGKILL)
            break
        time.sleep(0.01)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read()
    loop = json.loads(state_file.read_text())["loop"]
    assert loop["epoch"] == 1 and 0 < loop["batch"] < 25  # 400 documents / 16 = 25 batches per epoch
    assert not (killed / "model.safetensors").exists()

    resumed = _child("resume", killed)
    _, err = resumed.communicate(timeout=120)
    assert resumed.returncode == 0, err
    assert f"resuming {killed} at epoch 2, batch {loop['batch']}" in err
    _, err = uninterrupted.communicate(timeout=120)
    assert uninterrupted.returncode == 0, err

    a, b = load_file(str(killed / "model.safetensors")), load_file(str(clean / "model.safetensors"))
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    ra = json.loads((killed / "config.json").read_text())["record"]["metrics"]
    rb = json.loads((clean / "config.json").read_text())["record"]["metrics"]
    assert [h["validation_accuracy"] for h in ra["history"]] == [h["validation_accuracy"] for h in rb["history"]]
    assert not (killed / "resume").exists()  # a finished run keeps only the checkpoint


class _Stop(Exception):
    pass


def _interrupt_after(n):
    def hook(loop):
        if loop["epoch"] * loop["batches_in_epoch"] + loop["batch"] >= n:
            raise _Stop

    return hook


def test_resume_in_process_matches_uninterrupted(small_corpus, tmp_path):
    s = TrainSettings(**{**FAST, "epochs": 2, "checkpoint_every": 10, "weight_decay": 0.05, "lr_decay": 0.5})
    with pytest.raises(_Stop):
        train(small_corpus, s, tmp_path / "r", progress=False, on_batch=_interrupt_after(75))  # epoch 2, batch 12
    state = json.loads((tmp_path / "r" / "resume" / "state.json").read_text())
    assert (state["loop"]["epoch"], state["loop"]["batch"]) == (1, 10)
    a = train(small_corpus, s, tmp_path / "r", progress=False)
    b = train(small_corpus, s, tmp_path / "u", progress=False)
    sa, sb = a.model.state_dict(), b.model.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)


def test_resume_refuses_other_settings(small_corpus, tmp_path):
    s = TrainSettings(**{**FAST, "epochs": 2, "checkpoint_every": 5})
    with pytest.raises(_Stop):
        train(small_corpus, s, tmp_path / "r", progress=False, on_batch=_interrupt_after(7))
    with pytest.raises(
        CheckpointError,
        match=r"resume: this unfinished run used other settings "
        r"\(lr: 0.02 there vs 0.01 now\).*--no-resume",
    ):
        train(
            small_corpus,
            TrainSettings(**{**FAST, "epochs": 2, "checkpoint_every": 5, "lr": 1e-2}),
            tmp_path / "r",
            progress=False,
        )
    other = load_corpus("synthetic", **{**SMALL, "n_train": 1000})
    with pytest.raises(CheckpointError, match="trained on other data"):
        train(other, s, tmp_path / "r", progress=False)
    # settings that do not change the result may differ; --no-resume starts over
    ck = train(
        small_corpus,
        TrainSettings(**{**FAST, "epochs": 2, "checkpoint_every": 7, "lr": 1e-2}),
        tmp_path / "r",
        resume=False,
        progress=False,
    )
    assert ck.record["settings"]["lr"] == 1e-2


def test_finished_checkpoint_is_reused_or_refused(trained, small_corpus):
    before = (trained.path / "config.json").read_text()
    again = train(small_corpus, TrainSettings(**FAST), trained.path, progress=False)
    assert (trained.path / "config.json").read_text() == before
    assert again.record["timestamp"] == trained.record["timestamp"]
    with pytest.raises(CheckpointError, match=r"finished checkpoint made with epochs: 6 there vs 7 now.*--no-resume"):
        train(small_corpus, TrainSettings(**{**FAST, "epochs": 7}), trained.path, progress=False)


# ------------------------------------------------------------------ user mistakes


@pytest.mark.parametrize(
    "field,value,msg",
    [
        ("arch", "transformer", "choose one of vanilla, ugrnn, gru, lstm"),
        ("epochs", 0, "positive integer"),
        ("hidden_size", -3, "positive integer"),
        ("lr", 0.0, "number > 0"),
        ("lr_decay", 1.5, r"number in \(0, 1\]"),
        ("clip_norm", -1.0, "number > 0, or None for no clipping"),
        ("max_length", 0, "or None for no limit"),
        ("vocab_size", 2, "integer >= 3"),
        ("fast_path", "turbo", "choose one of auto, fused, scan"),
        ("seed", True, "integer >= 0"),
        ("device", "nosuch", "torch device name"),
    ],
)
def test_invalid_settings_name_the_setting(field, value, msg, small_corpus, tmp_path):
    with pytest.raises(ArgumentError, match=rf"{field}={value!r} is invalid: .*{msg}"):
        train(small_corpus, TrainSettings(**{**FAST, field: value}), tmp_path / "x", progress=False)
    assert not (tmp_path / "x").exists()


def test_settings_are_checked_once_when_made_and_again_before_training(small_corpus, tmp_path):
    with pytest.raises(ArgumentError, match=r"hidden_size=0 is invalid: use a positive integer\."):
        TrainSettings(hidden_size=0)
    s = TrainSettings(**FAST)
    s.epochs = 0  # a dataclass can be changed after it was made; train() checks again
    with pytest.raises(ArgumentError, match="epochs=0 is invalid"):
        train(small_corpus, s, tmp_path / "x", progress=False)
    with pytest.raises(ArgumentError, match=r"unknown training settings \['hidden'\]"):
        TrainSettings.from_dict({"hidden": 8})


def test_out_folder_with_a_users_checkpoint_file_is_refused(small_corpus, tmp_path):
    # the one rule of output folders (rnnlens._atomic): other files stay, a user's file named like an output stops it
    (tmp_path / "notes.txt").write_text("mine")
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(ArgumentError, match=r"writes config.json, but rnnlens did not write.*Move it out"):
        train(small_corpus, TrainSettings(**FAST), tmp_path, progress=False)
    assert (tmp_path / "notes.txt").read_text() == "mine" and (tmp_path / "config.json").read_text() == "{}"
    (tmp_path / "config.json").unlink()
    train(small_corpus, TrainSettings(**FAST), tmp_path, progress=False)
    assert (tmp_path / "notes.txt").read_text() == "mine" and (tmp_path / "model.safetensors").is_file()


def test_corpus_without_validation_split(small_corpus, tmp_path):
    c = Corpus("toy", ["negative", "positive"], {"train": small_corpus.splits["train"]}, "memory")
    with pytest.raises(DataError, match=r"corpus 'toy' \(memory\) has no 'validation' split"):
        train(c, TrainSettings(**FAST), tmp_path / "x", progress=False)


def test_evaluate_empty_split(trained):
    with pytest.raises(DataError, match="empty split"):
        evaluate(trained.model, trained.vocab, Split([], np.zeros(0, dtype=np.int64)))


# ------------------------------------------------------------------ real data


@pytest.mark.slow
@pytest.mark.realdata
def test_gru_on_sst2_subset_beats_chance(tmp_path, real_corpus_dir):
    """A small GRU trained 2 epochs on 8,000 SST-2 training phrases: validation (dev) accuracy > 70% (about 20 s)."""
    full = load_corpus("sst2", data_dir=real_corpus_dir("sst2").parent)
    rng = np.random.default_rng(0)
    pick = rng.choice(len(full.splits["train"]), size=8000, replace=False)
    corpus = Corpus(
        "sst2",
        full.label_names,
        {"train": full.splits["train"].subset(pick), "validation": full.splits["validation"]},
        full.source,
        {"subset": "8000 random train phrases, seed 0"},
    )
    s = TrainSettings(
        arch="gru",
        embed_dim=32,
        hidden_size=32,
        epochs=2,
        batch_size=64,
        lr=1e-2,
        lr_decay=0.8,
        vocab_size=8000,
        num_threads=2,
        checkpoint_every=0,
        patience=None,
    )
    t0 = time.time()
    ck = train(corpus, s, tmp_path / "sst2", progress=False)
    acc = ck.record["metrics"]["validation"]["accuracy"]
    assert ck.record["metrics"]["validation"]["n"] == 872
    assert acc > 0.70, (acc, time.time() - t0)
