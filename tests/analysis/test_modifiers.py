"""Modifier factors, the modifier subspace and the bag of words with modifiers.

Known answers first: the estimators on constructed numbers, then the whole measurement on a hand-built
"network" that runs the synthetic language's rules exactly (its factors are known), then a small GRU
trained on the toy language (the truth test), then bad arguments.

Notes for whoever reads a failure of the truth test. The valenced words there are the +-1 words (the
"good" / "bad" of the examples): measured over the +-2 words, "very" comes out about 1.6 on these networks,
because their readout grows less than linearly with large moves along the line: two "awesome" in a
row (+4) move it 1.8 times as far as one, "very awesome" 1.6 times (measured on the seed-0 network); the
+-1 words stay in the linear range. The corpus is denser in evidence and modifiers than the default
(p_evidence 0.5, p_modifier 0.2, 10-20 tokens): with the defaults' 0.3 / 0.05 the networks learned
"not" as about -0.75 (flipping one word changes few labels, so little pushes the network to flip it
exactly). With these settings three training seeds gave "not" -0.88..-1.16 at gaps 1-4, 0.95..1.18
at gap 6 and "very" 1.83..2.05 at gap 1.
"""

import math

import numpy as np
import pytest
import torch

from rnnlens.analysis import modifiers as md
from rnnlens.analysis.metrics import METRICS
from rnnlens.analysis.modifiers import analyze_modifiers
from rnnlens.analysis.modifiers.estimators import agreement
from rnnlens.analysis.modifiers.words import WordSources, bow_coef, word_sets
from rnnlens.analysis.settings import AnalysisSettings
from rnnlens.data import Vocab, load_corpus
from rnnlens.errors import ArgumentError, DataError
from rnnlens.network import Network


# ---------------------------------------------------------------------------------- estimators
def test_least_squares_ratio_and_median_ratio():
    den = np.array([[1.0, -2.0], [0.5, 3.0]])
    assert md.ls_ratio(-1.5 * den, den) == pytest.approx(-1.5)
    assert math.isnan(md.ls_ratio(np.ones(3), np.zeros(3)))
    # a tiny denominator cannot blow the estimate up: its pair weighs den^2
    num, d = np.array([2.0, 4.0, 5.0]), np.array([1.0, 2.0, 1e-6])
    assert md.ls_ratio(num, d) == pytest.approx(2.0, abs=1e-5)
    assert md.median_ratio(num, d) == pytest.approx(2.0)  # the tiny pair is left out


def test_bootstrap_interval_covers_the_ratio_and_shrinks_with_noise():
    rng = np.random.default_rng(0)
    den = rng.normal(size=(200, 30))
    exact = md.bootstrap_ratio(2.0 * den, den, 200, rng)
    assert exact == pytest.approx((2.0, 2.0))
    lo, hi = md.bootstrap_ratio(2.0 * den + 0.5 * rng.normal(size=den.shape), den, 500, rng)
    assert lo < 2.0 < hi and hi - lo < 0.1
    assert all(math.isnan(x) for x in md.bootstrap_ratio(den, den, 0, rng))


def test_reach_and_time_constants():
    assert md.factor_reach([-1, -1, -1, -1, 1, 1]) == 4
    assert md.factor_reach([2, 1, 1]) == 1
    assert md.factor_reach([1, 1, 1]) == 0
    k = np.arange(1, 9)
    assert md.fit_factor_decay(1 - 2 * np.exp(-(k - 1) / 2.5)) == pytest.approx(2.5, rel=1e-3)
    assert md.fit_factor_decay(np.ones(8)) == 0.0
    assert md.decay_time_constant(np.exp(-np.arange(10) / 3.0)) == pytest.approx(3.0)
    assert md.decay_time_constant(np.ones(5)) == math.inf


