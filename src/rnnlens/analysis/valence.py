"""Word valence: summaries of input projections and their agreement with reference valences."""

from __future__ import annotations

import numpy as np
from scipy.stats import spearmanr

from rnnlens.constants import WORD_GROUP_SIZE
from rnnlens.errors import ArgumentError

SPECIAL_TOKENS = ("<pad>", "<unk>")


def spearman(a, b) -> float:
    """Spearman rank correlation (scipy.stats.spearmanr) of two equal-length sequences; nan if < 3."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.size < 3 or np.all(a == a[0]) or np.all(b == b[0]):
        return float("nan")
    return float(spearmanr(a, b).statistic)


def _paired(itos, values: np.ndarray, reference: dict) -> tuple[list[str], np.ndarray, np.ndarray]:
    words, ours, ref = [], [], []
    for i, w in enumerate(itos):
        if w in SPECIAL_TOKENS or w not in reference:
            continue
        words.append(w)
        ours.append(values[i])
        ref.append(float(reference[w]))
    return words, np.asarray(ours, dtype=np.float64), np.asarray(ref, dtype=np.float64)


def word_groups(coef: dict, vocab_words, n: int = 100) -> dict:
    """The ``n`` most positive, ``n`` most negative and ``n`` most neutral (smallest |coef|) words.

    Only words in ``vocab_words`` (special tokens excluded) take part; ties broken by the word so
    the choice is reproducible. When fewer than 3n words are available, each group gets
    len // 3 words so the groups never overlap; the size used is returned as ``n``.
    """
    vocab = set(vocab_words) - set(SPECIAL_TOKENS)
    items = sorted(((w, float(c)) for w, c in coef.items() if w in vocab), key=lambda t: t[0])
    if len(items) < 3:
        raise ArgumentError(
            f"only {len(items)} words of the bag-of-words coefficients are in the model's "
            "vocabulary; was the baseline fitted on another corpus?"
        )
    k = min(n, len(items) // 3)
    by_coef = sorted(items, key=lambda t: t[1])
    by_abs = sorted(items, key=lambda t: abs(t[1]))
    return {
        "n": k,
        "positive": [w for w, _ in by_coef[::-1][:k]],
        "negative": [w for w, _ in by_coef[:k]],
        "neutral": [w for w, _ in by_abs[:k]],
    }


def valence_summary(
    proj, itos, *, bow_coef: dict | None = None, truth: dict | None = None, n_group: int = WORD_GROUP_SIZE
) -> dict:
    """Summarise word valence ``proj`` [P, V] (input projection per fixed point and word).

    Returns per word the mean and standard deviation across fixed points (``mean``, ``std`` [V]);
    ``spearman_bow`` / ``spearman_truth``: Spearman correlation of the mean projection with the
    bag-of-words coefficients / the true valence over the words both know (special tokens
    excluded), with the number of words used; and, given coefficients, ``groups``: for the most
    positive, most negative and most neutral words by coefficient, the mean projection over the
    group's words at each fixed point ([P]) and overall.
    """
    proj = np.asarray(proj, dtype=np.float64)
    if proj.ndim != 2 or proj.shape[1] != len(itos):
        raise ArgumentError(f"projections [P, V] do not match a vocabulary of {len(itos)} words: {proj.shape}")
    mean = proj.mean(axis=0)
    std = proj.std(axis=0, ddof=1) if proj.shape[0] > 1 else np.zeros_like(mean)
    out: dict = {"mean": mean, "std": std}
    if bow_coef is not None:
        words, ours, ref = _paired(itos, mean, bow_coef)
        out["spearman_bow"] = spearman(ours, ref)
        out["n_words_bow"] = len(words)
        groups = word_groups(bow_coef, itos, n_group)
        index = {w: i for i, w in enumerate(itos)}
        out["groups"] = {"n": groups["n"]}
        for name in ("positive", "negative", "neutral"):
            cols = [index[w] for w in groups[name]]
            per_point = proj[:, cols].mean(axis=1)
            out["groups"][name] = {"words": groups[name], "per_point": per_point, "mean": float(per_point.mean())}
    if truth is not None:
        words, ours, ref = _paired(itos, mean, truth)
        out["spearman_truth"] = spearman(ours, ref)
        out["n_words_truth"] = len(words)
    return out
