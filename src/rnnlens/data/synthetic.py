"""A generated language whose word valences are known: the offline corpus and the analyses' test bed.

Binary (``num_classes=2``): the vocabulary has ``n_neutral`` neutral words (``neu000``..., valence
0) and ``n_per_valence`` words of each valence: positive ``pos*`` (+1), negative ``neg*`` (-1),
strongly positive ``spos*`` (+2) and strongly negative ``sneg*`` (-2). A document of length
uniform in ``[min_length, max_length]`` draws each token as an evidence word with probability
``p_evidence`` (uniform over evidence words), else a neutral word. Its score is the sum of the
valences; its label is 1 when the score is > 0 and 0 when < 0; a document scoring exactly 0 is
drawn again (``info['redrawn_ties']`` counts them).

k classes (``num_classes=k > 2``): ``n_per_class`` evidence words per class ``c{j}w{i}``, each
carrying evidence 1 for class j (the vector ``evidence[w]`` is one-hot); the label is the argmax
of the summed evidence, ties redrawn.

Ordered k classes (``num_classes=k > 2, ordered=True``; star-rating-like): the binary vocabulary and
valences (one scalar latent, the summed valence ``s``); the label is the bin of ``s`` among k
ordered bins of width ``bin_width`` centred on 0: thresholds ``bin_width * (j - (k - 2) / 2)`` for
``j = 0..k-2``, label = how many thresholds ``s`` exceeds; a score on a threshold is a tie (redrawn).
A network needs one integrated number for this task, whatever k is.

Modifiers (off by default): with ``negation=True`` the word ``not`` flips the sign of the next
``not_scope`` tokens; with ``intensifier=True`` the word ``very`` doubles the next token. Each
token is a modifier with probability ``p_modifier``. Modifiers carry no value themselves; a
modifier inside a negation scope uses up one token of the scope. :meth:`SyntheticTruth.score`
computes the score of any token list with exactly these rules.

Splits are generated from independent streams seeded by ``(seed, split)``, so changing
``n_test`` does not change the training set.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from rnnlens.errors import ArgumentError

DEFAULTS = dict(
    num_classes=2,
    n_train=5000,
    n_validation=1000,
    n_test=1000,
    min_length=20,
    max_length=60,
    n_neutral=100,
    n_per_valence=50,
    n_per_class=50,
    p_evidence=0.3,
    negation=False,
    intensifier=False,
    not_scope=3,
    p_modifier=0.05,
)
# options of the ordered k-class variant; merged into the settings only when ``ordered`` is given, so the
# settings recorded for every other corpus stay what they were
ORDERED_DEFAULTS = dict(ordered=False, bin_width=4.0)
NOT, VERY = "not", "very"
_SPLIT_STREAM = {"train": 0, "validation": 1, "test": 2}


@dataclass
class SyntheticTruth:
    """The ground truth of a synthetic corpus.

    ``valence[w]``: the signed value of word ``w`` (binary corpora; modifiers 0).
    ``evidence[w]``: a length-k vector, the class evidence of ``w`` (k-class corpora; zero for
    neutral words and modifiers). ``category[w]``: "neutral", "positive", "negative",
    "strong_positive", "strong_negative", "class_<j>", "negation" or "intensifier".
    ``settings``: every generator setting, including ``seed``.
    """

    num_classes: int
    valence: dict[str, float] = field(default_factory=dict)
    evidence: dict[str, np.ndarray] = field(default_factory=dict)
    category: dict[str, str] = field(default_factory=dict)
    settings: dict = field(default_factory=dict)

    @property
    def scalar(self) -> bool:
        """True when words carry one scalar valence (binary, or the ordered k-class variant)."""
        return self.num_classes == 2 or bool(self.settings.get("ordered", False))

    def _values(self) -> dict[str, np.ndarray]:
        if self.scalar:
            return {w: np.array([v]) for w, v in self.valence.items()}
        return self.evidence

    def score(self, tokens: list[str]) -> np.ndarray:
        """Summed value of ``tokens`` under the modifier rules: shape [1] (binary) or [k]."""
        scalar = self.scalar  # one float a word: summed as floats, no array a token
        values = self.valence if scalar else self.evidence
        total: float | np.ndarray = 0.0 if scalar else np.zeros(self.num_classes)
        scope = int(self.settings.get("not_scope", 0))
        flip_left, double = 0, False
        for tok in tokens:
            cat = self.category.get(tok)
            if cat == "negation":
                flip_left, double = scope, False
                continue
            if cat == "intensifier":
                flip_left = max(flip_left - 1, 0)
                double = True
                continue
            v = values.get(tok)
            if v is not None:
                total += v * (2.0 if double else 1.0) * (-1.0 if flip_left > 0 else 1.0)
            flip_left = max(flip_left - 1, 0)
            double = False
        return np.array([total]) if scalar else np.asarray(total)

    def label(self, tokens: list[str]) -> int | None:
        """The label of ``tokens`` (None on a tie)."""
        return self.label_of_score(self.score(tokens))

    def label_of_score(self, s: np.ndarray) -> int | None:
        """The label given a score from :meth:`score` (None on a tie)."""
        if self.num_classes == 2:
            return None if s[0] == 0 else int(s[0] > 0)
        if self.scalar:  # ordered bins of the summed valence
            t = self.thresholds()
            return None if np.any(s[0] == t) else int(np.sum(s[0] > t))
        top = np.flatnonzero(s == s.max())
        return int(top[0]) if len(top) == 1 else None

    def thresholds(self) -> np.ndarray:
        """The ordered variant's k-1 bin edges on the summed valence (empty otherwise)."""
        if not self.scalar or self.num_classes == 2:
            return np.zeros(0)
        k, width = self.num_classes, float(self.settings["bin_width"])
        return width * (np.arange(k - 1) - (k - 2) / 2)

    def to_dict(self) -> dict:
        """JSON-ready form."""
        return {
            "num_classes": self.num_classes,
            "valence": dict(self.valence),
            "evidence": {w: v.tolist() for w, v in self.evidence.items()},
            "category": dict(self.category),
            "settings": dict(self.settings),
        }


