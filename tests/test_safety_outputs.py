"""Nothing lost, nothing crashes, on the output side: rnnlens never deletes files it did not write,
output folders are replaced whole, readers refuse a mix of runs or a damaged file with a message that
names the file and the command that rebuilds it, concurrent runs into one folder are refused (locks),
unwritable folders are refused before any work, and every written file has the same permissions."""

import json
import os
import shutil
import socket
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from rnnlens.analysis import AnalysisSettings
from rnnlens.analysis.pipeline import save_analysis
from rnnlens.analysis.result import Analysis, load_analysis
from rnnlens.checkpoint import load_checkpoint, save_checkpoint
from rnnlens.cli import main
from rnnlens.data import Vocab, load_corpus
from rnnlens.errors import ArgumentError, CheckpointError
from rnnlens.model import SentimentRNN
from rnnlens.training import TrainSettings, train

SMALL = dict(n_train=200, n_validation=60, n_test=60, min_length=5, max_length=10)
FAST = dict(
    arch="gru", embed_dim=4, hidden_size=5, epochs=1, batch_size=50, num_threads=1, checkpoint_every=0, patience=None
)
OPTS = [a for k, v in SMALL.items() for a in ("--option", f"{k}={v}")]
SCHEMA = "rnnlens-analysis/1"


def _run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.fixture(scope="module")
def corpus():
    return load_corpus("synthetic", **SMALL)


def _tiny_model(seed=0):
    vocab = Vocab.build(["good bad film", "bad plot", "good acting"])
    torch.manual_seed(seed)
    return SentimentRNN(len(vocab), arch="gru", embed_dim=3, hidden_size=4), vocab


def _fixed_points():
    from rnnlens.fixedpoints import _TENSOR_FIELDS, FixedPoints

    return FixedPoints(
        **{k: torch.zeros(2, 3) if k in ("points", "inputs", "seeds") else torch.zeros(2) for k in _TENSOR_FIELDS},
        tol=1e-8,
        solver="test",
        info={},
    )


def _result(tag, with_fp=False):
    arrays = {"x": np.arange(3) + tag}
    return Analysis({"schema": SCHEMA, "tag": tag, "metrics": {}, "checks": [], "missing": []}, arrays)


# ---------------------------------------------------------------------------------- 2: never delete foreign files


