"""The design of one modifier measurement: what it is asked (:class:`ModifierRequest`), the contexts it reads
the modifiers in, the slow manifold it measures against (:class:`Line`) and the words it reads
(:class:`Design`). Every random draw happens here, in one fixed order: the documents, the contexts, (the visited
states when the slow manifold is traced here, from their own seed), the words, the fillers and the controls."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from rnnlens.analysis.modifiers.dynamics import (
    net_valence,
    slow_mode_at_nodes,
    solver_step,
    state_dtype,
    visited_states,
)
from rnnlens.analysis.modifiers.words import MODIFIER_LIKE, WordSources, bow_coef, check_words, split_present, word_sets
from rnnlens.device import to_numpy
from rnnlens.errors import ArgumentError, DataError

__all__ = ["ModifierRequest", "Line", "Design", "make_design", "contexts"]


@dataclass(frozen=True)
class ModifierRequest:
    """One modifier measurement: the network (:class:`rnnlens.network.Network`), the ``rnnlens.data.Split`` whose
    documents give the contexts, ``options`` (the ``modifiers`` settings group), the documents' ``max_length``
    and ``seed``, the constant input ``x_star`` of the Jacobians (float64 [I]) and what chooses the words: the
    corpus's ``truth``, a bag of words ``bow``, given ``words``; ``slow_manifold`` (traced when None) and
    ``slow_lin``, the float64 linearization at its nodes (input x*, at least the 3 slowest modes) when known."""

    network: Any
    split: Any
    options: Any
    max_length: int | None
    seed: int
    x_star: torch.Tensor
    truth: Any = None
    bow: Any = None
    words: Any = None
    slow_manifold: Any = None
    slow_lin: Any = None


@dataclass
class Line:
    """The slow manifold the excursions are measured against: its ``curve``, its ``nodes`` [n, S] (float64), the
    line mode's left eigenvector ``l1`` [n, S] and the unit ``tangents`` [n, S] at the nodes."""

    curve: Any
    nodes: np.ndarray
    l1: np.ndarray
    tangents: np.ndarray


@dataclass
class Design:
    """What one measurement reads: the modifiers found (``present``) and not found (``absent``) in the
    vocabulary and their ids, the context ``prefixes`` (id arrays), the valenced words (``pos``, ``neg`` and
    together ``words``), the neutral words ``neu`` and where the words came from (``source``), the ``fillers``
    [C, T] and ``control`` [C] words, the leads [M + 1, C] (the modifiers, then the control), T filler tokens,
    the line and the size of the split the contexts come from."""

    present: list
    absent: list
    mod_ids: np.ndarray
    prefixes: list
    line: Line
    pos: list
    neg: list
    neu: np.ndarray
    source: str
    words: np.ndarray
    fillers: np.ndarray
    control: np.ndarray
    lead_ids: np.ndarray
    T: int
    split_size: int

    @property
    def M(self) -> int:
        """Modifiers measured."""
        return len(self.present)

    @property
    def C(self) -> int:
        """Contexts."""
        return len(self.prefixes)


def contexts(docs: list[np.ndarray], n: int, max_gap: int, blocked: set, rng, min_prefix: int = 1):
    """``n`` prefixes: a random document (each used once before any is reused) cut at a random position
    whose last ``max_gap`` tokens hold no blocked id. Returns (prefix id arrays, document index, cut)."""
    prefixes: list[np.ndarray] = []
    src: list[int] = []
    cuts: list[int] = []
    blocked_arr = np.fromiter(blocked, dtype=np.int64) if blocked else np.zeros(0, dtype=np.int64)
    order = rng.permutation(len(docs))
    tries = 0
    while len(prefixes) < n and tries < 20 * n + len(docs):
        d = int(order[tries % len(order)])
        tries += 1
        ids = docs[d]
        if len(ids) < min_prefix:
            continue
        bad = np.isin(ids, blocked_arr)
        # a cut t (prefix ids[:t]) is valid when ids[t - max_gap : t] holds no blocked id
        cum = np.concatenate([[0], np.cumsum(bad)])
        t = np.arange(min_prefix, len(ids) + 1)
        ok = t[(cum[t] - cum[np.maximum(t - max_gap, 0)]) == 0]
        if not ok.size:
            continue
        cut = int(rng.choice(ok))
        prefixes.append(ids[:cut])
        src.append(d)
        cuts.append(cut)
    return prefixes, np.asarray(src), np.asarray(cuts)


def _modifiers(request: ModifierRequest):
    """(present, absent, their ids, the given words checked); ArgumentError when none is in the vocabulary."""
    vocab = request.network.vocab
    present, absent = split_present(request.options.modifiers, vocab)
    if not present:
        raise ArgumentError(
            f"analyze_modifiers: none of modifiers={absent} is in the model's vocabulary; give words the model knows"
        )
    given_words = check_words(request.words, vocab, present)
    return present, absent, np.array([vocab.stoi[m] for m in present], dtype=np.int64), given_words