def _check_settings(options: dict) -> dict:
    unknown = set(options) - set(DEFAULTS) - set(ORDERED_DEFAULTS)
    if unknown:
        raise ArgumentError(
            f"unknown option(s) for the synthetic corpus: {sorted(unknown)}; "
            f"known: {sorted([*DEFAULTS, *ORDERED_DEFAULTS])}"
        )
    ordered_given = any(key in options for key in ORDERED_DEFAULTS)
    s = {**DEFAULTS, **(ORDERED_DEFAULTS if ordered_given else {}), **options}
    if ordered_given:
        _check_ordered(s, options)
    _check_types(s)
    _check_ranges(s)
    return s


def _check_ordered(s: dict, options: dict) -> None:
    """The options of the ordered variant (``s``: the merged settings, ``options``: those given)."""
    if not isinstance(s["ordered"], (bool, np.bool_)):
        raise ArgumentError(f"synthetic option ordered must be True or False; got {s['ordered']!r}")
    if "bin_width" in options and not s["ordered"]:
        raise ArgumentError("synthetic option bin_width belongs to the ordered variant; pass ordered=True")
    w = s["bin_width"]
    if isinstance(w, bool) or not isinstance(w, (int, float, np.integer, np.floating)) or not 0 < w < np.inf:
        raise ArgumentError(f"synthetic option bin_width must be a number > 0; got {w!r}")
    if s["ordered"] and s["num_classes"] < 3:
        raise ArgumentError(f"synthetic option ordered=True needs num_classes >= 3; got {s['num_classes']}")


def _check_types(s: dict) -> None:
    """Counts are non-negative integers and switches booleans."""
    for key in (
        "num_classes",
        "n_train",
        "n_validation",
        "n_test",
        "min_length",
        "max_length",
        "n_neutral",
        "n_per_valence",
        "n_per_class",
        "not_scope",
    ):
        if isinstance(s[key], bool) or not isinstance(s[key], (int, np.integer)) or s[key] < 0:
            raise ArgumentError(f"synthetic option {key} must be a non-negative integer; got {s[key]!r}")
    for key in ("negation", "intensifier"):
        if not isinstance(s[key], (bool, np.bool_)):
            raise ArgumentError(f"synthetic option {key} must be True or False; got {s[key]!r}")


def _check_ranges(s: dict) -> None:
    """Probabilities in [0, 1], and settings that together describe a corpus that can be drawn."""
    if s["num_classes"] < 2:
        raise ArgumentError(f"synthetic option num_classes must be >= 2; got {s['num_classes']}")
    if not 1 <= s["min_length"] <= s["max_length"]:
        raise ArgumentError(
            f"synthetic options need 1 <= min_length <= max_length; got {s['min_length']}, {s['max_length']}"
        )
    if s["n_train"] < 1:
        raise ArgumentError("synthetic option n_train must be >= 1")
    if (s["n_per_valence"] if s["num_classes"] == 2 or s.get("ordered") else s["n_per_class"]) < 1:
        raise ArgumentError("the synthetic corpus needs at least one evidence word per class")
    for key in ("p_evidence", "p_modifier"):
        if (
            isinstance(s[key], bool)
            or not isinstance(s[key], (int, float, np.floating))
            or not 0.0 <= float(s[key]) <= 1.0
        ):
            raise ArgumentError(f"synthetic option {key} must be a probability in [0, 1]; got {s[key]!r}")
    if float(s["p_evidence"]) == 0.0:
        raise ArgumentError("synthetic option p_evidence must be > 0 (otherwise every document ties)")
    if s["n_neutral"] == 0 and float(s["p_evidence"]) < 1.0:
        raise ArgumentError("synthetic option n_neutral must be >= 1 unless p_evidence is 1")