def test_train_keeps_dot_files_of_the_out_folder(corpus, tmp_path):
    out = tmp_path / "run"
    (out / ".git").mkdir(parents=True)
    (out / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (out / ".env").write_text("SECRET=1\n")
    train(corpus, TrainSettings(**FAST), out, progress=False)
    assert (out / ".git" / "HEAD").read_text() == "ref: refs/heads/main\n"
    assert (out / ".env").read_text() == "SECRET=1\n"
    assert load_checkpoint(out).record["metrics"]["epochs_run"] == 1


def test_no_resume_keeps_files_beside_the_checkpoint(corpus, tmp_path):
    out = tmp_path / "ck"
    first = train(corpus, TrainSettings(**FAST), out, progress=False)
    (out / "analysis").mkdir()
    (out / "analysis" / "summary.json").write_text("{}")
    (out / "notes.txt").write_text("mine")
    s = TrainSettings(**{**FAST, "seed": 1})
    again = train(corpus, s, out, resume=False, progress=False)
    assert (out / "notes.txt").read_text() == "mine"
    assert (out / "analysis" / "summary.json").read_text() == "{}"
    assert again.record["settings"]["seed"] == 1 and first.record["settings"]["seed"] != 1
    assert load_checkpoint(out).record["settings"]["seed"] == 1


def test_save_analysis_keeps_user_files_and_replaces_its_own(tmp_path):
    out = tmp_path / "an"
    save_analysis(_result(0), out)
    (out / "notes.md").write_text("mine")
    save_analysis(_result(10), out)
    assert (out / "notes.md").read_text() == "mine"
    loaded = load_analysis(out)
    summary, arrays = loaded.summary, loaded.arrays
    assert summary["tag"] == 10 and arrays["x"].tolist() == [10, 11, 12]


# ---------------------------------------------------------------------------------- 4: whole folders, no mixes


def test_load_analysis_refuses_files_of_two_runs(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    save_analysis(_result(0), a)
    save_analysis(_result(10), b)
    shutil.copy(b / "arrays.npz", a / "arrays.npz")  # what a killed replacement used to leave
    with pytest.raises(ArgumentError) as e:
        load_analysis(a)
    msg = str(e.value)
    assert str(a) in msg and "rnnlens analyze" in msg and "different runs" in msg
    r = _run("report", a, "-o", tmp_path / "rep")
    assert r.exit_code == 2 and "different runs" in r.output


def test_save_analysis_holds_an_analyze_lock_and_moves_the_summary_in_last(tmp_path, monkeypatch):
    import rnnlens._atomic as atomic
    import rnnlens.analysis.io as pipeline

    out = tmp_path / "an"
    save_analysis(_result(0), out)
    (out / "notes.md").write_text("mine")  # a user file: own files are then replaced one by one
    seen, moved = {}, []
    real_write, real_move = pipeline.write_arrays, atomic._move_in

    def write_arrays(path, arrays):
        seen["lock"] = json.loads((tmp_path / ".an.lock").read_text())
        return real_write(path, arrays)

    def move_in(src, dst):
        moved.append(Path(dst).name)
        return real_move(src, dst)

    monkeypatch.setattr(pipeline, "write_arrays", write_arrays)
    monkeypatch.setattr(atomic, "_move_in", move_in)
    result = _result(10)
    assert save_analysis(result, out) == out and result.out_dir == out
    assert seen["lock"]["command"] == "analyze" and seen["lock"]["pid"] == os.getpid()
    assert moved[-1] == "summary.json" and set(moved) == {"arrays.npz", "summary.json"}
    assert not (tmp_path / ".an.lock").exists()


def test_save_analysis_into_a_file_names_the_option(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(ArgumentError, match=r"^-o .*f: exists and is not a folder"):
        save_analysis(_result(0), tmp_path / "f")


def test_interrupted_save_analysis_leaves_the_previous_results(tmp_path, monkeypatch):
    out = tmp_path / "an"
    save_analysis(_result(0), out)
    import rnnlens.analysis.io as io_mod

    real = io_mod.write_json_atomic

    def dying(path, *a, **k):  # the arrays are written, the summary is not: die now
        raise KeyboardInterrupt

    monkeypatch.setattr(io_mod, "write_json_atomic", dying)
    with pytest.raises(KeyboardInterrupt):
        save_analysis(_result(10), out)
    monkeypatch.setattr(io_mod, "write_json_atomic", real)
    loaded = load_analysis(out)
    summary, arrays = loaded.summary, loaded.arrays
    assert summary["tag"] == 0 and arrays["x"].tolist() == [0, 1, 2]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["an"]


def test_interrupted_save_beside_user_files_is_detected(tmp_path, monkeypatch):
    out = tmp_path / "an"
    save_analysis(_result(0), out)
    (out / "notes.md").write_text("mine")
    import rnnlens.analysis.io as io_mod

    monkeypatch.setattr(io_mod, "write_json_atomic", lambda *a, **k: (_ for _ in ()).throw(KeyboardInterrupt))
    with pytest.raises(KeyboardInterrupt):
        save_analysis(_result(10), out)
    monkeypatch.undo()
    assert (out / "notes.md").read_text() == "mine"
    try:
        loaded = load_analysis(out)
        summary, arrays = loaded.summary, loaded.arrays
    except ArgumentError as e:
        assert "different runs" in str(e)
    else:  # or the old results, whole
        assert summary["tag"] == 0 and arrays["x"].tolist() == [0, 1, 2]


def test_checkpoint_files_of_two_runs_are_refused(tmp_path):
    m0, vocab = _tiny_model(0)
    m1, _ = _tiny_model(1)
    save_checkpoint(tmp_path / "a", m0, vocab, {})
    save_checkpoint(tmp_path / "b", m1, vocab, {})
    shutil.copy(tmp_path / "b" / "model.safetensors", tmp_path / "a" / "model.safetensors")
    with pytest.raises(CheckpointError, match=r"different runs.*rnnlens train"):
        load_checkpoint(tmp_path / "a")


# ---------------------------------------------------------------------------------- 6: damaged files


def _damage(path, how):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2] if how == "truncated" else b"\x00garbage\xff" * 7)


@pytest.mark.parametrize("how", ["truncated", "garbage"])
@pytest.mark.parametrize("name", ["arrays.npz", "summary.json"])
def test_damaged_analysis_files_name_the_file_and_the_command(tmp_path, name, how):
    save_analysis(_result(0), tmp_path / "an")
    _damage(tmp_path / "an" / name, how)
    with pytest.raises(ArgumentError) as e:
        load_analysis(tmp_path / "an")
    assert str(tmp_path / "an" / name) in str(e.value) and "rnnlens analyze" in str(e.value)
    r = _run("report", tmp_path / "an", "-o", tmp_path / "rep")
    assert r.exit_code == 2 and "Traceback" not in r.output


@pytest.mark.parametrize("how", ["truncated", "garbage"])
def test_damaged_fixed_points_file_names_the_command(tmp_path, how):
    from rnnlens.fixedpoints import FixedPoints

    fp = _fixed_points()
    fp.save(tmp_path / "fixed_points.safetensors")
    _damage(tmp_path / "fixed_points.safetensors", how)
    with pytest.raises(ArgumentError, match=r"fixed_points.safetensors.*rnnlens analyze"):
        FixedPoints.load(tmp_path / "fixed_points.safetensors")


@pytest.mark.parametrize("how", ["truncated", "garbage"])
@pytest.mark.parametrize("name", ["model.safetensors", "config.json"])
def test_damaged_checkpoint_files_name_the_file_and_the_command(tmp_path, name, how):
    m, vocab = _tiny_model()
    save_checkpoint(tmp_path / "ck", m, vocab, {})
    _damage(tmp_path / "ck" / name, how)
    with pytest.raises(CheckpointError) as e:
        load_checkpoint(tmp_path / "ck")
    assert str(tmp_path / "ck" / name) in str(e.value) and "rnnlens train" in str(e.value)


# ---------------------------------------------------------------------------------- 3: locks


def _lock_file(folder: Path) -> Path:
    return folder.parent / f".{folder.name}.lock"


def _sleeper():
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])


