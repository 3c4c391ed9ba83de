"""Issue 12: k-class integration manifolds. Known answers on a hand-built linear network, the word-count
prediction on constructed counts, and the truth tests: small GRUs trained on the synthetic language with
k = 3 and 4 unordered classes integrate on a 2-D and a 3-D manifold, the ordered variant on a line.

Notes for whoever reads a failure of a truth test: the slow points are the visited states relaxed for 50
steps at zero input. Before relaxing (n = 0 in kclass.pca_by_relax) the fast modes still hold ~30% of the
variance (k = 3: top two PCs 0.62); after 20 steps 0.97, after 50 0.985. The ordered variant keeps a
second component of ~8% after 20 steps (the line bends), ~1% after 50.
"""

import dataclasses

import numpy as np
import pytest
import torch

from rnnlens.analysis.kclass import (
    KClassBow,
    KClassSystem,
    analyze_kclass,
    linear_map_r2,
    principal_angles_deg,
    readout_subspace,
    slow_projectors,
)
from rnnlens.analysis.settings import AnalysisSettings
from rnnlens.analysis.wordcount import participation_ratio, predict_from_counts, spectrum_dimension
from rnnlens.data import load_corpus
from rnnlens.errors import ArgumentError


def _settings(**options):
    """AnalysisSettings with k-class options named without their ``kclass_`` prefix (``tol``, ``seed`` as they are)."""
    return AnalysisSettings.make(**{(k if k in ("tol", "seed") else f"kclass_{k}"): v for k, v in options.items()})


# ------------------------------------------------------------------ a hand-built linear network
def _linear_network(k=3, S=6, I=4, seed=0):
    """h' = A h + B x: eigenvalue 1 on a (k-1)-D subspace U (the integration plane), 0.5 elsewhere; the
    readout's centred rows span U; word x_j moves the state by U^T e_j (in U's coordinates)."""
    rng = np.random.default_rng(seed)
    Q, _ = np.linalg.qr(rng.normal(size=(S, S)))
    U = Q[:, : k - 1]  # [S, k-1]
    A = U @ U.T + 0.5 * (np.eye(S) - U @ U.T)
    G = rng.normal(size=(k - 1, I))  # evidence of input direction i, in U coordinates
    B = U @ G
    simplex = np.eye(k) - 1.0 / k  # centred one-hot rows, rank k-1
    C = np.linalg.svd(simplex)[2][: k - 1]  # [k-1, k]: orthonormal basis of the sum-zero plane
    W = (U @ C).T * 2.0  # [k, S]: centred rows span U
    At, Bt = torch.tensor(A), torch.tensor(B)

    def step(x, h):
        return h @ At.T + x @ Bt.T

    coords = rng.normal(size=(3000, k - 1)) * 3
    states = coords @ U.T + rng.normal(size=(3000, S)) * 0.5  # off-plane parts decay (0.5^t)
    return step, torch.tensor(states), W, U, G, A


@pytest.mark.parametrize("k", [3, 4])
def test_linear_network_known_answers(k):
    step, states, W, U, G, A = _linear_network(k=k)
    I = G.shape[1]
    emb = np.eye(I)
    system = KClassSystem(
        step, W, inputs=torch.zeros(I, dtype=torch.float64), embeddings=emb, words=[f"w{i}" for i in range(I)]
    )
    r = analyze_kclass(
        system, states, _settings(relax_steps=30, max_states=1000, n_linearize=8, n_fixed_seeds=0, eig_threshold=0.9)
    )
    assert r.value("dimension_pca") == k - 1
    assert r.value("pca_share_top") > 0.999999 and r.value("pca_share_next") < 1e-6
    assert r.value("participation_ratio") == pytest.approx(
        participation_ratio(np.linalg.svd(r.slow_points - r.slow_points.mean(0), compute_uv=False) ** 2), rel=1e-9
    )
    assert max(r.value("readout_angles_deg")) < 1e-4
    assert r.value("n_eig_slow_median") == k - 1  # eigenvalues 1 (k-1 of them) and 0.5
    assert r.value("dimension_logit") == k - 1
    # evidence vectors: U^T B x in the slow points' PCA basis = a rotation of the known G^T rows
    Bm = r.basis  # [k-1, S], spans U
    R = Bm @ U  # [k-1, k-1] orthogonal
    np.testing.assert_allclose(R @ R.T, np.eye(k - 1), atol=1e-8)
    np.testing.assert_allclose(r.evidence, (R @ G).T, atol=1e-8)
    assert linear_map_r2(r.evidence, G.T) == pytest.approx(1.0, abs=1e-10)
    # class evidence = the change of the centred logits: Wc U G
    Wc = W - W.mean(0)
    np.testing.assert_allclose(r.class_evidence, (Wc @ U @ G).T, atol=1e-8)