def make_truth(settings: dict, seed: int) -> SyntheticTruth:
    """The vocabulary and its values for the given settings."""
    k = settings["num_classes"]
    truth = SyntheticTruth(num_classes=k, settings={**settings, "seed": seed})
    for i in range(settings["n_neutral"]):
        truth.category[f"neu{i:03d}"] = "neutral"
    if truth.scalar:
        _add_valence_words(truth, settings["n_per_valence"])
    else:
        _add_class_words(truth, settings["n_per_class"])
    for word, cat, on in ((NOT, "negation", settings["negation"]), (VERY, "intensifier", settings["intensifier"])):
        if on:
            truth.category[word] = cat
            if truth.scalar:
                truth.valence[word] = 0.0
            else:
                truth.evidence[word] = np.zeros(k)
    return truth


def _add_valence_words(truth: SyntheticTruth, n_per_valence: int) -> None:
    """The evidence words of the scalar variants (valence +-1 and +-2); every other word gets valence 0."""
    for i in range(n_per_valence):
        for prefix, cat, v in (
            ("pos", "positive", 1.0),
            ("neg", "negative", -1.0),
            ("spos", "strong_positive", 2.0),
            ("sneg", "strong_negative", -2.0),
        ):
            truth.category[f"{prefix}{i:03d}"] = cat
            truth.valence[f"{prefix}{i:03d}"] = v
    for w in truth.category:
        truth.valence.setdefault(w, 0.0)


def _add_class_words(truth: SyntheticTruth, n_per_class: int) -> None:
    """The evidence words of the k-class variant (one-hot evidence); neutral words get zero evidence."""
    k = truth.num_classes
    for j in range(k):
        for i in range(n_per_class):
            w = f"c{j}w{i:03d}"
            truth.category[w] = f"class_{j}"
            truth.evidence[w] = np.eye(k)[j]
    for w, cat in truth.category.items():
        if cat == "neutral":
            truth.evidence[w] = np.zeros(k)


def generate_split(truth: SyntheticTruth, n: int, rng: np.random.Generator) -> tuple[list[str], np.ndarray, int]:
    """``n`` documents with their labels, and how many tied documents were redrawn."""
    s = truth.settings
    words = np.array(list(truth.category))
    cats = np.array([truth.category[w] for w in words])
    neutral = np.flatnonzero(cats == "neutral")
    modifier = np.flatnonzero((cats == "negation") | (cats == "intensifier"))
    evidence = np.flatnonzero((cats != "neutral") & (cats != "negation") & (cats != "intensifier"))
    if not len(neutral):
        neutral = evidence
    values = np.stack([truth._values()[w] for w in words])  # [V, 1] or [V, k]
    p_mod = float(s["p_modifier"]) if len(modifier) else 0.0
    p_ev = float(s["p_evidence"])
    texts: list[str] = []
    labels: list[int] = []
    redrawn = 0
    while len(texts) < n:
        length = int(rng.integers(s["min_length"], s["max_length"] + 1))
        u = rng.random(length)
        idx = np.where(
            u < p_mod + (1 - p_mod) * p_ev,
            evidence[rng.integers(0, len(evidence), length)],
            neutral[rng.integers(0, len(neutral), length)],
        )
        if p_mod:
            idx = np.where(u < p_mod, modifier[rng.integers(0, len(modifier), length)], idx)
            label = truth.label(words[idx].tolist())
        else:  # no modifiers: the score is a plain sum
            label = truth.label_of_score(values[idx].sum(0))
        if label is None:
            redrawn += 1
            continue
        texts.append(" ".join(words[idx].tolist()))
        labels.append(label)
    return texts, np.array(labels, dtype=np.int64), redrawn


def generate_synthetic(seed: int = 0, **options):
    """Generate the splits; returns (splits as {name: (texts, labels)}, label names, truth, info)."""
    settings = _check_settings(options)
    truth = make_truth(settings, seed)
    k = settings["num_classes"]
    names = ["negative", "positive"] if k == 2 else [f"class{j}" for j in range(k)]
    out, redrawn = {}, {}
    for split, stream in _SPLIT_STREAM.items():
        n = settings[f"n_{split}"]
        if n == 0:
            continue
        rng = np.random.default_rng([seed, stream])
        texts, labels, redrawn[split] = generate_split(truth, n, rng)
        out[split] = (texts, labels)
    info = {
        "settings": dict(truth.settings),
        "redrawn_ties": redrawn,
        "vocabulary_size": len(truth.category),
        "validation": {"source": "generated", "stream": [seed, _SPLIT_STREAM["validation"]]},
    }
    return out, names, truth, info
