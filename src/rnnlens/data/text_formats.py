"""Loaders for line-oriented corpora: SST-2 (GLUE TSV), SST-5, Yelp (Zhang et al. CSV), CSV, JSONL.

Every loader returns rows ``(line, text, raw label)``; :func:`to_split` maps raw labels to ids.
Every problem raises DataError naming the file and line: a malformed row, an unknown label, an
empty document, invalid UTF-8. No row is skipped silently.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np

from rnnlens.data.corpus import Split, decode_utf8, read_lines
from rnnlens.data.locate import find_first, missing_error
from rnnlens.data.tokenize import is_empty_text
from rnnlens.errors import ArgumentError, DataError

Row = tuple[int, str, str]  # (1-based line, text, raw label)

SST2_LABELS = ["negative", "positive"]
SST5_LABELS = ["very negative", "negative", "neutral", "positive", "very positive"]
YELP_FULL_LABELS = ["1 star", "2 stars", "3 stars", "4 stars", "5 stars"]


def _check_text(path: Path, line: int, text: str) -> str:
    if is_empty_text(text):
        raise DataError(f"{path}, line {line}: empty document; remove the row or give it text")
    return text


def to_split(rows: list[Row], mapping: dict[str, int], path: Path) -> Split:
    """Map raw labels through ``mapping``; an unknown label raises DataError naming file and line."""
    labels = np.empty(len(rows), dtype=np.int64)
    for i, (line, _, raw) in enumerate(rows):
        try:
            labels[i] = mapping[raw]
        except KeyError:
            known = ", ".join(repr(k) for k in mapping)
            raise DataError(f"{path}, line {line}: unknown label {raw!r} (expected one of {known})") from None
    return Split([r[1] for r in rows], labels)


def read_sst2_tsv(path: Path) -> list[Row]:
    """GLUE SST-2 TSV: a header naming ``sentence`` and ``label`` columns, then one row per line."""
    lines = read_lines(path)
    if not lines:
        raise DataError(f"{path}, line 1: empty file; expected a header 'sentence<TAB>label'")
    header = lines[0].split("\t")
    if "sentence" not in header or "label" not in header:
        raise DataError(f"{path}, line 1: header {lines[0]!r} lacks a 'sentence' and a 'label' column "
                        f"(a GLUE test file without labels cannot be used for evaluation)")
    ti, li = header.index("sentence"), header.index("label")
    rows = []
    for n, line in enumerate(lines[1:], start=2):
        fields = line.split("\t")
        if len(fields) != len(header):
            raise DataError(f"{path}, line {n}: malformed row: {len(fields)} tab-separated fields, "
                            f"expected {len(header)} ({' '.join(header)})")
        rows.append((n, _check_text(path, n, fields[ti]), fields[li].strip()))
    return rows


def read_sst5_txt(path: Path) -> list[Row]:
    """SST-5 text: ``<label> <sentence>`` per line."""
    rows = []
    for n, line in enumerate(read_lines(path), start=1):
        label, sep, text = line.partition(" ")
        if not sep:
            raise DataError(f"{path}, line {n}: malformed row {line[:60]!r}; expected '<label 0-4> <sentence>'")
        rows.append((n, _check_text(path, n, text), label))
    return rows


def _csv_rows(path: Path, text: str):
    """Yield (first line of the record, fields) with csv's strict quoting rules."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    start = 1
    try:
        for fields in reader:
            yield start, fields
            start = reader.line_num + 1
    except csv.Error as e:
        raise DataError(f"{path}, line {start}: malformed CSV ({e})") from None


def _read_text(path: Path) -> str:
    try:
        data = path.read_bytes()
    except OSError as e:
        raise DataError(f"{path}: cannot read ({e.strerror})") from None
    return decode_utf8(data, str(path))


def read_zhang_csv(path: Path) -> list[Row]:
    """Zhang et al. (2015) CSV: ``"label","text"`` without header; ``\\n`` in text is a line break."""
    rows = []
    for n, fields in _csv_rows(path, _read_text(path)):
        if len(fields) != 2:
            raise DataError(f"{path}, line {n}: malformed row: {len(fields)} fields, expected 2 (\"label\",\"text\")")
        text = fields[1].replace("\\n", "\n").replace('\\"', '"')
        rows.append((n, _check_text(path, n, text), fields[0].strip()))
    return rows


