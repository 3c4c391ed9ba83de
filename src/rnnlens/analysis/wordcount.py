"""The integration manifold's dimension predicted from training-set word counts alone.

A network that classifies by accumulating evidence word by word needs a state that holds the
running evidence. The simplest accumulator of class evidence is naive Bayes: word ``w`` adds

    e_w[c] = log p(w | c) - mean over classes of log p(w | c),     p(w | c) = (N[c, w] + alpha) / (N[c] + alpha V)

to the score of class c (``N[c, w]``: occurrences of w in training documents of class c; ``N[c]``
all tokens of class c; ``V`` the number of distinct words; the class mean is removed because only
differences between classes change a prediction, so e_w lies in the (k-1)-D plane sum_c = 0). A
document's evidence is the sum of its words' vectors, ``d = sum_t e_{w_t}``. The cloud of these
sums over the training documents is what an integrator has to be able to represent: its principal
components say how many directions the integration uses and how the evidence spreads along them.

* k unordered classes with class-specific words: the words' vectors point to k different corners,
  documents mix them, and the cloud fills the (k-1)-D plane: prediction k-1.
* Ordered classes (ratings): the words' vectors all lie near one line (a word pushes towards one
  end of the scale), so the document sums lie near a line: prediction 1, whatever k is.

The predicted dimension is read off the cloud exactly as the measured one is read off the slow
points (:mod:`rnnlens.analysis.kclass`): the smallest d whose top d principal components hold at
least ``share`` (0.9) of the variance; the participation ratio (sum lambda)^2 / sum lambda^2 of the
same spectrum is given beside it. ``word_fractions`` gives the spectrum of the words' vectors
themselves (weighted by their counts), which ignores how words co-occur in documents. The
principal axes (in the k-dimensional space of class scores) are the predicted shape; the analysis
compares them with the axes of the slow points mapped through the network's readout.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from rnnlens._types import CorpusLike
from rnnlens.errors import ArgumentError, DataError

__all__ = [
    "DimensionPrediction",
    "predict_dimension",
    "predict_from_counts",
    "class_word_counts",
    "spectrum_dimension",
    "participation_ratio",
]


def participation_ratio(eigenvalues) -> float:
    """(sum lambda)^2 / sum lambda^2 of non-negative variances (nan when they are all 0)."""
    lam = np.clip(np.asarray(eigenvalues, dtype=np.float64), 0, None)
    s2 = float((lam**2).sum())
    return float(lam.sum() ** 2 / s2) if s2 > 0 else float("nan")


def spectrum_dimension(fractions, share: float = 0.9) -> int:
    """The smallest d with fractions[0] + ... + fractions[d-1] >= share (fractions of the total variance)."""
    f = np.asarray(fractions, dtype=np.float64)
    cum = np.cumsum(f)
    hit = np.flatnonzero(cum >= share - 1e-12)
    return int(hit[0] + 1) if len(hit) else int(len(f))


@dataclass
class DimensionPrediction:
    """The word-count prediction (see the module docstring).

    ``fractions``: variance fractions of the documents' summed evidence along its principal axes (k
    numbers, the last ~0); ``dimension``: smallest d with cumulative share >= ``share``;
    ``participation_ratio``; ``axes`` [k, k]: the principal axes as rows (in class-score space);
    ``word_fractions``: the count-weighted spectrum of the words' vectors; ``word_evidence`` [V, k] and
    ``words``: every word's vector; ``info``: the settings.
    """

    fractions: np.ndarray
    dimension: int
    participation_ratio: float
    axes: np.ndarray
    word_fractions: np.ndarray
    word_evidence: np.ndarray
    words: list[str]
    info: dict = field(default_factory=dict)


def class_word_counts(texts, labels, num_classes: int, *, min_count: int = 1):
    """(words, sparse document-word count matrix X [D, V], labels, N [k, V]) of tokenized ``texts``.

    Words occurring in fewer than ``min_count`` documents are left out (and counted in no class)."""
    from sklearn.feature_extraction.text import CountVectorizer

    from rnnlens.data import tokenize

    labels = np.asarray(labels, dtype=np.int64)
    if len(texts) != len(labels):
        raise ArgumentError(f"class_word_counts: {len(texts)} texts but {len(labels)} labels")
    if len(labels) and (labels.min() < 0 or labels.max() >= num_classes):
        raise ArgumentError(f"class_word_counts: labels must lie in 0..{num_classes - 1}")
    vec = CountVectorizer(analyzer=tokenize, min_df=min_count)
    X = vec.fit_transform(texts).tocsr()
    N = np.zeros((num_classes, X.shape[1]))
    for c in range(num_classes):
        N[c] = np.asarray(X[labels == c].sum(axis=0)).ravel()
    return vec.get_feature_names_out().tolist(), X, labels, N


def _evidence(N: np.ndarray, alpha: float) -> np.ndarray:
    V = N.shape[1]
    logp = np.log(N + alpha) - np.log(N.sum(axis=1, keepdims=True) + alpha * V)
    return (logp - logp.mean(axis=0, keepdims=True)).T  # [V, k], each row sums to 0


def _spectrum(C: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    lam, vec = np.linalg.eigh((C + C.T) / 2)
    order = np.argsort(lam)[::-1]
    lam = np.clip(lam[order], 0, None)
    total = lam.sum()
    return (lam / total if total > 0 else lam), vec[:, order].T


def predict_from_counts(X, N: np.ndarray, *, words=None, alpha: float = 1.0, share: float = 0.9) -> DimensionPrediction:
    """The prediction from a document-word count matrix ``X`` [D, V] (dense or scipy sparse) and the
    class-word counts ``N`` [k, V] (usually of the same documents)."""
    N = np.asarray(N, dtype=np.float64)
    if N.ndim != 2 or N.shape[0] < 2:
        raise ArgumentError(f"predict_from_counts: N must be [k >= 2, V]; got shape {N.shape}")
    if np.any(N < 0) or not np.all(np.isfinite(N)):
        raise ArgumentError("predict_from_counts: counts must be finite and >= 0")
    if X.shape[1] != N.shape[1]:
        raise ArgumentError(f"predict_from_counts: X has {X.shape[1]} words, N {N.shape[1]}")
    if not alpha > 0:
        raise ArgumentError(f"predict_from_counts: alpha must be > 0; got {alpha!r}")
    if not 0 < share <= 1:
        raise ArgumentError(f"predict_from_counts: share must be in (0, 1]; got {share!r}")
    if X.shape[0] < 2:
        raise DataError("predict_from_counts: fewer than 2 documents")
    E = _evidence(N, alpha)
    D = np.asarray(X @ E)  # [D, k] summed evidence per document
    fractions, axes = _spectrum(np.cov(D, rowvar=False))
    n_w = N.sum(axis=0)
    word_fr, _ = _spectrum((E * n_w[:, None]).T @ E / max(n_w.sum(), 1.0))
    return DimensionPrediction(
        fractions=fractions,
        dimension=spectrum_dimension(fractions, share),
        participation_ratio=participation_ratio(fractions),
        axes=axes,
        word_fractions=word_fr,
        word_evidence=E,
        words=list(words) if words is not None else [],
        info={"alpha": alpha, "share": share, "n_docs": int(X.shape[0]), "n_words": int(N.shape[1])},
    )


def predict_dimension(
    corpus: CorpusLike, *, split: str = "train", alpha: float = 1.0, min_count: int = 1, share: float = 0.9
) -> DimensionPrediction:
    """The prediction from ``corpus[split]`` (the training split: what the network learned from).

    Args:
        corpus: a labelled corpus (texts; k classes, at least 2).
        split: the split whose documents are counted.
        alpha: the additive smoothing of the class-word counts in ``p(w | c)`` (> 0).
        min_count: words in fewer than this many documents of the split are left out.
        share: the fraction of the variance the predicted dimension's top components must hold, in (0, 1].

    Returns:
        The :class:`DimensionPrediction` (the spectrum's fractions, the dimension, the participation ratio, the
        principal axes, the words' own spectrum and evidence); ``info`` records the arguments and the dataset.

    Raises:
        ArgumentError: ``alpha`` not > 0, ``share`` outside (0, 1], or fewer than 2 classes.
        DataError: no such split, or fewer than 2 documents in it.
    """
    if split not in corpus.splits:
        raise DataError(f"corpus {corpus.name!r} has no {split!r} split (it has {sorted(corpus.splits)})")
    s = corpus.splits[split]
    words, X, _, N = class_word_counts(s.texts, s.labels, corpus.num_classes, min_count=min_count)
    out = predict_from_counts(X, N, words=words, alpha=alpha, share=share)
    out.info.update(split=split, min_count=min_count, dataset=corpus.name)
    return out