@pytest.mark.parametrize("command", ["train", "analyze", "baseline", "report"])
def test_a_second_run_into_a_locked_folder_fails_fast(tmp_path, command):
    out = tmp_path / "out"
    holder = _sleeper()
    try:
        _lock_file(out).write_text(
            json.dumps({"pid": holder.pid, "host": socket.gethostname(), "command": "rnnlens train", "started": "now"})
        )
        args = {
            "train": ["train", "--dataset", "synthetic", *OPTS, "--out", out],
            "analyze": ["analyze", tmp_path / "nock", "-o", out],
            "baseline": ["baseline", "--dataset", "synthetic", *OPTS, "-o", out],
            "report": ["report", tmp_path / "noan", "-o", out],
        }[command]
        t0 = time.perf_counter()
        r = _run(*args)
        assert r.exit_code == 2, r.output
        assert str(_lock_file(out)) in r.output and str(holder.pid) in r.output
        assert time.perf_counter() - t0 < 10
        assert not out.exists()
    finally:
        holder.kill()
        holder.wait()
    assert _lock_file(out).exists()  # the refused run leaves the other run's lock alone


def test_two_processes_one_folder(tmp_path):
    """A real second process holds the lock while this one tries to write the same folder."""
    out = tmp_path / "out"
    script = textwrap.dedent(f"""
        import sys, time
        from rnnlens._lock import output_lock
        with output_lock({str(out)!r}, "test"):
            print("held", flush=True)
            time.sleep(60)
    """)
    holder = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        r = _run("baseline", "--dataset", "synthetic", *OPTS, "-o", out)
        assert r.exit_code == 2 and str(holder.pid) in r.output and "lock" in r.output
    finally:
        holder.kill()
        holder.wait()
    r = _run("baseline", "--dataset", "synthetic", *OPTS, "-o", out)  # the dead holder's lock is stale
    assert r.exit_code == 0, r.output
    assert "stale" in r.output and (out / "bag_of_words.json").is_file()
    assert not _lock_file(out).exists()