def test_ratio_pieces_at_their_boundaries():
    # median |den| = 1: a |den| of exactly a tenth of it is kept (ratios 1, 9, 1, 9: median 5, not 1)
    num, den = np.array([1.0, 0.9, 1.0, 9.0]), np.array([1.0, 0.1, 1.0, 1.0])
    assert md.median_ratio(num, den) == pytest.approx(5.0)
    # three finite gaps are enough for the decay fit; two are not
    k = np.arange(1, 4)
    assert md.fit_factor_decay(1 + 0.8 * np.exp(-(k - 1) / 1.5)) == pytest.approx(1.5, rel=1e-3)
    assert math.isnan(md.fit_factor_decay([1.8, 1.4, np.nan]))
    # a fit that starts far from the answer (a = factor(1) - 1 = -1.9) still lands on it
    k = np.arange(1, 9)
    assert md.fit_factor_decay(1 - 1.9 * np.exp(-(k - 1) / 40.0)) == pytest.approx(40.0, rel=1e-3)
    # agreement: predictions with a small spread still correlate
    f = np.array([1.0, 1.2, 1.4, 1.6])
    corr, ratio = agreement(0.01 * f, f)
    assert corr == pytest.approx(1.0) and ratio == pytest.approx(0.01)
    corr, ratio = agreement(np.full(4, 0.5), f)
    assert math.isnan(corr) and ratio == pytest.approx(float(np.median(0.5 / f)))


def test_participation_ratio():
    top, pr = md.participation_ratio(np.outer(np.arange(1, 6), [1.0, 2.0, 0.0]))
    assert top == pytest.approx(1.0) and pr == pytest.approx(1.0)
    top, pr = md.participation_ratio(np.eye(4) * 3)
    assert top == pytest.approx(0.25) and pr == pytest.approx(4.0)
    rng = np.random.default_rng(0)
    for shape in ((300, 20), (7, 40)):  # tall and wide: against the singular values' definition
        X = rng.standard_normal(shape) * np.linspace(0.1, 3, shape[1])
        s2 = np.linalg.svd(X, compute_uv=False) ** 2
        top, pr = md.participation_ratio(X)
        assert top == pytest.approx(s2[0] / s2.sum(), rel=1e-10)
        assert pr == pytest.approx(s2.sum() ** 2 / (s2**2).sum(), rel=1e-10)
    assert all(math.isnan(v) for v in md.participation_ratio(np.zeros((3, 2))))


# ---------------------------------------------------------------------------------- exact rules
class _RuleCell(torch.nn.Module):
    """The synthetic language's rules as a step: state [value, negation tokens left, doubling flag];
    input [valence, is "not", is "very"]. Reads exactly what SyntheticTruth.score computes."""

    state_size = 3
    input_size = 3

    def __init__(self, scope: int):
        super().__init__()
        self.scope = scope

    def init_state(self, batch_size):
        return torch.zeros(batch_size, 3)

    def step(self, x, h):
        val, is_not, is_very = x[:, 0], x[:, 1], x[:, 2]
        flip = torch.where(h[:, 1] > 0.5, -1.0, 1.0)
        dbl = torch.where(h[:, 2] > 0.5, 2.0, 1.0)
        v = h[:, 0] + val * flip * dbl
        left = torch.where(is_not > 0.5, torch.full_like(val, float(self.scope)), (h[:, 1] - 1).clamp(min=0))
        return torch.stack([v, left, is_very], 1)

    def output(self, h):
        return h


class _RuleModel(torch.nn.Module):
    """The rules cell behind an embedding of [valence, is "not", is "very"] and a readout of the value."""

    num_classes = 2

    def __init__(self, vocab, truth):
        super().__init__()
        E = torch.zeros(len(vocab), 3)
        for w, i in vocab.stoi.items():
            E[i, 0] = truth.valence.get(w, 0.0)
            E[i, 1] = float(truth.category.get(w) == "negation")
            E[i, 2] = float(truth.category.get(w) == "intensifier")
        self.embedding = torch.nn.Embedding.from_pretrained(E)
        self.readout = torch.nn.Linear(3, 1, bias=False)
        with torch.no_grad():
            self.readout.weight.copy_(torch.tensor([[1.0, 0.0, 0.0]]))
        self.cell = _RuleCell(truth.settings["not_scope"])

    def readout_matrix(self):
        return torch.tensor([[1.0, 0.0, 0.0]])

    def logits_from_state(self, h):
        return h[..., 0]


