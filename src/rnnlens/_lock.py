"""One writer per output folder: a lock file beside the folder, ``.NAME.lock``.

``train``, ``analyze``, ``baseline`` and ``report`` hold the lock of their output folder while they run,
so a second run into the same folder fails fast (:class:`LockError`, naming the lock file, the pid and
the host that hold it) instead of both reporting success while only one result survives. The lock
file is JSON: ``{"pid", "host", "command", "started"}``. A lock whose process is gone (same host, pid
no longer alive) is stale: it is taken over, with a note on stderr. A lock from another host cannot be
checked and is refused; delete the file when that run is known to be over. Locks are re-entrant within
one process (``reproduce`` locks a folder its steps lock again).
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import shlex
import socket
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from rnnlens._atomic import file_mode, tmp_sibling
from rnnlens.errors import RnnlensError

__all__ = ["LockError", "lock_path", "output_lock"]

_held: dict[Path, int] = {}


class LockError(RnnlensError):
    """Another rnnlens run holds the lock of an output folder."""


def lock_path(folder: str | os.PathLike) -> Path:
    """The lock file of ``folder``: the hidden sibling ``.NAME.lock`` (of the folder a symbolic link points to,
    where outputs go, so a run through the link and one through the real path share one lock)."""
    folder = Path(os.path.abspath(folder))
    if folder.is_symlink():
        folder = Path(os.path.realpath(folder))
    return folder.with_name(f".{folder.name}.lock")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _try_create(lock: Path, text: str) -> bool:
    """Create ``lock`` holding ``text`` in one step (write a temporary file, then hard-link it)."""
    tmp = tmp_sibling(lock)
    try:
        with open(tmp, "w", encoding="utf-8") as f:  # (a full disk fails here: the finally removes it)
            f.write(text)
        os.chmod(tmp, file_mode())
        try:
            os.link(tmp, lock)
            return True
        except FileExistsError:
            return False
        except OSError:
            pass  # no hard links here: exclusive create below
    finally:
        tmp.unlink(missing_ok=True)
    try:
        fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, file_mode())
    except FileExistsError:
        return False
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
    except OSError:
        lock.unlink(missing_ok=True)
        raise
    return True


def _acquire(lock: Path, command: str) -> None:
    me = {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "command": command,
        "started": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
    text = json.dumps(me) + "\n"
    for _ in range(5):
        if _try_create(lock, text):
            return
        try:
            raw = lock.read_text(encoding="utf-8")
        except FileNotFoundError:
            continue  # released meanwhile: try again
        try:
            other = json.loads(raw)
            pid, host = int(other["pid"]), str(other["host"])
        except (ValueError, KeyError, TypeError):
            raise LockError(
                f"{lock}: a lock file that cannot be read ({raw[:80]!r}). If no rnnlens run is "
                "writing this folder, delete the lock file and run again."
            ) from None
        who = f"pid {pid} on host {host} ({other.get('command', '?')}, started {other.get('started', '?')})"
        if host != me["host"]:
            raise LockError(
                f"{lock}: the output folder is locked by {who}. The pid cannot be checked from "
                "here; wait for that run, or delete the lock file if it is over."
            )
        if _alive(pid) and pid != me["pid"]:
            raise LockError(
                f"{lock}: another run is writing this output folder: {who}. Wait for it to "
                "finish, or choose another output folder."
            )
        # stale: move it aside (one rename, so only one taker wins), then check we took that one
        aside = tmp_sibling(lock, "old")
        try:
            os.rename(lock, aside)
        except FileNotFoundError:
            continue
        taken = aside.read_text(encoding="utf-8")
        aside.unlink(missing_ok=True)
        if taken != raw:
            continue  # another process replaced the stale lock first; look again
        print(f"note: {lock}: taking over the stale lock of {who}; that process is gone.", file=sys.stderr)
    raise LockError(f"{lock}: could not take the lock (it keeps changing); another run is starting. Try again.")


@contextmanager
def output_lock(folder: str | os.PathLike, command: str | None = None) -> Iterator[Path]:
    """Hold the lock of output folder ``folder`` for the body; raises :class:`LockError` when another live
    process holds it. Re-entrant within a process. Yields the lock file's path."""
    lock = lock_path(folder)
    if _held.get(lock):
        _held[lock] += 1
        try:
            yield lock
        finally:
            _held[lock] -= 1
        return
    if command is None:
        command = shlex.join([Path(sys.argv[0]).name, *sys.argv[1:]]) if sys.argv else "python"
    try:
        lock.parent.mkdir(parents=True, exist_ok=True)
        _acquire(lock, command)
    except OSError as exc:
        from rnnlens._atomic import is_disk_full
        from rnnlens.errors import ArgumentError, DiskFullError

        if is_disk_full(exc):
            raise DiskFullError(
                f"{folder}: no space left on the disk (or over the quota) even for its lock file "
                f"{lock}; nothing in {folder} was changed. Free some space, or choose an output "
                "folder on another disk, then run again."
            ) from None
        raise ArgumentError(
            f"{folder}: cannot write its lock file {lock} ({exc.strerror}); rnnlens needs to "
            "write there. Choose a writable folder or fix its permissions."
        ) from None
    _held[lock] = 1
    try:
        yield lock
    finally:
        _held.pop(lock, None)
        try:
            if json.loads(lock.read_text(encoding="utf-8")).get("pid") == os.getpid():
                lock.unlink()
        except (OSError, ValueError, AttributeError):
            pass
