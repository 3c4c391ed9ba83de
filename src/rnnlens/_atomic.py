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
import datetime as _dt
import errno
import hashlib
import json
import os
import re
import shutil
import stat
import sys
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

__all__ = [
    "tmp_sibling",
    "atomic_file",
    "atomic_folder",
    "output_folder",
    "write_text_atomic",
    "write_json_atomic",
    "check_writable",
    "check_output",
    "resolve_output",
    "fix_permissions",
    "is_tmp_name",
    "is_disk_full",
    "MARKER",
]

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
    lock file there, so both the folder (when it exists) and its parent must be writable. A folder given
    as a symbolic link is checked (and returned) as the folder it points to (:func:`resolve_output`).
    """
    from rnnlens.errors import ArgumentError

    folder = resolve_output(folder, what)
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
            if is_disk_full(exc):
                from rnnlens.errors import DiskFullError

                raise DiskFullError(
                    f"{what} {folder}: no space left on the disk (or over the quota) in {d}; "
                    "nothing was changed. Free some space, or choose a folder on another disk, "
                    "then run again."
                ) from None
            raise ArgumentError(
                f"{what} {folder}: cannot write in {d} ({exc.strerror}); rnnlens needs to write "
                "there. Choose a writable folder or fix its permissions."
            ) from None
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


def resolve_output(path: str | os.PathLike, flag: str = "-o") -> Path:
    """The folder to write for output path ``path``: ``path`` itself, or, when it is a symbolic link, the
    folder it points to (which may not exist yet). A link to a file, or a loop of links, is refused
    (ArgumentError). The link is never renamed or replaced: outputs go inside its target."""
    from rnnlens.errors import ArgumentError

    path = Path(path)
    if not path.is_symlink():
        return path
    target = Path(os.path.realpath(path))
    if target.is_symlink() or (not target.exists() and os.path.lexists(target)):
        raise ArgumentError(
            f"{flag} {path}: a symbolic link that leads to no folder (a loop of symbolic links); "
            "pass a real folder path."
        )
    if target.exists() and not target.is_dir():
        raise ArgumentError(f"{flag} {path}: a symbolic link to {target}, which is not a folder; pass a folder path.")
    return target


# --------------------------------------------------------------------------------------------
# output folders: the marker of what rnnlens wrote

MARKER = ".rnnlens-output.json"
_MARKER_FORMAT = "rnnlens-output-folder/1"
_MARKER_ABOUT = (
    "rnnlens wrote the entries listed here (with a SHA-256 of their content) and replaces or removes "
    "only those, while unchanged. Anything else in this folder is yours and is never touched. "
    "Deleting this file makes rnnlens treat every entry as yours."
)


def _digest(path: Path) -> str | None:
    """SHA-256 of a regular file's bytes, or of a folder's tree (each name with its digest); None when
    ``path`` is, or holds, anything else (a symbolic link, a device, an unreadable file)."""
    try:
        mode = os.lstat(path).st_mode
        h = hashlib.sha256()
        if stat.S_ISREG(mode):
            with open(path, "rb") as f:
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    h.update(chunk)
            return "file:" + h.hexdigest()
        if not stat.S_ISDIR(mode):
            return None
        for name in sorted(os.listdir(path)):
            d = _digest(path / name)
            if d is None:
                return None
            h.update(os.fsencode(name) + b"\0" + d.encode() + b"\0")
        return "tree:" + h.hexdigest()
    except OSError:
        return None


def _read_marker(folder: Path) -> dict[str, dict] | None:
    """The entries the marker of ``folder`` lists (name -> {"command", "run", "digests"}); {} without a
    marker, None when a file of that name is not an rnnlens marker (then it is the user's)."""
    path = folder / MARKER
    if not os.path.lexists(path):
        return {}
    try:
        obj = json.loads(path.read_text(encoding="utf-8")) if not path.is_symlink() else None
    except (OSError, ValueError):
        return None
    if not isinstance(obj, dict) or obj.get("format") != _MARKER_FORMAT or not isinstance(obj.get("entries"), dict):
        return None
    out = {}
    for name, e in obj["entries"].items():
        if isinstance(e, dict) and isinstance(e.get("command"), str) and isinstance(e.get("digests"), list):
            out[name] = {**e, "digests": [d for d in e["digests"] if isinstance(d, str)]}
    return out


def _write_marker(folder: Path, entries: dict[str, dict]) -> None:
    write_json_atomic(
        folder / MARKER, {"format": _MARKER_FORMAT, "about": _MARKER_ABOUT, "entries": dict(sorted(entries.items()))}
    )


def _survey(folder: Path) -> tuple[dict[str, dict], list[str]]:
    """Split the entries of ``folder`` into rnnlens's own (name -> its marker entry: listed, with the same
    content) and the user's (sorted names). The marker itself and hidden temporary leftovers of killed
    runs are in neither; a file named like the marker that is not one is the user's."""
    if not folder.is_dir() or folder.is_symlink():
        return {}, []
    listed = _read_marker(folder)
    own, theirs = {}, []
    for p in folder.iterdir():
        if p.name == MARKER:
            if listed is None:
                theirs.append(p.name)
        elif not is_tmp_name(p.name):
            e = (listed or {}).get(p.name)
            if e is not None and _digest(p) in e["digests"]:
                own[p.name] = e
            else:
                theirs.append(p.name)
    return own, sorted(theirs)


def _refuse_clash(folder: Path, clash: list[str], flag: str) -> None:
    from rnnlens.errors import ArgumentError

    if not clash:
        return
    one = len(clash) == 1
    names = ", ".join(clash[:5]) + (", ..." if len(clash) > 5 else "")
    it, they = ("it", "it") if one else ("them", "they")
    raise ArgumentError(
        f"{flag} {folder}: this command writes {names}, but rnnlens did not write the "
        f"{'entry' if one else 'entries'} there (or {they} changed since), so {they} "
        f"{'stays' if one else 'stay'} untouched. Move {it} out of the folder, or choose another "
        f"{flag} folder."
    )


def check_output(folder: str | os.PathLike, names: Iterable[str], flag: str = "-o") -> Path:
    """Before any work: refuse an output folder rnnlens could not write (:func:`check_writable`) or one
    where an entry the command writes (``names``) is the user's; returns the folder to write (a link's
    target, :func:`resolve_output`)."""
    folder = check_writable(folder, flag)
    _, theirs = _survey(folder)
    _refuse_clash(folder, [n for n in theirs if n in set(names) | {MARKER}], flag)
    return folder


def is_disk_full(exc: BaseException) -> bool:
    """True for the error of a write on a full disk or over a quota (an OSError, or the error safetensors
    raises for it)."""
    if isinstance(exc, OSError):
        return exc.errno in (errno.ENOSPC, errno.EDQUOT)
    text = str(exc)
    return "No space left on device" in text or "os error 28" in text or "Disk quota exceeded" in text


def _move_in(src: Path, dst: Path) -> None:
    if src.is_dir():
        replace_dir(src, dst)
    else:
        os.replace(src, dst)


def _remove(path: Path) -> None:
    """Remove an own entry (its digest showed a tree of plain files and folders, no links)."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif os.path.lexists(path):
        path.unlink()


@contextmanager
def output_folder(
    path: str | os.PathLike, command: str, *, last: str | None = None, flag: str = "-o", update: bool = False
) -> Iterator[Path]:
    """Yield a fresh temporary sibling folder to fill with the new outputs of ``command`` (``train``,
    ``analyze``, ...); on success they replace that command's own outputs in ``path``, and nothing
    else there is touched (the rule in this module's docstring).

    ``last``: the index file, removed first and moved in last when entries go in one by one.
    ``update``: only the entries written now are replaced (the command's other outputs stay), e.g. a
    training run's resume state beside its checkpoint. An entry of the user's with a name written now
    is refused (ArgumentError) and nothing is changed.
    """
    path = resolve_output(path, flag)
    with _staging(path) as tmp:
        yield tmp
        fix_permissions(tmp)
        _put_in(tmp, path, command, last, flag, update)


def _put_in(tmp: Path, path: Path, command: str, last: str | None, flag: str, update: bool) -> None:
    from rnnlens.errors import ArgumentError

    if os.path.lexists(path) and not path.is_dir():
        raise ArgumentError(f"{flag} {path}: exists and is not a folder; pass a folder path.")
    run = uuid.uuid4().hex
    when = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    new = {p.name: {"command": command, "run": run, "written": when, "digests": [_digest(p)]} for p in tmp.iterdir()}
    own, theirs = _survey(path)
    _refuse_clash(path, [n for n in theirs if n in new or n == MARKER], flag)
    if not update and not theirs and all(e["command"] == command for e in own.values()):
        _write_marker(tmp, new)
        replace_dir(tmp, path)  # all old or all new
        return
    path.mkdir(exist_ok=True)
    stale = [] if update else [n for n, e in own.items() if e["command"] == command and n not in new]
    # first list old and new content together, so that whatever a kill leaves is known as rnnlens's
    _write_marker(
        path, {**own, **{n: {**e, "digests": e["digests"] + own.get(n, {}).get("digests", [])} for n, e in new.items()}}
    )
    if last in new and last in own:
        _remove(path / last)
    for name in [n for n in new if n != last]:
        _move_in(tmp / name, path / name)
    for name in stale:
        _remove(path / name)
    if last in new:
        _move_in(tmp / last, path / last)
    try:
        _write_marker(path, {**{n: e for n, e in own.items() if n not in stale}, **new})
    except OSError:
        pass  # (a full disk) the marker written above lists these entries too
    fsync_dir(path)
