"""Atomic writes: the one home for "write to a temporary sibling, then rename".

Every file or folder rnnlens writes goes through here, so a crash or a kill never leaves a
half-written checkpoint, analysis or report under its real name: a reader sees the previous
content or the new one. Temporary names are hidden siblings ``.NAME.tmp-<pid>-<random>``.

Permissions: every file rnnlens writes gets mode ``0o666 & ~umask`` and every folder ``0o777 & ~umask``
(0644 / 0755 under the usual umask 022), whatever library wrote it (safetensors and ``tempfile``
create files private, 0600). Folder outputs go through :func:`output_folder`, which never deletes or
replaces an entry that rnnlens does not own.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import os
import re
import shutil
import sys
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

__all__ = ["tmp_sibling", "atomic_file", "atomic_folder", "output_folder", "write_text_atomic",
           "write_json_atomic", "check_writable", "fix_permissions", "is_tmp_name"]

_TMP_NAME = re.compile(r"^\..+\.(tmp|old)-\d+-[0-9a-f]{8}$")


def is_tmp_name(name: str) -> bool:
    """True for the hidden temporary names :func:`tmp_sibling` makes (leftovers of a killed run)."""
    return bool(_TMP_NAME.match(name))


def _umask() -> int:
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    old = os.umask(0o022)
    os.umask(old)
    return old


def file_mode() -> int:
    """The mode of every file rnnlens writes: ``0o666 & ~umask``."""
    return 0o666 & ~_umask()


def fix_permissions(path: str | os.PathLike) -> None:
    """Give ``path`` (and, for a folder, everything under it) the modes of :func:`file_mode`."""
    path = Path(path)
    fmode, dmode = file_mode(), 0o777 & ~_umask()
    if path.is_symlink():
        return
    if path.is_dir():
        os.chmod(path, dmode)
        for p in path.rglob("*"):
            if not p.is_symlink():
                os.chmod(p, dmode if p.is_dir() else fmode)
    elif path.exists():
        os.chmod(path, fmode)


def check_writable(folder: str | os.PathLike, what: str = "-o") -> Path:
    """Refuse (ArgumentError, before any work) an output folder rnnlens could not write.

    rnnlens writes a folder's new content beside it (a hidden sibling, then a rename) and keeps its
    lock file there, so both the folder (when it exists) and its parent must be writable.
    """
    from rnnlens.errors import ArgumentError

    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise ArgumentError(f"{what} {folder}: exists and is not a folder; pass a folder path.")
    probes = [folder] if folder.is_dir() else []
    parent = folder.absolute().parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise ArgumentError(f"{what} {folder}: {parent} is a file, not a folder; pass another path.")
    probes.append(parent)
    for d in probes:
        probe = tmp_sibling(d / "probe", "tmp")
        try:
            fd = os.open(probe, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
            os.close(fd)
            os.unlink(probe)
        except OSError as exc:
            raise ArgumentError(f"{what} {folder}: cannot write in {d} ({exc.strerror}); rnnlens needs to write "
                                "there. Choose a writable folder or fix its permissions.") from None
    return folder


def tmp_sibling(path: str | os.PathLike, tag: str = "tmp") -> Path:
    """A fresh hidden name beside ``path``: ``.NAME.<tag>-<pid>-<random>``."""
    path = Path(path)
    return path.with_name(f".{path.name}.{tag}-{os.getpid()}-{uuid.uuid4().hex[:8]}")


def fsync_dir(path: Path) -> None:
    """Flush a folder's entries to disk (best effort; a no-op where folders cannot be opened)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextmanager
def atomic_file(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary sibling path to write; on success it replaces ``path`` in one rename.

    The parent folder is created. If the body raises, ``path`` is untouched and the temporary file
    is removed::

        with atomic_file(out / "fig.png") as tmp:
            fig.savefig(tmp, format="png")
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = tmp_sibling(path)
    try:
        yield tmp
        os.chmod(tmp, file_mode())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` through a temporary file and a rename; returns the path."""
    with atomic_file(path) as tmp:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
    return Path(path)


def write_json_atomic(path: str | os.PathLike, obj: Any, *, allow_nan: bool = True) -> Path:
    """Write ``obj`` as indented JSON (plus a final newline) to ``path``, atomically."""
    return write_text_atomic(path, json.dumps(obj, indent=1, allow_nan=allow_nan) + "\n")


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two existing paths (Linux renameat2 RENAME_EXCHANGE); False if unsupported."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    rc = renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    return rc == 0


def replace_dir(tmp: Path, dst: Path) -> None:
    """Put the finished folder ``tmp`` at ``dst``, replacing whatever was there, atomically."""
    if not dst.exists() and not dst.is_symlink():
        os.rename(tmp, dst)
    elif dst.is_dir() and _exchange(tmp, dst):
        shutil.rmtree(tmp)  # tmp now holds the previous content
    else:
        # Fallback (non-Linux, or dst is a file): move the old one aside, then the new one in.
        old = tmp_sibling(dst, "old")
        os.rename(dst, old)
        os.rename(tmp, dst)
        if old.is_dir():
            shutil.rmtree(old)
        else:
            old.unlink()
    fsync_dir(dst.parent)


@contextmanager
def _staging(path: Path) -> Iterator[Path]:
    """A fresh hidden sibling folder of ``path`` to build new outputs in; removed when the block ends
    (a hard kill leaves it under a hidden ``.name.tmp-*`` name, which readers ignore)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = tmp_sibling(path)
    tmp.mkdir()
    try:
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@contextmanager
def atomic_folder(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a fresh temporary sibling folder; on success it replaces ``path`` in one rename.

    If the body raises (or the process dies), ``path`` keeps its previous content and the
    temporary folder is removed (or, after a hard kill, left under a hidden ``.name.tmp-*`` name).
    """
    path = Path(path)
    with _staging(path) as tmp:
        yield tmp
        fix_permissions(tmp)
        replace_dir(tmp, path)


def _move_in(src: Path, dst: Path) -> None:
    if src.is_dir():
        replace_dir(src, dst)
    else:
        os.replace(src, dst)


@contextmanager
def output_folder(path: str | os.PathLike, own: Callable[[str], bool] | Iterable[str], *,
                  last: str | None = None) -> Iterator[Path]:
    """Yield a fresh temporary sibling folder to fill with the new outputs; on success they replace
    rnnlens's own outputs in ``path``, and nothing else there is touched.

    ``own(name)`` (or a set of names) says which entries of ``path`` rnnlens wrote. When ``path`` is
    missing or holds only such entries (and temporary leftovers), the whole folder is swapped in one
    rename (:func:`atomic_folder`): a reader sees all old or all new files. When it also holds
    entries of the user's (notes, ``.git``, ...), the new entries are moved in one by one (each in
    one rename; ``last`` last), own entries the new outputs lack are removed, and the user's entries
    stay; a kill in between can leave old and new files side by side, which the readers detect
    (every output file carries the run id of the run that wrote it).
    """
    path = Path(path)
    is_own = own if callable(own) else (lambda name, names=frozenset(own): name in names)
    with _staging(path) as tmp:
        yield tmp
        fix_permissions(tmp)
        present = list(path.iterdir()) if path.is_dir() and not path.is_symlink() else None
        if present is None or all(is_own(p.name) or is_tmp_name(p.name) for p in present):
            replace_dir(tmp, path)
            return
        new = list(tmp.iterdir())
        names = {p.name for p in new}
        for p in [p for p in new if p.name != last]:
            _move_in(p, path / p.name)
        for old in present:  # own outputs the new run did not write go before the last one arrives
            if is_own(old.name) and old.name not in names:
                shutil.rmtree(old) if old.is_dir() and not old.is_symlink() else old.unlink()
        for p in [p for p in new if p.name == last]:
            _move_in(p, path / p.name)
        fsync_dir(path)