@pytest.fixture(scope="module")
def rules():
    corpus = load_corpus(
        "synthetic",
        seed=0,
        n_train=200,
        n_validation=50,
        n_test=200,
        negation=True,
        intensifier=True,
        not_scope=4,
        p_modifier=0.1,
    )
    vocab = Vocab.build(corpus.splits["train"].texts)
    return corpus, vocab, _RuleModel(vocab, corpus.truth)


def _run(model, vocab, corpus, bow=None, words=None, **settings):
    """analyze_modifiers on the model wrapped as a Network, with these analysis settings."""
    return analyze_modifiers(Network(model, vocab), corpus, AnalysisSettings.make(**settings), bow=bow, words=words)


def test_the_rules_network_has_the_factors_of_its_rules(rules):
    corpus, vocab, model = rules
    r = _run(model, vocab, corpus, modifiers=["not", "very"], n_contexts=40, n_words=10, n_eig_contexts=5, n_boot=50)
    expect_not = [-1, -1, -1, -1, 1, 1, 1, 1]
    expect_very = [2, 1, 1, 1, 1, 1, 1, 1]
    np.testing.assert_allclose(r.factor("not"), expect_not, atol=1e-6)
    np.testing.assert_allclose(r.factor("very"), expect_very, atol=1e-6)
    truth = r.value("truth_factor")
    np.testing.assert_allclose(truth["not"], expect_not) and np.testing.assert_allclose(truth["very"], expect_very)
    np.testing.assert_allclose(r.value("factor_ci_low")["not"], expect_not, atol=1e-6)  # no spread at all
    assert r.value("reach") == {"not": 4, "very": 1}
    # the state moves along the value axis with the word's push times the factor: the first-order input
    # projection at the state before the word predicts the factor exactly (the readout and l_1 read v)
    np.testing.assert_allclose(r.value("predicted_factor_readout")["not"], expect_not, atol=1e-6)
    np.testing.assert_allclose(r.value("predicted_factor")["very"], expect_very, atol=1e-6)
    # the excursion is one direction per modifier (negation counter / doubling flag), normal to the line
    assert r.value("excursion_participation_ratio")["not"] == pytest.approx(1.0)
    assert r.value("excursion_line_angle_deg")["very"] == pytest.approx(90.0, abs=1e-3)
    assert r.value("excursion_readout") == {"not": 0.0, "very": 0.0}
    # every number has its definition from the one table
    for name, node in r.metrics["modifiers"].items():
        if isinstance(node, dict) and "value" in node:
            assert f"modifiers.{name}" in METRICS and node["definition"]
    assert set(r.arrays) >= {"mod_factor", "mod_ci_low", "mod_3d_traj", "mod_eig_excursion", "mod_return"}


def test_the_rules_network_excursions_and_spectra_on_paper(rules):
    # "not" sets the negation counter to 4 (excursion [0, 4, 0]), "very" the doubling flag ([0, 0, 1]); both
    # are normal to the value axis (the line) and change no readout; the counter counts down by one per
    # token (a shift: its Jacobian has eigenvalue 1 while it is above 1), the flag is gone after one token
    corpus, vocab, model = rules
    r = _run(model, vocab, corpus, modifiers=["not", "very"], n_contexts=40, n_words=10, n_eig_contexts=5, n_boot=50)
    assert r.value("excursion_norm") == {"not": 4.0, "very": 1.0}
    assert r.value("lasting_readout") == {"not": 0.0, "very": 0.0}
    assert r.value("excursion_tangent_cos") == {"not": 0.0, "very": 0.0}
    # 40 contexts each: singular values^2 40 * 16 and 40 * 1
    assert r.value("excursion_top_share")["all"] == pytest.approx(640 / 680)
    assert r.value("excursion_participation_ratio")["all"] == pytest.approx(680**2 / (640**2 + 40**2))
    # J_rec = diag(1, 1, 0) at the "not" excursion (value, counter, flag), diag(1, 0, 0) elsewhere
    assert r.value("n_slow_modes_excursion") == {"not": 2.0, "very": 1.0} and r.value("n_slow_modes_control") == 1.0
    assert r.value("complex_top_fraction") == {"not": 0.0, "very": 0.0, "control": 0.0}
    # the counter's mode (|lambda| = 1) carries the "not" excursion: its linearized return never comes (inf);
    # the flag's mode has lambda = 0: tau = 0
    assert r.value("return_tau_eigen") == {"not": math.inf, "very": 0.0}
    # the return curves ||e_j^perp|| / ||e_0^perp||: (4 - j) / 4 for "not", 1 then 0 for "very"
    ret = r.arrays["mod_return"]
    assert ret.shape == (2, 21)
    np.testing.assert_allclose(ret[0, :6], [1, 0.75, 0.5, 0.25, 0, 0], atol=1e-12)
    np.testing.assert_allclose(ret[1, :3], [1, 0, 0], atol=1e-12)
    assert r.value("prediction_correlation") == pytest.approx(1.0) and r.value("prediction_ratio_median") == 1.0
    assert r.value("prediction_readout_correlation") == pytest.approx(1.0)
    np.testing.assert_array_equal(r.arrays["mod_factor"], np.array([r.factor("not"), r.factor("very")]))
    assert r.arrays["mod_excursion_readout"].shape == (2, 40) and not r.arrays["mod_excursion_readout"].any()


