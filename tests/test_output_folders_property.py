"""A property of every output folder (rnnlens._atomic.output_folder, the one rule of train/analyze/report/
baseline): whatever mix of the user's files, folders and symbolic links, earlier rnnlens outputs and kills at
any step of a write, nothing of the user's is lost or changed, and what rnnlens leaves is either the old or
the new outputs of a command, never something it cannot recognise as its own on the next run."""

import os
import shutil
import tempfile
import types
from contextlib import contextmanager
from pathlib import Path

import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import (  # noqa: E402
    HealthCheck,
    given,
    settings,
    strategies as st,  # noqa: E402
)

import rnnlens._atomic as atomic  # noqa: E402
from rnnlens.errors import ArgumentError  # noqa: E402

# names rnnlens writes (a few per command) and names only users pick
OUTPUTS = {
    "analyze": ["summary.json", "arrays.npz"],
    "report": ["report.html", "fig", "a"],
    "baseline": ["bag_of_words.json"],
    "train": ["config.json", "model.safetensors", "resume"],
}
LAST = {"analyze": "summary.json", "report": "report.html", "baseline": None, "train": "config.json"}
NAMES = sorted({n for names in OUTPUTS.values() for n in names} | {"notes.md", ".git", "data", atomic.MARKER})


class Killed(BaseException):
    """The process died here: from now on nothing of it runs (no cleanup either)."""


class _Dying:
    """A stand-in for a module (``os``, ``shutil``) whose file-changing calls die at the ``at``-th call, and
    every call after it, so that a run is cut off between two of its steps as a kill would cut it."""

    CALLS = {"rename", "replace", "rmtree", "mkdir", "unlink", "rmdir"}

    def __init__(self, module, clock):
        self._module, self._clock = module, clock

    def __getattr__(self, name):
        real = getattr(self._module, name)
        if name not in self.CALLS:
            return real

        def call(*args, **kwargs):
            self._clock.tick()
            return real(*args, **kwargs)

        return call


class _Clock:
    def __init__(self, at):
        self.at, self.n = at, 0

    def tick(self):
        self.n += 1
        if self.at is not None and self.n >= self.at:
            raise Killed


@contextmanager
def _kill_at(at):
    """Patch rnnlens._atomic's file operations (and its folder swap) to die at step ``at`` (None: never)."""
    clock = _Clock(at)
    saved = atomic.os, atomic.shutil, atomic._exchange, atomic.write_json_atomic
    real_exchange, real_marker = atomic._exchange, atomic.write_json_atomic

    def exchange(a, b):
        clock.tick()
        return real_exchange(a, b)

    def marker(path, obj, **kw):
        clock.tick()
        return real_marker(path, obj, **kw)

    atomic.os, atomic.shutil = _Dying(os, clock), _Dying(shutil, clock)
    atomic._exchange, atomic.write_json_atomic = exchange, marker
    try:
        yield clock
    finally:
        atomic.os, atomic.shutil, atomic._exchange, atomic.write_json_atomic = saved


def _snapshot(folder: Path) -> dict:
    """Relative path -> content (bytes), link target, or 'dir', for everything under ``folder``."""
    out = {}
    for root, dirs, files in os.walk(folder):
        for name in dirs + files:
            p = Path(root) / name
            rel = str(p.relative_to(folder))
            out[rel] = ("link", os.readlink(p)) if p.is_symlink() else ("dir" if p.is_dir() else p.read_bytes())
    return out


def _user_entry(folder: Path, name: str, kind: str, outside: Path) -> None:
    p = folder / name
    if kind == "file":
        p.write_bytes(b"the user's " + name.encode())
    elif kind == "folder":
        p.mkdir()
        (p / "inner.txt").write_text("the user's")
    elif kind == "link to a file":
        p.symlink_to(outside / "precious.txt")
    else:
        p.symlink_to(outside, target_is_directory=True)