def test_linear_network_bow_comparison_and_fixed_points():
    step, states, W, U, G, A = _linear_network(k=3)
    I = G.shape[1]
    words = [f"w{i}" for i in range(I)]
    Wc = W - W.mean(0)
    true_class_ev = (Wc @ U @ G).T  # [I, 3]
    bow = {w: 0.7 * true_class_ev[i] + 5.0 for i, w in enumerate(words)}  # same up to scale and a shift
    system = KClassSystem(step, W, inputs=torch.zeros(I, dtype=torch.float64), embeddings=np.eye(I), words=words)
    r = analyze_kclass(
        system, states, _settings(relax_steps=30, max_states=500, n_linearize=4, n_fixed_seeds=20, min_count=0), bow=bow
    )
    assert r.value("evidence_bow_r2") == pytest.approx(1.0, abs=1e-9)
    assert r.value("evidence_bow_spearman") == pytest.approx([1.0, 1.0, 1.0])
    # the plane is a continuum of fixed points (eigenvalue exactly 1): every seed converges, in the plane
    assert r.value("fixed_points_n_converged") == 20
    assert r.value("fixed_points_in_subspace") > 0.999
    assert "of 20 slow points" in r.metrics["kclass"]["fixed_points_n_converged"]["definition"]
    n_unique = r.value("fixed_points_n_unique")
    assert isinstance(n_unique, int) and 1 <= n_unique <= 20
    assert r.value("fixed_points_n_stable") == n_unique  # eigenvalues 1 and 0.5: none above 1
    assert r.arrays["kc_fp_pc"].shape == (n_unique, 3) and r.arrays["kc_fp_pc"].dtype == np.float32