class _KickCell(_RuleCell):
    """The rules, except that "very" kicks the state by (0.3 along the value axis, 0.4 on a flag it sets to 0.4,
    read as "double the next word" above 0.3): an excursion of norm 0.5 at cos 0.6 to the line."""

    def step(self, x, h):
        val, is_not, is_very = x[:, 0], x[:, 1], x[:, 2]
        flip = torch.where(h[:, 1] > 0.5, -1.0, 1.0)
        dbl = torch.where(h[:, 2] > 0.3, 2.0, 1.0)
        v = h[:, 0] + val * flip * dbl + 0.3 * is_very
        left = torch.where(is_not > 0.5, torch.full_like(val, float(self.scope)), (h[:, 1] - 1).clamp(min=0))
        return torch.stack([v, left, 0.4 * is_very], 1)


def test_an_excursion_shorter_than_one_at_an_angle_to_the_line(rules):
    corpus, vocab, model = rules
    model.cell = _KickCell(model.cell.scope)
    try:
        r = _run(
            model,
            vocab,
            corpus,
            modifiers=["very"],
            n_contexts=20,
            n_words=5,
            n_eig_contexts=0,
            n_boot=0,
            max_gap=3,
            return_steps=3,
        )
    finally:
        model.cell = _RuleCell(model.cell.scope)
    assert r.value("excursion_norm")["very"] == pytest.approx(0.5)
    assert r.value("excursion_tangent_cos")["very"] == pytest.approx(0.6)
    assert r.value("excursion_line_angle_deg")["very"] == pytest.approx(math.degrees(math.acos(0.6)))
    assert r.value("excursion_readout")["very"] == pytest.approx(0.3) == r.value("lasting_readout")["very"]
    np.testing.assert_allclose(r.factor("very"), [2, 1, 1], atol=1e-6)


def _lettered_without_truth(corpus):
    """The same corpus with digits spelled as letters (neu012 -> neuabc: the bag-of-words branch takes only
    alphabetic words as neutral fillers) and no truth attached; with the rules model for its vocabulary."""
    from types import SimpleNamespace

    from rnnlens.data import Corpus, Split

    table = str.maketrans("0123456789", "abcdefghij")
    splits = {k: Split([t.translate(table) for t in sp.texts], sp.labels) for k, sp in corpus.splits.items()}
    t = corpus.truth
    truth = SimpleNamespace(
        valence={w.translate(table): v for w, v in t.valence.items()},
        category={w.translate(table): c for w, c in t.category.items()},
        settings=t.settings,
    )
    plain = Corpus("toy", corpus.label_names, splits, "memory")
    vocab = Vocab.build(plain.splits["train"].texts)
    return plain, vocab, _RuleModel(vocab, truth), truth.valence


