"""Checkpoint folders: round trip, atomic replacement under a real SIGKILL, and every CheckpointError."""

import json
import subprocess
import sys
import textwrap

import pytest
import torch

from rnnlens._atomic import atomic_folder, write_json_atomic
from rnnlens.checkpoint import (
    CONFIG_FILE,
    FORMAT_VERSION,
    WEIGHTS_FILE,
    load_checkpoint,
    load_training_corpus,
    save_checkpoint,
)
from rnnlens.data import Vocab, load_corpus
from rnnlens.errors import ArgumentError, CheckpointError
from rnnlens.model import SentimentRNN

TEXTS = ["a good film , very good", "a bad film", "not good at all !", "awful , awful acting"]


def _model(arch="gru", seed=0, hidden=6, num_classes=2):
    torch.manual_seed(seed)
    vocab = Vocab.build(TEXTS)
    return SentimentRNN(len(vocab), arch=arch, embed_dim=5, hidden_size=hidden, num_classes=num_classes), vocab


def _batch(vocab):
    ids = [torch.from_numpy(vocab.encode(t)) for t in TEXTS]
    lengths = torch.tensor([len(x) for x in ids])
    return torch.nn.utils.rnn.pad_sequence(ids, batch_first=True), lengths


@pytest.mark.parametrize("arch,num_classes", [("gru", 2), ("lstm", 3), ("ugrnn", 2), ("vanilla", 4)])
def test_round_trip_gives_identical_logits(tmp_path, arch, num_classes):
    model, vocab = _model(arch, num_classes=num_classes)
    path = save_checkpoint(tmp_path / "ck", model, vocab, {"dataset": "toy", "metrics": {"accuracy": 0.5}})
    ck = load_checkpoint(path)
    ids, lengths = _batch(vocab)
    with torch.no_grad():
        want, got = model(ids, lengths), ck.model(ids, lengths)
    assert torch.equal(want, got)
    assert got.shape == ((4,) if num_classes == 2 else (4, num_classes))
    assert ck.vocab == vocab and ck.model.config() == model.config()
    rec = ck.record
    assert rec["dataset"] == "toy" and rec["metrics"] == {"accuracy": 0.5}
    assert {"code_version", "command", "timestamp"} <= set(rec)
    config = json.loads((path / CONFIG_FILE).read_text())
    assert config["format_version"] == FORMAT_VERSION and config["model"]["arch"] == arch
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ck"]  # no temporary folder left behind


def test_replacing_a_checkpoint_swaps_the_whole_folder(tmp_path):
    path = tmp_path / "ck"
    m0, vocab = _model(seed=0)
    save_checkpoint(path, m0, vocab, {"n": 0})
    from rnnlens._atomic import MARKER, output_folder

    with output_folder(path, "train", update=True) as tmp:  # the resume state of the run that finished, as train
        (tmp / "resume").mkdir()  # writes it
        (tmp / "resume" / "state.json").write_text("{}")
    m1, _ = _model(seed=1)
    save_checkpoint(path, m1, vocab, {"n": 1})
    ck = load_checkpoint(path)
    assert ck.record["n"] == 1
    assert torch.equal(ck.model.readout.weight, m1.readout.weight)
    assert sorted(p.name for p in path.iterdir()) == [MARKER, CONFIG_FILE, WEIGHTS_FILE]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ck"]


