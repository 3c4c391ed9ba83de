"""Bag of words with modifiers: word weights scaled by learned per-modifier, per-gap factors.

The model (binary tasks)::

    logit(doc) = b + sum_t v[w_t] * prod_{m, g} f[m, g]

where the product runs over the modifiers m found g = 1..K tokens before position t (tokens of
:func:`rnnlens.data.tokenize`, counted before words outside the vocabulary are dropped), each
modifier at its nearest occurrence only: in "not not good" the second "not" alone scales "good"
(a repeated negation restarts rather than undoes it, as in the synthetic language), while in "not
very good" both scale it. With every
f = 1 it is the plain bag of words of :mod:`rnnlens.baseline`; f[not, 1] = -1 flips the word right
after "not", f[very, 1] = 2 doubles it.

Fitting: v, b and f jointly by L-BFGS (torch, strong-Wolfe line search, float64) on the mean logistic
loss plus ``(||v||^2 + ||f - 1||^2) / (2 C n)``: the same penalty on v as the plain bag of words'
``C`` (liblinear minimises ``0.5||v||^2 + C sum loss``; divided by ``C n`` this is the same problem),
and the same pull of every factor towards 1 (no effect). The word weights start from the plain bag of
words' coefficients and the factors from 1, so the fit starts at the plain model's optimum and only
moves where the modifiers explain the labels better. The problem is not convex in (v, f) jointly;
starting there keeps it in the plain model's basin.
"""

from __future__ import annotations

import math
import time
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rnnlens.errors import ArgumentError, DataError

__all__ = ["ModifierBagOfWords", "fit_modifier_bow", "share_of_gain"]

DEFAULT_BOW_MODIFIERS = ("not", "n't", "never", "no", "hardly", "very", "extremely")


@dataclass
class ModifierBagOfWords:
    """A fitted bag of words with modifiers: ``words``, ``coef`` [V] (v), ``intercept`` (b), ``modifiers``,
    ``factors`` [M, K] (f[m, g - 1] for gap g), ``C``, ``accuracy`` / ``n`` per split, the plain bag of
    words' accuracy per split (``bow_accuracy``, same features and C), ``counts``: occurrences of each
    modifier in the train split, and ``info`` (fit settings, iterations, seconds)."""

    words: list[str]
    coef: np.ndarray
    intercept: float
    modifiers: list[str]
    max_gap: int
    factors: np.ndarray
    C: float
    accuracy: dict[str, float]
    bow_accuracy: dict[str, float]
    n: dict[str, int]
    counts: dict[str, int]
    info: dict = field(default_factory=dict)

    def factor_table(self) -> dict[str, list[float]]:
        """``{modifier: [f at gap 1, ..., f at gap K]}``."""
        return {m: self.factors[i].tolist() for i, m in enumerate(self.modifiers)}

    def decision_function(self, texts) -> np.ndarray:
        """Logits [N] of the fitted model."""
        feats = _features(list(texts), {w: i for i, w in enumerate(self.words)}, self.modifiers, self.max_gap)
        return _logits_np(feats, self.coef, self.intercept, self.factors)

    def predict(self, texts) -> np.ndarray:
        """Predicted labels (int64)."""
        return (self.decision_function(texts) > 0).astype(np.int64)

    def to_dict(self) -> dict:
        """JSON-ready summary (factors, accuracies, settings; not the word weights)."""
        return {
            "modifiers": list(self.modifiers),
            "max_gap": self.max_gap,
            "factors": self.factor_table(),
            "C": self.C,
            "accuracy": self.accuracy,
            "bow_accuracy": self.bow_accuracy,
            "n": self.n,
            "modifier_counts": self.counts,
            "info": self.info,
        }


def share_of_gain(acc_modifier_bow: float, acc_bow: float, acc_rnn: float) -> float:
    """(acc_mbow - acc_bow) / (acc_rnn - acc_bow): the share of the RNN's gain over the plain bag of words that
    the bag of words with modifiers recovers; nan when the RNN does not beat the bag of words (no gain to share)."""
    gain = acc_rnn - acc_bow
    return (acc_modifier_bow - acc_bow) / gain if gain > 0 else math.nan


