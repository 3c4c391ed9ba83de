"""Encoding splits to token ids and batching them by length."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch

from rnnlens.data.corpus import Split
from rnnlens.data.tokenize import PAD_ID, Vocab
from rnnlens.errors import ArgumentError, DataError

BUCKET_BATCHES = 50  # a shuffled epoch sorts windows of this many batches by length


@dataclass
class Encoded:
    """Token ids of the documents of a split, labels, and how many were cut.

    ``index`` holds each document's position in the split (None: all of them, in order);
    ``n_empty`` counts documents skipped for having no tokens (``encode(..., skip_empty=True)``);
    ``n_dropped`` those left out for having more than ``drop_longer`` tokens.
    """

    ids: list[np.ndarray]
    labels: np.ndarray
    n_truncated: int
    max_length: int | None
    index: np.ndarray | None = None
    n_empty: int = 0
    n_dropped: int = 0
    drop_longer: int | None = None

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def lengths(self) -> np.ndarray:
        """Number of tokens of each document (int64)."""
        return np.fromiter((len(x) for x in self.ids), dtype=np.int64, count=len(self.ids))


def encode(
    vocab: Vocab,
    split: Split,
    *,
    max_length: int | None = None,
    rows=None,
    skip_empty: bool = False,
    drop_longer: int | None = None,
) -> Encoded:
    """Tokenize and encode the documents of ``split`` (``rows``: only these positions, in this order).

    Documents are kept whole unless ``max_length`` is given; then the first ``max_length`` tokens are
    kept and ``n_truncated`` counts the documents that were cut. A document with more than ``drop_longer``
    tokens is left out (before any cut) and counted in ``n_dropped``. A document with no tokens at all
    raises DataError, unless ``skip_empty``: then it is left out and counted in ``n_empty``. ``index`` says
    which positions were kept. Nothing is dropped silently.
    """
    for name, v in (("max_length", max_length), ("drop_longer", drop_longer)):
        if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 1):
            raise ArgumentError(f"{name} must be a positive integer or None; got {v!r}")
    rows = range(len(split.texts)) if rows is None else [int(i) for i in rows]
    ids, kept, n_truncated, n_dropped = [], [], 0, 0
    for i in rows:
        text = split.texts[i]
        x = vocab.encode(text)
        if len(x) == 0:
            if skip_empty:
                continue
            raise DataError(f"document {i} has no tokens ({text[:40]!r}); every document needs at least one")
        if drop_longer is not None and len(x) > drop_longer:
            n_dropped += 1
            continue
        if max_length is not None and len(x) > max_length:
            x = x[:max_length]
            n_truncated += 1
        ids.append(x)
        kept.append(i)
    index = np.asarray(kept, dtype=np.int64)
    return Encoded(
        ids=ids,
        labels=np.asarray(split.labels, dtype=np.int64)[index],
        n_truncated=n_truncated,
        max_length=max_length,
        index=index,
        n_empty=len(rows) - len(kept) - n_dropped,
        n_dropped=n_dropped,
        drop_longer=drop_longer,
    )


@dataclass
class Batch:
    """A padded batch: ``ids[b, :lengths[b]]`` is document ``index[b]`` of the Encoded."""

    ids: torch.Tensor  # [B, T] int64, padded with 0
    lengths: torch.Tensor  # [B] int64, >= 1
    labels: torch.Tensor  # [B] int64
    index: torch.Tensor  # [B] int64

    def __len__(self) -> int:
        return int(self.ids.shape[0])


def make_batch(encoded: Encoded, idx: np.ndarray, lengths: np.ndarray) -> Batch:
    """The padded batch of documents ``idx`` of ``encoded`` (``lengths``: ``encoded.lengths``)."""
    lens = lengths[idx]
    ids = np.full((len(idx), int(lens.max())), PAD_ID, dtype=np.int64)
    for row, i in enumerate(idx):
        ids[row, : lens[row]] = encoded.ids[i]
    return Batch(
        ids=torch.from_numpy(ids),
        lengths=torch.from_numpy(lens.copy()),
        labels=torch.from_numpy(encoded.labels[idx].copy()),
        index=torch.from_numpy(idx.copy()),
    )


def batch_order(
    lengths: np.ndarray, batch_size: int, *, shuffle: bool, seed: int = 0, epoch: int = 0
) -> list[np.ndarray]:
    """The document indices of each batch, in order (see :func:`batches`)."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ArgumentError(f"batch_size must be a positive integer; got {batch_size!r}")
    n = len(lengths)
    if shuffle:
        rng = np.random.default_rng([seed, epoch])
        perm = rng.permutation(n)
        window = batch_size * BUCKET_BATCHES
        groups = []
        for start in range(0, n, window):
            chunk = perm[start : start + window]
            chunk = chunk[np.argsort(lengths[chunk], kind="stable")]
            groups += [chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size)]
        return [groups[i] for i in rng.permutation(len(groups))]
    order = np.argsort(lengths, kind="stable")
    return [order[i : i + batch_size] for i in range(0, n, batch_size)]


def batches(encoded: Encoded, batch_size: int, *, shuffle: bool, seed: int = 0, epoch: int = 0) -> Iterator[Batch]:
    """Length-bucketed batches covering every document exactly once.

    ``shuffle=False``: documents sorted by length (stable), cut into batches, shortest first.
    ``shuffle=True``: a permutation drawn from ``(seed, epoch)`` is cut into windows of
    ``50 * batch_size`` documents, each window is sorted by length and cut into batches, and the
    batches are put in random order. The result depends only on ``(seed, epoch)`` and the lengths.
    """
    lengths = encoded.lengths
    for idx in batch_order(lengths, batch_size, shuffle=shuffle, seed=seed, epoch=epoch):
        yield make_batch(encoded, idx, lengths)
