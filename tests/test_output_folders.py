"""One rule for every output folder (train, analyze, report, baseline; issue 23, items 1-3 and 9a/9b).

rnnlens replaces only entries it can show it wrote (the folder's marker, ``.rnnlens-output.json``, lists
them with a SHA-256 of their content), never swaps a symbolic link (an output path given as a link is
written inside the folder it points to), leaves the user's files untouched with a one-line message, swaps
a report as one unit, ends a full disk with one line and the old outputs intact, and names the file and the
field of a ``summary.json`` whose fields have the wrong type."""

import errno
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from rnnlens._atomic import MARKER
from rnnlens.analysis import AnalysisSettings, analyze
from rnnlens.checkpoint import save_checkpoint
from rnnlens.cli import main
from rnnlens.data import Vocab, load_corpus
from rnnlens.model import SentimentRNN

SMALL = dict(n_train=150, n_validation=30, n_test=40, min_length=5, max_length=10)
OPTS = [a for k, v in SMALL.items() for a in ("--option", f"{k}={v}")]
TRAIN = [
    "--arch",
    "gru",
    "--embed-dim",
    "4",
    "--hidden-size",
    "5",
    "--epochs",
    "1",
    "--batch-size",
    "50",
    "--num-threads",
    "1",
    "--checkpoint-every",
    "0",
]
QUICK = [
    "--n-docs",
    "20",
    "--n-seeds",
    "10",
    "--n-transitions",
    "50",
    "--n-speed",
    "5",
    "--speed-steps",
    "5",
    "--no-modifiers",
    "--no-bow",
]


def _run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def _one_line_error(r, *needles):
    """The command failed with status 2 and ended with one error line on stderr naming each of ``needles``
    (no traceback; progress lines may come before it)."""
    assert r.exit_code == 2, (r.exit_code, r.output, r.exception)
    assert isinstance(r.exception, SystemExit), r.exception
    lines = r.stderr.strip().splitlines()
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1 and lines[-1] == errors[0], r.stderr
    assert "Traceback" not in r.output
    for n in needles:
        assert str(n) in errors[0], (n, errors[0])
    return errors[0]


def _tree(folder: Path) -> dict:
    """Every entry under ``folder``: relative path -> bytes (files) or the link's target (symlinks)."""
    out = {}
    for p in sorted(folder.rglob("*")):
        rel = str(p.relative_to(folder))
        if p.is_symlink():
            out[rel] = ("link", os.readlink(p))
        elif p.is_file():
            out[rel] = p.read_bytes()
    return out


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """A checkpoint (``ck``) and an analysis of it (``an``), small."""
    root = tmp_path_factory.mktemp("made")
    corpus = load_corpus("synthetic", seed=0, **SMALL)
    vocab = Vocab.build(corpus.splits["train"].texts)
    torch.manual_seed(1)
    model = SentimentRNN(len(vocab), arch="gru", embed_dim=5, hidden_size=6)
    save_checkpoint(root / "ck", model, vocab, {"dataset": "synthetic", "dataset_options": SMALL, "data_seed": 0})
    settings = AnalysisSettings.make(n_docs=20, n_seeds=10, n_transitions=50, n_speed=5, speed_steps=5, modifiers=None)
    analyze(root / "ck", corpus, settings, bow=dict(corpus.truth.valence), out_dir=root / "an")
    return root


def _command(kind, made, out):
    return {
        "train": ["train", "--dataset", "synthetic", *OPTS, *TRAIN, "--no-progress", "--out", out],
        "analyze": ["analyze", made / "ck", "--dataset", "synthetic", *OPTS, *QUICK, "--quiet", "-o", out],
        "report": ["report", made / "an", "-o", out],
        "baseline": ["baseline", "--dataset", "synthetic", *OPTS, "-o", out],
    }[kind]


# ------------------------------------------------------------------------------- 1: the user's files are never replaced