def test_the_rules_network_with_a_bag_of_words_instead_of_the_truth(rules):
    from types import SimpleNamespace

    corpus, vocab, model, truth = _lettered_without_truth(rules[0])
    words = sorted(w for w in vocab.itos[2:] if w in truth)
    v = np.array([truth[w] + 1e-3 * i for i, w in enumerate(words)])  # distinct, same signs
    binary = SimpleNamespace(coef=v[None], words=words, counts=[100] * len(words))
    three = SimpleNamespace(coef=np.stack([-v / 2, 5 * v, v / 2]), words=words, counts=[100] * len(words))
    for bow in (binary, three):  # the readout direction: the one row, or the last row minus the first
        r = _run(
            model,
            vocab,
            corpus,
            bow=bow,
            modifiers=["not", "very"],
            n_contexts=20,
            n_words=5,
            n_eig_contexts=0,
            n_boot=0,
            max_gap=5,
            return_steps=3,
        )
        np.testing.assert_allclose(r.factor("not"), [-1, -1, -1, -1, 1], atol=1e-6)
        assert r.value("truth_factor") is None
        chosen = r.metrics["modifiers"]["words"]
        ranked = sorted((w for w in words if w not in ("not", "very")), key=lambda w: -v[words.index(w)])
        assert chosen["positive"] == ranked[:5] and chosen["negative"] == ranked[::-1][:5]
        assert chosen["source"] == "bag-of-words coefficients (words seen >= 10 times in training)"  # the default
    # given words: the neutral fillers still come from the bag of words, as many as asked for
    r = _run(
        model,
        vocab,
        corpus,
        bow=binary,
        words={"positive": ranked[:2], "negative": ranked[-2:]},
        modifiers=["not"],
        n_neutral=3,
        n_contexts=10,
        n_eig_contexts=0,
        n_boot=0,
        max_gap=2,
        return_steps=2,
    )
    chosen = r.metrics["modifiers"]["words"]
    assert chosen["source"] == "given (words=)" and chosen["positive"] == ranked[:2] and len(chosen["neutral"]) == 3
    assert all(truth[w] == 0 for w in chosen["neutral"])


def test_the_rules_network_with_a_dict_bag_of_words_or_with_its_own_valence(rules):
    corpus, vocab, model, truth = _lettered_without_truth(rules[0])
    words = sorted(w for w in vocab.itos[2:] if w in truth)
    coef = {w: truth[w] + 1e-3 * i for i, w in enumerate(words)}
    r = _run(
        model,
        vocab,
        corpus,
        bow=coef,
        modifiers=["not"],
        n_contexts=10,
        n_words=5,
        n_eig_contexts=0,
        n_boot=0,
        max_gap=2,
        return_steps=2,
    )
    chosen = r.metrics["modifiers"]["words"]
    assert chosen["positive"] == sorted(coef, key=lambda w: -coef[w])[:5]
    assert r.value("modifiers.factor") == r.value("factor") and r.value("factor")["not"] == pytest.approx([-1, -1])
    # neither truth nor a bag of words: the words come from the network's own valence (l_1^T J_inp x along the
    # slow manifold); for the rules network that is the value each word adds
    r = _run(
        model,
        vocab,
        corpus,
        modifiers=["not"],
        n_contexts=10,
        n_words=5,
        n_eig_contexts=0,
        n_boot=0,
        max_gap=2,
        return_steps=2,
    )
    chosen = r.metrics["modifiers"]["words"]
    assert "network's own valence" in chosen["source"]
    assert all(truth[w] > 0 for w in chosen["positive"]) and all(truth[w] < 0 for w in chosen["negative"])
    assert r.value("factor")["not"] == pytest.approx([-1, -1])
    # a bag of words without one sign names the sign it lacks
    for sign in ("positive", "negative"):
        one_sided = {w: (abs(v) + 0.1) * (1 if sign == "negative" else -1) for w, v in coef.items()}
        with pytest.raises(DataError, match=rf"^analyze_modifiers: no {sign} words to measure with \(from bag"):
            _run(
                model,
                vocab,
                corpus,
                bow=one_sided,
                modifiers=["not"],
                n_contexts=10,
                n_eig_contexts=0,
                n_boot=0,
                max_gap=2,
                return_steps=2,
            )