def _documents_and_prefixes(request: ModifierRequest, mod_ids: np.ndarray, rng):
    """(the pool of encoded documents, the context prefixes): a seeded pool of the split, cut into contexts."""
    from rnnlens.data import encode

    split, vocab, s = request.split, request.network.vocab, request.options
    n_docs_pool = min(len(split.texts), max(4 * s.n_contexts, 200))
    rows = np.sort(rng.choice(len(split.texts), n_docs_pool, replace=False))
    enc = encode(vocab, split, max_length=request.max_length, rows=rows, skip_empty=True)
    docs = list(enc.ids)
    blocked = set(mod_ids.tolist()) | {vocab.stoi[w] for w in MODIFIER_LIKE if w in vocab.stoi}
    prefixes, _, _ = contexts(docs, s.n_contexts, s.max_gap, blocked, rng)
    if len(prefixes) < 2:
        raise DataError(
            f"analyze_modifiers: found {len(prefixes)} usable contexts in the split (a prefix whose "
            f"last max_gap={s.max_gap} tokens hold no modifier-like word); use a larger split or a "
            "smaller max_gap"
        )
    return docs, prefixes


def _line(request: ModifierRequest, docs: list[np.ndarray]) -> Line:
    """The slow manifold (for the angle to the line, l_1 and the fallback valence): the given one, or traced
    through the states the first 300 documents of the pool visit."""
    network, x_star, seed = request.network, request.x_star, request.seed
    step = solver_step(network)
    curve = request.slow_manifold
    if curve is None:
        from rnnlens.manifold import trace_slow_manifold

        dtype = state_dtype(network)
        visited = visited_states(network, docs[: min(len(docs), 300)], rng=np.random.default_rng([seed, 1]))
        curve = trace_slow_manifold(
            step,
            torch.from_numpy(visited).to(dtype),
            readout=network.readout_direction(),
            inputs=x_star.to(dtype),
            seed=seed,
        )
    l1, tangents = slow_mode_at_nodes(step, curve, x_star, request.slow_lin if curve is request.slow_manifold else None)
    return Line(curve, to_numpy(curve.points.double()), l1, tangents)


def _words(request: ModifierRequest, line: Line, mod_ids: np.ndarray, given_words, rng):
    """(positive ids, negative ids, neutral ids, source): from the given words, the truth, the bag of words or
    the network's own valence; DataError when a group is empty."""
    truth, s = request.truth, request.options
    bow_pair = bow_coef(request.bow)
    net_val = None
    if bow_pair is None and (truth is None or not getattr(truth, "valence", None)):
        net_val = net_valence(request.network, line.curve, request.x_star, line.l1)
    sources = WordSources(truth=truth, bow=bow_pair, net_valence=net_val, words=given_words)
    pos, neg, neu, source = word_sets(request.network.vocab, sources, s, mod_ids, rng)
    if not pos or not neg:
        raise DataError(
            f"analyze_modifiers: no {'positive' if not pos else 'negative'} words to measure with "
            f"(from {source}); lower min_count or give a bag of words"
        )
    if not neu:
        raise DataError(
            f"analyze_modifiers: no neutral words for the fillers and controls (from {source}); lower "
            "min_count or give a bag of words"
        )
    return pos, neg, neu, source


def make_design(request: ModifierRequest) -> Design:
    """Check the request against the vocabulary and draw the contexts, words, fillers and controls (seeded by
    ``request.seed``); trace the slow manifold when the request has none."""
    s = request.options
    present, absent, mod_ids, given_words = _modifiers(request)
    rng = np.random.default_rng(request.seed)
    docs, prefixes = _documents_and_prefixes(request, mod_ids, rng)
    C = len(prefixes)
    line = _line(request, docs)
    pos, neg, neu, source = _words(request, line, mod_ids, given_words, rng)
    neu = np.array(neu, dtype=np.int64)
    T = max(s.max_gap + s.settle, s.return_steps)
    fillers = neu[rng.integers(0, len(neu), size=(C, T))]
    control = neu[rng.integers(0, len(neu), size=C)]
    lead_ids = np.concatenate([np.repeat(mod_ids[:, None], C, 1), control[None]], 0)  # [M + 1, C]
    return Design(
        present,
        absent,
        mod_ids,
        prefixes,
        line,
        pos,
        neg,
        neu,
        source,
        np.array(pos + neg, dtype=np.int64),
        fillers,
        control,
        lead_ids,
        T,
        len(request.split.texts),
    )