@pytest.mark.parametrize(
    "kind, name",
    [
        ("analyze", "summary.json"),
        ("analyze", "arrays.npz"),
        ("report", "report.html"),
        ("baseline", "bag_of_words.json"),
        ("train", "config.json"),
    ],
)
def test_a_users_file_with_an_output_name_is_never_replaced(made, tmp_path, kind, name):
    out = tmp_path / "out"
    out.mkdir()
    (out / name).write_text("mine, not rnnlens's")
    line = _one_line_error(_run(*_command(kind, made, out)), out, name, "Move")
    assert "rnnlens did not write" in line
    assert sorted(p.name for p in out.iterdir()) == [name]
    assert (out / name).read_text() == "mine, not rnnlens's"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no lock, no staging folder left


@pytest.mark.parametrize("kind", ["analyze", "report", "baseline"])
def test_own_outputs_are_replaced_and_user_files_beside_them_kept(made, tmp_path, kind):
    out = tmp_path / "out"
    assert _run(*_command(kind, made, out)).exit_code == 0
    marker = json.loads((out / MARKER).read_text())
    assert all(e["command"] == kind for e in marker["entries"].values())
    (out / "notes.md").write_text("mine")
    first = _tree(out)
    r = _run(*_command(kind, made, out))
    assert r.exit_code == 0, r.output
    assert (out / "notes.md").read_text() == "mine"
    assert set(_tree(out)) == set(first)


def test_an_edited_output_is_no_longer_rnnlenss(made, tmp_path):
    out = tmp_path / "out"
    assert _run(*_command("baseline", made, out)).exit_code == 0
    path = out / "bag_of_words.json"
    path.write_text(path.read_text() + " ")  # the user edited it: rnnlens cannot show it wrote this content
    _one_line_error(_run(*_command("baseline", made, out)), path.name, "changed")
    assert path.read_text().endswith(" ")


