"""Label sets: inferred from a training file and checked, and matched with a checkpoint's labels.

A corpus whose labels are read from its files (the generic CSV, TSV and JSONL corpora) without
``label_names=`` gets its label set from the training file alone (:func:`infer_label_names`):

* every label of a validation or test file must be one of the training file's (else an error naming
  that file and line);
* the labels are all integers, written as integers (``0``, ``1``, ``-1``, ``12``), or none is: a ``1.0``,
  a ``True`` or a ``yes`` among integer labels is an error naming its line (a typo, or a column of mixed
  types), as are two labels that differ only in case or spaces (``positive``, ``Positive``);
* a class needs at least :data:`MIN_CLASS_DOCS` training documents and :data:`MIN_CLASS_SHARE` of them:
  one ``7`` in a file of ``0`` and ``1`` is far more often a typo than a class.

``label_names=[...]`` declares the set (and the order, hence the ids) explicitly; none of these checks
applies then, and every label must be in the list.

A model knows its classes by id; the names its checkpoint records say what each id means.
:func:`align_labels` re-expresses a split's labels as the ids of those names, by name, never by
position: a corpus whose label names are not the checkpoint's needs an explicit map
(:func:`parse_label_map`, the command line's ``--label-map``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np

from rnnlens.data.corpus import Split
from rnnlens.errors import ArgumentError, DataError

__all__ = [
    "MIN_CLASS_DOCS",
    "MIN_CLASS_SHARE",
    "align_labels",
    "infer_label_names",
    "label_ids",
    "parse_label_map",
    "sorted_label_names",
]

Row = tuple[int, str, str]  # (1-based line, text, raw label)

# A class inferred from a training file needs at least this many documents, and this share of them.
MIN_CLASS_DOCS = 2
MIN_CLASS_SHARE = 0.001
DECLARE = "if the label is meant, declare every label: label_names=[...] (command line: --option 'label_names=[...]')"


def is_integer_label(raw: str) -> bool:
    """Whether ``raw`` is an integer written the usual way (``"7"``, ``"-1"``; not ``"07"``, ``"+1"``, ``"1.0"``)."""
    try:
        return str(int(raw)) == raw
    except ValueError:
        return False


def sorted_label_names(raw_labels: Iterable[str]) -> list[str]:
    """Distinct labels sorted: numerically when all are integers, else alphabetically."""
    names = set(raw_labels)
    if all(is_integer_label(n) for n in names):
        return sorted(names, key=int)
    return sorted(names)


def _first_lines(rows: Sequence[Row]) -> dict[str, int]:
    first: dict[str, int] = {}
    for line, _, raw in rows:
        first.setdefault(raw, line)
    return first


def _check_kinds(rows: Sequence[Row], path: Path, counts: dict[str, int], first: dict[str, int]) -> None:
    """Integer labels and other labels mixed: an error at the first label of the smaller group."""
    integers = [n for n in counts if is_integer_label(n)]
    others = [n for n in counts if not is_integer_label(n)]
    if not integers or not others:
        return
    n_int = sum(counts[n] for n in integers)
    odd = others if n_int >= len(rows) - n_int else integers
    label = min(odd, key=lambda n: first[n])
    described = "an integer" if is_integer_label(label) else "not an integer as written"
    raise DataError(
        f"{path}, line {first[label]}: label {label!r} is {described}, but "
        f"{'most' if odd is others else 'some'} labels of the file are integers and others are "
        f"not ({_shown(counts)}); write every label the same way (0 and 1, not 1.0 or True), or, "
        f"{DECLARE}"
    )


def _shown(counts: dict[str, int], limit: int = 8) -> str:
    items = sorted(counts.items(), key=lambda kv: -kv[1])
    text = ", ".join(f"{k!r} x{v}" for k, v in items[:limit])
    return text + (f", ... ({len(items)} labels)" if len(items) > limit else "")


def _check_case_twins(path: Path, counts: dict[str, int], first: dict[str, int]) -> None:
    seen: dict[str, str] = {}
    for name in sorted(counts, key=lambda n: first[n]):
        key = " ".join(name.casefold().split())
        if key in seen:
            raise DataError(
                f"{path}, line {first[name]}: label {name!r} differs from label {seen[key]!r} (line "
                f"{first[seen[key]]}) only in case or spaces; write it the same way, or, {DECLARE}"
            )
        seen[key] = name


def _check_rare(rows: Sequence[Row], path: Path, counts: dict[str, int], first: dict[str, int]) -> None:
    need = max(MIN_CLASS_DOCS, math.ceil(MIN_CLASS_SHARE * len(rows)))
    rare = sorted((n for n, c in counts.items() if c < need), key=lambda n: first[n])
    if not rare or len(counts) == 1:
        return
    label = rare[0]
    lines = [line for line, _, raw in rows if raw == label][:5]
    at = "line" if len(lines) == 1 else "lines"
    raise DataError(
        f"{path}, {at} {', '.join(map(str, lines))}: label {label!r} on {counts[label]} of {len(rows)} "
        f"documents only (the others: {_shown({k: v for k, v in counts.items() if k != label})}); "
        f"a class needs at least {need} training documents, so this looks like a stray label. Fix the "
        f"row, or, {DECLARE}"
    )


def infer_label_names(rows: Sequence[Row], path: Path) -> list[str]:
    """The label names of a training file's ``rows`` (sorted: numerically when all are integers), checked
    as the module docstring says; DataError naming ``path`` and the line of a stray label."""
    counts: dict[str, int] = {}
    for _, _, raw in rows:
        counts[raw] = counts.get(raw, 0) + 1
    first = _first_lines(rows)
    _check_kinds(rows, path, counts, first)
    _check_case_twins(path, counts, first)
    _check_rare(rows, path, counts, first)
    return sorted_label_names(counts)


# ------------------------------------------------------------------------- matching a checkpoint


def parse_label_map(value: str | Mapping[str, str] | None, flag: str = "--label-map") -> dict[str, str] | None:
    """``"a=x,b=y"`` (or a dict) to ``{"a": "x", "b": "y"}``: corpus label -> checkpoint label; None stays None."""
    if value is None:
        return None
    if isinstance(value, Mapping):
        pairs = [(str(k), str(v)) for k, v in value.items()]
    elif isinstance(value, str):
        pairs = []
        for item in (s for s in value.split(",") if s.strip()):
            key, sep, target = item.partition("=")
            if not sep or not key.strip() or not target.strip():
                raise ArgumentError(
                    f"{flag} {value!r}: write CORPUS_LABEL=CHECKPOINT_LABEL pairs separated by "
                    f"commas (e.g. {flag} favorable=positive,unfavorable=negative); "
                    f"{item!r} is not one"
                )
            pairs.append((key.strip(), target.strip()))
    else:
        raise ArgumentError(f"{flag} must be a string 'a=x,b=y' or a dict; got {type(value).__name__}")
    out: dict[str, str] = {}
    for key, target in pairs:
        if key in out and out[key] != target:
            raise ArgumentError(f"{flag}: label {key!r} is mapped twice ({out[key]!r} and {target!r})")
        out[key] = target
    if not out:
        raise ArgumentError(f"{flag} is empty; give CORPUS_LABEL=CHECKPOINT_LABEL pairs")
    return out


def _map_hint(unmatched: Sequence[str], target: Sequence[str]) -> str:
    pairs = ",".join(f"{n}=..." for n in unmatched)
    return (
        f"rnnlens does not guess which is which: map them explicitly, e.g. --label-map {pairs} (Python: "
        f"label_map={{...}}), each right-hand side one of {', '.join(map(repr, target))}"
    )


def label_ids(
    names: Sequence[str],
    target: Sequence[str],
    label_map: Mapping[str, str] | None = None,
    *,
    where: str = "the corpus",
) -> np.ndarray:
    """For each of ``names`` (a corpus's label names), the id of the same label among ``target`` (a
    checkpoint's label names), by name: ``label_map`` renames corpus labels first. ArgumentError naming
    both sets and the map to give when a label has no match."""
    names, target = [str(n) for n in names], [str(t) for t in target]
    label_map = dict(label_map or {})
    unknown_keys = sorted(set(label_map) - set(names))
    if unknown_keys:
        raise ArgumentError(
            f"--label-map: {', '.join(map(repr, unknown_keys))} is not a label of {where} "
            f"(its labels: {', '.join(map(repr, names))})"
        )
    bad_targets = sorted({t for t in label_map.values() if t not in target})
    if bad_targets:
        raise ArgumentError(
            f"--label-map: {', '.join(map(repr, bad_targets))} is not a label of the checkpoint "
            f"(its labels: {', '.join(map(repr, target))})"
        )
    renamed = [label_map.get(n, n) for n in names]
    unmatched = [n for n, r in zip(names, renamed) if r not in target]
    if unmatched:
        raise ArgumentError(
            f"{where} has labels {', '.join(map(repr, names))} but the checkpoint's are "
            f"{', '.join(map(repr, target))} (ids 0..{len(target) - 1} in that order); "
            f"{', '.join(map(repr, unmatched))} "
            f"{'matches' if len(unmatched) == 1 else 'match'} none of them. " + _map_hint(unmatched, target)
        )
    return np.asarray([target.index(r) for r in renamed], dtype=np.int64)


def align_labels(
    split: Split,
    names: Sequence[str],
    target: Sequence[str],
    label_map: Mapping[str, str] | None = None,
    *,
    where: str = "the corpus",
) -> Split:
    """``split`` (labels: ids into ``names``) with its labels as ids into ``target``, matched by name
    (see :func:`label_ids`); the same split when the names are the same."""
    ids = label_ids(names, target, label_map, where=where)
    if np.array_equal(ids, np.arange(len(names))) and len(names) == len(target):
        return split
    return Split(list(split.texts), ids[split.labels])
