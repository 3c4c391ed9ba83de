"""Atomic writes: the one home for "write to a temporary sibling, then rename".

Every file or folder rnnlens writes goes through here, so a crash or a kill never leaves a
half-written checkpoint, analysis or report under its real name: a reader sees the previous
content or the new one. Temporary names are hidden siblings ``.NAME.tmp-<pid>-<random>``.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import os
import shutil
import sys
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

__all__ = ["tmp_sibling", "atomic_file", "atomic_folder", "write_text_atomic", "write_json_atomic"]


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
def atomic_folder(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a fresh temporary sibling folder; on success it replaces ``path`` in one rename.

    If the body raises (or the process dies), ``path`` keeps its previous content and the
    temporary folder is removed (or, after a hard kill, left under a hidden ``.name.tmp-*`` name).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = tmp_sibling(path)
    tmp.mkdir()
    try:
        yield tmp
        replace_dir(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
