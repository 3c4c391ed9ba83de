"""Which words the modifier analysis reads: the modifiers (checked against the vocabulary), the valenced words
and the neutral fillers and controls (definitions: :mod:`rnnlens.analysis.modifiers`)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from rnnlens.analysis.geometry import readout_direction
from rnnlens.constants import DEFAULT_MODIFIERS
from rnnlens.errors import ArgumentError

__all__ = [
    "MODIFIER_LIKE",
    "NEUTRAL_MIN_COUNT",
    "check_modifier_list",
    "split_present",
    "check_words",
    "WordSources",
    "word_sets",
    "bow_coef",
]

# Words kept out of the neutral fillers / controls and out of the last max_gap tokens of a context:
# negations, intensifiers, downtoners and contrast words, whether or not they are measured.
MODIFIER_LIKE = frozenset(
    {
        "not",
        "n't",
        "no",
        "never",
        "nothing",
        "none",
        "nobody",
        "nor",
        "neither",
        "without",
        "hardly",
        "barely",
        "scarcely",
        "rarely",
        "seldom",
        "very",
        "extremely",
        "really",
        "so",
        "too",
        "quite",
        "pretty",
        "most",
        "more",
        "less",
        "least",
        "rather",
        "absolutely",
        "incredibly",
        "totally",
        "completely",
        "utterly",
        "highly",
        "truly",
        "fairly",
        "somewhat",
        "slightly",
        "but",
        "although",
        "though",
        "however",
        "yet",
        "only",
        "just",
        "even",
        "especially",
        "particularly",
        "remarkably",
        "super",
        "damn",
        "terribly",
        "awfully",
    }
)
NEUTRAL_MIN_COUNT = 50


def check_modifier_list(modifiers) -> tuple[str, ...]:
    """The modifiers as a tuple of distinct single tokens (a comma-separated string is split); ArgumentError
    naming the bad entry otherwise."""
    from rnnlens.data import tokenize

    if isinstance(modifiers, str):
        modifiers = [m.strip() for m in modifiers.split(",")]
    if not isinstance(modifiers, (list, tuple)) or not modifiers:
        raise ArgumentError(
            f"analyze_modifiers: modifiers must be a non-empty list of words (e.g. "
            f"{list(DEFAULT_MODIFIERS)}); got {modifiers!r}"
        )
    out = []
    for m in modifiers:
        if not isinstance(m, str) or not m.strip():
            raise ArgumentError(
                f"analyze_modifiers: every modifier must be a non-empty word; got {m!r} in "
                f"modifiers={list(modifiers)!r}"
            )
        m = m.strip().lower()
        if tokenize(m) != [m]:
            raise ArgumentError(
                f"analyze_modifiers: modifier {m!r} is not a single token (rnnlens.data.tokenize "
                f'gives {tokenize(m)}); give the tokens themselves, e.g. "n\'t" for the negation '
                'in "don\'t"'
            )
        if m in out:
            raise ArgumentError(f"analyze_modifiers: modifier {m!r} is listed twice in modifiers")
        out.append(m)
    return tuple(out)


def split_present(modifiers, vocab) -> tuple[list[str], list[str]]:
    """(modifiers in the vocabulary, modifiers not in it). The list :data:`DEFAULT_MODIFIERS` may lack some of its
    words in a vocabulary (they are returned as missing); in any other list a missing word is an ArgumentError."""
    requested = check_modifier_list(modifiers)
    present = [m for m in requested if m in vocab.stoi and vocab.stoi[m] > 1]
    absent = [m for m in requested if m not in present]
    if absent and requested != DEFAULT_MODIFIERS:
        raise ArgumentError(
            f"analyze_modifiers: modifier(s) {absent} are not in the model's vocabulary; remove "
            "them from modifiers (only the default list measures those of its words the "
            "vocabulary has and reports the others as missing)"
        )
    return present, absent


def check_words(words, vocab, modifiers):
    """``words`` as (positive list, negative list), or None; ArgumentError naming a word the vocabulary lacks."""
    if words is None:
        return None
    if isinstance(words, dict):
        if set(words) != {"positive", "negative"}:
            raise ArgumentError(
                f"analyze_modifiers: words must have the keys 'positive' and 'negative'; got {sorted(words)}"
            )
        words = (words["positive"], words["negative"])
    if not isinstance(words, (list, tuple)) or len(words) != 2 or any(isinstance(g, str) for g in words):
        raise ArgumentError(
            "analyze_modifiers: words must be {'positive': [...], 'negative': [...]} (or a pair of "
            f"lists); got {words!r}"
        )
    out = []
    for kind, group in zip(("positive", "negative"), words):
        group = [str(w) for w in group]
        if not group:
            raise ArgumentError(f"analyze_modifiers: words[{kind!r}] is empty")
        unknown = [w for w in group if w not in vocab.stoi or vocab.stoi[w] < 2]
        if unknown:
            raise ArgumentError(
                f"analyze_modifiers: words[{kind!r}] holds words not in the model's vocabulary: {unknown[:10]}"
            )
        mods = [w for w in group if w in modifiers or w in MODIFIER_LIKE]
        if mods:
            raise ArgumentError(
                f"analyze_modifiers: words[{kind!r}] holds modifier-like words {mods}; the valenced "
                "words must not be modifiers themselves"
            )
        out.append(group)
    return tuple(out)


@dataclass(frozen=True)
class WordSources:
    """What the words are chosen from, in this order of precedence: given ``words`` (positive list, negative
    list; the neutral words still come from the sources below), the corpus's ``truth`` (its valence), a bag of
    words ``bow`` (``({word: coef}, {word: train count})``, see :func:`bow_coef`), the network's own valence
    ``net_valence`` [V]."""

    truth: Any = None
    bow: tuple | None = None
    net_valence: np.ndarray | None = None
    words: tuple | None = None


def word_sets(vocab, sources: WordSources, options, modifier_ids, rng):
    """(positive ids, negative ids, neutral ids, source string); ``options`` gives ``n_words`` (of each sign),
    ``n_neutral`` and ``min_count`` (the modifiers settings group)."""
    stoi = vocab.stoi
    excluded = set(modifier_ids) | {stoi[w] for w in MODIFIER_LIKE if w in stoi} | {0, 1}

    def ids_of(words):
        return [stoi[w] for w in words if w in stoi and stoi[w] not in excluded]

    truth = sources.truth
    if sources.words is not None:
        pos, neg = ids_of(sources.words[0]), ids_of(sources.words[1])
        if truth is not None and getattr(truth, "valence", None):
            neu = ids_of(_true_neutral(truth))
            neu = sorted(rng.choice(neu, min(options.n_neutral, len(neu)), replace=False).tolist()) if neu else []
        else:
            neu = word_sets(
                vocab, WordSources(bow=sources.bow, net_valence=sources.net_valence), options, modifier_ids, rng
            )[2]
        return pos, neg, neu, "given (words=)"
    if truth is not None and getattr(truth, "num_classes", 2) == 2 and truth.valence:
        val = truth.valence
        pos = ids_of(sorted(w for w, v in val.items() if v > 0))
        neg = ids_of(sorted(w for w, v in val.items() if v < 0))
        neu = ids_of(_true_neutral(truth))

        def pick(ids, n):
            return sorted(rng.choice(ids, min(n, len(ids)), replace=False).tolist()) if ids else []

        return (
            pick(pos, options.n_words),
            pick(neg, options.n_words),
            pick(neu, options.n_neutral),
            "the corpus's true valence (seeded sample of the words of each sign)",
        )
    if sources.bow is not None:
        return _bow_words(vocab, sources.bow, options, excluded)
    return _valence_words(vocab, sources.net_valence, options, excluded)


def _true_neutral(truth) -> list[str]:
    """The truth's neutral words (valence 0, not a modifier), sorted."""
    cat = getattr(truth, "category", {})
    return sorted(w for w, v in truth.valence.items() if v == 0 and cat.get(w, "neutral") == "neutral")