def test_word_sets_from_the_networks_own_valence():
    vocab = Vocab(["<pad>", "<unk>", "a", "b", "c", "d", "e", "f", "not"])
    val = np.array([0, 0, 0.5, -2.0, 3.0, 0.1, -0.2, 1.0, 9.0])
    rng = np.random.default_rng(0)
    options = AnalysisSettings.make(n_words=4, n_neutral=2, min_count=1).modifiers
    pos, neg, neu, source = word_sets(vocab, WordSources(net_valence=val), options, [8], rng)
    # the 4 largest / smallest of the candidates (not the modifier), each with its sign
    assert [vocab.itos[i] for i in pos] == ["c", "f", "a", "d"] and [vocab.itos[i] for i in neg] == ["b", "e"]
    assert [vocab.itos[i] for i in neu] == ["d", "e"] and "network's own valence" in source
    # a bag of words: only the words seen min_count times, its most neutral words among the frequent
    coef = {"a": 0.5, "b": -2.0, "c": 3.0, "d": 0.1, "e": -0.2, "f": 1.0}
    counts = {"a": 100, "b": 100, "c": 5, "d": 100, "e": 100, "f": 100}
    options = AnalysisSettings.make(n_words=4, n_neutral=2, min_count=10).modifiers
    pos, neg, neu, source = word_sets(vocab, WordSources(bow=(coef, counts), net_valence=val), options, [8], rng)
    assert [vocab.itos[i] for i in pos] == ["f", "a", "d"] and [vocab.itos[i] for i in neg] == ["b", "e"]
    assert [vocab.itos[i] for i in neu] == ["d", "e"] and "seen >= 10 times" in source


def test_readout_direction_of_a_k_class_model_is_last_minus_first():
    from types import SimpleNamespace

    from rnnlens.model import SentimentRNN

    model = SentimentRNN(3, arch="gru", embed_dim=2, hidden_size=2, num_classes=3)
    with torch.no_grad():
        model.readout.weight.copy_(torch.tensor([[1.0, 0.0], [5.0, 5.0], [0.0, 3.0]]))
    assert Network(model, Vocab(["<pad>", "<unk>", "a"])).readout_direction().tolist() == [-1.0, 3.0]
    # the bag of words' coefficients follow the same rule
    bow = SimpleNamespace(coef=np.array([[1.0, 0.0], [5.0, 5.0], [0.0, 3.0]]), words=["a", "b"], counts=[7, 9])
    assert bow_coef(bow) == ({"a": -1.0, "b": 3.0}, {"a": 7, "b": 9})


def test_missing_modifiers_of_the_default_list_are_reported(rules):
    corpus, vocab, model = rules
    r = _run(model, vocab, corpus, n_contexts=10, n_words=5, n_eig_contexts=0, n_boot=0, max_gap=2, return_steps=3)
    assert r.value("modifiers") == ["not", "very"]
    assert r.value("missing_modifiers") == ["n't", "never", "no", "hardly", "extremely"]
    assert r.missing and "n't" in r.missing[0]["what"]


# ---------------------------------------------------------------------------------- bad arguments
@pytest.mark.parametrize(
    "settings, words, match",
    [
        (dict(max_gap=0), None, "max_gap=0 is invalid"),
        (dict(n_contexts=1), None, "n_contexts=1 is invalid: use an integer >= 2"),
        (dict(settle=-1), None, "settle=-1 is invalid"),
        (dict(modifiers=["not", "nothere"]), None, r"\['nothere'\] are not in the model's vocabulary"),
        (dict(modifiers=["gone", "away"]), None, r"\['gone', 'away'\] are not in the model's vocabulary"),
        (dict(modifiers=["don't"]), None, "not a single token"),
        (dict(modifiers=[]), None, r"modifiers=\(\) is invalid"),
        (dict(modifiers=["not", "not"]), None, "distinct words"),
        (dict(modifiers=None), None, "non-empty list"),
        (dict(), {"positive": ["pos000"], "negative": ["nope"]}, r"words\['negative'\] holds words not in"),
        (dict(), {"positive": ["pos000"]}, "keys 'positive' and 'negative'"),
        (dict(input_point="middle"), None, "input_point"),
    ],
)
def test_bad_arguments_name_the_argument(rules, settings, words, match):
    corpus, vocab, model = rules
    with pytest.raises(ArgumentError, match=match):
        _run(model, vocab, corpus, words=words, **settings)