def test_linear_network_every_reported_number():
    # k = 3 in S = 6: eigenvalue 1 twice (the plane U), 0.5 four times; off-plane parts decay as 0.5^n
    k = 3
    step, states, W, U, G, A = _linear_network(k=k)
    I = G.shape[1]
    words = [f"w{i}" for i in range(I)]
    Wc = W - W.mean(0)
    bow = {w: (Wc @ U @ G).T[i] for i, w in enumerate(words)}
    counts = {"w0": 1, "w1": 30, "w2": 40, "w3": 50}  # w0 too rare; the most frequent first
    X, N = _docs_from_class_words(k)
    pred = predict_from_counts(X, N)
    system = KClassSystem(
        step,
        W,
        readout_bias=np.array([0.0, 0.0, 0.0]),
        inputs=torch.zeros(I, dtype=torch.float64),
        embeddings=np.eye(I),
        words=words,
    )
    options = dict(min_count=2, n_words=4, relax_steps=30, max_states=1000, n_linearize=8, n_fixed_seeds=0)
    kw = dict(bow=KClassBow(bow, counts), prediction=pred)
    r = analyze_kclass(system, states, _settings(**options), **kw)
    M = r.metrics["kclass"]
    # every kclass metric of the table is reported, except those needing truth or exact fixed points
    from rnnlens.analysis.metrics import METRICS

    not_here = {
        "evidence_truth_r2",
        "fixed_points_n_converged",
        "fixed_points_n_unique",
        "fixed_points_n_stable",
        "fixed_points_in_subspace",
    }
    assert set(M) == {p.split(".", 1)[1] for p in METRICS if p.startswith("kclass.")} - not_here
    assert set(r.arrays) == {
        "kc_slow_pc",
        "kc_slow_class",
        "kc_readout_pc",
        "kc_pca_fractions",
        "kc_lin_pc",
        "kc_eig_count",
        "kc_eig_abs",
        "kc_evidence_rnn",
        "kc_evidence_bow",
    }
    assert r.value("n_slow_points") == 1000 and r.value("slow_q_median") < 1e-12  # relaxed onto the plane
    assert r.value("n_eig_slow_counts") == [0, 0, 8, 0, 0, 0]  # 2 slow modes at all 8 points
    # the linearized points are among the slow points shown
    shown = {tuple(row) for row in r.arrays["kc_slow_pc"].tolist()}
    assert all(tuple(row) in shown for row in r.arrays["kc_lin_pc"].tolist())
    # embeddings given as a torch tensor read the same
    again_t = analyze_kclass(
        dataclasses.replace(system, embeddings=torch.eye(I, dtype=torch.float64)), states, _settings(**options), **kw
    )
    np.testing.assert_allclose(again_t.evidence, r.evidence)
    # spectrum: the median |lambda| over the 2k largest, and the definitions carry their parameters
    assert r.value("eig_abs_median") == pytest.approx([1, 1, 0.5, 0.5, 0.5, 0.5], abs=1e-9)
    assert "top 2 PCs" in M["pca_share_top"]["definition"] and "i = 1..6" in M["eig_abs_median"]["definition"]
    # the slow points, relaxed, lie in the readout plane, in Cov(h, Wc h)'s plane as well
    assert max(r.value("readout_angles_deg")) < 1e-4 and max(r.value("readout_cov_angles_deg")) < 5.0
    # PCA of the states after n steps: the off-plane share decays as 0.25^n
    by = r.value("pca_by_relax")
    assert sorted(by, key=int) == ["0", "10", "20", "50", "100"] and all(len(v) == k + 1 for v in by.values())
    assert by["0"][2] > 0.01 and by["20"][2] < 1e-9 and sum(by["50"][:2]) == pytest.approx(1.0, abs=1e-12)
    assert by["100"][:2] == pytest.approx(r.value("pca_fractions")[:2], abs=1e-12)
    # the bag-of-words comparison reads the n_words most frequent words seen >= min_count times
    assert r.value("evidence_n_words") == 3
    np.testing.assert_allclose(r.arrays["kc_evidence_bow"], np.array([bow["w3"], bow["w2"], bow["w1"]]), rtol=1e-6)
    # the prediction is reported beside the measurement, as given
    assert r.value("predicted_word_fractions") == pytest.approx(pred.word_fractions.tolist())
    assert r.value("predicted_fractions") == pytest.approx(pred.fractions.tolist())
    assert r.value("predicted_dimension") == pred.dimension == 2
    # arrays for the figures: float32 coordinates, the class each shown slow point's logits pick
    assert {
        "kc_slow_pc",
        "kc_slow_class",
        "kc_readout_pc",
        "kc_pca_fractions",
        "kc_lin_pc",
        "kc_eig_count",
        "kc_eig_abs",
    } <= set(r.arrays)
    for name in ("kc_slow_pc", "kc_readout_pc", "kc_lin_pc", "kc_eig_abs"):
        assert r.arrays[name].dtype == np.float32, name
    assert r.arrays["kc_lin_pc"].shape == (8, 3) and r.arrays["kc_eig_count"].tolist() == [2] * 8
    biased = analyze_kclass(
        dataclasses.replace(system, readout_bias=np.array([0.0, 1e6, 0.0])), states, _settings(**options), **kw
    )
    assert (biased.arrays["kc_slow_class"] == 1).all()
    assert len(set(r.arrays["kc_slow_class"].tolist())) == 3  # unbiased: the plane holds all three classes
    # seeded: the same seed gives the same subsets and numbers, another seed other subsets
    again = analyze_kclass(system, states, _settings(**options), **kw)
    np.testing.assert_array_equal(again.slow_points, r.slow_points)
    other = analyze_kclass(dataclasses.replace(system, readout_bias=None), states, _settings(seed=1, **options), **kw)
    assert not np.array_equal(other.slow_points, r.slow_points)


