"""Bag-of-words baseline on the synthetic language, where every word's true valence is known."""

import json

import numpy as np
import pytest

from rnnlens.baseline import BagOfWords, fit_bag_of_words, load_bag_of_words
from rnnlens.data import Corpus, load_corpus
from rnnlens.errors import ArgumentError, DataError


@pytest.fixture(scope="module")
def corpus():
    return load_corpus("synthetic", n_train=3000, n_validation=500, n_test=500, n_neutral=50, n_per_valence=15)


@pytest.fixture(scope="module")
def bow(corpus):
    return fit_bag_of_words(corpus, Cs=(0.01, 0.1, 1.0))


def _by_category(corpus, bow, cat):
    coef = bow.coefficients()
    return np.array([coef[w] for w, c in corpus.truth.category.items() if c == cat and w in coef])


def test_strong_words_have_the_sign_of_their_true_valence(corpus, bow):
    coef = bow.coefficients()
    strong = [w for w, c in corpus.truth.category.items() if c in ("strong_positive", "strong_negative")]
    assert len(strong) == 30 and all(w in coef for w in strong)
    for w in strong:
        assert np.sign(coef[w]) == np.sign(corpus.truth.valence[w]), w


def test_coefficients_order_like_the_true_valences(corpus, bow):
    means = {
        c: _by_category(corpus, bow, c).mean()
        for c in ("strong_negative", "negative", "neutral", "positive", "strong_positive")
    }
    order = list(means.values())
    assert order == sorted(order), means
    # valence +2 words weigh about twice valence +1 words; neutral words about nothing
    assert 1.5 < means["strong_positive"] / means["positive"] < 2.5
    assert 1.5 < means["strong_negative"] / means["negative"] < 2.5
    assert abs(means["neutral"]) < 0.1 * means["positive"]


def test_accuracy_and_chosen_C(corpus, bow):
    assert set(bow.accuracy) == {"train", "validation", "test"}
    assert bow.n == {"train": 3000, "validation": 500, "test": 500}
    assert bow.accuracy["test"] > 0.9  # the labels are a linear function of the word counts
    curve = {p["C"]: p["validation_accuracy"] for p in bow.validation_curve}
    assert set(curve) == {0.01, 0.1, 1.0} and curve[bow.C] == max(curve.values())
    assert bow.accuracy["validation"] == curve[bow.C]


def test_top_words(corpus, bow):
    cat = corpus.truth.category
    assert {cat[w] for w in bow.top_words(10, "positive")} <= {"strong_positive", "positive"}
    assert {cat[w] for w in bow.top_words(10, "negative")} <= {"strong_negative", "negative"}
    assert {cat[w] for w in bow.top_words(10, "neutral", min_count=20)} == {"neutral"}
    with pytest.raises(ArgumentError, match="kind='good'"):
        bow.top_words(3, "good")


def test_save_load_round_trip_reproduces_accuracy(tmp_path, corpus, bow):
    path = bow.save(tmp_path / "out")
    assert path == tmp_path / "out" / "bag_of_words.json"
    loaded = load_bag_of_words(tmp_path / "out")
    assert loaded.words == bow.words and np.array_equal(loaded.coef, bow.coef) and loaded.C == bow.C
    assert loaded.data_fingerprint == corpus.fingerprint()
    test = corpus.splits["test"]
    assert np.mean(loaded.predict(test.texts) == test.labels) == bow.accuracy["test"]
    counts = dict(zip(loaded.words, loaded.counts))
    assert counts["neu000"] == sum(t.split().count("neu000") for t in corpus.splits["train"].texts)


def test_three_classes_have_one_vector_per_class(tmp_path):
    c = load_corpus("synthetic", num_classes=3, n_train=1500, n_validation=300, n_test=300, n_per_class=10)
    bow = fit_bag_of_words(c, Cs=(0.1, 1.0))
    assert bow.coef.shape == (3, len(bow.words))
    for w, ev in c.truth.evidence.items():
        if w in bow.words and ev.any():
            scores = [bow.coefficients(label=j)[w] for j in range(3)]
            assert int(np.argmax(scores)) == int(np.argmax(ev)), w
    with pytest.raises(ArgumentError, match="one coefficient vector per class; pass label="):
        bow.coefficients()
    loaded = BagOfWords.load(bow.save(tmp_path / "k3.json"))
    assert np.mean(loaded.predict(c.splits["test"].texts) == c.splits["test"].labels) == bow.accuracy["test"]


