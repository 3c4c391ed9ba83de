"""Reading and writing analysis folders (``summary.json`` + ``arrays.npz``), atomically, without pickle.

Non-finite floats are written to JSON as the strings ``"inf"``, ``"-inf"`` and ``"nan"`` (plain JSON
has no such numbers); :func:`read_folder` turns them back into floats. This module imports
neither torch nor the fixed-point solver, so ``rnnlens.report`` can read results cheaply.
:class:`rnnlens.analysis.result.Analysis` reads and writes folders through it.

Every file of one saved analysis carries the same run id (``summary.json`` ``run_id``, the
``run_id`` entry of ``arrays.npz``, the metadata of ``fixed_points.safetensors``); :func:`read_folder`
refuses a folder whose files come from different runs, and names a damaged file and the command that
rebuilds it.
"""

from __future__ import annotations

import json
import math
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from rnnlens._atomic import atomic_file, write_json_atomic
from rnnlens.errors import ArgumentError

SUMMARY_FILE = "summary.json"
ARRAYS_FILE = "arrays.npz"
FIXED_POINTS_FILE = "fixed_points.safetensors"
RUN_ID = "run_id"
OWN_FILES = (SUMMARY_FILE, ARRAYS_FILE, FIXED_POINTS_FILE)
SCHEMA = "rnnlens-analysis/1"
_NONFINITE = {"inf": math.inf, "-inf": -math.inf, "nan": math.nan}


def to_jsonable(obj):
    """Convert numpy scalars/arrays, paths and non-finite floats into plain JSON values."""
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist())
    if isinstance(obj, (np.bool_, bool)):
        return bool(obj)
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        x = float(obj)
        if math.isfinite(x):
            return x
        return "nan" if math.isnan(x) else ("inf" if x > 0 else "-inf")
    if isinstance(obj, Path):
        return str(obj)
    return obj


def from_jsonable(obj):
    """Inverse of the non-finite encoding of :func:`to_jsonable`."""
    if isinstance(obj, dict):
        return {k: from_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [from_jsonable(v) for v in obj]
    if isinstance(obj, str) and obj in _NONFINITE:
        return _NONFINITE[obj]
    return obj


def write_json(path, obj) -> Path:
    """Write ``obj`` (after :func:`to_jsonable`) to ``path`` through a temporary file and a rename."""
    return write_json_atomic(path, to_jsonable(obj), allow_nan=False)


def write_arrays(path, arrays: dict) -> Path:
    """Save a flat dict of numeric arrays as ``.npz`` (no object arrays, so no pickle), atomically."""
    clean: dict[str, Any] = {}
    for k, v in arrays.items():
        a = np.asarray(v)
        if a.dtype == object:
            raise TypeError(f"array {k!r} has dtype object; only numeric/string arrays are saved")
        clean[k] = a
    with atomic_file(path) as tmp:
        with open(tmp, "wb") as f:
            np.savez_compressed(f, **clean)
    return Path(path)


def _rebuild(folder: Path, summary: dict | None = None) -> str:
    ck = ((summary or {}).get("provenance") or {}).get("checkpoint") or "CHECKPOINT"
    return f"rebuild it with `rnnlens analyze {ck} -o {folder}`"


def _fixed_points_run_id(path: Path, folder: Path, summary: dict) -> str | None:
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="numpy") as f:
            return (f.metadata() or {}).get("rnnlens_run_id")
    except (SafetensorError, OSError, ValueError) as exc:
        raise ArgumentError(
            f"{path}: not a readable safetensors file ({exc}); the file is damaged: {_rebuild(folder, summary)}."
        ) from exc


def read_folder(folder) -> tuple[dict, dict]:
    """Read an analysis folder: (summary dict, arrays dict). Raises ArgumentError naming the file.

    A damaged file, or files of two different runs (e.g. an ``analyze`` killed while it replaced the
    folder's files beside files of the user's) are refused with the command that rebuilds the folder.
    """
    folder = Path(folder)
    spath = folder / SUMMARY_FILE
    if not spath.is_file():
        raise ArgumentError(
            f"{spath}: no analysis summary here. Run `rnnlens analyze CHECKPOINT --dataset NAME -o {folder}` first."
        )
    try:
        summary = from_jsonable(json.loads(spath.read_text(encoding="utf-8")))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ArgumentError(
            f"{spath}: not valid JSON ({exc}); the file is damaged: {_rebuild(folder)} "
            "(rerun `rnnlens analyze` for this folder)."
        ) from exc
    if not isinstance(summary, dict):
        raise ArgumentError(f"{spath}: expected a JSON object; the file is damaged: {_rebuild(folder)}.")
    if summary.get("schema") != SCHEMA:
        raise ArgumentError(
            f"{spath}: schema {summary.get('schema')!r}, this rnnlens reads {SCHEMA!r}; rerun "
            "`rnnlens analyze` with this version."
        )
    arrays = {}
    apath = folder / ARRAYS_FILE
    if apath.is_file():
        try:
            with np.load(apath, allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files}
        except (zipfile.BadZipFile, ValueError, OSError, EOFError, KeyError) as exc:
            raise ArgumentError(
                f"{apath}: not a readable .npz file ({type(exc).__name__}: {exc}); the file is "
                f"damaged: {_rebuild(folder, summary)}."
            ) from exc
    run_id = summary.get(RUN_ID)
    ids = {ARRAYS_FILE: str(arrays.pop(RUN_ID)) if RUN_ID in arrays else None}
    fpath = folder / FIXED_POINTS_FILE
    if fpath.is_file():
        ids[FIXED_POINTS_FILE] = _fixed_points_run_id(fpath, folder, summary)
    if run_id is not None or any(v is not None for v in ids.values()):
        wrong = [name for name, v in ids.items() if v != run_id and not (name == ARRAYS_FILE and not apath.is_file())]
        if wrong:
            raise ArgumentError(
                f"{folder}: {', '.join(wrong)} and {SUMMARY_FILE} come from different runs "
                "(an analyze was interrupted while replacing this folder, or files were copied "
                f"in); {_rebuild(folder, summary)}."
            )
    return summary, arrays