def test_pieces_against_closed_forms():
    W = np.array([[1.0, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0]])
    B = readout_subspace(W)
    assert B.shape == (2, 4)
    np.testing.assert_allclose(B @ np.ones(4)[:, None] * 0 + B[:, 3:], 0, atol=1e-12)  # no weight on unit 4
    assert principal_angles_deg(B, np.array([[1.0, -1, 0, 0], [0, 1, -1, 0]])) == pytest.approx([0, 0], abs=1e-6)
    assert principal_angles_deg(np.array([[1.0, 0, 0]]), np.array([[1.0, 1, 0]])) == pytest.approx([45.0])
    assert spectrum_dimension([0.5, 0.45, 0.05]) == 2 and spectrum_dimension([0.95, 0.05]) == 1
    assert participation_ratio([1, 1, 0]) == pytest.approx(2.0)
    V = np.random.default_rng(0).normal(size=(50, 2))
    assert linear_map_r2(V, V @ np.array([[1.0, 2, 0], [0, 1, 3]]) + 4) == pytest.approx(1.0)


def test_slow_projector_keeps_a_complex_pair_whole():
    from rnnlens.linearization import linearize

    th = 0.1
    A = (
        torch.tensor([[np.cos(th), -np.sin(th), 0], [np.sin(th), np.cos(th), 0], [0, 0, 0.2]], dtype=torch.float64)
        * 0.99
    )
    lin = linearize(
        lambda x, h: h @ A.T + 0 * x.sum(-1, keepdim=True),
        torch.zeros(1, 3, dtype=torch.float64),
        torch.zeros(1, 1, dtype=torch.float64),
    )
    P, used = slow_projectors(lin, 1)
    assert used[0] == 2
    np.testing.assert_allclose(P[0], np.diag([1.0, 1.0, 0.0]), atol=1e-10)


def test_bad_arguments_are_named():
    step, states, W, *_ = _linear_network(k=3)
    z = torch.zeros(4, dtype=torch.float64)
    with pytest.raises(ArgumentError, match="needs inputs="):
        analyze_kclass(KClassSystem(step, W), states)
    with pytest.raises(ArgumentError, match="k >= 3"):
        analyze_kclass(KClassSystem(step, W[:2]), states)
    with pytest.raises(ArgumentError, match="relax_steps"):
        analyze_kclass(KClassSystem(step, W, inputs=z), states, _settings(relax_steps=-1))
    with pytest.raises(ArgumentError, match="states have 5 numbers"):
        analyze_kclass(KClassSystem(step, W, inputs=z), states[:, :5])
    with pytest.raises(ArgumentError, match="embeddings must be"):
        analyze_kclass(
            KClassSystem(step, W, inputs=z, embeddings=np.eye(3), words=["a", "b"]), states, _settings(n_fixed_seeds=0)
        )
    with pytest.raises(ArgumentError, match="settings must be an rnnlens.AnalysisSettings"):
        analyze_kclass(KClassSystem(step, W, inputs=z), states, {"kclass_relax_steps": 30})
    for name, bad in (("max_states", 3), ("n_fixed_seeds", -1), ("min_count", -1), ("n_linearize", 0), ("n_words", 0)):
        with pytest.raises(ArgumentError, match=rf"^analysis setting kclass_{name}={bad} is invalid: use "):
            _settings(**{name: bad})
    for bad in (dict(eig_threshold=0.0), dict(share=1.5), dict(share=0.0), dict(tol=0.0)):
        with pytest.raises(ArgumentError, match=r"^analysis setting \w+=\S+ is invalid"):
            _settings(**bad)
    with pytest.raises(ArgumentError, match=r"need 0 < eig_threshold < 2, 0 < share <= 1 and tol > 0"):
        analyze_kclass(KClassSystem(step, W, inputs=z), states, _settings(eig_threshold=2.0))

    words4 = KClassSystem(step, W, inputs=z, embeddings=np.eye(4), words=list("abcd"))
    few = analyze_kclass(
        words4,
        states,
        _settings(n_fixed_seeds=0, min_count=0),
        bow={"a": [1.0, 0, 0], "b": [0, 1.0, 0], "zz": [0, 0, 1.0]},
    )
    assert few.missing == [
        {
            "what": "kclass evidence vs bag of words",
            "why": "fewer than 3 words shared by the network and the bag of words",
        }
    ]
    two = analyze_kclass(
        words4, states, _settings(n_fixed_seeds=0, min_count=0), bow={w: [1.0, 0.0] for w in "abcd"}
    )  # 2 coefficients for 3 classes
    assert two.missing == [
        {
            "what": "kclass evidence vs bag of words",
            "why": "the bag of words does not have 3 per-class coefficient vectors",
        }
    ]

    class CoefOnly:  # has coefficients but no words: not a bag of words
        coef = np.zeros((3, 2))

    with pytest.raises(ArgumentError, match="bow must be a BagOfWords, its JSON file or"):
        analyze_kclass(words4, states, _settings(n_fixed_seeds=0), bow=CoefOnly())