def _bow_words(vocab, bow, options, excluded):
    """The words of a bag of words: the ``n_words`` largest and smallest coefficients among the words seen
    ``min_count`` times, and the ``n_neutral`` alphabetic ones nearest 0 among the frequent ones."""
    stoi, min_count, n_words = vocab.stoi, options.min_count, options.n_words
    coef, counts = bow
    ok = [w for w in coef if w in stoi and stoi[w] not in excluded and counts.get(w, 0) >= min_count]
    ranked = sorted(ok, key=lambda w: (-coef[w], w))
    pos = [stoi[w] for w in ranked[:n_words] if coef[w] > 0]
    neg = [stoi[w] for w in ranked[::-1][:n_words] if coef[w] < 0]
    calm = [w for w in ok if w.isalpha() and counts.get(w, 0) >= max(min_count, NEUTRAL_MIN_COUNT)]
    neu = [stoi[w] for w in sorted(calm, key=lambda w: (abs(coef[w]), w))[: options.n_neutral]]
    return pos, neg, neu, f"bag-of-words coefficients (words seen >= {min_count} times in training)"


def _valence_words(vocab, val, options, excluded):
    """The words of the network's own valence ``val`` [V]: the ``n_words`` largest and smallest, and the
    ``n_neutral`` alphabetic ones nearest 0 among the first 2000 candidates."""
    itos, n_words = vocab.itos, options.n_words
    cand = [i for i in range(2, len(itos)) if i not in excluded]
    order = sorted(cand, key=lambda i: (-val[i], i))
    pos = [i for i in order[:n_words] if val[i] > 0]
    neg = [i for i in order[::-1][:n_words] if val[i] < 0]
    frequent = [i for i in cand[:2000] if itos[i].isalpha()]
    neu = sorted(frequent, key=lambda i: (abs(val[i]), i))[: options.n_neutral]
    return pos, neg, neu, "the network's own valence (mean l_1^T J_inp x over the slow-manifold nodes)"


def bow_coef(bow):
    """({word: coef along the readout direction}, {word: train count}) from a BagOfWords, its JSON, or a dict
    (the direction: :func:`rnnlens.analysis.geometry.readout_direction` of the coefficient matrix)."""
    if bow is None:
        return None
    if isinstance(bow, dict):
        return {str(k): float(v) for k, v in bow.items()}, {str(k): math.inf for k in bow}
    if not hasattr(bow, "coef"):
        from rnnlens.baseline import load_bag_of_words

        bow = load_bag_of_words(bow)
    row = readout_direction(np.asarray(bow.coef, dtype=np.float64))
    return dict(zip(bow.words, row.tolist())), dict(zip(bow.words, np.asarray(bow.counts).tolist()))
