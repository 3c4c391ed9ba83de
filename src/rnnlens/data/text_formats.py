"""Loaders for line-oriented corpora: SST-2 (GLUE TSV), SST-5, Yelp (Zhang et al. CSV), CSV, JSONL.

Every loader returns rows ``(line, text, raw label)``; :func:`to_split` maps raw labels to ids.
Every problem raises DataError naming the file and line: a malformed row, an unknown label, an
empty document, invalid UTF-8. No row is skipped silently.
"""

from __future__ import annotations

import csv
import io
import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from rnnlens.data.corpus import Split, decode_utf8, read_lines
from rnnlens.data.labels import infer_label_names
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


def to_split(rows: list[Row], mapping: dict[str, int], path: Path, known_from: str = "") -> Split:
    """Map raw labels through ``mapping``; an unknown label raises DataError naming file and line (and
    ``known_from``, where the known labels come from), a file without documents (empty, or a header only)
    DataError naming the file."""
    if not rows:
        raise DataError(
            f"{path}: no documents (the file is empty or holds only a header); add rows or leave the file out"
        )
    labels = np.empty(len(rows), dtype=np.int64)
    for i, (line, _, raw) in enumerate(rows):
        try:
            labels[i] = mapping[raw]
        except KeyError:
            known = ", ".join(repr(k) for k in mapping)
            raise DataError(
                f"{path}, line {line}: unknown label {raw!r} (expected one of {known}{known_from})"
            ) from None
    return Split([r[1] for r in rows], labels)


def read_sst2_tsv(path: Path) -> list[Row]:
    """GLUE SST-2 TSV: a header naming ``sentence`` and ``label`` columns, then one row per line."""
    lines = read_lines(path)
    if not lines:
        raise DataError(f"{path}, line 1: empty file; expected a header 'sentence<TAB>label'")
    header = lines[0].split("\t")
    if "sentence" not in header or "label" not in header:
        raise DataError(
            f"{path}, line 1: header {lines[0]!r} lacks a 'sentence' and a 'label' column "
            f"(a GLUE test file without labels cannot be used for evaluation)"
        )
    ti, li = header.index("sentence"), header.index("label")
    rows = []
    for n, line in enumerate(lines[1:], start=2):
        fields = line.split("\t")
        if len(fields) != len(header):
            raise DataError(
                f"{path}, line {n}: malformed row: {len(fields)} tab-separated fields, "
                f"expected {len(header)} ({' '.join(header)})"
            )
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


# One CSV field (one document) may hold at most this many characters: far above any real review
# (IMDB's longest is about 14,000), far below what would exhaust memory before the tokenizer runs.
MAX_FIELD_CHARS = 50_000_000
# How many multi-line records :func:`_csv_rows` lists by their line numbers (all are counted).
MULTILINE_SHOWN = 20


class MultilineRowWarning(UserWarning):
    """A CSV file holds records whose quoted text spans several lines (counted in ``corpus.info``)."""


def _csv_rows(
    path: Path, text: str, multiline: list | None = None, delimiter: str = ","
) -> list[tuple[int, list[str]]]:
    """(first line of the record, fields) for every record, with csv's strict quoting rules.

    ``delimiter="\\t"`` reads TSV: one record per line, no quoting (a quote is an ordinary character,
    as in GLUE's files); any other delimiter keeps CSV's quoting.

    Fields may be up to :data:`MAX_FIELD_CHARS` long. A record whose quoted text spans several lines
    is kept whole (valid CSV) and its (first, last) line pair is appended to ``multiline``; a
    malformed record raises DataError naming the lines it spans.
    """
    quoting: Any = csv.QUOTE_NONE if delimiter == "\t" else csv.QUOTE_MINIMAL
    reader = csv.reader(io.StringIO(text, newline=""), strict=True, delimiter=delimiter, quoting=quoting)
    out = []
    start = 1
    previous = csv.field_size_limit(MAX_FIELD_CHARS)
    try:
        for fields in reader:
            if reader.line_num > start and multiline is not None:
                multiline.append((start, reader.line_num))
            out.append((start, fields))
            start = reader.line_num + 1
    except csv.Error as e:
        span = f"lines {start}-{reader.line_num}" if reader.line_num > start else f"line {start}"
        if "field larger than field limit" in str(e):
            raise DataError(
                f"{path}, {span}: a field longer than {MAX_FIELD_CHARS:,} characters, rnnlens's "
                "limit for one document (an unclosed quote also causes this: check the quote "
                f"that opens on line {start})"
            ) from None
        hint = (
            f" (a quote opened on line {start} runs to line {reader.line_num}: check it is closed)"
            if reader.line_num > start
            else ""
        )
        kind = "TSV" if delimiter == "\t" else "CSV"
        raise DataError(f"{path}, {span}: malformed {kind} ({e}){hint}") from None
    finally:
        csv.field_size_limit(previous)
    return out


