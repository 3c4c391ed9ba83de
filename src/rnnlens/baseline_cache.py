"""The bag-of-words baseline an analysis uses when none is given: fitted once per corpus and settings, then
read from the cache.

The file is ``<cache>/bag_of_words/<corpus>-<key>.json`` (``<cache>``: :func:`rnnlens.data.cache_dir`,
``$RNNLENS_CACHE_DIR`` or ``~/.cache/rnnlens``); ``key`` is a hash of the corpus fingerprint, the fit's
settings (``Cs``, ``min_count``), the solver and the file format, so another corpus, other settings or a new fit
get their own file. It is written atomically (a temporary sibling, then a rename): two runs fitting at once each write
a whole file, and a killed run leaves none. A cached file that cannot be read is fitted again over.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Sequence
from pathlib import Path

from rnnlens._types import CorpusLike
from rnnlens.baseline import DEFAULT_CS, FORMAT_VERSION, NEWTON_TOL, BagOfWords, fit_bag_of_words, load_bag_of_words
from rnnlens.errors import DataError

__all__ = ["cache_path", "cached_bag_of_words", "describe"]

FOLDER = "bag_of_words"


def cache_path(corpus: CorpusLike, *, Cs: Sequence[float] = DEFAULT_CS, min_count: int = 1) -> Path:
    """Where the baseline of ``corpus`` fitted with these settings is cached."""
    from rnnlens.data import cache_dir

    key = json.dumps(
        {
            "data_fingerprint": corpus.fingerprint(),
            "Cs": [float(c) for c in Cs],
            "min_count": int(min_count),
            "format_version": FORMAT_VERSION,
            "fit": f"newton-cg warm-started, tol {NEWTON_TOL:g}",
        },
        sort_keys=True,
    )  # a new fit: refit
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", str(corpus.name)) or "corpus"
    return cache_dir() / FOLDER / f"{name}-{hashlib.sha256(key.encode()).hexdigest()[:16]}.json"


def _read(path: Path, fingerprint: str) -> BagOfWords | None:
    if not path.is_file():
        return None
    try:
        bow = load_bag_of_words(path)
    except DataError:
        return None
    return bow if bow.data_fingerprint == fingerprint else None


def cached_bag_of_words(
    corpus: CorpusLike, *, Cs: Sequence[float] = DEFAULT_CS, min_count: int = 1
) -> tuple[BagOfWords, dict]:
    """The bag of words of ``corpus`` (:func:`rnnlens.baseline.fit_bag_of_words` with these settings): read
    from the cache, or fitted now and cached. Returns it with ``{"obtained": "fitted now" | "cached",
    "path", "seconds"}`` (``seconds``: of the fit, or of the read; ``"not_cached"`` says why a fitted one
    could not be written to the cache, which leaves it usable for this run)."""
    from rnnlens._atomic import write_json_atomic

    path = cache_path(corpus, Cs=Cs, min_count=min_count)
    t0 = time.perf_counter()
    bow = _read(path, corpus.fingerprint())
    if bow is not None:
        return bow, {"obtained": "cached", "path": str(path), "seconds": round(time.perf_counter() - t0, 3)}
    bow = fit_bag_of_words(corpus, Cs=Cs, min_count=min_count)
    info = {"obtained": "fitted now", "path": str(path), "seconds": round(time.perf_counter() - t0, 3)}
    try:
        write_json_atomic(path, bow.to_dict())
    except OSError as exc:
        info["not_cached"] = f"{path}: {exc.strerror or exc}"
    return bow, info


def describe(how: dict) -> str:
    """One line on how the bag of words was obtained (the ``how`` of :func:`cached_bag_of_words`, or
    ``summary["provenance"]["bag_of_words"]``)."""
    if how.get("obtained") == "cached":
        return f"cached from {how['path']}"
    if how.get("obtained") == "fitted now":
        where = f"not cached ({how['not_cached']})" if "not_cached" in how else f"cached at {how['path']}"
        return f"fitted now in {how['seconds']:.1f} s, {where}"
    if how.get("obtained") == "given":
        return f"given ({how['path']})" if "path" in how else "given"
    return f"none: {how.get('why')}"
