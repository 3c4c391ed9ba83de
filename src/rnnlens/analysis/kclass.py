"""k-class integration manifolds (Aitken et al., ICLR 2021): slow points filling a (k-1)-D region.

With k unordered classes a network that integrates evidence needs k-1 numbers (the class scores up
to a common shift), so its slow points fill a (k-1)-D region; ordered classes can use fewer. This
module measures that region from a trained :class:`rnnlens.network.Network` (or, through a
:class:`KClassSystem`, any step function: an rnnlens Cell, a torch RNN, a callable, with its readout
matrix W [k, S]) and the states it visits; the settings are the ``kclass`` group of an
:class:`rnnlens.analysis.settings.AnalysisSettings` (``kclass_relax_steps`` is ``relax_steps`` below, and so
on), its ``fixed_points.tol`` and ``documents.seed``:

Slow points. The visited states are relaxed with the network's own dynamics at the input x* (zero
by default), as :func:`rnnlens.manifold.trace_slow_manifold` does: after ``relax_steps`` steps the
fast modes have decayed and what is left lies on the slow manifold, spread where the documents
left it. Those states are the slow points; exact fixed points are searched from a sample of them
(:func:`rnnlens.find_fixed_points`, per-point tolerance ``tol``): with 3 classes, typically the
corners of the region.

Dimension, four ways. (1) PCA of the slow points: the share of the variance on the top k-1 PCs and
on the k-th, and ``dimension_pca``, the smallest d whose top d PCs hold >= ``share`` (0.9) of the
variance; the same shares at several relaxation depths show how the picture settles. (2) Their
participation ratio (sum lambda)^2 / sum lambda^2. (3) At ``n_linearize`` slow points, the number
of eigenvalues of J_rec with |lambda| >= ``eig_threshold`` (with the whole top of the spectrum
saved: where there is no gap the count depends on the threshold, and the report says so). (4) In
class-score space: the slow points mapped through the centred readout (W - mean row) h, PCA there.

Readout. The readout's (k-1)-D subspace is spanned by the rows of W minus their mean row (only
differences of logits change a prediction). Principal angles (``scipy.linalg.subspace_angles``)
between it and the slow points' top (k-1)-D PCA subspace; beside them the angles to Sigma Wc^T
(Sigma: covariance of the visited states), the directions the states move in as the logits change,
which is what the binary analysis compares with (an LSTM's readout sees h, while its integration
may run through c).

Evidence vectors. At a slow point p with slowest k-1 modes (right eigenvectors R_s, left L_s; a
complex pair is kept whole), the projector P_p = Re(R_s L_s) keeps the part of a state change that
persists. A word with embedding x moves the state along the manifold by P_p J_inp(p) x. Its evidence
vector is that change in the manifold's PCA coordinates (k-1 numbers), and its class evidence
the change of the centred logits Wc P_p J_inp(p) x (k numbers summing to 0), both averaged over the
linearized slow points (exact to first order: the map is linear in x, so the matrices are averaged).
They are compared with the bag of words' per-class coefficients (centred per word the same way):
Spearman correlation per class over the words, and the R^2 of the best linear map (with intercept)
from the (k-1)-D evidence vectors to the k centred coefficients (1 - residual / total sum of
squares over all classes). On synthetic corpora the same R^2 is computed against the true evidence.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from rnnlens._types import TensorLike
from rnnlens.analysis.kclass_parts import (
    SECTION,
    KClassAnalysis,
    Options,
    figure_arrays,
    linear_map_r2,
    measure_eigenvalues,
    measure_evidence,
    measure_fixed_points,
    measure_readout,
    measure_slow_points,
    pca_spectrum,
    prepare,
    principal_angles_deg,
    readout_subspace,
    relax,
    slow_projectors,
)
from rnnlens.analysis.registry import groups_of, metric
from rnnlens.errors import ArgumentError

__all__ = [
    "KClassAnalysis",
    "KClassSystem",
    "KClassBow",
    "analyze_kclass",
    "relax",
    "pca_spectrum",
    "readout_subspace",
    "principal_angles_deg",
    "slow_projectors",
    "linear_map_r2",
    "pipeline_measurement",
]


@dataclass(frozen=True, eq=False)
class KClassSystem:
    """A network as the k-class analysis reads it, for a model that is not an rnnlens network (e.g. a
    hand-built step function); :meth:`from_network` makes one from a :class:`rnnlens.network.Network`.

    Attributes:
        step: an rnnlens Cell, a torch RNN or a callable F(x, h) (:func:`rnnlens.as_step`).
        readout: W [k >= 3, S] (``Network.readout_matrix()``); ``readout_bias`` [k] colours the slow points
            by predicted class (None: no bias).
        inputs: x* [I] at which the dynamics relax and are linearized (None: zeros; a plain callable step
            needs it).
        embeddings, words: input vectors [V, I] and their words, for the evidence vectors (None: none).
    """

    step: Any
    readout: Any
    readout_bias: Any = None
    inputs: Any = None
    embeddings: Any = None
    words: Any = None

    @classmethod
    def from_network(cls, network, input_point: str = "zero") -> KClassSystem:
        """The step, readout, embeddings and words of ``network`` (anything ``Network.resolve`` takes), at
        x* = ``network.x_star(input_point)``."""
        from rnnlens.network import Network

        net = Network.resolve(network)
        return cls(
            step=net.cell,
            readout=net.readout_matrix(),
            readout_bias=net.readout_bias(),
            inputs=net.x_star(input_point),
            embeddings=net.embeddings(),
            words=net.itos,
        )


@dataclass(frozen=True, eq=False)
class KClassBow:
    """Per-class bag-of-words coefficients together with the training counts to filter them by, for
    :func:`analyze_kclass`'s ``bow``: ``bow`` as that argument takes it, ``word_counts`` {word: training
    count} in place of the bag of words' own counts."""

    bow: Any
    word_counts: dict