def _check_fields(path: Path, n: int, fields: list[str], expected: int, multiline: list, what: str) -> None:
    if len(fields) == expected:
        return
    end = next((b for a, b in multiline if a == n), n)
    span = f"lines {n}-{end}" if end > n else f"line {n}"
    hint = f" (a quote opened on line {n} closes only on line {end}: check it)" if end > n else ""
    raise DataError(f"{path}, {span}: malformed row: {len(fields)} fields, {what}{hint}")


def _report_multiline(path: Path, multiline: list, info: dict | None) -> None:
    """Record (and warn about) records spanning several lines: never merged silently."""
    if not multiline:
        return
    shown = ", ".join(f"{a}-{b}" for a, b in multiline[:MULTILINE_SHOWN])
    more = f" and {len(multiline) - MULTILINE_SHOWN} more" if len(multiline) > MULTILINE_SHOWN else ""
    warnings.warn(
        f"{path}: {len(multiline)} record(s) span several lines (quoted line breaks kept inside "
        f"one document), at lines {shown}{more}; if a quote was left open by mistake, "
        "close it",
        MultilineRowWarning,
        stacklevel=4,
    )
    if info is not None:
        info.setdefault("multiline_records", {})[str(path)] = {
            "count": len(multiline),
            "lines": [list(x) for x in multiline[:MULTILINE_SHOWN]],
        }


def _read_text(path: Path) -> str:
    try:
        data = path.read_bytes()
    except OSError as e:
        raise DataError(f"{path}: cannot read ({e.strerror})") from None
    return decode_utf8(data, str(path))


def read_zhang_csv(path: Path, info: dict | None = None) -> list[Row]:
    """Zhang et al. (2015) CSV: ``"label","text"`` without header; ``\\n`` in text is a line break.

    Records spanning several lines are kept and reported (see :func:`_report_multiline`).
    """
    rows: list = []
    multiline: list = []
    for n, fields in _csv_rows(path, _read_text(path), multiline):
        _check_fields(path, n, fields, 2, multiline, 'expected 2 ("label","text")')
        text = fields[1].replace("\\n", "\n").replace('\\"', '"')
        rows.append((n, _check_text(path, n, text), fields[0].strip()))
    _report_multiline(path, multiline, info)
    return rows


def read_csv_columns(
    path: Path, text_column: str, label_column: str, info: dict | None = None, delimiter: str = ","
) -> list[Row]:
    """A CSV (or, with ``delimiter="\\t"``, TSV) file with a header row; the text and label are taken
    from the named columns.

    Records spanning several lines are kept and reported (see :func:`_report_multiline`).
    """
    multiline: list = []
    records = _csv_rows(path, _read_text(path), multiline, delimiter)
    if not records:
        raise DataError(f"{path}, line 1: empty file; expected a header row")
    _, header = records[0]
    for col, arg in ((text_column, "text_column"), (label_column, "label_column")):
        if col not in header:
            raise DataError(f"{path}, line 1: no column {col!r} (columns: {header}); pass {arg}=<name>")
    ti, li = header.index(text_column), header.index(label_column)
    rows = []
    for n, fields in records[1:]:
        _check_fields(path, n, fields, len(header), multiline, f"the header has {len(header)}")
        rows.append((n, _check_text(path, n, fields[ti]), fields[li].strip()))
    _report_multiline(path, multiline, info)
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
    files = _find_split_files(
        "sst2", ["sst2", "SST-2"], {"train": "train.tsv", "validation": "dev.tsv", "test": "test.tsv"}, data_dir
    )
    mapping = {"0": 0, "1": 1}
    splits = {s: to_split(read_sst2_tsv(p), mapping, p) for s, p in files.items()}
    return splits, str(files["train"].parent), {"files": {s: str(p) for s, p in files.items()}}


def load_sst5(data_dir) -> tuple[dict[str, Split], str, dict]:
    """SST-5 from ``train.txt``, ``dev.txt`` (-> validation), ``test.txt``; labels 0-4."""
    files = _find_split_files(
        "sst5", ["sst5", "SST-5"], {"train": "train.txt", "validation": "dev.txt", "test": "test.txt"}, data_dir
    )
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
    files = _find_split_files(
        "yelp-binary" if binary else "yelp",
        ["yelp", "yelp_review_full_csv", "yelp_review_polarity_csv"],
        {"train": "train.csv", "test": "test.csv"},
        data_dir,
    )
    info: dict = {"files": {s: str(p) for s, p in files.items()}}
    rows = {s: read_zhang_csv(p, info) for s, p in files.items()}
    if variant == "auto":
        seen = {r[2] for rs in rows.values() for r in rs}
        variant = "polarity" if seen <= {"1", "2"} else "full"
    info["variant"] = variant
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