def read_csv_columns(path: Path, text_column: str, label_column: str) -> list[Row]:
    """A CSV file with a header row; the text and label are taken from the named columns."""
    it = _csv_rows(path, _read_text(path))
    try:
        _, header = next(it)
    except StopIteration:
        raise DataError(f"{path}, line 1: empty file; expected a header row") from None
    for col, arg in ((text_column, "text_column"), (label_column, "label_column")):
        if col not in header:
            raise DataError(f"{path}, line 1: no column {col!r} (columns: {header}); pass {arg}=<name>")
    ti, li = header.index(text_column), header.index(label_column)
    rows = []
    for n, fields in it:
        if len(fields) != len(header):
            raise DataError(f"{path}, line {n}: malformed row: {len(fields)} fields, the header has {len(header)}")
        rows.append((n, _check_text(path, n, fields[ti]), fields[li].strip()))
    return rows


def read_jsonl(path: Path, text_column: str, label_column: str) -> list[Row]:
    """JSON Lines: one object per line with the text and label under the named keys."""
    rows = []
    for n, line in enumerate(read_lines(path), start=1):
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise DataError(f"{path}, line {n}: malformed JSON ({e.msg}, column {e.colno})") from None
        if not isinstance(obj, dict):
            raise DataError(f"{path}, line {n}: expected a JSON object, got {type(obj).__name__}")
        for key, arg in ((text_column, "text_column"), (label_column, "label_column")):
            if key not in obj:
                raise DataError(f"{path}, line {n}: no key {key!r} (keys: {sorted(obj)}); pass {arg}=<name>")
        text, label = obj[text_column], obj[label_column]
        if not isinstance(text, str):
            raise DataError(f"{path}, line {n}: {text_column!r} must be a string, got {type(text).__name__}")
        if isinstance(label, (dict, list)) or label is None:
            raise DataError(f"{path}, line {n}: {label_column!r} must be a string or a number, got {label!r}")
        rows.append((n, _check_text(path, n, text), str(label).strip()))
    return rows


def sorted_label_names(raw_labels) -> list[str]:
    """Distinct labels sorted: numerically when all are integers, else alphabetically."""
    names = set(raw_labels)
    try:
        return sorted(names, key=int)
    except ValueError:
        return sorted(names)


# ---------------------------------------------------------------------------------------- corpora

def _find_split_files(corpus: str, dirs: list[str], files: dict[str, str], data_dir):
    """Locate the train file, then the other split files beside it."""
    train, tried = find_first(corpus, dirs, [files["train"]], data_dir)
    if train is None:
        raise missing_error(corpus, tried)
    found = {"train": train}
    for split, fname in files.items():
        if split != "train" and (train.parent / fname).is_file():
            found[split] = train.parent / fname
    return found


def load_sst2(data_dir) -> tuple[dict[str, Split], str, dict]:
    """SST-2 from ``train.tsv``, ``dev.tsv`` (-> validation), ``test.tsv`` (labelled)."""
    files = _find_split_files("sst2", ["sst2", "SST-2"], {"train": "train.tsv", "validation": "dev.tsv",
                                                        "test": "test.tsv"}, data_dir)
    mapping = {"0": 0, "1": 1}
    splits = {s: to_split(read_sst2_tsv(p), mapping, p) for s, p in files.items()}
    return splits, str(files["train"].parent), {"files": {s: str(p) for s, p in files.items()}}


def load_sst5(data_dir) -> tuple[dict[str, Split], str, dict]:
    """SST-5 from ``train.txt``, ``dev.txt`` (-> validation), ``test.txt``; labels 0-4."""
    files = _find_split_files("sst5", ["sst5", "SST-5"], {"train": "train.txt", "validation": "dev.txt",
                                                        "test": "test.txt"}, data_dir)
    mapping = {str(i): i for i in range(5)}
    splits = {s: to_split(read_sst5_txt(p), mapping, p) for s, p in files.items()}
    return splits, str(files["train"].parent), {"files": {s: str(p) for s, p in files.items()}}