# ------------------------------------------------------------------------------- features
@dataclass
class _Features:
    """A split as sparse counts ``X`` [docs, V] (scipy CSR) plus the modified tokens: their document ``doc``,
    word ``tok`` and factor indices ``fidx`` [n, K] into the flattened factors with one extra entry = 1."""

    X: Any
    doc: np.ndarray
    tok: np.ndarray
    fidx: np.ndarray
    n_docs: int
    mod_counts: np.ndarray


def _features(texts: list[str], index: dict, modifiers, K: int) -> _Features:
    from scipy.sparse import csr_matrix

    from rnnlens.data import tokenize

    mod_of = {m: i for i, m in enumerate(modifiers)}
    one = len(modifiers) * K
    rows, cols = [], []
    doc_l, tok_l, fid_l = [], [], []
    mod_counts = np.zeros(len(modifiers), dtype=np.int64)
    for d, text in enumerate(texts):
        toks = tokenize(text)
        ids = np.fromiter((index.get(t, -1) for t in toks), dtype=np.int64, count=len(toks))
        mods = np.fromiter((mod_of.get(t, -1) for t in toks), dtype=np.int64, count=len(toks))
        mod_counts += np.bincount(mods[mods >= 0], minlength=len(modifiers))
        keep = ids >= 0
        rows.append(np.full(int(keep.sum()), d))
        cols.append(ids[keep])
        if not (mods >= 0).any():
            continue
        fidx = np.full((len(toks), K), one, dtype=np.int64)
        seen = np.zeros((len(toks), len(modifiers)), dtype=bool)  # modifier m already found at a smaller gap
        pos = np.arange(len(toks))
        for g in range(1, min(K, len(toks) - 1) + 1):
            m = np.full(len(toks), -1)
            m[g:] = mods[:-g]
            has = m >= 0
            has[has] = ~seen[pos[has], m[has]]
            fidx[has, g - 1] = m[has] * K + (g - 1)
            seen[pos[has], m[has]] = True
        sel = keep & (fidx != one).any(1)
        doc_l.append(np.full(int(sel.sum()), d))
        tok_l.append(ids[sel])
        fid_l.append(fidx[sel])
    r = np.concatenate(rows) if rows else np.zeros(0, dtype=np.int64)
    c = np.concatenate(cols) if cols else np.zeros(0, dtype=np.int64)
    X = csr_matrix((np.ones(len(r)), (r, c)), shape=(len(texts), len(index)))

    def cat(parts, shape):
        return np.concatenate(parts) if parts else np.zeros(shape, dtype=np.int64)

    return _Features(
        X=X,
        doc=cat(doc_l, (0,)),
        tok=cat(tok_l, (0,)),
        fidx=cat(fid_l, (0, K)),
        n_docs=len(texts),
        mod_counts=mod_counts,
    )


def _logits_np(f: _Features, v: np.ndarray, b: float, factors: np.ndarray) -> np.ndarray:
    flat = np.concatenate([np.asarray(factors, dtype=np.float64).ravel(), [1.0]])
    out = f.X @ v + b
    if len(f.doc):
        out += np.bincount(f.doc, weights=v[f.tok] * (flat[f.fidx].prod(1) - 1.0), minlength=f.n_docs)
    return out


