"""Where corpora are looked up: ``data_dir`` argument, ``$RNNLENS_DATA_DIR``, the cache folder."""

from __future__ import annotations

import os
from pathlib import Path

from rnnlens.errors import DataError

FIX_HINT = (
    "Put the files there, or point rnnlens at the folder that holds them with --data-dir DIR "
    "(Python: data_dir=DIR) or the environment variable RNNLENS_DATA_DIR=DIR"
)


def cache_dir() -> Path:
    """The cache folder: ``$RNNLENS_CACHE_DIR`` or ``~/.cache/rnnlens``."""
    env = os.environ.get("RNNLENS_CACHE_DIR")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "rnnlens"


def search_roots(data_dir=None) -> list[Path]:
    """The folders searched, in order: ``data_dir``, ``$RNNLENS_DATA_DIR``, the cache folder."""
    roots = []
    if data_dir is not None:
        roots.append(Path(data_dir).expanduser())
    env = os.environ.get("RNNLENS_DATA_DIR")
    if env:
        roots.append(Path(env).expanduser())
    roots.append(cache_dir())
    return roots


def candidate_dirs(corpus_dirs: list[str], data_dir=None) -> list[Path]:
    """For each search root, ``<root>/<d>/`` for each name ``d`` in ``corpus_dirs``, then ``<root>/``."""
    out: list[Path] = []
    for root in search_roots(data_dir):
        for d in [*corpus_dirs, ""]:
            p = root / d if d else root
            if p not in out:
                out.append(p)
    return out


def find_first(
    corpus: str, corpus_dirs: list[str], names: list[str], data_dir=None, *, is_dir: bool = False
) -> tuple[Path | None, list[Path]]:
    """The first existing ``<candidate dir>/<name>`` (in lookup order) and the list of paths tried."""
    tried = []
    for d in candidate_dirs(corpus_dirs, data_dir):
        for name in names:
            p = d / name
            tried.append(p)
            if p.is_dir() if is_dir else p.is_file():
                return p, tried
    return None, tried


def missing_error(corpus: str, tried: list[Path], extra: str = "") -> DataError:
    """A DataError naming every path tried (and saying which exist as the wrong kind) and how to fix it."""

    def kind(p: Path) -> str:
        if p.is_dir():
            return "  (exists, but is a folder)"
        if p.exists():
            return "  (exists, but is a file)" if p.is_file() else "  (exists, but is not a regular file)"
        return ""

    lines = "\n".join(f"  {p}{kind(p)}" for p in tried)
    msg = f"corpus {corpus} not found. Paths tried, in order:\n{lines}\n{FIX_HINT}."
    if extra:
        msg += "\n" + extra
    return DataError(msg)