def _on_device(network, settings):
    """``network`` (anything ``Network.resolve`` takes) on the device ``settings.documents.device`` names."""
    from rnnlens.device import resolve_device
    from rnnlens.network import Network

    (docs,) = groups_of(settings, ("documents",), "analyze_kclass")
    return Network.resolve(network).to(resolve_device(docs.device))


def _options(settings) -> Options:
    """The measurement's options from an ``AnalysisSettings`` (None: every default, the registered sections'
    settings groups as ``AnalysisSettings()`` holds them)."""
    kc, docs, fp = groups_of(settings, ("kclass", "documents", "fixed_points"), "analyze_kclass")
    own = {name.removeprefix("kclass_"): value for name, value in kc.to_dict().items()}
    return Options(**own, tol=fp.tol, seed=docs.seed, input_point=fp.input_point).check()


# ------------------------------------------------------------------------------------------ words
def _loaded(bow):
    """A bag of words given as its JSON file, read (so that its training counts filter the words too)."""
    from pathlib import Path

    if isinstance(bow, (str, Path)):
        from rnnlens.baseline import load_bag_of_words

        return load_bag_of_words(bow)
    return bow


def _bow_matrix(bow, k: int):
    """(words, centred coefficients [V, k]) from a BagOfWords, its file, or {word: [k] coefficients}."""
    bow = _loaded(bow)
    if bow is None:
        return None, None
    if hasattr(bow, "coef") and hasattr(bow, "words"):
        C = np.asarray(bow.coef, dtype=np.float64).T
        words = list(bow.words)
    elif isinstance(bow, dict):
        words = list(bow)
        C = np.array([np.ravel(np.asarray(bow[w], dtype=np.float64)) for w in words]) if words else np.zeros((0, k))
    else:
        raise ArgumentError(
            f"bow must be a BagOfWords, its JSON file or {{word: [k] coefficients}}; got {type(bow).__name__}"
        )
    if C.ndim != 2 or C.shape[1] != k:
        return None, None  # e.g. a binary bag of words: not comparable, recorded as missing
    return words, C - C.mean(1, keepdims=True)


def _spearman(a, b) -> float:
    from scipy.stats import spearmanr

    if len(a) < 3 or np.all(a == a[0]) or np.all(b == b[0]):
        return float("nan")
    return float(spearmanr(a, b).statistic)