def test_network_reads_like_its_system_and_the_pipeline():
    from types import SimpleNamespace

    from rnnlens.analysis.kclass import pipeline_measurement
    from rnnlens.analysis.wordcount import predict_dimension
    from rnnlens.data import Vocab, encode
    from rnnlens.model import SentimentRNN
    from rnnlens.network import Network

    torch.manual_seed(0)
    corpus = load_corpus("synthetic", seed=0, num_classes=3, n_train=200, n_validation=20, n_test=20)
    vocab = Vocab.build(corpus.splits["train"].texts)
    net = Network(SentimentRNN(len(vocab), arch="gru", embed_dim=4, hidden_size=6, num_classes=3), vocab)
    X = torch.as_tensor(np.concatenate(net.states(encode(vocab, corpus.splits["test"], skip_empty=True))))
    bow = {w: [0.1 * i, -0.2 * i, 0.05 * (i % 3)] for i, w in enumerate(vocab.itos[2:])}
    settings = AnalysisSettings.make(
        input_point="mean", kclass_max_states=150, kclass_n_fixed_seeds=5, kclass_min_count=0, seed=3
    )
    r = analyze_kclass(net, X, settings, bow=bow, truth=corpus.truth)
    by_hand = KClassSystem(
        net.cell, net.readout_matrix(), net.readout_bias(), net.x_star("mean"), net.embeddings(), net.itos
    )
    for other in (
        analyze_kclass(KClassSystem.from_network(net, "mean"), X, settings, bow=bow, truth=corpus.truth),
        analyze_kclass(by_hand, X, settings, bow=bow, truth=corpus.truth),
    ):
        for name, node in r.metrics["kclass"].items():
            if name != "seconds":
                assert other.metrics["kclass"][name] == node, name
        assert set(other.arrays) == set(r.arrays)
        for name, a in r.arrays.items():
            np.testing.assert_array_equal(other.arrays[name], a)
    assert r.value("n_slow_points") == 150 and r.value("evidence_n_words") > 3
    assert "evidence_truth_r2" in r.metrics["kclass"]
    assert r.words == net.itos and r.evidence.shape == (len(vocab), 2)
    # the section's measurement: the run's network, settings, visited states, bag of words and truth
    run = SimpleNamespace(
        network=net,
        corpus=corpus,
        settings=settings,
        bow=bow,
        truth=corpus.truth,
        products={"documents": SimpleNamespace(X=X.numpy())},
    )
    piped = pipeline_measurement(run)
    direct = analyze_kclass(net, X, settings, bow=bow, truth=corpus.truth, prediction=predict_dimension(corpus))
    assert {k: v for k, v in piped.metrics["kclass"].items() if k != "seconds"} == {
        k: v for k, v in direct.metrics["kclass"].items() if k != "seconds"
    }
    with pytest.raises(ArgumentError, match="a bare model needs its vocabulary"):
        analyze_kclass(net.model, X, settings)


