"""Resumable, checksummed downloads and safe archive extraction."""

from __future__ import annotations

import hashlib
import os
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.request
import zlib
from pathlib import Path, PurePosixPath
from typing import Any

from rnnlens.errors import DataError

CHUNK = 1 << 20


def sha256_file(path: Path) -> str:
    """SHA-256 (hex) of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def download(url: str, dest: Path, *, sha256: str | None, progress: bool = True, timeout: float = 60.0) -> Path:
    """Download ``url`` to ``dest``, resuming a partial ``dest + '.part'``, and verify its SHA-256.

    Bytes go to ``<dest>.part``; when that file exists the request asks for the rest with an HTTP
    ``Range`` header (a server that answers with the whole file restarts it). Only after the
    checksum matches is the file renamed to ``dest``; on a mismatch the ``.part`` file is deleted
    and a DataError says what was expected. Network failures raise DataError (the ``.part`` file
    is kept so the next call resumes). A tqdm progress bar shows the bytes when ``progress``.
    """
    from tqdm.auto import tqdm

    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    have = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"User-Agent": "rnnlens"})
    if have:
        request.add_header("Range", f"bytes={have}-")
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as e:
        if e.code != 416 or not have:  # 416: nothing left to fetch, the .part may be complete
            raise DataError(f"download of {url} failed: HTTP {e.code} {e.reason}") from None
        response = None
    except (urllib.error.URLError, OSError) as e:
        reason = getattr(e, "reason", e)
        raise DataError(f"download of {url} failed: {reason}") from None
    if response is not None:
        with response:
            if have and response.status != 206:
                have = 0  # the server ignored the range: start again
            length = response.headers.get("Content-Length")
            total = have + int(length) if length is not None else None
            with (
                open(part, "ab" if have else "wb") as out,
                tqdm(
                    total=total,
                    initial=have,
                    unit="B",
                    unit_scale=True,
                    unit_divisor=1024,
                    desc=f"downloading {dest.name}",
                    disable=not progress,
                ) as bar,
            ):
                try:
                    for block in iter(lambda: response.read(CHUNK), b""):
                        out.write(block)
                        bar.update(len(block))
                except OSError as e:
                    raise DataError(
                        f"download of {url} was interrupted ({e}); run again to resume from {part}"
                    ) from None
    if sha256 is not None:
        got = sha256_file(part)
        if got != sha256.lower():
            part.unlink()
            raise DataError(
                f"download of {url} failed its checksum: expected SHA-256 {sha256}, got {got}. "
                f"The partial file was deleted; run again to download afresh, or check the URL "
                f"(RNNLENS_IMDB_URL) and checksum (RNNLENS_IMDB_SHA256)"
            )
    os.replace(part, dest)
    return dest


def _check_member(member: tarfile.TarInfo, archive: Path) -> None:
    name = PurePosixPath(member.name)
    if name.is_absolute() or ".." in name.parts or member.name.startswith(("/", "\\")):
        raise DataError(
            f"{archive}: member {member.name!r} would land outside the target folder; refusing to extract this archive"
        )
    if not (member.isfile() or member.isdir()):
        raise DataError(
            f"{archive}: member {member.name!r} is a link or special file; refusing to extract this archive"
        )


def _top_names(members) -> list[str]:
    return sorted(
        {
            PurePosixPath(m.name).parts[0]
            for m in members
            if PurePosixPath(m.name).parts and PurePosixPath(m.name).parts[0] not in (".", "")
        }
    )


def _refuse_existing(target: Path, names, archive: Path) -> None:
    for name in names:
        final = target / name
        if final.exists() or final.is_symlink():
            kind = "a link" if final.is_symlink() else ("a folder" if final.is_dir() else "a file")
            raise DataError(
                f"{final}: {kind} of that name already exists, and extracting {archive} would replace "
                f"it. rnnlens never replaces what it did not extract: move it away (or remove it "
                f"yourself), or read the archive without extracting it"
            )


def _rename_noreplace(src: Path, dst: Path) -> None:
    """Rename, refusing to replace an existing ``dst`` (os.link-free: a check right before the rename)."""
    if dst.exists() or dst.is_symlink():
        raise FileExistsError(17, "exists", str(dst))
    os.rename(src, dst)


def safe_extract(archive: Path, target: Path) -> Path:
    """Extract a tar archive into ``target`` after checking every member; it only ever creates.

    Absolute paths, ``..`` components, links and device files are refused (DataError, nothing is
    written). When an entry with the name of a top-level member already exists in ``target`` (a
    folder or file of the user's, a link, the archive itself), extraction is refused (DataError
    naming it) and nothing is written: rnnlens never replaces or deletes what it did not extract.
    Members are extracted into a temporary folder inside ``target`` and moved into place, so an
    interrupted extraction leaves no half-written tree. Returns ``target``.
    """
    archive, target = Path(archive), Path(target)
    target.mkdir(parents=True, exist_ok=True)
    try:
        with tarfile.open(archive, "r:*") as tf:
            members = tf.getmembers()
            for m in members:
                _check_member(m, archive)
            _refuse_existing(target, _top_names(members), archive)
            tmp = Path(tempfile.mkdtemp(prefix=".extract-", dir=target))
            try:
                kwargs: dict[str, Any] = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
                tf.extractall(tmp, members=members, **kwargs)
                root = tmp.resolve()
                for p in tmp.rglob("*"):  # belt and braces: nothing outside tmp
                    if root not in p.resolve().parents:
                        raise DataError(f"{archive}: member {p} escaped the target folder")
                tops = sorted(tmp.iterdir())
                _refuse_existing(target, [t.name for t in tops], archive)  # again: time has passed
                for top in tops:
                    _rename_noreplace(top, target / top.name)
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
    except (tarfile.TarError, EOFError, zlib.error) as e:
        raise DataError(f"{archive}: corrupt or truncated archive ({e}); delete it and download it again") from None
    except OSError as e:
        raise DataError(
            f"{archive}: could not extract into {target} ({e}); check that the folder is writable "
            f"and has space, or read the archive without extracting it"
        ) from None
    return target
