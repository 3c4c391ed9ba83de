"""Input sequences for networks fed continuous inputs (no words): ``Sequences``, the counterpart of a text
:class:`rnnlens.data.Corpus` that :func:`rnnlens.analyze` takes for such networks.

A split holds a list of ``[T, I]`` float arrays (one per sequence; lengths may differ) and, optionally, an
integer label per sequence (a classifier read out at the final state) and per-step targets (``[T, O]``: what
the readout should give after every input, e.g. the 3-bit flip-flop's outputs; NaN marks a step without a
target, left out of training losses and metrics). Sequences have no words, so the
analysis sections that need a vocabulary are skipped and say why.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rnnlens.errors import ArgumentError

__all__ = ["Sequences", "SequenceSplit"]


@dataclass
class SequenceSplit:
    """The sequences of one split: ``inputs`` (float64 ``[T_i, I]`` arrays), ``labels`` (int64 ``[n]`` or None)
    and ``targets`` (float64 ``[T_i, O]`` arrays, the readout's wanted output after every input, or None)."""

    inputs: list[np.ndarray]
    labels: np.ndarray | None = None
    targets: list[np.ndarray] | None = None

    def __len__(self) -> int:
        return len(self.inputs)


def _arrays(inputs: Any, name: str) -> list[np.ndarray]:
    """A batch tensor ``[B, T, I]`` or a list of ``[T, I]`` arrays, as float64 arrays (checked)."""
    if hasattr(inputs, "detach"):
        inputs = inputs.detach().cpu().numpy()
    rows = list(inputs) if not isinstance(inputs, np.ndarray) or inputs.ndim == 3 else None
    if rows is None or not rows:
        raise ArgumentError(
            f"{name}: give the sequences as a [B, T, I] array or a list of [T, I] arrays (at least one)"
        )
    out = []
    for i, x in enumerate(rows):
        a = np.asarray(x.detach().cpu().numpy() if hasattr(x, "detach") else x, dtype=np.float64)
        if a.ndim != 2 or a.shape[0] < 1:
            raise ArgumentError(f"{name}: sequence {i} has shape {a.shape}; each must be [T >= 1, I]")
        if not np.isfinite(a).all():
            raise ArgumentError(f"{name}: sequence {i} holds NaN or inf")
        out.append(a)
    widths = {a.shape[1] for a in out}
    if len(widths) != 1:
        raise ArgumentError(f"{name}: the sequences have inputs of different widths {sorted(widths)}")
    return out


def _targets(targets: Any, inputs: list[np.ndarray], name: str) -> list[np.ndarray]:
    """Per-step targets, one ``[T_i, O]`` (or ``[T_i]``: O = 1) array per sequence, checked against the inputs'
    lengths, as float64 ``[T_i, O]`` arrays."""
    if hasattr(targets, "detach"):
        targets = targets.detach().cpu().numpy()
    rows = list(targets)
    if len(rows) != len(inputs):
        raise ArgumentError(
            f"{name}: {len(rows)} target sequences for {len(inputs)} input sequences; give one "
            "[T, O] array per sequence"
        )
    out = []
    for i, (t, x) in enumerate(zip(rows, inputs)):
        a = np.asarray(t.detach().cpu().numpy() if hasattr(t, "detach") else t, dtype=np.float64)
        a = a[:, None] if a.ndim == 1 else a
        if a.ndim != 2 or a.shape[0] != x.shape[0]:
            raise ArgumentError(
                f"{name}: the targets of sequence {i} have shape {a.shape}; they must be [T, O] with "
                f"T = {x.shape[0]}, the sequence's length (one target per input step)"
            )
        if np.isinf(a).any():
            raise ArgumentError(f"{name}: the targets of sequence {i} hold inf (NaN marks a step without a target)")
        out.append(a)
    widths = {a.shape[1] for a in out}
    if len(widths) != 1:
        raise ArgumentError(f"{name}: the targets have different widths {sorted(widths)}")
    if all(np.isnan(a).all() for a in out):
        raise ArgumentError(f"{name}: no step has a target (every target is NaN, which marks a step without one)")
    return out


@dataclass
class Sequences:
    """Named splits of input sequences (see the module docstring); ``label_names`` empty when unlabelled."""

    name: str
    splits: dict[str, SequenceSplit]
    label_names: list[str] = field(default_factory=list)
    source: str = "given"
    info: dict = field(default_factory=dict)
    truth: Any = None

    @classmethod
    def from_arrays(
        cls,
        inputs: Any,
        labels: Sequence[int] | None = None,
        *,
        targets: Any = None,
        split: str = "test",
        name: str = "sequences",
        label_names: Sequence[str] | None = None,
    ) -> Sequences:
        """One split of sequences: ``inputs`` a ``[B, T, I]`` tensor/array or a list of ``[T, I]`` arrays,
        ``labels`` (optional) one integer class per sequence, ``targets`` (optional) the readout's wanted output
        after every input: a ``[B, T, O]`` tensor/array or a list of ``[T, O]`` arrays (``[T]``: O = 1).

        Args:
            inputs: the input sequences (read as float64); every ``T >= 1``, one width I for all.
            labels: one integer class >= 0 per sequence; None: unlabelled.
            targets: the wanted outputs, one ``[T, O]`` per sequence with its ``T``, or None for none. NaN marks
                a step without a target; at least one step must have one.
            split: the name of the one split (``"test"``: what the analysis reads by default).
            name: the name of these sequences (in messages, provenance and the fingerprint).
            label_names: the class names (at least one per label value); None: ``"class 0"``, ``"class 1"``, ...
                (at least two).

        Returns:
            The :class:`Sequences` with that one split (``source`` ``"given"``).

        Raises:
            ArgumentError: inputs, labels or targets of the wrong shape or type, inputs holding NaN or inf,
                targets holding inf or only NaN, of different widths, or a label with no name.
        """
        arrays = _arrays(inputs, name)
        tg = None if targets is None else _targets(targets, arrays, name)
        y = None
        if labels is not None:
            y = np.asarray(labels)
            if y.shape != (len(arrays),) or not np.issubdtype(y.dtype, np.integer) or (y < 0).any():
                raise ArgumentError(
                    f"{name}: labels must be {len(arrays)} integers >= 0, one per sequence; got "
                    f"shape {y.shape}, dtype {y.dtype}"
                )
            y = y.astype(np.int64)
            k = int(y.max()) + 1
            names = list(label_names) if label_names is not None else [f"class {i}" for i in range(max(k, 2))]
            if k > len(names):
                raise ArgumentError(f"{name}: label {k - 1} but only {len(names)} label names")
        else:
            names = []
        return cls(name=name, splits={split: SequenceSplit(arrays, y, tg)}, label_names=names)

    @property
    def num_classes(self) -> int:
        """Number of classes (0 when the sequences are unlabelled)."""
        return len(self.label_names)

    @property
    def input_size(self) -> int:
        """I, the width of every input vector."""
        return next(iter(self.splits.values())).inputs[0].shape[1]

    def fingerprint(self) -> str:
        """SHA-256 (hex) over the name, the label names and every split's arrays, labels and targets."""
        h = hashlib.sha256()
        h.update(self.name.encode())
        for n in self.label_names:
            h.update(n.encode())
        for split_name in sorted(self.splits):
            s = self.splits[split_name]
            h.update(split_name.encode())
            for a in s.inputs:
                h.update(np.asarray(a.shape, dtype="<i8").tobytes())
                h.update(np.ascontiguousarray(a, dtype="<f8").tobytes())
            if s.labels is not None:
                h.update(s.labels.astype("<i8").tobytes())
            for a in s.targets or ():
                h.update(b"target")
                h.update(np.asarray(a.shape, dtype="<i8").tobytes())
                h.update(np.ascontiguousarray(a, dtype="<f8").tobytes())
        return h.hexdigest()

    def __repr__(self) -> str:
        sizes = ", ".join(f"{k}={len(v)}" for k, v in self.splits.items())
        return f"Sequences({self.name!r}, {sizes}, labels={self.label_names or None})"