def _write(out: Path, command: str, names: list[str], tag: str, kill_at=None) -> None:
    """One rnnlens output run: ``names`` (files, or a folder for names without a dot) written for ``command``."""
    with _kill_at(kill_at):
        with atomic.output_folder(out, command, last=LAST[command]) as tmp:
            for name in names:
                if "." in name:
                    (tmp / name).write_text(f"{command} {tag}")
                else:
                    (tmp / name).mkdir()
                    (tmp / name / "part.bin").write_text(f"{command} {tag}")


users = st.dictionaries(
    st.sampled_from(NAMES), st.sampled_from(["file", "folder", "link to a file", "link to a folder"]), max_size=4
)
runs = st.lists(
    st.tuples(st.sampled_from(sorted(OUTPUTS)), st.integers(0, 3), st.one_of(st.none(), st.integers(1, 12))),
    min_size=1,
    max_size=4,
)


@settings(
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(before=runs, user=users, after=runs, via_link=st.booleans())
def test_nothing_of_the_users_is_lost(before, user, after, via_link):
    root = Path(tempfile.mkdtemp(prefix="rnnlens-prop-"))
    try:
        outside = root / "outside"
        outside.mkdir()
        (outside / "precious.txt").write_text("keep me")
        out = root / "out"
        out.mkdir()
        target = out
        if via_link:
            out = root / "link"
            out.symlink_to(target, target_is_directory=True)
        _runs(out, before)  # earlier rnnlens outputs, some of them killed
        placed = [name for name in user if not os.path.lexists(target / name)]
        for name in placed:
            _user_entry(target, name, user[name], outside)
        mine = {k: v for k, v in _snapshot(target).items() if k.split("/")[0] in placed}
        outside_before = _snapshot(outside)
        _runs(out, after)
        # the user's entries (and whatever their links point to) are exactly as they were
        now = _snapshot(target)
        assert {k: now.get(k) for k in mine} == mine
        assert _snapshot(outside) == outside_before
        if via_link:
            assert out.is_symlink() and os.readlink(out) == str(target)
        # and a run without a kill always gets through, or stops at a user's entry with its name
        for command in OUTPUTS:
            clash = sorted((set(OUTPUTS[command]) | {atomic.MARKER}) & set(placed))
            try:
                _write(out, command, OUTPUTS[command], "final")
            except ArgumentError as exc:
                assert clash and any(n in str(exc) for n in clash), (clash, str(exc))
            else:
                assert not clash
                for name in OUTPUTS[command]:
                    assert (target / name).exists()
        now = _snapshot(target)
        assert {k: now.get(k) for k in mine} == mine
        assert sorted(p.name for p in root.iterdir() if not atomic.is_tmp_name(p.name)) == sorted(
            ["outside", "out"] + (["link"] if via_link else [])
        )
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _runs(out: Path, plan) -> None:
    for command, k, kill_at in plan:
        names = OUTPUTS[command][: max(1, k)]
        try:
            _write(out, command, names, f"{k}-{kill_at}", kill_at=kill_at)
        except Killed:
            pass
        except ArgumentError as exc:
            assert "rnnlens did not write" in str(exc), str(exc)


def test_the_kill_switch_kills():
    """The property above only means something if its kills land inside the writes."""
    root = Path(tempfile.mkdtemp())
    try:
        (root / "out").mkdir()
        (root / "out" / "notes.md").write_text("mine")
        _write(root / "out", "analyze", ["summary.json", "arrays.npz"], "one")
        with pytest.raises(Killed):
            _write(root / "out", "analyze", ["summary.json", "arrays.npz"], "two", kill_at=4)
        assert isinstance(atomic.os, types.ModuleType)  # restored after the kill
        _write(root / "out", "analyze", ["summary.json", "arrays.npz"], "three")
        assert (root / "out" / "summary.json").read_text() == "analyze three"
        assert (root / "out" / "notes.md").read_text() == "mine"
    finally:
        shutil.rmtree(root, ignore_errors=True)