# ------------------------------------------------------------------------------- fitting
def fit_modifier_bow(
    corpus,
    *,
    modifiers=DEFAULT_BOW_MODIFIERS,
    max_gap: int = 4,
    bow=None,
    C: float | None = None,
    min_count: int = 1,
    max_iter: int = 300,
) -> ModifierBagOfWords:
    """Fit the bag of words with modifiers on the train split of a binary ``corpus``.

    Args:
        modifiers: modifier tokens (those never seen in the train split keep f = 1 and are listed in
            ``info["unseen_modifiers"]``).
        max_gap: K, the gaps g = 1..K after a modifier at which it scales a word.
        bow: the plain :class:`rnnlens.baseline.BagOfWords` of this corpus (or its JSON file): its words, C and
            coefficients are the start; None fits one (:func:`rnnlens.fit_bag_of_words`, C chosen on validation).
        C: the inverse regularisation strength (default: the plain bag of words' C).
        min_count: as for :func:`rnnlens.fit_bag_of_words` when ``bow`` is None.
        max_iter: L-BFGS iterations at most.
    """
    t0 = time.perf_counter()
    modifiers = _check_fit_args(modifiers, max_gap, max_iter, C)
    bow = _starting_bow(corpus, bow, min_count)
    C = float(bow.C if C is None else C)
    index = {w: i for i, w in enumerate(bow.words)}
    feats = {name: _features(split.texts, index, modifiers, max_gap) for name, split in corpus.splits.items()}
    train, y_np = feats["train"], corpus.splits["train"].labels.astype(np.float64)
    counts = {m: int(c) for m, c in zip(modifiers, train.mod_counts)}
    v_np, b_np, factors, start, end, n_iter = _fit_lbfgs(train, y_np, bow, len(modifiers), max_gap, C, max_iter)
    accuracy, plain = {}, {}
    for name, ft in feats.items():
        labels = corpus.splits[name].labels
        accuracy[name] = float(((_logits_np(ft, v_np, b_np, factors) > 0) == (labels == 1)).mean())
        plain[name] = float(
            ((_logits_np(ft, bow.coef[0], float(bow.intercept[0]), np.ones_like(factors)) > 0) == (labels == 1)).mean()
        )
    return ModifierBagOfWords(
        words=list(bow.words),
        coef=v_np,
        intercept=b_np,
        modifiers=list(modifiers),
        max_gap=max_gap,
        factors=factors,
        C=C,
        accuracy=accuracy,
        bow_accuracy=plain,
        n={name: len(s) for name, s in corpus.splits.items()},
        counts=counts,
        info={
            "objective": "mean logistic loss + (||v||^2 + ||f - 1||^2) / (2 C n_train)",
            "optimizer": "torch.optim.LBFGS (strong Wolfe), float64, from the plain bag of words and f = 1",
            "loss_start": start,
            "loss_end": end,
            "iterations": n_iter,
            "max_iter": max_iter,
            "unseen_modifiers": [m for m in modifiers if counts[m] == 0],
            "seconds": time.perf_counter() - t0,
        },
    )


def _check_fit_args(modifiers, max_gap, max_iter, C) -> list[str]:
    """Check the settings of :func:`fit_modifier_bow` (ArgumentError naming the first bad one); returns the
    modifiers as a list of lower-case tokens (a comma-separated string is split)."""
    from rnnlens.data import tokenize

    if isinstance(max_gap, bool) or not isinstance(max_gap, int) or max_gap < 1:
        raise ArgumentError(f"fit_modifier_bow: max_gap must be an integer >= 1; got {max_gap!r}")
    if isinstance(max_iter, bool) or not isinstance(max_iter, int) or max_iter < 1:
        raise ArgumentError(f"fit_modifier_bow: max_iter must be an integer >= 1; got {max_iter!r}")
    if isinstance(modifiers, str):
        modifiers = [m.strip() for m in modifiers.split(",")]
    modifiers = [str(m).strip().lower() for m in modifiers]
    if not modifiers or any(tokenize(m) != [m] for m in modifiers) or len(set(modifiers)) != len(modifiers):
        raise ArgumentError(
            f"fit_modifier_bow: modifiers must be distinct single tokens (rnnlens.data.tokenize); got {modifiers!r}"
        )
    if C is not None and not (isinstance(C, (int, float)) and not isinstance(C, bool) and C > 0 and math.isfinite(C)):
        raise ArgumentError(f"fit_modifier_bow: C must be a finite number > 0 or None; got {C!r}")
    return modifiers


