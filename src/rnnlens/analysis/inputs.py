"""The analysed documents, text or input sequences, behind one interface: what they are, their labels, their
input vectors, the states a network visits on them.

* Text (a :class:`rnnlens.data.Corpus`): a seeded subset of a split encoded with the network's tokenizer
  (:func:`select_documents`); input vectors are the embedding's rows of the token ids.
* Input sequences (:class:`rnnlens.data.sequences.Sequences`): a seeded subset of the ``[T, I]`` arrays
  (:func:`select_sequences`); they are the input vectors.

Everything downstream (the documents, linearization and slow-manifold sections) reads documents through
:class:`Documents`, so it does not care which kind they are.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from rnnlens.device import to_device

__all__ = ["Documents", "select_documents", "select_sequences"]


@dataclass
class Documents:
    """The analysed documents: text (``encoded``: an :class:`rnnlens.data.Encoded`, with ``unk_fraction``) or
    input sequences (``sequences``: float64 ``[T_i, I]`` arrays; ``labels`` None when unlabelled; ``targets``,
    float64 ``[T_i, O]`` per-step targets, or None)."""

    encoded: Any = None
    unk_fraction: float | None = None
    sequences: list[np.ndarray] | None = None
    sequence_labels: np.ndarray | None = None
    n_cut: int = 0
    targets: list[np.ndarray] | None = None
    rows: np.ndarray | None = None

    @property
    def positions(self) -> np.ndarray:
        """Each document's position in its split (int64)."""
        index = self.encoded.index if self.is_text else self.rows
        return np.arange(len(self), dtype=np.int64) if index is None else np.asarray(index, dtype=np.int64)

    @property
    def is_text(self) -> bool:
        return self.encoded is not None

    @property
    def labels(self) -> np.ndarray | None:
        """One label per document (None: unlabelled sequences)."""
        return self.encoded.labels if self.is_text else self.sequence_labels

    @property
    def n_empty(self) -> int:
        return self.encoded.n_empty if self.is_text else 0

    @property
    def n_truncated(self) -> int:
        return self.encoded.n_truncated if self.is_text else self.n_cut

    @property
    def lengths(self) -> np.ndarray:
        return np.array([len(x) for x in (self.encoded.ids if self.is_text else self.sequences)])

    def __len__(self) -> int:
        return len(self.encoded) if self.is_text else len(self.sequences)

    def inputs_of(self, network: Any, i: int) -> torch.Tensor:
        """The input vectors of document ``i``, float64 ``[T, I]``, on the network's device."""
        if self.is_text:
            return network.embeddings()[torch.from_numpy(self.encoded.ids[i])]
        return to_device(self.sequences[i], network.device)

    def inputs_at(self, network: Any, docs: np.ndarray, steps: np.ndarray) -> torch.Tensor:
        """The input vector read at step ``steps[k]`` of document ``docs[k]``, float64 ``[n, I]``, on the network's
        device."""
        if self.is_text:
            ids = self.encoded.ids
            return network.embeddings()[torch.tensor([int(ids[i][j]) for i, j in zip(docs, steps)])]
        return to_device(np.stack([self.sequences[i][j] for i, j in zip(docs, steps)]), network.device)

    def subset(self, rows: np.ndarray) -> Documents:
        """The documents at positions ``rows``, in that order."""
        if self.is_text:
            from rnnlens.data import Encoded

            e = self.encoded
            return Documents(Encoded([e.ids[i] for i in rows], e.labels[rows], 0, e.max_length))
        labels = None if self.sequence_labels is None else self.sequence_labels[rows]
        targets = None if self.targets is None else [self.targets[i] for i in rows]
        return Documents(sequences=[self.sequences[i] for i in rows], sequence_labels=labels, targets=targets)

    def batches(self, network: Any, size: int) -> Iterator[tuple[torch.Tensor, torch.Tensor, np.ndarray]]:
        """``(input vectors [B, T, I] float64 padded with zeros, lengths [B], positions [B])`` in batches; the input
        vectors on the network's device."""
        if self.is_text:
            from rnnlens.data import batches

            emb = network.embeddings()
            for b in batches(self.encoded, size, shuffle=False):
                yield emb[b.ids], b.lengths, b.index.numpy()
            return
        for start in range(0, len(self), size):
            rows = np.arange(start, min(start + size, len(self)))
            yield (
                to_device(_padded([self.sequences[i] for i in rows]), network.device),
                torch.tensor([len(self.sequences[i]) for i in rows]),
                rows,
            )

    @torch.no_grad()
    def states(self, network: Any, batch_size: int = 64) -> list[np.ndarray]:
        """Every state the network visits per document: float32 ``[length, S]`` arrays (entry t: after input t)."""
        if self.is_text:
            return network.states(self.encoded, batch_size=batch_size)
        dtype = network.init_state(1).dtype
        out: list = []
        for x, lengths, rows in self.batches(network, batch_size):
            hs = network.recurrence.run(x.to(dtype))
            if not bool(torch.isfinite(hs).all()):
                from rnnlens.errors import ArgumentError

                raise ArgumentError("the network's states hold NaN or inf on these input sequences")
            hs = hs.float().cpu()
            out.extend(hs[r, : int(lengths[r])].numpy() for r in range(len(rows)))
        return out


def _padded(arrays: list[np.ndarray]) -> torch.Tensor:
    T = max(len(a) for a in arrays)
    x = np.zeros((len(arrays), T, arrays[0].shape[1]))
    for r, a in enumerate(arrays):
        x[r, : len(a)] = a
    return torch.from_numpy(x)


def _subset_rows(n_total: int, n_docs: int, seed: int) -> np.ndarray:
    order = np.arange(n_total)
    if n_docs < n_total:
        order = np.sort(np.random.default_rng(seed).choice(n_total, n_docs, replace=False))
    return order


def select_documents(vocab: Any, split: Any, n_docs: int, max_length: int | None, seed: int) -> Documents:
    """A seeded random subset of ``n_docs`` documents of a text ``split`` (all when it has fewer), encoded.

    Documents with no tokens are skipped and counted; documents longer than ``max_length`` (None: no
    limit) are cut and counted (``encoded.n_truncated``, ``encoded.max_length``). ``unk_fraction``
    counts the unknown token over the tokens kept (0 when the tokenizer has none).
    """
    from rnnlens.data import UNK_ID, encode

    order = _subset_rows(len(split.texts), n_docs, seed)
    encoded = encode(vocab, split, max_length=max_length, rows=order, skip_empty=True)
    unk = getattr(vocab, "unk_id", UNK_ID)
    n_tok = int(encoded.lengths.sum())
    n_unk = 0 if unk is None else sum(int((x == unk).sum()) for x in encoded.ids)
    return Documents(encoded, n_unk / max(n_tok, 1))


def select_sequences(split: Any, n_docs: int, max_length: int | None, seed: int) -> Documents:
    """A seeded random subset of ``n_docs`` input sequences of ``split`` (the same draw as
    :func:`select_documents`); sequences longer than ``max_length`` are cut and counted."""
    order = _subset_rows(len(split.inputs), n_docs, seed)
    seqs, cut = [], 0
    given = getattr(split, "targets", None)
    targets: list[np.ndarray] | None = None if given is None else []
    for i in order:
        a = split.inputs[i]
        if max_length is not None and len(a) > max_length:
            a, cut = a[:max_length], cut + 1
        seqs.append(a)
        if targets is not None:
            targets.append(given[i][: len(a)])
    labels = None if split.labels is None else np.asarray(split.labels)[order]
    return Documents(sequences=seqs, sequence_labels=labels, n_cut=cut, targets=targets, rows=order)
