"""The corpus containers and helpers shared by the loaders."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rnnlens.errors import ArgumentError, DataError

SPLIT_NAMES = ("train", "validation", "test")


@dataclass
class Split:
    """Documents of one split: ``texts[i]`` has label ``labels[i]`` (int64, 0..k-1)."""

    texts: list[str]
    labels: np.ndarray

    def __post_init__(self):
        self.labels = np.asarray(self.labels, dtype=np.int64)
        if self.labels.ndim != 1 or len(self.labels) != len(self.texts):
            raise ArgumentError(
                f"a split needs one label per text: {len(self.texts)} texts, labels of shape {self.labels.shape}"
            )

    def __len__(self) -> int:
        return len(self.texts)

    def subset(self, index) -> Split:
        """The documents at ``index`` (in that order)."""
        index = np.asarray(index, dtype=np.int64)
        return Split([self.texts[i] for i in index], self.labels[index])


@dataclass
class Corpus:
    """A labelled corpus: named splits, label names, and a record of how it was made."""

    name: str
    label_names: list[str]
    splits: dict[str, Split]
    source: str
    info: dict = field(default_factory=dict)
    truth: Any = None  # SyntheticTruth for synthetic corpora

    @property
    def num_classes(self) -> int:
        """Number of classes (``len(label_names)``)."""
        return len(self.label_names)

    def fingerprint(self) -> str:
        """SHA-256 (hex) over the name, the label names and every split's texts and labels.

        Two corpora with the same fingerprint hold the same documents in the same order with the
        same labels; where they were read from (``source``) and ``info`` do not count.
        """
        h = hashlib.sha256()

        def put(b: bytes) -> None:
            h.update(len(b).to_bytes(8, "little"))
            h.update(b)

        put(self.name.encode())
        for name in self.label_names:
            put(name.encode())
        for split_name in sorted(self.splits):
            split = self.splits[split_name]
            put(split_name.encode())
            put(np.asarray(split.labels, dtype="<i8").tobytes())
            for text in split.texts:
                put(text.encode("utf-8", "surrogatepass"))
        return h.hexdigest()

    def __repr__(self) -> str:
        sizes = ", ".join(f"{k}={len(v)}" for k, v in self.splits.items())
        return f"Corpus({self.name!r}, classes={self.label_names}, {sizes}, source={self.source!r})"


def class_counts(labels: np.ndarray, num_classes: int) -> list[int]:
    """How many documents of each class (a list of length ``num_classes``)."""
    return np.bincount(np.asarray(labels, dtype=np.int64), minlength=num_classes).tolist()


def carve_validation(train: Split, fraction: float, seed: int, where: str = "") -> tuple[Split, Split, dict]:
    """Split ``train`` into (train, validation) with a stratified random draw.

    From each class, ``round(fraction * n_class)`` documents (drawn with ``numpy`` seeded by
    ``seed``; at least 1 and at most ``n_class - 1``) go to validation; both parts keep the
    original order. Returns the two splits and a record for ``Corpus.info``. ``where`` (the
    corpus's source) starts the error message when no validation split can be carved.
    """
    rng = np.random.default_rng(seed)
    labels = train.labels
    chosen = []
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        k = min(max(1, int(round(fraction * len(members)))), len(members) - 1)
        chosen.append(rng.choice(members, size=k, replace=False))
    val_mask = np.zeros(len(labels), dtype=bool)
    if chosen:
        val_mask[np.concatenate(chosen)] = True
    if not val_mask.any() or val_mask.all():
        raise DataError(
            f"{where + ': ' if where else ''}cannot carve a validation split of fraction {fraction} "
            f"from a train split of {len(labels)} documents; supply a validation file or change "
            "validation_fraction"
        )
    record = {"source": "carved from train", "fraction": fraction, "seed": seed, "stratified": True}
    return train.subset(np.flatnonzero(~val_mask)), train.subset(np.flatnonzero(val_mask)), record


def check_fraction(fraction) -> float:
    """Validate ``validation_fraction`` (0 < fraction < 1)."""
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0.0 < fraction < 1.0:
        raise ArgumentError(f"validation_fraction must be a number strictly between 0 and 1; got {fraction!r}")
    return float(fraction)


def finish_corpus(
    name: str,
    label_names: list[str],
    splits: dict[str, Split],
    source: str,
    info: dict,
    *,
    seed: int,
    validation_fraction: float,
    truth=None,
) -> Corpus:
    """Carve validation from train where there is none, record counts, and build the :class:`Corpus`."""
    info = dict(info)
    splits = dict(splits)
    if "validation" not in splits and "train" in splits:
        splits["train"], splits["validation"], info["validation"] = carve_validation(
            splits["train"], validation_fraction, seed, source
        )
    elif "validation" in splits:
        info.setdefault("validation", {"source": "file"})
    ordered = {k: splits[k] for k in SPLIT_NAMES if k in splits}
    info["counts"] = {k: len(v) for k, v in ordered.items()}
    info["class_counts"] = {k: class_counts(v.labels, len(label_names)) for k, v in ordered.items()}
    return Corpus(name=name, label_names=list(label_names), splits=ordered, source=source, info=info, truth=truth)


def decode_utf8(data: bytes, where: str) -> str:
    """Decode ``data`` as UTF-8 (a leading BOM is dropped) or raise DataError naming the line."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise DataError(
            f"{where}, line {line}: invalid UTF-8 ({e.reason} at byte {e.start}); convert the file to UTF-8"
        ) from None


def read_lines(path: Path) -> list[str]:
    """The lines of a UTF-8 text file, without line endings; one final empty line is not counted."""
    try:
        data = path.read_bytes()
    except OSError as e:
        raise DataError(f"{path}: cannot read ({e.strerror})") from None
    lines = decode_utf8(data, str(path)).split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line[:-1] if line.endswith("\r") else line for line in lines]