# ------------------------------------------------------------------ the word-count prediction
def _docs_from_class_words(k, n_docs=600, words_per_class=5, n_neutral=10, seed=0, ordered=False):
    """Count matrix X [D, V] and class counts N [k, V] of documents built from class-specific words (unordered)
    or from one scalar valence binned into k classes (ordered)."""
    rng = np.random.default_rng(seed)
    if ordered:
        V = 2 * words_per_class + n_neutral  # positive, negative, neutral words
        X = rng.poisson(1.0, size=(n_docs, V)).astype(float)
        score = X[:, :words_per_class].sum(1) - X[:, words_per_class : 2 * words_per_class].sum(1)
        y = np.digitize(score, np.quantile(score, np.linspace(0, 1, k + 1)[1:-1]))
    else:
        V = k * words_per_class + n_neutral
        y = rng.integers(0, k, n_docs)
        X = rng.poisson(0.3, size=(n_docs, V)).astype(float)
        for c in range(k):
            X[y == c, c * words_per_class : (c + 1) * words_per_class] += rng.poisson(
                1.5, size=((y == c).sum(), words_per_class)
            )
    N = np.stack([X[y == c].sum(0) for c in range(k)])
    return X, N


@pytest.mark.parametrize("k", [3, 4, 5])
def test_word_count_prediction_unordered_is_k_minus_1(k):
    X, N = _docs_from_class_words(k)
    p = predict_from_counts(X, N)
    assert p.dimension == k - 1
    assert p.fractions[-1] < 1e-10  # centred evidence: the k-th axis is empty
    assert p.participation_ratio == pytest.approx(k - 1, rel=0.1)
    np.testing.assert_allclose(p.word_evidence.sum(1), 0, atol=1e-12)


@pytest.mark.parametrize("k", [3, 5])
def test_word_count_prediction_ordered_is_one(k):
    X, N = _docs_from_class_words(k, n_docs=3000, ordered=True)  # 600 docs: k = 5 reaches 0.899 (count noise)
    p = predict_from_counts(X, N)
    assert p.dimension == 1 and p.fractions[0] > 0.9


def test_word_count_prediction_exact_on_a_tiny_matrix():
    # two words, three classes: word 0 only in class 0, word 1 only in class 1; alpha = 1
    N = np.array([[4.0, 0], [0, 4], [0, 0]])
    X = np.array([[2.0, 0], [2, 0], [0, 2], [0, 2]])
    p = predict_from_counts(X, N)
    logp = np.log(N + 1) - np.log(N.sum(1, keepdims=True) + 2)
    E = (logp - logp.mean(0)).T
    np.testing.assert_allclose(p.word_evidence, E)
    D = X @ E
    lam = np.sort(np.linalg.eigvalsh(np.cov(D, rowvar=False)))[::-1]
    np.testing.assert_allclose(p.fractions, lam / lam.sum(), atol=1e-12)
    with pytest.raises(ArgumentError, match="counts must be"):
        predict_from_counts(X, -N)
    with pytest.raises(ArgumentError, match="X has 2 words, N 3"):
        predict_from_counts(X, np.ones((3, 3)))


