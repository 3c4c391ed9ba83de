"""The synthetic language: known valences, labels from the truth, modifiers, k classes, determinism."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.linear_model import LogisticRegression

from rnnlens.data import SyntheticTruth, load_corpus
from rnnlens.errors import ArgumentError

SMALL = dict(n_train=600, n_validation=100, n_test=200)


def test_vocabulary_and_valences():
    c = load_corpus("synthetic", **SMALL)
    t = c.truth
    assert isinstance(t, SyntheticTruth) and t.settings["seed"] == 0 and c.source == "generated"
    cats = list(t.category.values())
    assert cats.count("neutral") == 100 and all(
        cats.count(k) == 50 for k in ("positive", "negative", "strong_positive", "strong_negative")
    )
    assert (
        t.valence["neu007"],
        t.valence["pos003"],
        t.valence["neg049"],
        t.valence["spos000"],
        t.valence["sneg010"],
    ) == (0.0, 1.0, -1.0, 2.0, -2.0)
    assert c.label_names == ["negative", "positive"] and len(c.splits["train"]) == 600
    for split in c.splits.values():  # label = sign of the summed valence, never a tie
        sums = np.array([sum(t.valence[w] for w in text.split()) for text in split.texts])
        assert (sums != 0).all() and ((sums > 0).astype(int) == split.labels).all()
        assert all(20 <= len(text.split()) <= 60 for text in split.texts)


def test_deterministic_by_seed_and_independent_splits():
    a, b = load_corpus("synthetic", **SMALL), load_corpus("synthetic", **SMALL)
    assert a.fingerprint() == b.fingerprint()
    assert load_corpus("synthetic", seed=1, **SMALL).fingerprint() != a.fingerprint()
    more_test = load_corpus("synthetic", **{**SMALL, "n_test": 300})
    assert more_test.splits["train"].texts == a.splits["train"].texts
    assert more_test.splits["test"].texts[:200] == a.splits["test"].texts


def test_labels_are_learnable_by_a_linear_model_with_true_valences():
    c = load_corpus("synthetic", n_train=3000, n_validation=10, n_test=1000)
    vec = CountVectorizer(token_pattern=r"\S+")
    x = vec.fit_transform(c.splits["train"].texts)
    clf = LogisticRegression(C=10.0, max_iter=2000).fit(x, c.splits["train"].labels)
    acc = clf.score(vec.transform(c.splits["test"].texts), c.splits["test"].labels)
    assert acc > 0.95
    coef = dict(zip(vec.get_feature_names_out(), clf.coef_[0]))
    words = sorted(coef)
    r = np.corrcoef([coef[w] for w in words], [c.truth.valence[w] for w in words])[0, 1]
    assert r > 0.95  # the fitted weights recover the true valences


@pytest.mark.parametrize(
    "tokens,expected",
    [
        (["not", "pos000", "neu000", "spos000", "pos001"], -1 + 0 - 2 + 1),  # scope 3 covers 3 tokens
        (["very", "sneg000", "neg000"], -4 - 1),
        (["not", "very", "pos000", "pos001"], -2 - 1),  # "very" uses one token of the scope
        (["pos000", "not", "not", "neg000"], 1 + 1),  # a second "not" restarts the scope, no double flip
        (["very", "neu000", "pos000"], 1),
    ],
)
def test_modifier_rules(tokens, expected):
    t = load_corpus(
        "synthetic", negation=True, intensifier=True, not_scope=3, n_train=50, n_validation=10, n_test=0
    ).truth
    assert t.score(tokens).tolist() == [expected]
    assert t.label(tokens) == int(expected > 0)


def test_modifiers_change_labels():
    c = load_corpus("synthetic", negation=True, intensifier=True, p_modifier=0.1, **SMALL)
    t = c.truth
    assert t.category["not"] == "negation" and t.category["very"] == "intensifier"
    split = c.splits["train"]
    plain = np.array([sum(t.valence[w] for w in text.split()) for text in split.texts])
    scored = np.array([t.score(text.split())[0] for text in split.texts])
    assert ((scored > 0).astype(int) == split.labels).all()
    assert (np.sign(plain) != np.sign(scored)).mean() > 0.1  # the modifiers matter


def test_k_classes():
    c = load_corpus("synthetic", num_classes=4, **SMALL)
    t = c.truth
    assert c.num_classes == 4 and c.label_names == ["class0", "class1", "class2", "class3"]
    assert t.evidence["c2w007"].tolist() == [0, 0, 1, 0] and t.evidence["neu000"].tolist() == [0, 0, 0, 0]
    for text, label in zip(c.splits["test"].texts, c.splits["test"].labels):
        counts = np.bincount([int(w[1]) for w in text.split() if w[0] == "c"], minlength=4)
        assert counts.argmax() == label and (counts == counts.max()).sum() == 1
    assert min(c.info["class_counts"]["train"]) > 100  # every class occurs


def test_synthetic_argument_errors():
    with pytest.raises(ArgumentError, match="min_length <= max_length"):
        load_corpus("synthetic", min_length=10, max_length=5)
    with pytest.raises(ArgumentError, match="num_classes must be >= 2"):
        load_corpus("synthetic", num_classes=1)
    with pytest.raises(ArgumentError, match="p_evidence"):
        load_corpus("synthetic", p_evidence=1.5)
    with pytest.raises(ArgumentError, match="n_train must be a non-negative integer"):
        load_corpus("synthetic", n_train=2.5)