def test_train_writes_beside_a_users_files(made, tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    r = _run(*_command("train", made, out))
    assert r.exit_code == 0, r.output
    assert (out / "notes.txt").read_text() == "mine" and (out / "config.json").is_file()


# ------------------------------------------------------------------------------- 2: an output folder given as a link


@pytest.mark.parametrize("kind", ["train", "analyze", "report", "baseline"])
def test_an_output_link_is_written_through_and_kept(made, tmp_path, kind):
    target = tmp_path / "real"
    target.mkdir()
    (target / "notes.md").write_text("mine")
    link = tmp_path / "link"
    link.symlink_to(target, target_is_directory=True)
    for _ in range(2):  # a first run, then a rerun that replaces its own outputs
        r = _run(*_command(kind, made, link))
        assert r.exit_code == 0, r.output
        assert link.is_symlink() and os.readlink(link) == str(target)
        assert (target / MARKER).is_file() and (target / "notes.md").read_text() == "mine"
        assert sorted(p.name for p in tmp_path.iterdir()) == ["link", "real"]  # nothing renamed, nothing beside


def test_a_dangling_output_link_gets_its_folder(made, tmp_path):
    link = tmp_path / "link"
    link.symlink_to(tmp_path / "later")
    assert _run(*_command("baseline", made, link)).exit_code == 0
    assert link.is_symlink() and (tmp_path / "later" / "bag_of_words.json").is_file()


def test_a_link_loop_or_a_link_to_a_file_is_refused(made, tmp_path):
    loop = tmp_path / "loop"
    loop.symlink_to(tmp_path / "loop")
    _one_line_error(_run(*_command("baseline", made, loop)), loop, "symbolic link")
    (tmp_path / "f").write_text("x")
    to_file = tmp_path / "tofile"
    to_file.symlink_to(tmp_path / "f")
    _one_line_error(_run(*_command("report", made, to_file)), to_file, "not a folder")
    assert (tmp_path / "f").read_text() == "x"


def test_a_link_inside_the_folder_is_never_followed(made, tmp_path):
    outside = tmp_path / "elsewhere.json"
    outside.write_text("precious")
    out = tmp_path / "out"
    out.mkdir()
    (out / "bag_of_words.json").symlink_to(outside)
    _one_line_error(_run(*_command("baseline", made, out)), "bag_of_words.json")
    assert outside.read_text() == "precious" and (out / "bag_of_words.json").is_symlink()


# ------------------------------------------------------------------------------- 3: a report is replaced as one unit


def _two_analyses(made, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    shutil.copytree(made / "an", a)
    shutil.copytree(made / "an", b)
    return a, b


def test_a_report_of_other_analyses_leaves_no_old_figures(made, tmp_path):
    a, b = _two_analyses(made, tmp_path)
    out = tmp_path / "rep"
    assert _run("report", a, "-o", out).exit_code == 0
    assert _run("report", b, "-o", out).exit_code == 0
    assert sorted(p.name for p in out.iterdir() if p.name != MARKER) == ["b", "report.html"]


@pytest.mark.parametrize("user_file", [False, True])
def test_a_killed_report_leaves_the_old_report_whole(made, tmp_path, monkeypatch, user_file):
    import rnnlens.report.style as style

    a, b = _two_analyses(made, tmp_path)
    out = tmp_path / "rep"
    assert _run("report", a, "-o", out).exit_code == 0
    if user_file:
        (out / "notes.md").write_text("mine")
    before = _tree(out)
    real, calls = style.save_figure, []

    def dying(fig, folder, name):
        calls.append(name)
        if len(calls) == 3:
            raise KeyboardInterrupt  # a kill half-way through the figures
        return real(fig, folder, name)

    monkeypatch.setattr(style, "save_figure", dying)
    import rnnlens.report as report_mod

    monkeypatch.setattr(report_mod, "save_figure", dying)
    with pytest.raises(KeyboardInterrupt):
        report_mod.make_report([b], out)
    assert _tree(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "b", "rep"]


def test_a_report_killed_while_moving_in_never_shows_the_old_html_beside_new_figures(made, tmp_path, monkeypatch):
    import rnnlens._atomic as atomic
    from rnnlens.report import make_report

    a, b = _two_analyses(made, tmp_path)
    out = tmp_path / "rep"
    make_report([a], out)
    (out / "notes.md").write_text("mine")  # entries are then moved in one by one
    real = atomic._move_in

    def dying(src, dst):
        if Path(dst).name == "b":
            real(src, dst)
            raise KeyboardInterrupt  # killed after the new figures arrived
        return real(src, dst)

    monkeypatch.setattr(atomic, "_move_in", dying)
    with pytest.raises(KeyboardInterrupt):
        make_report([b], out)
    assert not (out / "report.html").exists()  # the old report went first: never beside the new figures
    assert (out / "notes.md").read_text() == "mine"
    monkeypatch.undo()
    make_report([b], out)  # the rerun finishes, and knows the half-moved entries as its own
    assert sorted(p.name for p in out.iterdir() if p.name != MARKER) == ["b", "notes.md", "report.html"]


# ------------------------------------------------------------------------------- 9a: a full disk


def _full_disk(monkeypatch, root: Path):
    """Every file opened for writing under ``root`` (not the lock files) fails as on a full disk, and so does
    safetensors (its own writer, whose error is not an OSError)."""
    import builtins

    from safetensors import SafetensorError

    import rnnlens.checkpoint as ck

    real_open = builtins.open

    def full_open(file, mode="r", *args, **kwargs):
        path = os.path.abspath(os.fspath(file)) if isinstance(file, (str, os.PathLike)) else ""
        if set(mode) & set("wax+") and path.startswith(str(root)) and ".lock" not in path:
            raise OSError(errno.ENOSPC, "No space left on device", path)
        return real_open(file, mode, *args, **kwargs)

    def full_save(tensors, filename, metadata=None):
        raise SafetensorError("Error while serializing: I/O error: No space left on device (os error 28)")

    monkeypatch.setattr(builtins, "open", full_open)
    monkeypatch.setattr(ck, "save_file", full_save)


@pytest.mark.parametrize("kind", ["train", "analyze", "report", "baseline"])
def test_a_full_disk_ends_with_one_line_and_the_old_outputs(made, tmp_path, monkeypatch, kind):
    out = tmp_path / "out"
    assert _run(*_command(kind, made, out)).exit_code == 0
    before = _tree(out)
    args = _command(kind, made, out)
    if kind == "train":
        args = [*args, "--no-resume", "--seed", "7"]
    _full_disk(monkeypatch, tmp_path)
    line = _one_line_error(_run(*args), "no space left", out)
    assert "unchanged" in line
    monkeypatch.undo()
    assert _tree(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_a_full_disk_outside_an_output_folder_is_one_line_too(tmp_path, monkeypatch):
    import click

    from rnnlens.cli._common import ErrorGroup

    @click.command("boom")
    def boom():
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "cache" / "x.json"))

    group = ErrorGroup(commands=[boom])
    r = CliRunner().invoke(group, ["boom"])
    _one_line_error(r, tmp_path / "cache" / "x.json", "no space left")


def _can_mount_tmpfs(folder: Path) -> bool:
    if os.geteuid() != 0 or not shutil.which("mount"):
        return False
    folder.mkdir()
    ok = (
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(folder)], capture_output=True).returncode
        == 0
    )
    return ok