def test_the_modifier_list_checks():
    vocab = Vocab(["<pad>", "<unk>", "not", "very", "good"])
    assert md.check_modifier_list("not, very") == ("not", "very")
    with pytest.raises(ArgumentError, match="non-empty list"):
        md.check_modifier_list([])
    with pytest.raises(ArgumentError, match="listed twice"):
        md.check_modifier_list(["not", "not"])
    # the default list measures those of its words the vocabulary has; any other list must be all there
    assert md.split_present(md.DEFAULT_MODIFIERS, vocab) == (
        ["not", "very"],
        ["n't", "never", "no", "hardly", "extremely"],
    )
    assert md.split_present(["very"], vocab) == (["very"], [])
    with pytest.raises(ArgumentError, match=r"\['never'\] are not in the model's vocabulary"):
        md.split_present("not,never", vocab)


def test_bad_inputs(rules):
    corpus, vocab, model = rules
    with pytest.raises(DataError, match="no 'dev' split"):
        _run(model, vocab, corpus, split="dev")
    with pytest.raises(ArgumentError, match=r"rnnlens\.Network\(model, vocab\)"):
        analyze_modifiers(model, corpus)
    with pytest.raises(ArgumentError, match="settings must be an rnnlens.AnalysisSettings"):
        analyze_modifiers(Network(model, vocab), corpus, {"n_contexts": 5})
    # an explicit list with a missing word is refused; the default list with none of its words says so
    with pytest.raises(ArgumentError, match=r"\['never'\] are not in the model's vocabulary"):
        _run(
            model,
            vocab,
            corpus,
            modifiers=["not", "never"],
            n_contexts=5,
            n_words=3,
            n_eig_contexts=0,
            n_boot=0,
            max_gap=1,
            return_steps=2,
        )
    plain = load_corpus("synthetic", seed=0, n_train=100, n_validation=20, n_test=50)
    plain_vocab = Vocab.build(plain.splits["train"].texts)
    with pytest.raises(ArgumentError, match="none of modifiers="):
        _run(_RuleModel(plain_vocab, corpus.truth), plain_vocab, plain, n_contexts=5)


# ---------------------------------------------------------------------------------- bag of words with modifiers
def test_modifier_bag_of_words_learns_the_rules():
    from rnnlens.modifier_bow import fit_modifier_bow, share_of_gain

    corpus = load_corpus(
        "synthetic",
        seed=0,
        n_train=4000,
        n_validation=500,
        n_test=500,
        min_length=10,
        max_length=20,
        p_evidence=0.5,
        negation=True,
        intensifier=True,
        not_scope=4,
        p_modifier=0.2,
    )
    mb = fit_modifier_bow(corpus, modifiers=["not", "very"], max_gap=6, C=1.0)
    f = mb.factor_table()
    # relative to the factor far from any modifier (v and f share a scale), "not" flips gaps 1-4, "very" doubles 1
    base = np.mean(f["not"][4:])
    np.testing.assert_allclose(np.array(f["not"][:4]) / base, -1.0, atol=0.15)
    assert f["very"][0] / np.mean(f["very"][1:]) == pytest.approx(2.0, abs=0.3)
    assert mb.accuracy["test"] > 0.95 > mb.bow_accuracy["test"] + 0.2
    assert mb.predict(corpus.splits["test"].texts[:5]).shape == (5,)
    assert share_of_gain(0.9, 0.8, 0.85) == pytest.approx(2.0) and math.isnan(share_of_gain(0.9, 0.8, 0.79))
    with pytest.raises(ArgumentError, match="max_gap"):
        fit_modifier_bow(corpus, max_gap=0)
    with pytest.raises(ArgumentError, match="single tokens"):
        fit_modifier_bow(corpus, modifiers=["do not"])