def _compare_bow(index: dict, bow, word_counts: dict | None, opts: Options, out: KClassAnalysis) -> None:
    """The words' class evidence against the bag of words' centred coefficients: Spearman per class and the
    R^2 of the linear map from the evidence vectors (words in both, seen ``min_count`` times, the
    ``n_words`` most frequent by ``word_counts``, default the bag of words' counts)."""
    M, k = out.metrics[SECTION], out.class_evidence.shape[1]
    d = k - 1
    bow = _loaded(bow)
    bw, B = _bow_matrix(bow, k)
    if bw is None:
        if bow is not None:
            out.missing.append(
                {
                    "what": "kclass evidence vs bag of words",
                    "why": f"the bag of words does not have {k} per-class coefficient vectors",
                }
            )
        return
    counts_of = (
        word_counts
        if word_counts is not None
        else (dict(zip(bow.words, np.asarray(bow.counts).tolist())) if hasattr(bow, "counts") else {})
    )
    pairs = [
        (j, index[w], counts_of.get(w, 0))
        for j, w in enumerate(bw)
        if w in index and w not in ("<pad>", "<unk>") and counts_of.get(w, opts.min_count) >= opts.min_count
    ]
    pairs.sort(key=lambda t: -t[2])
    pairs = pairs[: opts.n_words]
    if len(pairs) < 3:
        out.missing.append(
            {
                "what": "kclass evidence vs bag of words",
                "why": "fewer than 3 words shared by the network and the bag of words",
            }
        )
        return
    bj = np.array([p[0] for p in pairs])
    wi = np.array([p[1] for p in pairs])
    rho = [_spearman(out.class_evidence[wi, c], B[bj, c]) for c in range(k)]
    M["evidence_n_words"] = metric("kclass.evidence_n_words", len(pairs), min_count=opts.min_count)
    M["evidence_bow_spearman"] = metric("kclass.evidence_bow_spearman", rho)
    M["evidence_bow_spearman_mean"] = metric("kclass.evidence_bow_spearman_mean", float(np.nanmean(rho)))
    M["evidence_bow_r2"] = metric("kclass.evidence_bow_r2", linear_map_r2(out.evidence[wi], B[bj]), d=d)
    out.arrays["kc_evidence_rnn"] = out.class_evidence[wi].astype(np.float32)
    out.arrays["kc_evidence_bow"] = B[bj].astype(np.float32)


def _compare_truth(index: dict, truth, out: KClassAnalysis) -> None:
    """R^2 of the linear map from the evidence vectors to a synthetic corpus's true evidence (or valence)."""
    d = out.evidence.shape[1]
    category = getattr(truth, "category", {})
    tw = [w for w in out.words if w in category and category[w] != "negation" and truth.category[w] != "intensifier"]
    if getattr(truth, "evidence", None) and not getattr(truth, "scalar", False):
        T = np.array([truth.evidence[w] for w in tw], float)
        T = T - T.mean(1, keepdims=True)
    else:
        T = np.array([[truth.valence.get(w, 0.0)] for w in tw], float)
    if len(tw) >= 3:
        out.metrics[SECTION]["evidence_truth_r2"] = metric(
            "kclass.evidence_truth_r2", linear_map_r2(out.evidence[[index[w] for w in tw]], T), d=d
        )


def _report_prediction(prediction, logit_axes: np.ndarray, k: int, out: KClassAnalysis) -> None:
    """The word-count prediction (a ``DimensionPrediction``) beside the measurement, and the angles between
    its axes and the slow points' logit axes."""
    M, pd_ = out.metrics[SECTION], prediction
    M["predicted_fractions"] = metric(
        "kclass.predicted_fractions",
        np.asarray(pd_.fractions).tolist(),
        alpha=pd_.info.get("alpha"),
        min_count=pd_.info.get("min_count", 1),
    )
    M["predicted_dimension"] = metric("kclass.predicted_dimension", int(pd_.dimension), share=pd_.info.get("share"))
    M["predicted_participation_ratio"] = metric("kclass.predicted_participation_ratio", float(pd_.participation_ratio))
    M["predicted_word_fractions"] = metric("kclass.predicted_word_fractions", np.asarray(pd_.word_fractions).tolist())
    dd = max(1, min(int(pd_.dimension), k - 1))
    M["shape_angles_deg"] = metric(
        "kclass.shape_angles_deg", principal_angles_deg(np.asarray(pd_.axes)[:dd], logit_axes[:dd]), d=dd
    )