def _starting_bow(corpus, bow, min_count: int):
    """The plain binary bag of words fitted on ``corpus`` that the fit starts from: ``bow`` itself, loaded
    from its file, or fitted here when None. DataError when the corpus is not binary, has no train split, or
    the bag of words is not binary or was fitted on other data."""
    from rnnlens.baseline import fit_bag_of_words, load_bag_of_words

    if corpus.num_classes != 2:
        raise DataError(f"fit_modifier_bow: binary corpora only; {corpus.name!r} has {corpus.num_classes} classes")
    if "train" not in corpus.splits:
        raise DataError(f"fit_modifier_bow: corpus {corpus.name!r} has no train split")
    if bow is None:
        bow = fit_bag_of_words(corpus, min_count=min_count)
    elif not hasattr(bow, "coef"):
        bow = load_bag_of_words(bow)
    if bow.coef.shape[0] != 1:
        raise DataError("fit_modifier_bow: the bag of words given is not a binary one")
    if bow.data_fingerprint != corpus.fingerprint():
        raise DataError(
            f"fit_modifier_bow: the bag of words was fitted on another corpus ({bow.dataset!r}, other "
            f"fingerprint) than {corpus.name!r} as loaded; fit it on this corpus (bow=None)"
        )
    return bow


def _fit_lbfgs(train: _Features, y_np: np.ndarray, bow, n_modifiers: int, max_gap: int, C: float, max_iter: int):
    """Fit v, b and f on the train features by L-BFGS from the plain bag of words and f = 1. Returns the word
    weights, the intercept, the factors [M, K], the penalised loss at the start and at the end, and the
    number of iterations."""
    import torch

    dt = torch.float64
    Xc = train.X.tocoo()
    with warnings.catch_warnings():  # torch: "sparse CSR support is in beta", "invariant checks disabled"
        warnings.simplefilter("ignore", UserWarning)
        X = (
            torch.sparse_coo_tensor(np.vstack([Xc.row, Xc.col]), Xc.data, Xc.shape, dtype=dt, check_invariants=True)
            .coalesce()
            .to_sparse_csr()
        )
    y = torch.from_numpy(y_np)
    doc, tok, fidx = (torch.from_numpy(a) for a in (train.doc, train.tok, train.fidx))
    v = torch.tensor(bow.coef[0], dtype=dt, requires_grad=True)
    b = torch.tensor(float(bow.intercept[0]), dtype=dt, requires_grad=True)
    f = torch.ones(n_modifiers * max_gap, dtype=dt, requires_grad=True)
    lam = 1.0 / (2.0 * C * train.n_docs)
    one = torch.ones(1, dtype=dt)

    def logits():
        out = (X @ v.unsqueeze(1)).squeeze(1) + b
        if len(doc):
            flat = torch.cat([f, one])
            corr = v[tok] * (flat[fidx].prod(1) - 1.0)
            out = out.index_add(0, doc, corr)
        return out

    def loss():
        return torch.nn.functional.binary_cross_entropy_with_logits(logits(), y) + lam * (
            (v * v).sum() + ((f - 1.0) ** 2).sum()
        )

    opt = torch.optim.LBFGS(
        [v, b, f],
        lr=1.0,
        max_iter=max_iter,
        tolerance_grad=1e-9,
        tolerance_change=1e-12,
        history_size=20,
        line_search_fn="strong_wolfe",
    )

    def closure():
        opt.zero_grad()
        value = loss()
        value.backward()
        return value

    with torch.no_grad():
        start = loss().item()
    opt.step(closure)
    with torch.no_grad():
        end = loss().item()
    n_iter = int(opt.state[opt._params[0]].get("n_iter", 0))
    v_np, b_np = v.detach().numpy().copy(), float(b.detach())
    factors = f.detach().numpy().reshape(n_modifiers, max_gap).copy()
    return v_np, b_np, factors, start, end, n_iter