# ---------------------------------------------------------------------------------- the truth test
def test_trained_gru_on_the_toy_language_flips_and_doubles(stored_network):
    # the GRU trained on the toy language by its recipe (RECIPES in tests/conftest.py; stored by
    # scripts/make_test_networks.py, about 25 s of training that the suite does not repeat)
    torch.set_num_threads(1)
    ck, corpus = stored_network("toy-modifier-gru")
    tv = corpus.truth.valence
    unit = {
        "positive": sorted(w for w, v in tv.items() if v == 1),
        "negative": sorted(w for w, v in tv.items() if v == -1),
    }
    r = analyze_modifiers(
        ck,
        corpus,
        AnalysisSettings.make(modifiers=["not", "very"], n_contexts=200, n_words=50, n_eig_contexts=20, n_boot=200),
        words=unit,
    )
    f_not, f_very = r.factor("not"), r.factor("very")
    assert np.all(np.abs(f_not[:4] + 1) <= 0.25), f_not
    assert abs(f_not[5] - 1) <= 0.25, f_not
    assert abs(f_very[0] - 2) <= 0.3, f_very
    # the truth, computed the same way, is exactly the language's rules
    np.testing.assert_allclose(r.value("truth_factor")["not"], [-1, -1, -1, -1, 1, 1, 1, 1])
    # the modifiers leave the line: a few directions, far from the line's tangent
    assert r.value("excursion_line_angle_deg")["not"] > 45
    assert r.value("reach")["not"] == 4


# ---------------------------------------------------------------------------------- analyze + report
def test_analyze_adds_the_modifier_section_and_the_report_draws_it(tmp_path):
    from rnnlens.analysis import analyze, load_analysis
    from rnnlens.analysis.sections.modifiers import FIGURES
    from rnnlens.checkpoint import save_checkpoint
    from rnnlens.model import SentimentRNN
    from rnnlens.report import make_report

    corpus = load_corpus(
        "synthetic",
        seed=0,
        n_train=100,
        n_validation=20,
        n_test=60,
        min_length=8,
        max_length=12,
        negation=True,
        intensifier=True,
        not_scope=4,
        p_modifier=0.1,
    )
    vocab = Vocab.build(corpus.splits["train"].texts)
    torch.manual_seed(0)
    save_checkpoint(
        tmp_path / "ck",
        SentimentRNN(len(vocab), arch="gru", embed_dim=4, hidden_size=5),
        vocab,
        {"dataset": "synthetic"},
    )
    with pytest.raises(ArgumentError, match="nothere"):  # an explicit list is checked before any work
        analyze(tmp_path / "ck", corpus, AnalysisSettings.make(modifiers=["not", "nothere"]))
    analyze(
        tmp_path / "ck",
        corpus,
        AnalysisSettings.make(
            n_docs=20, n_seeds=10, n_transitions=50, n_speed=5, speed_steps=5, modifiers=md.DEFAULT_MODIFIERS
        ),
        out_dir=tmp_path / "an",
    )
    loaded = load_analysis(tmp_path / "an")
    summary, arrays = loaded.summary, loaded.arrays
    sec = summary["metrics"]["modifiers"]
    assert sec["modifiers"]["value"] == ["not", "very"] and "never" in sec["missing_modifiers"]["value"]
    assert len(sec["factor"]["value"]["not"]) == 8 and "mod_factor" in arrays
    html = make_report([tmp_path / "an"], tmp_path / "rep").read_text()
    for figure in FIGURES:
        assert (tmp_path / "rep" / "an" / f"{figure.name}.png").is_file(), figure.name
    assert "Modifiers: how they bend the integration" in html


def test_the_line_mode_from_a_given_linearization_equals_the_one_computed_at_the_nodes():
    # the analysis hands the slow-manifold section's float64 linearization at the same nodes to the modifier
    # section instead of linearizing them again: the line mode must come out the same
    from types import SimpleNamespace

    from rnnlens.analysis.modifiers.dynamics import slow_mode_at_nodes
    from rnnlens.cells import make_cell
    from rnnlens.linearization import linearize

    torch.manual_seed(0)
    cell = make_cell("gru", 4, 6).double()
    nodes = torch.randn(7, 6, dtype=torch.float64)
    curve = SimpleNamespace(points=nodes, tangent=torch.randn(7, 6, dtype=torch.float64))
    x = torch.zeros(4, dtype=torch.float64)
    lin = linearize(cell, nodes, x.expand(7, -1).clone(), modes=3)
    given, t1 = slow_mode_at_nodes(cell, curve, x, lin)
    computed, t2 = slow_mode_at_nodes(cell, curve, x)
    assert np.array_equal(given, computed) and np.array_equal(t1, t2)
    full = linearize(cell, nodes, x.expand(7, -1).clone())  # every mode: the same first three
    assert np.allclose(slow_mode_at_nodes(cell, curve, x, full)[0], computed, atol=1e-12)