def test_interrupted_save_keeps_previous_file(tmp_path, bow, monkeypatch):
    path = bow.save(tmp_path / "b.json")
    before = path.read_text()

    def interrupted_fsync(fd):  # the new text is in the temporary file, not yet renamed
        raise KeyboardInterrupt

    monkeypatch.setattr("rnnlens._atomic.os.fsync", interrupted_fsync)
    with pytest.raises(KeyboardInterrupt):
        bow.save(path)
    assert path.read_text() == before
    assert [p.name for p in tmp_path.iterdir()] == ["b.json"]


def test_load_errors(tmp_path):
    with pytest.raises(DataError, match=r"nothing.json: no bag-of-words file here.*rnnlens baseline"):
        load_bag_of_words(tmp_path / "nothing.json")
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(DataError, match=r"bad.json: not valid JSON"):
        load_bag_of_words(tmp_path / "bad.json")
    (tmp_path / "other.json").write_text(json.dumps({"format": "something"}))
    with pytest.raises(DataError, match=r"other.json: not an rnnlens bag-of-words file"):
        load_bag_of_words(tmp_path / "other.json")


def test_fit_errors(corpus):
    with pytest.raises(ArgumentError, match=r"C > 0"):
        fit_bag_of_words(corpus, Cs=(0.0,))
    no_val = Corpus("toy", corpus.label_names, {"train": corpus.splits["train"]}, "memory")
    with pytest.raises(DataError, match="no validation split to choose C on"):
        fit_bag_of_words(no_val)
    one_class = corpus.splits["train"].subset(np.flatnonzero(corpus.splits["train"].labels == 1))
    with pytest.raises(DataError, match=r"train split holds classes \[1\] of 2"):
        fit_bag_of_words(Corpus("toy", corpus.label_names, {"train": one_class}, "memory"), Cs=(1.0,))


def _direct_sklearn(corpus, Cs):
    """What fit_bag_of_words computes, written directly: counts of rnnlens tokens, one cold, tightly
    converged logistic regression per C, C chosen on validation (ties: the smaller C)."""
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.linear_model import LogisticRegression

    from rnnlens.data import tokenize

    v = CountVectorizer(analyzer=tokenize)
    X = {
        name: (v.fit_transform(s.texts) if name == "train" else v.transform(s.texts))
        for name, s in corpus.splits.items()
    }
    y = {name: s.labels for name, s in corpus.splits.items()}
    models = {C: LogisticRegression(C=C, max_iter=5000, tol=1e-10).fit(X["train"], y["train"]) for C in Cs}
    curve = {C: m.score(X["validation"], y["validation"]) for C, m in models.items()}
    best = min(Cs, key=lambda C: (-curve[C], C))
    return v.get_feature_names_out().tolist(), models, curve, best, X, y


def test_result_equals_a_direct_scikit_learn_fit(corpus, bow):
    """Same words, counts, validation curve, chosen C and accuracies as a direct scikit-learn fit of every C
    (cold, tol 1e-10); coefficients to the warm-started newton-cg's tolerance (intercept unpenalised)."""
    words, models, curve, best, X, y = _direct_sklearn(corpus, (0.01, 0.1, 1.0))
    assert bow.info["solver"] == "newton-cg" and all(p["converged"] for p in bow.validation_curve)
    assert bow.words == words
    assert np.array_equal(bow.counts, np.asarray(X["train"].sum(axis=0)).ravel())
    assert [(p["C"], p["validation_accuracy"]) for p in bow.validation_curve] == list(curve.items())
    assert bow.C == best
    ref = models[best]
    assert bow.accuracy == {name: ref.score(X[name], y[name]) for name in corpus.splits}
    scale = np.abs(ref.coef_).max()
    assert np.abs(bow.coef - ref.coef_).max() < 1e-4 * scale
    assert abs(bow.intercept[0] - ref.intercept_[0]) < 1e-4 * scale


def test_grid_order_does_not_change_the_result(corpus, bow):
    """The fits are warm-started along the grid sorted by C, so the order it is given in does not matter
    (the curve keeps the given order)."""
    other = fit_bag_of_words(corpus, Cs=(1.0, 0.01, 0.1, 0.1))
    assert [p["C"] for p in other.validation_curve] == [1.0, 0.01, 0.1, 0.1]
    assert other.C == bow.C and np.array_equal(other.coef, bow.coef) and other.accuracy == bow.accuracy