def test_word_count_prediction_edges():
    from rnnlens.analysis.wordcount import class_word_counts, predict_dimension
    from rnnlens.data import Corpus, Split
    from rnnlens.errors import DataError

    # the smallest valid inputs: two classes, one word, two documents
    p = predict_from_counts(np.array([[1.0], [3.0]]), np.array([[1.0], [3.0]]))
    assert p.word_evidence.shape == (1, 2) and p.info["n_docs"] == 2
    # documents with identical evidence: no variance, fractions 0 (not nan)
    flat = predict_from_counts(np.array([[1.0, 0], [1.0, 0]]), np.array([[2.0, 0], [0, 2.0]]))
    assert flat.fractions.tolist() == [0.0, 0.0]
    with pytest.raises(DataError, match="^predict_from_counts: fewer than 2 documents$"):
        predict_from_counts(np.array([[1.0, 0]]), np.array([[2.0, 0], [0, 2.0]]))
    with pytest.raises(ArgumentError, match=r"N must be \[k >= 2, V\]; got shape \(1, 2\)"):
        predict_from_counts(np.array([[1.0, 0], [0, 1.0]]), np.array([[2.0, 1.0]]))
    with pytest.raises(ArgumentError, match="^class_word_counts: 2 texts but 3 labels$"):
        class_word_counts(["a b", "c"], [0, 1, 1], 2)
    for labels in ([0, -1], [0, 2]):
        with pytest.raises(ArgumentError, match=r"^class_word_counts: labels must lie in 0\.\.1$"):
            class_word_counts(["a b", "c"], labels, 2)
    words, X, _, N = class_word_counts(["a b", "a c", "a"], [0, 1, 1], 2, min_count=2)  # b, c in one document each
    assert words == ["a"] and N.tolist() == [[1.0], [2.0]]
    with pytest.raises(ArgumentError, match=r"^predict_from_counts: share must be in \(0, 1\]; got 1\.5$"):
        predict_from_counts(np.eye(2), np.eye(2), share=1.5)
    with pytest.raises(ArgumentError, match=r"^predict_from_counts: counts must be finite and >= 0$"):
        predict_from_counts(np.eye(2), np.array([[1.0, np.inf], [0, 1]]))
    # alpha reaches the evidence: log(N + alpha) - log(N.sum + alpha V), centred over the classes
    texts, labels = ["good good fine", "bad", "good bad", "awful bad"], np.array([1, 0, 1, 0])
    corpus = Corpus("toy", ["neg", "pos"], {"train": Split(texts, labels)}, "memory")
    pred = predict_dimension(corpus, alpha=0.5)
    words, _, _, N = class_word_counts(texts, labels, 2)
    logp = np.log(N + 0.5) - np.log(N.sum(1, keepdims=True) + 0.5 * N.shape[1])
    np.testing.assert_allclose(pred.word_evidence, (logp - logp.mean(0)).T, rtol=1e-12)
    assert pred.words == words and pred.info["alpha"] == 0.5
    assert predict_dimension(corpus, min_count=2).info["min_count"] == 2
    assert pred.info["split"] == "train" and pred.info["dataset"] == "toy"
    for kw, msg in (
        (dict(share=0.0), r"^predict_from_counts: share must be in \(0, 1\]; got 0\.0$"),
        (dict(alpha=0.0), r"^predict_from_counts: alpha must be > 0; got 0\.0$"),
    ):
        with pytest.raises(ArgumentError, match=msg):
            predict_from_counts(np.eye(2), np.eye(2), **kw)
    # the share given decides the dimension: fractions ~[0.75, 0.25, 0] need 1 axis at 0.5, 2 at 0.9
    X3, N3 = _docs_from_class_words(3)
    p = predict_from_counts(X3, N3)
    assert predict_from_counts(X3, N3, share=float(p.fractions[0]) - 1e-6).dimension == 1 and p.dimension == 2
    with pytest.raises(DataError, match=r"^corpus 'toy' has no 'test' split \(it has \['train'\]\)$"):
        predict_dimension(corpus, split="test")