# ------------------------------------------------------------------------------------------ analysis
def analyze_kclass(
    network: Any,
    states: TensorLike,
    settings: Any = None,
    *,
    bow: Any = None,
    truth: Any = None,
    prediction: Any = None,
) -> KClassAnalysis:
    """Measure the k-class integration manifold (definitions in the module docstring).

    Args:
        network: an :class:`rnnlens.network.Network` (or a checkpoint folder or ``Checkpoint``): its cell,
            readout matrix and bias, embeddings and words, at x* = ``settings.fixed_points.input_point``.
            Or a :class:`KClassSystem` (a step function without an rnnlens network; its own x*).
        states: visited states [M, S] (or [B, T, S], flattened); at most ``kclass_max_states`` (a seeded
            subset).
        settings: an :class:`rnnlens.analysis.settings.AnalysisSettings` (None: every default): the
            ``kclass`` group, ``fixed_points.tol`` (exact fixed points from ``kclass_n_fixed_seeds`` slow
            points; 0: no search), ``documents.seed`` (every random draw) and ``documents.device`` (where a
            network, not a ``KClassSystem``, is analysed; a system computes where its step is).
        bow: per-class bag-of-words coefficients (``BagOfWords``, its file, or {word: [k]}); only words seen
            ``kclass_min_count`` times in training enter the comparison (the ``kclass_n_words`` most
            frequent), counted by the bag of words' own counts, or by ``KClassBow(bow, word_counts)``'s.
        truth: a ``SyntheticTruth`` (its evidence or valence is compared too).
        prediction: a :class:`rnnlens.analysis.wordcount.DimensionPrediction` to report beside the measurement.

    Returns:
        The :class:`KClassAnalysis`: its metrics under the section ``kclass`` (with ``seconds``, the time it
        took) and the arrays of its figures.

    Raises:
        ArgumentError: settings that are not an ``AnalysisSettings`` or out of range, a readout that is not
            ``[k >= 3, S]``, states of another width, or a ``bow`` of none of the kinds above.
        CheckpointError: a checkpoint folder that is missing, incomplete or from an incompatible version.
    """
    t0 = time.perf_counter()
    opts = _options(settings)
    system = (
        network
        if isinstance(network, KClassSystem)
        else KClassSystem.from_network(_on_device(network, settings), opts.input_point)
    )
    bow, word_counts = (bow.bow, bow.word_counts) if isinstance(bow, KClassBow) else (bow, None)
    rng = np.random.default_rng(opts.seed)
    setup = prepare(system, states, opts, rng)
    out = KClassAnalysis(metrics={SECTION: {}})
    slow = measure_slow_points(setup, opts, out)
    logit_axes = measure_readout(setup, slow, opts, out)
    linear = measure_eigenvalues(setup, slow, opts, rng, out)
    if opts.n_fixed_seeds:
        measure_fixed_points(setup, slow, opts, rng, out)
    index = measure_evidence(setup, slow, linear, out)
    if index is not None:
        _compare_bow(index, bow, word_counts, opts, out)
        if truth is not None:
            _compare_truth(index, truth, out)
    if prediction is not None:
        _report_prediction(prediction, logit_axes, setup.k, out)
    figure_arrays(setup, slow, linear, rng, out)
    out.metrics[SECTION]["seconds"] = metric("kclass.seconds", time.perf_counter() - t0)
    return out


def pipeline_measurement(run) -> KClassAnalysis:
    """The k-class analysis as one section of :func:`rnnlens.analysis.analyze` (models with k > 2 classes): the
    run's network at its x*, the analysis's visited states and settings, the word-count prediction from the
    corpus's train split, and the corpus's truth when it has one."""
    import torch

    from rnnlens.analysis.wordcount import predict_dimension

    prediction = predict_dimension(run.corpus) if "train" in run.corpus.splits else None
    return analyze_kclass(
        run.network,
        torch.as_tensor(run.products["documents"].X),
        run.settings,
        bow=run.bow,
        truth=run.truth,
        prediction=prediction,
    )