def load_yelp(data_dir, *, binary: bool, variant: str = "auto") -> tuple[dict[str, Split], list[str], str, dict]:
    """Yelp reviews (Zhang et al. 2015 CSV): full (1-5 stars -> 0-4) or polarity (1-2 -> 0-1).

    ``variant``: "full", "polarity" or "auto" (polarity when every label in the files is 1 or 2).
    With ``binary``, the full set becomes negative (1-2 stars) vs positive (4-5 stars) and 3-star
    reviews are dropped; ``info['dropped_3_star']`` counts them per split.
    """
    if variant not in ("auto", "full", "polarity"):
        raise ArgumentError(f"variant must be 'auto', 'full' or 'polarity'; got {variant!r}")
    files = _find_split_files("yelp-binary" if binary else "yelp",
                              ["yelp", "yelp_review_full_csv", "yelp_review_polarity_csv"],
                              {"train": "train.csv", "test": "test.csv"}, data_dir)
    rows = {s: read_zhang_csv(p) for s, p in files.items()}
    if variant == "auto":
        seen = {r[2] for rs in rows.values() for r in rs}
        variant = "polarity" if seen <= {"1", "2"} else "full"
    info = {"files": {s: str(p) for s, p in files.items()}, "variant": variant}
    if variant == "polarity":
        names, mapping = SST2_LABELS, {"1": 0, "2": 1}
    elif binary:
        names, mapping = SST2_LABELS, {"1": 0, "2": 0, "4": 1, "5": 1}
        info["dropped_3_star"] = {}
        for s in rows:
            kept = [r for r in rows[s] if r[2] != "3"]
            info["dropped_3_star"][s] = len(rows[s]) - len(kept)
            rows[s] = kept
    else:
        names, mapping = YELP_FULL_LABELS, {str(i + 1): i for i in range(5)}
    splits = {s: to_split(rows[s], mapping, files[s]) for s in rows}
    return splits, names, str(files["train"].parent), info


def load_table(fmt: str, data_dir, *, path=None, train=None, validation=None, test=None,
               text_column: str = "text", label_column: str = "label",
               label_names: list[str] | None = None) -> tuple[dict[str, Split], list[str], str, dict]:
    """A generic CSV (with header) or JSONL corpus with the given text and label columns.

    Files: ``train=`` (or ``path=``), optional ``validation=`` and ``test=``. A relative path is
    taken from the working folder, else from the data folders (``data_dir``, ``$RNNLENS_DATA_DIR``,
    cache). Label names are the distinct labels sorted (numerically if all are integers) unless
    ``label_names`` fixes them (then any other label is an error).
    """
    if path is not None and train is not None:
        raise ArgumentError("pass the training file as path= or train=, not both")
    given = {"train": train if train is not None else path, "validation": validation, "test": test}
    if given["train"] is None:
        raise ArgumentError(f"the {fmt} corpus needs a file: load_corpus({fmt!r}, path='train.{fmt}') "
                            f"(and optionally validation=..., test=...)")
    files = {}
    for split, p in given.items():
        if p is None:
            continue
        p = Path(p).expanduser()
        if p.is_file():
            files[split] = p
            continue
        found, tried = (None, [p]) if p.is_absolute() else find_first(fmt, [fmt], [str(p)], data_dir)
        if found is None:
            here = Path.cwd() / p
            raise missing_error(f"{fmt} ({split} file {str(p)!r})", [here] + [t for t in tried if t != here])
        files[split] = found
    reader = read_jsonl if fmt == "jsonl" else read_csv_columns
    rows = {s: reader(p, text_column, label_column) for s, p in files.items()}
    if label_names is None:
        names = sorted_label_names(r[2] for rs in rows.values() for r in rs)
    else:
        names = [str(x) for x in label_names]
    mapping = {name: i for i, name in enumerate(names)}
    splits = {s: to_split(rows[s], mapping, files[s]) for s in rows}
    info = {"files": {s: str(p) for s, p in files.items()}, "text_column": text_column,
            "label_column": label_column}
    return splits, names, str(files["train"]), info