# ------------------------------------------------------------------ truth tests: trained GRUs
def _trained(stored_network, name):
    from rnnlens.analysis.inputs import select_documents
    from rnnlens.analysis.kclass import pipeline_measurement
    from rnnlens.analysis.pipeline import Run
    from rnnlens.analysis.sections.documents import StateSpace
    from rnnlens.baseline import fit_bag_of_words
    from rnnlens.network import Network

    ck, corpus = stored_network(name)  # trained by its recipe in tests/conftest.py
    assert ck.record["metrics"]["validation"]["accuracy"] > 0.85  # the network learned the task
    net = Network.resolve(ck)
    docs = select_documents(ck.vocab, corpus.splits["test"], 300, None, 0)
    X = np.concatenate(net.states(docs.encoded))
    run = Run(net, corpus, AnalysisSettings(), bow=fit_bag_of_words(corpus), products={"documents": StateSpace(X=X)})
    return pipeline_measurement(run)


@pytest.mark.parametrize("k", [3, 4])
def test_trained_gru_unordered_k_classes_fill_k_minus_1_dimensions(stored_network, k):
    r = _trained(stored_network, f"kclass{k}-gru")
    assert r.value("dimension_pca") == k - 1
    assert r.value("pca_share_top") >= 0.9 and r.value("pca_share_next") < 0.1
    assert r.value("predicted_dimension") == k - 1  # the word counts say the same
    assert r.value("dimension_logit") == k - 1
    assert max(r.value("readout_angles_deg")) < 45  # the readout reads the plane
    assert r.value("evidence_truth_r2") > 0.5 and r.value("evidence_bow_spearman_mean") > 0.5


def test_trained_gru_ordered_classes_integrate_on_a_line(stored_network):
    r = _trained(stored_network, "kclass3-ordered-gru")
    assert r.value("dimension_pca") == 1
    assert r.value("pca_fractions")[0] >= 0.9 and r.value("pca_fractions")[1] < 0.1
    assert r.value("predicted_dimension") == 1
    assert r.value("evidence_truth_r2") > 0.8


def test_ordered_synthetic_variant_labels_by_bins():
    c = load_corpus("synthetic", seed=0, num_classes=3, ordered=True, n_train=200, n_validation=50, n_test=50)
    t = c.truth
    assert t.scalar and list(t.thresholds()) == [-2.0, 2.0]
    for text, y in zip(c.splits["train"].texts[:50], c.splits["train"].labels[:50]):
        s = sum(t.valence[w] for w in text.split())
        assert y == int(np.sum(s > t.thresholds())) and s not in (-2.0, 2.0)
    with pytest.raises(ArgumentError, match="bin_width"):
        load_corpus("synthetic", num_classes=3, bin_width=2.0)
    with pytest.raises(ArgumentError, match="num_classes >= 3"):
        load_corpus("synthetic", ordered=True)


def test_a_bag_of_words_file_filters_words_by_its_counts_as_the_object_does(tmp_path):
    # given as its JSON file (as `rnnlens analyze --bow FILE` gives it), the bag of words' training counts
    # still decide which words are compared (seen min_count times, the most frequent first)
    from rnnlens.baseline import BagOfWords

    step, states, W, U, G, A = _linear_network(k=3)
    I = G.shape[1]
    words = [f"w{i}" for i in range(I)]
    coef = (W - W.mean(0)) @ U @ G  # [3, I]
    bow = BagOfWords(
        dataset="toy",
        data_fingerprint="f",
        label_names=["a", "b", "c"],
        words=words,
        coef=coef,
        intercept=np.zeros(3),
        counts=np.array([1, 30, 40, 50][:I] + [60] * max(0, I - 4)),
        C=1.0,
        accuracy={},
        n={},
    )
    bow.save(tmp_path / "bow")
    system = KClassSystem(step, W, inputs=torch.zeros(I, dtype=torch.float64), embeddings=np.eye(I), words=words)
    settings = _settings(relax_steps=30, max_states=500, n_linearize=4, n_fixed_seeds=0, min_count=2, n_words=3)
    from_object = analyze_kclass(system, states, settings, bow=bow)
    from_file = analyze_kclass(system, states, settings, bow=tmp_path / "bow" / "bag_of_words.json")
    assert from_file.value("evidence_n_words") == from_object.value("evidence_n_words") == 3
    np.testing.assert_array_equal(from_file.arrays["kc_evidence_bow"], from_object.arrays["kc_evidence_bow"])