def load_table(
    fmt: str,
    data_dir,
    *,
    path=None,
    train=None,
    validation=None,
    test=None,
    text_column: str = "text",
    label_column: str = "label",
    label_names: list[str] | None = None,
    delimiter: str | None = None,
) -> tuple[dict[str, Split], list[str], str, dict]:
    """A generic CSV or TSV (with header) or JSONL corpus with the given text and label columns.

    ``delimiter`` (CSV only): the field separator; by default a tab for files named ``*.tsv`` (read
    without quoting, one record per line) and a comma otherwise. ``delimiter="\\t"`` (or the two
    characters ``\\t``, or ``"tab"``) reads any file as TSV.

    Files: ``train=`` (or ``path=``), optional ``validation=`` and ``test=``. A relative path is
    taken from the working folder, else from the data folders (``data_dir``, ``$RNNLENS_DATA_DIR``,
    cache). Label names are the distinct labels of the training file, sorted (numerically if all are
    integers) and checked for stray labels (see :mod:`rnnlens.data.labels`); a label that only a
    validation or test file holds is an error. ``label_names`` fixes the set and its order instead
    (then any other label is an error).
    """
    files = _table_files(
        fmt,
        data_dir,
        train if train is not None else path,
        validation,
        test,
        both=path is not None and train is not None,
    )
    delimiter = _check_table_options(fmt, text_column, label_column, label_names, delimiter)
    read_info: dict = {}
    if fmt == "jsonl":
        rows = {s: read_jsonl(p, text_column, label_column) for s, p in files.items()}
    else:
        seps = {s: delimiter or ("\t" if p.suffix.lower() == ".tsv" else ",") for s, p in files.items()}
        rows = {s: read_csv_columns(p, text_column, label_column, read_info, seps[s]) for s, p in files.items()}
        read_info["delimiters"] = {s: sep for s, sep in seps.items()}
    if label_names is None:  # the training file's labels, checked for strays (see rnnlens.data.labels)
        names = infer_label_names(rows["train"], files["train"])
        known_from = (
            f": the labels of the training file {files['train']}; fix the row, or declare every "
            "label with label_names=[...]"
        )
    else:
        names, known_from = [str(x) for x in label_names], ": label_names"
    mapping = {name: i for i, name in enumerate(names)}
    splits = {s: to_split(rows[s], mapping, files[s], known_from if s != "train" else "") for s in rows}
    info = {
        "files": {s: str(p) for s, p in files.items()},
        "text_column": text_column,
        "label_column": label_column,
        **read_info,
    }
    return splits, names, str(files["train"]), info


def _table_files(fmt: str, data_dir, train, validation, test, *, both: bool) -> dict[str, Path]:
    """The files of a table corpus by split, each found (see :func:`load_table`); ``both``: the training
    file was given twice (as ``path=`` and ``train=``)."""
    if both:
        raise ArgumentError("pass the training file as path= or train=, not both")
    given = {"train": train, "validation": validation, "test": test}
    if given["train"] is None:
        raise ArgumentError(
            f"the {fmt} corpus needs a file: load_corpus({fmt!r}, path='train.{fmt}') "
            f"(and optionally validation=..., test=...)"
        )
    files = {}
    for split, p in given.items():
        if p is None:
            continue
        if not isinstance(p, (str, Path)):
            raise ArgumentError(f"the {split} file must be a path (str or pathlib.Path); got {p!r}")
        p = Path(p).expanduser()
        if p.is_file():
            files[split] = p
            continue
        if p.is_absolute() and p.exists():
            kind = "a folder" if p.is_dir() else "not a regular file"
            raise DataError(
                f"{p}: is {kind}; pass the {fmt} file itself as the {split} file (e.g. {p / f'{split}.{fmt}'})"
            )
        found, tried = (None, [p]) if p.is_absolute() else find_first(fmt, [fmt], [str(p)], data_dir)
        if found is None:
            here = Path.cwd() / p
            raise missing_error(f"{fmt} ({split} file {str(p)!r})", [here] + [t for t in tried if t != here])
        files[split] = found
    return files


def _check_table_options(fmt: str, text_column, label_column, label_names, delimiter) -> str | None:
    """Checks the column names, ``label_names`` and ``delimiter`` of :func:`load_table`; returns the
    delimiter with the typed forms of a tab (``\\t``, ``tab``) read as one."""
    for value, arg in ((text_column, "text_column"), (label_column, "label_column")):
        if not isinstance(value, str) or not value:
            raise ArgumentError(f"{arg} must be a non-empty string; got {value!r}")
    if text_column == label_column:
        raise ArgumentError(f"text_column and label_column are the same column {text_column!r}")
    if label_names is not None:
        if isinstance(label_names, str) or not isinstance(label_names, (list, tuple)) or len(label_names) < 2:
            raise ArgumentError(f"label_names must be a list of at least 2 names; got {label_names!r}")
        if len({str(x) for x in label_names}) != len(label_names):
            raise ArgumentError(f"label_names lists a name twice: {label_names!r}")
    if delimiter in ("\\t", "tab"):  # as typed on a command line: --option 'delimiter=\t'
        delimiter = "\t"
    if delimiter is not None:
        if fmt != "csv":
            raise ArgumentError(f"delimiter= is an option of the csv corpus (TSV too), not of {fmt!r}")
        if not isinstance(delimiter, str) or len(delimiter) != 1 or delimiter in '"\r\n':
            raise ArgumentError(
                f"delimiter must be one character (not a quote or a line break), e.g. ',' or '\\t'; got {delimiter!r}"
            )
    return delimiter
