"""One labelled file read whole for evaluation (``rnnlens evaluate CK --test-file F``), its labels those of
a checkpoint.

The format comes from the file's extension, as for the generic corpora: ``.csv`` (comma-separated, with a
header row), ``.tsv`` (tab-separated, with a header row, no quoting) or ``.jsonl`` (one JSON object per
line). The text and the label are read from the columns (keys) ``text_column`` and ``label_column``.
Every label must be one of the checkpoint's label names, or be mapped onto one by ``label_map``; any
other is an error naming the file and the line. Nothing is carved off and nothing is skipped.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from rnnlens._types import PathLike
from rnnlens.data.corpus import Split
from rnnlens.data.text_formats import read_csv_columns, read_jsonl, to_split
from rnnlens.errors import ArgumentError, DataError

__all__ = ["FORMATS", "OPTIONS", "load_labelled_file"]

FORMATS = {".csv": ",", ".tsv": "\t", ".jsonl": None}
OPTIONS = ("text_column", "label_column", "delimiter")


def _file_format(path: Path, delimiter: str | None) -> str | None:
    """The field separator for a CSV/TSV file, None for JSONL; ArgumentError for another extension."""
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise ArgumentError(
            f"{path}: cannot tell the file's format from its extension {suffix or '(none)'!r}; "
            "name it .csv, .tsv or .jsonl (a CSV or TSV file has a header row, a JSONL file one "
            "object per line)"
        )
    if delimiter in ("\\t", "tab"):
        delimiter = "\t"
    if delimiter is not None and suffix == ".jsonl":
        raise ArgumentError(f"{path}: delimiter= applies to a .csv or .tsv file, not to JSON Lines")
    if delimiter is not None and (not isinstance(delimiter, str) or len(delimiter) != 1 or delimiter in '"\r\n'):
        raise ArgumentError(f"delimiter must be one character (not a quote or a line break); got {delimiter!r}")
    return delimiter or FORMATS[suffix]


def load_labelled_file(
    path: PathLike,
    label_names: Sequence[str],
    *,
    text_column: str = "text",
    label_column: str = "label",
    delimiter: str | None = None,
    label_map: Mapping[str, str] | None = None,
) -> Split:
    """Every document of the file at ``path``, labelled with the ids of ``label_names`` (a checkpoint's).

    ``label_map`` maps a file's label onto one of ``label_names`` (``{"favorable": "positive"}``); labels
    not in it must be among ``label_names`` themselves. DataError naming the file (and line) for a
    missing, unreadable or malformed file, a label that matches none; ArgumentError for a bad argument.
    """
    path = Path(path).expanduser()
    sep = _file_format(path, delimiter)
    for value, arg in ((text_column, "text_column"), (label_column, "label_column")):
        if not isinstance(value, str) or not value:
            raise ArgumentError(f"{arg} must be a non-empty string; got {value!r}")
    names = [str(n) for n in label_names]
    mapping = {name: i for i, name in enumerate(names)}
    for target in (label_map or {}).values():
        if target not in mapping:
            raise ArgumentError(
                f"--label-map: {target!r} is not a label of the checkpoint (its labels: {', '.join(map(repr, names))})"
            )
    mapping.update({key: names.index(target) for key, target in (label_map or {}).items()})
    if not path.is_file():
        what = "is a folder, not a file" if path.is_dir() else "no such file"
        raise DataError(f"{path}: {what}; pass a labelled .csv, .tsv or .jsonl file")
    if sep is None:
        rows = read_jsonl(path, text_column, label_column)
    else:
        rows = read_csv_columns(path, text_column, label_column, None, sep)
    known_from = (
        ": the checkpoint's labels; where the file names them otherwise, map them explicitly with "
        "--label-map FILE_LABEL=CHECKPOINT_LABEL,... (Python: label_map={...})"
    )
    return to_split(rows, mapping, path, known_from)