def test_stale_lock_is_taken_over_with_a_message(corpus, tmp_path):
    out = tmp_path / "ck"
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    _lock_file(out).write_text(
        json.dumps({"pid": dead.pid, "host": socket.gethostname(), "command": "rnnlens train", "started": "then"})
    )
    r = _run(
        "train",
        "--dataset",
        "synthetic",
        *OPTS,
        "--embed-dim",
        4,
        "--hidden-size",
        5,
        "--epochs",
        1,
        "--out",
        out,
        "--no-progress",
    )
    assert r.exit_code == 0, r.output
    assert "stale" in r.output and str(dead.pid) in r.output
    assert not _lock_file(out).exists() and load_checkpoint(out)


# ---------------------------------------------------------------------------------- 5: unwritable outputs


@pytest.fixture
def readonly_dir(tmp_path):
    """A folder this process cannot write: a 0555 folder, or for root (whom modes do not stop) /sys/fs."""
    if os.geteuid() == 0:
        ro = Path("/sys/fs")
        try:
            (ro / "rnnlens-probe").touch()
        except OSError:
            yield ro
            return
        pytest.skip("running as root and /sys/fs is writable: no unwritable folder to test with")
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    yield ro
    ro.chmod(0o755)


def test_unwritable_out_folder_is_refused_before_the_work(readonly_dir, tmp_path):
    m, vocab = _tiny_model()
    save_checkpoint(tmp_path / "ck", m, vocab, {"dataset": "synthetic", "data_info": {"options": SMALL}})
    before = sorted(p.name for p in readonly_dir.iterdir())
    cases = [
        ["analyze", tmp_path / "ck", "-o", readonly_dir / "an", "--n-docs", 20, "--n-seeds", 5],
        ["train", "--dataset", "synthetic", *OPTS, "--out", readonly_dir / "ck"],
        ["baseline", "--dataset", "synthetic", *OPTS, "-o", readonly_dir / "bow"],
        ["report", tmp_path / "noan", "-o", readonly_dir / "rep"],
        ["analyze", tmp_path / "ck", "-o", readonly_dir, "--n-docs", 20, "--n-seeds", 5],
    ]
    for args in cases:
        t0 = time.perf_counter()
        r = _run(*args)
        assert r.exit_code == 2, (args, r.output)
        assert r.exception is None or isinstance(r.exception, SystemExit)  # no traceback
        assert "error:" in r.output and "cannot write" in r.output and str(readonly_dir) in r.output, r.output
        assert time.perf_counter() - t0 < 20  # refused before loading data or computing
    assert sorted(p.name for p in readonly_dir.iterdir()) == before
    # the Python API refuses too, before the work
    from rnnlens.analysis import analyze

    with pytest.raises(ArgumentError, match="cannot write"):
        analyze(
            tmp_path / "ck",
            load_corpus("synthetic", **SMALL),
            AnalysisSettings.make(n_docs=10, modifiers=None),
            out_dir=readonly_dir / "an",
        )


# ---------------------------------------------------------------------------------- 7: permissions


def _modes(root: Path) -> dict:
    return {str(p.relative_to(root)): stat.S_IMODE(p.stat().st_mode) for p in root.rglob("*") if p.is_file()}


def test_every_written_file_has_the_same_permissions(corpus, tmp_path):
    from rnnlens.baseline import fit_bag_of_words
    from rnnlens.report import make_report

    old = os.umask(0o022)
    try:
        ck = train(corpus, TrainSettings(**{**FAST, "checkpoint_every": 1}), tmp_path / "ck", progress=False)
        from rnnlens.analysis import analyze

        analyze(
            ck,
            corpus,
            AnalysisSettings.make(n_docs=20, n_seeds=5, n_transitions=20, n_speed=3, speed_steps=3, modifiers=None),
            out_dir=tmp_path / "an",
        )
        make_report([tmp_path / "an"], tmp_path / "rep")
        fit_bag_of_words(corpus).save(tmp_path / "bow")
        fp = _fixed_points()
        fp.save(tmp_path / "fp.safetensors")
    finally:
        os.umask(old)
    modes = _modes(tmp_path)
    assert "an/fixed_points.safetensors" in modes and "ck/model.safetensors" in modes
    assert {k: v for k, v in modes.items() if v != 0o644} == {}
    dirs = {str(p.relative_to(tmp_path)): stat.S_IMODE(p.stat().st_mode) for p in tmp_path.rglob("*") if p.is_dir()}
    assert {k: v for k, v in dirs.items() if v != 0o755} == {}