def test_a_real_full_disk(made, tmp_path):
    """On a real 3 MB file system filled to the last byte (root only: a tmpfs is mounted, then unmounted)."""
    disk = tmp_path / "disk"
    if not _can_mount_tmpfs(disk):
        pytest.skip("needs root and tmpfs mounts to fill a real disk")
    try:
        for kind in ("report", "baseline"):
            assert _run(*_command(kind, made, disk / kind)).exit_code == 0
        before = {kind: _tree(disk / kind) for kind in ("report", "baseline")}
        with open(disk / "filler", "wb") as f:
            try:
                while True:
                    f.write(b"\0" * 65536)
                    f.flush()
            except OSError as exc:
                assert exc.errno == errno.ENOSPC
        for free in (0, 8192):  # not even room for the lock file; room for it, not for the outputs (12 KB+)
            os.truncate(disk / "filler", (disk / "filler").stat().st_size - free)
            for kind in ("report", "baseline"):
                _one_line_error(_run(*_command(kind, made, disk / kind)), "no space left", disk / kind)
                assert _tree(disk / kind) == before[kind]
            assert sorted(p.name for p in disk.iterdir()) == ["baseline", "filler", "report"]
    finally:
        subprocess.run(["umount", str(disk)], check=False)


# ------------------------------------------------------------------------------- 9b: wrong-typed summary fields

BAD_FIELDS = [
    (("metrics",), [], "metrics"),
    (("metrics", "modes"), "x", "metrics.modes"),
    (("metrics", "modes", "tau_median", "value"), "x", "metrics.modes.tau_median"),
    (("metrics", "pca", "trained_cumulative", "value"), 0.5, "metrics.pca.trained_cumulative"),
    (("metrics", "data", "rnn_accuracy", "value"), "high", "metrics.data.rnn_accuracy"),
    (("metrics", "fixed_points", "n_converged", "value"), [3], "metrics.fixed_points.n_converged"),
    (("metrics", "fixed_points", "n_converged", "definition"), 7, "metrics.fixed_points.n_converged.definition"),
    (("metrics", "fixed_points", "by_tolerance", "value"), 5, "metrics.fixed_points.by_tolerance"),
    (("metrics", "fixed_points", "by_tolerance", "value", 0, "tol"), "x", "metrics.fixed_points.by_tolerance"),
    (("checks",), {"a": 1}, "checks"),
    (("checks", 0, "passed"), "yes", "checks[0].passed"),
    (("checks", 0, "claim"), None, "checks[0].claim"),
    (("missing",), "none", "missing"),
    (("skipped",), [3], "skipped[0]"),
    (("provenance",), 3, "provenance"),
    (("provenance", "label_names"), "ab", "provenance.label_names"),
    (("provenance", "model"), [1], "provenance.model"),
    (("settings",), "x", "settings"),
    (("sign_convention",), 1, "sign_convention"),
]


@pytest.mark.parametrize("path, value, field", BAD_FIELDS, ids=[f for _, _, f in BAD_FIELDS])
def test_report_names_the_file_and_the_wrong_typed_field(made, tmp_path, path, value, field):
    an = tmp_path / "an"
    shutil.copytree(made / "an", an)
    summary = json.loads((an / "summary.json").read_text())
    node = summary
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    (an / "summary.json").write_text(json.dumps(summary))
    line = _one_line_error(_run("report", an, "-o", tmp_path / "rep"), an / "summary.json", field)
    assert "rnnlens analyze" in line
    assert not (tmp_path / "rep").exists()