def test_sigkill_during_save_leaves_previous_checkpoint_intact(tmp_path):
    """A process killed (SIGKILL) while writing config.json of a new checkpoint: the old one loads."""
    path = tmp_path / "ck"
    m0, vocab = _model(seed=0)
    save_checkpoint(path, m0, vocab, {"generation": "old"})
    script = textwrap.dedent(f"""
        import os, signal, torch
        import rnnlens.checkpoint as C
        from rnnlens.data import Vocab
        from rnnlens.model import SentimentRNN
        vocab = Vocab.build({TEXTS!r})
        torch.manual_seed(1)
        model = SentimentRNN(len(vocab), arch="gru", embed_dim=5, hidden_size=6)
        real_fsync = os.fsync
        def dying_fsync(fd):   # the weights are on disk, config.json is half written: die now
            os.kill(os.getpid(), signal.SIGKILL)
        os.fsync = dying_fsync
        C.save_checkpoint({str(path)!r}, model, vocab, {{"generation": "new"}})
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert proc.returncode == -9, proc.stderr
    leftovers = [p for p in tmp_path.iterdir() if p.name != "ck"]
    assert len(leftovers) == 1 and leftovers[0].name.startswith(".ck.tmp-")  # the save really was cut short
    assert (leftovers[0] / WEIGHTS_FILE).exists()
    ck = load_checkpoint(path)
    assert ck.record["generation"] == "old"
    assert torch.equal(ck.model.readout.weight, m0.readout.weight)


def test_exception_inside_atomic_folder_keeps_old_content(tmp_path):
    target = tmp_path / "d"
    with atomic_folder(target) as tmp:
        (tmp / "x").write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_folder(target) as tmp:
            (tmp / "x").write_text("half")
            raise RuntimeError("crash")
    assert (target / "x").read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d"]


def test_write_json_atomic_keeps_old_file_when_interrupted(tmp_path, monkeypatch):
    path = tmp_path / "a.json"
    write_json_atomic(path, {"v": 1})

    def interrupted_fsync(fd):  # the new text is in the temporary file, not yet renamed
        raise KeyboardInterrupt

    monkeypatch.setattr("rnnlens._atomic.os.fsync", interrupted_fsync)
    with pytest.raises(KeyboardInterrupt):
        write_json_atomic(path, {"v": 2})
    assert json.loads(path.read_text()) == {"v": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]


# ------------------------------------------------------------------ CheckpointError cases


@pytest.fixture
def saved(tmp_path):
    model, vocab = _model()
    return save_checkpoint(tmp_path / "ck", model, vocab, {"dataset": "toy"})


def _edit_config(path, fn):
    cfg = json.loads((path / CONFIG_FILE).read_text())
    fn(cfg)
    (path / CONFIG_FILE).write_text(json.dumps(cfg))


def test_missing_folder(tmp_path):
    with pytest.raises(CheckpointError, match=r"nope: no checkpoint folder here.*rnnlens train"):
        load_checkpoint(tmp_path / "nope")


def test_file_instead_of_folder(saved):
    with pytest.raises(CheckpointError, match="a checkpoint is a folder, not a file"):
        load_checkpoint(saved / CONFIG_FILE)


@pytest.mark.parametrize("name", [CONFIG_FILE, WEIGHTS_FILE])
def test_missing_file(saved, name):
    (saved / name).unlink()
    with pytest.raises(CheckpointError, match=rf"{name}: .*missing.*train again"):
        load_checkpoint(saved)


def test_other_format_version(saved):
    _edit_config(saved, lambda c: c.update(format_version=FORMAT_VERSION + 1))
    with pytest.raises(CheckpointError, match=rf"config.json: checkpoint format version {FORMAT_VERSION + 1}.*Retrain"):
        load_checkpoint(saved)


def test_weights_not_matching_config(saved):
    _edit_config(saved, lambda c: c["model"].update(hidden_size=7))
    with pytest.raises(CheckpointError, match=r"model.safetensors: the weights do not match the model config"):
        load_checkpoint(saved)


def test_corrupt_weights(saved):
    data = (saved / WEIGHTS_FILE).read_bytes()
    (saved / WEIGHTS_FILE).write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match=r"model.safetensors: not a readable safetensors file.*corrupt"):
        load_checkpoint(saved)


def test_malformed_json(saved):
    (saved / CONFIG_FILE).write_text('{"format": ')
    with pytest.raises(CheckpointError, match=r"config.json: not valid JSON"):
        load_checkpoint(saved)


def test_not_a_checkpoint_config(saved):
    (saved / CONFIG_FILE).write_text('{"hello": 1}')
    with pytest.raises(CheckpointError, match=r"config.json: not an rnnlens checkpoint config"):
        load_checkpoint(saved)


def test_invalid_model_config(saved):
    _edit_config(saved, lambda c: c["model"].update(arch="transformer"))
    with pytest.raises(CheckpointError, match=r"config.json: the model config .* is not valid"):
        load_checkpoint(saved)


def test_unserializable_record_fails_before_touching_disk(saved):
    model, vocab = _model(seed=5)
    with pytest.raises(TypeError):
        save_checkpoint(saved, model, vocab, {"bad": object()})
    assert load_checkpoint(saved).record["dataset"] == "toy"
    assert sorted(p.name for p in saved.parent.iterdir()) == ["ck"]


# ------------------------------------------------------------------ the corpus a checkpoint was trained on


def test_load_training_corpus_reads_name_options_and_seed_from_the_record(tmp_path):
    opts = dict(n_train=60, n_validation=20, n_test=20, n_neutral=10, n_per_valence=4)
    trained_on = load_corpus("synthetic", seed=3, **opts)
    record = {"dataset": "synthetic", "data_info": trained_on.info, "data_fingerprint": trained_on.fingerprint()}
    model, vocab = _model()
    path = save_checkpoint(tmp_path / "ck", model, vocab, record)
    for source in (record, path, load_checkpoint(path)):
        assert load_training_corpus(source).fingerprint() == trained_on.fingerprint()
    # overrides: another seed or option of the same corpus, or another corpus with only the given options
    assert load_training_corpus(record, seed=4).fingerprint() == load_corpus("synthetic", seed=4, **opts).fingerprint()
    assert len(load_training_corpus(record, n_test=30).splits["test"]) == 30
    assert len(load_training_corpus(record, dataset="synthetic", n_test=30).splits["train"]) == 60
    with pytest.raises(ArgumentError, match="does not record its dataset; pass --dataset"):
        load_training_corpus({})


def test_nan_weights_are_refused_when_loaded(tmp_path):
    model, vocab = _model()
    with torch.no_grad():
        model.readout.weight[0, 0] = float("nan")
        model.embedding.weight[3, 1] = float("inf")
    path = save_checkpoint(tmp_path / "nan", model, vocab, {"dataset": "toy"})
    with pytest.raises(CheckpointError, match=r"parameters embedding.weight, readout.weight hold NaN or inf"):
        load_checkpoint(path)
