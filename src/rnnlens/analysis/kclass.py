"""k-class integration manifolds (Aitken et al., ICLR 2021): slow points filling a (k-1)-D region.

With k unordered classes a network that integrates evidence needs k-1 numbers (the class scores up
to a common shift), so its slow points fill a (k-1)-D region; ordered classes can use fewer. This
module measures that region on any step function (an rnnlens Cell, a torch RNN, a callable), the
visited states and the readout matrix W [k, S]:

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
from dataclasses import dataclass, field

import numpy as np
import torch

from rnnlens.analysis.metrics import metric
from rnnlens.analysis.wordcount import participation_ratio, spectrum_dimension
from rnnlens.errors import ArgumentError

__all__ = ["KClassAnalysis", "analyze_kclass", "relax", "pca_spectrum", "readout_subspace",
           "principal_angles_deg", "slow_projectors", "linear_map_r2", "pipeline_measurement"]

SECTION = "kclass"
RELAX_DEPTHS = (0, 10, 20, 50, 100)


@dataclass
class KClassAnalysis:
    """What :func:`analyze_kclass` measured: ``metrics`` ({"kclass": {name: node}}), ``arrays`` (``kc_*``,
    for the report), ``missing``; ``slow_points`` [M, S], ``mean`` [S] and ``basis`` [k-1, S] (their top
    PCs), ``fixed_points`` (the solver's result, or None), ``evidence`` [V, k-1] and ``class_evidence``
    [V, k] per word of ``words``."""

    metrics: dict = field(default_factory=dict)
    arrays: dict = field(default_factory=dict)
    missing: list = field(default_factory=list)
    slow_points: np.ndarray | None = None
    mean: np.ndarray | None = None
    basis: np.ndarray | None = None
    fixed_points: object = None
    words: list = field(default_factory=list)
    evidence: np.ndarray | None = None
    class_evidence: np.ndarray | None = None

    def value(self, name: str):
        """The value of metric ``kclass.<name>`` (None when not measured)."""
        node = self.metrics.get(SECTION, {}).get(name)
        return None if node is None else node["value"]


# ------------------------------------------------------------------------------------------ pieces
def relax(step, states, inputs=None, *, steps: int, depths=()) -> tuple[torch.Tensor, dict]:
    """States after ``steps`` steps of ``step`` at ``inputs`` (float64), and the states after each of ``depths``."""
    from rnnlens.fixedpoints import as_step

    fn = as_step(step)
    h, x = fn.prepare(torch.as_tensor(states), inputs, name="states")
    snaps, last = {}, max([steps, *depths])
    for n in range(last + 1):
        if n in depths:
            snaps[n] = h.double()
        if n == steps:
            out = h.double()
        if n < last:
            h = fn.step(x, h)
    return out, snaps


def pca_spectrum(P) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(variance fractions of every PC, mean, principal directions as rows) of the rows of ``P``."""
    P = np.asarray(P, dtype=np.float64)
    mean = P.mean(0)
    _, s, Vt = np.linalg.svd(P - mean, full_matrices=False)
    var = s ** 2
    total = var.sum()
    return (var / total if total > 0 else var), mean, Vt


def readout_subspace(W) -> np.ndarray:
    """Orthonormal rows [k-1, S] spanning the rows of ``W`` [k, S] minus their mean row."""
    W = np.asarray(W, dtype=np.float64)
    if W.ndim != 2 or W.shape[0] < 3:
        raise ArgumentError(f"readout_subspace: W must be [k >= 3, S]; got shape {W.shape}")
    _, _, Vt = np.linalg.svd(W - W.mean(0), full_matrices=False)
    return Vt[: W.shape[0] - 1]


def principal_angles_deg(A, B) -> list[float]:
    """Principal angles in degrees (ascending) between the row spaces of ``A`` and ``B``."""
    from scipy.linalg import subspace_angles

    return sorted(float(a) for a in np.degrees(subspace_angles(np.asarray(A, float).T, np.asarray(B, float).T)))


def slow_projectors(lin, m: int) -> tuple[np.ndarray, np.ndarray]:
    """Per point of a ``Linearization``: Re(R_s L_s) [P, S, S] onto its ``m`` slowest modes (one more where
    the m-th is half of a complex pair), and how many modes each kept [P]."""
    ev = lin.eigvals.numpy()
    R, L = lin.R.numpy(), lin.L.numpy()
    out = np.zeros((ev.shape[0], R.shape[1], R.shape[1]))
    used = np.zeros(ev.shape[0], dtype=np.int64)
    for p in range(ev.shape[0]):
        n = m
        if n < ev.shape[1] and abs(ev[p, n - 1].imag) > 1e-9 and abs(ev[p, n] - np.conj(ev[p, n - 1])) < 1e-9:
            n += 1
        out[p] = (R[p][:, :n] @ L[p][:n, :]).real
        used[p] = n
    return out, used


def linear_map_r2(V, T) -> float:
    """R^2 of the least-squares map (with intercept) from rows of ``V`` [n, a] to rows of ``T`` [n, b]:
    1 - residual sum of squares / total sum of squares (all columns together)."""
    V, T = np.asarray(V, float), np.asarray(T, float)
    if T.ndim == 1:
        T = T[:, None]
    A = np.hstack([V, np.ones((V.shape[0], 1))])
    coef, *_ = np.linalg.lstsq(A, T, rcond=None)
    res = ((T - A @ coef) ** 2).sum()
    tot = ((T - T.mean(0)) ** 2).sum()
    return float(1 - res / tot) if tot > 0 else float("nan")


def _bow_matrix(bow, k: int):
    """(words, centred coefficients [V, k]) from a BagOfWords, its file, or {word: [k] coefficients}."""
    from pathlib import Path

    if bow is None:
        return None, None
    if isinstance(bow, (str, Path)):
        from rnnlens.baseline import load_bag_of_words
        bow = load_bag_of_words(bow)
    if hasattr(bow, "coef") and hasattr(bow, "words"):
        C = np.asarray(bow.coef, dtype=np.float64).T
        words = list(bow.words)
    elif isinstance(bow, dict):
        words = list(bow)
        C = np.array([np.ravel(np.asarray(bow[w], dtype=np.float64)) for w in words]) if words else np.zeros((0, k))
    else:
        raise ArgumentError(f"bow must be a BagOfWords, its JSON file or {{word: [k] coefficients}}; got "
                            f"{type(bow).__name__}")
    if C.ndim != 2 or C.shape[1] != k:
        return None, None   # e.g. a binary bag of words: not comparable, recorded as missing
    return words, C - C.mean(1, keepdims=True)


def _spearman(a, b) -> float:
    from scipy.stats import spearmanr

    if len(a) < 3 or np.all(a == a[0]) or np.all(b == b[0]):
        return float("nan")
    return float(spearmanr(a, b).statistic)


# ------------------------------------------------------------------------------------------ analysis
def analyze_kclass(step, states, readout, *, readout_bias=None, inputs=None, embeddings=None, words=None,
                   bow=None, truth=None, prediction=None, relax_steps: int = 50, max_states: int = 2000,
                   n_linearize: int = 64, eig_threshold: float = 0.95, share: float = 0.9,
                   n_fixed_seeds: int = 200, tol: float = 1e-8, min_count: int = 5, n_words: int = 5000,
                   word_counts=None, seed: int = 0) -> KClassAnalysis:
    """Measure the k-class integration manifold (definitions in the module docstring).

    Args:
        step: an rnnlens Cell, a torch RNN or a callable F(x, h) (:func:`rnnlens.as_step`).
        states: visited states [M, S] (or [B, T, S], flattened); at most ``max_states`` (a seeded subset).
        readout: W [k >= 3, S] (``SentimentRNN.readout_matrix()``); ``readout_bias`` [k] colours the slow
            points by predicted class.
        inputs: x* [I] at which the dynamics relax and are linearized (default zeros).
        embeddings, words: input vectors [V, I] and their words, for the evidence vectors.
        bow: per-class bag-of-words coefficients (``BagOfWords``, its file, or {word: [k]}); ``truth``: a
            ``SyntheticTruth`` (its evidence or valence is compared too); ``prediction``: a
            :class:`rnnlens.analysis.wordcount.DimensionPrediction` to report beside the measurement.
        word_counts: {word: training count}; only words seen ``min_count`` times enter the comparison
            with the bag of words (the ``n_words`` most frequent). Default: the bag of words' counts.
        relax_steps, eig_threshold, share: see the module docstring. n_linearize: slow points linearized.
        n_fixed_seeds, tol: exact fixed points from this many slow points (0: no search).
    """
    from rnnlens.fixedpoints import as_step, find_fixed_points
    from rnnlens.linearization import linearize

    t0 = time.perf_counter()
    for name, v, lo in (("relax_steps", relax_steps, 0), ("max_states", max_states, 4),
                        ("n_linearize", n_linearize, 1), ("n_fixed_seeds", n_fixed_seeds, 0),
                        ("min_count", min_count, 0), ("n_words", n_words, 1)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < lo:
            raise ArgumentError(f"analyze_kclass: {name} must be an integer >= {lo}; got {v!r}")
    if not 0 < eig_threshold < 2 or not 0 < share <= 1 or not tol > 0:
        raise ArgumentError(f"analyze_kclass: need 0 < eig_threshold < 2, 0 < share <= 1 and tol > 0; got "
                            f"{eig_threshold!r}, {share!r}, {tol!r}")
    W = np.asarray(readout.detach().cpu() if isinstance(readout, torch.Tensor) else readout, dtype=np.float64)
    if W.ndim != 2 or W.shape[0] < 3:
        raise ArgumentError(f"analyze_kclass: readout must be a [k >= 3, S] matrix; got shape {W.shape} "
                            "(binary models: use rnnlens.analyze's line-attractor analysis)")
    k, S = W.shape
    X = torch.as_tensor(states)
    X = X.reshape(-1, X.shape[-1])
    if X.shape[1] != S:
        raise ArgumentError(f"analyze_kclass: states have {X.shape[1]} numbers, the readout {S}")
    rng = np.random.default_rng(seed)
    if X.shape[0] > max_states:
        X = X[torch.from_numpy(np.sort(rng.choice(X.shape[0], max_states, replace=False)))]
    if inputs is not None:
        inputs = torch.as_tensor(inputs, dtype=X.dtype)
    fn = as_step(step, input_size=None if inputs is None else inputs.shape[-1], state_size=S)
    if fn.input_size is None:
        raise ArgumentError("analyze_kclass: a plain callable step needs inputs= (x*, one input vector)")
    x_star = torch.zeros(fn.input_size, dtype=X.dtype) if inputs is None else inputs
    if x_star.dim() != 1 or x_star.shape[0] != fn.input_size:
        raise ArgumentError(f"analyze_kclass: inputs must be one input vector [{fn.input_size}]")
    xs = x_star.expand(X.shape[0], -1).clone()
    out = KClassAnalysis()
    M: dict = {}
    d = k - 1

    # ---- slow points and their dimension
    P_t, snaps = relax(fn, X, xs, steps=relax_steps, depths=RELAX_DEPTHS)
    fn64 = fn.to(torch.float64)
    x64 = xs.double()
    q = ((fn64.step(x64, P_t) - P_t) ** 2).mean(1).numpy()
    P = P_t.numpy()
    frac, mean, Vt = pca_spectrum(P)
    basis = Vt[:d]
    out.slow_points, out.mean, out.basis = P, mean, basis
    M["num_classes"] = metric("kclass.num_classes", k)
    M["n_slow_points"] = metric("kclass.n_slow_points", int(P.shape[0]), relax_steps=relax_steps)
    M["slow_q_median"] = metric("kclass.slow_q_median", float(np.median(q)))
    M["pca_fractions"] = metric("kclass.pca_fractions", frac[:10].tolist())
    M["pca_share_top"] = metric("kclass.pca_share_top", float(frac[:d].sum()), d=d)
    M["pca_share_next"] = metric("kclass.pca_share_next", float(frac[d]) if len(frac) > d else 0.0, n=d + 1)
    M["dimension_pca"] = metric("kclass.dimension_pca", spectrum_dimension(frac, share), share=share)
    M["participation_ratio"] = metric("kclass.participation_ratio", participation_ratio(frac))
    M["pca_by_relax"] = metric("kclass.pca_by_relax",
                               {str(n): pca_spectrum(s.numpy())[0][:k + 1].tolist() for n, s in snaps.items()})

    # ---- readout subspace
    U_ro = readout_subspace(W)
    Xv = X.double().numpy()
    Wc = W - W.mean(0)
    cov_dirs = np.cov(Xv, rowvar=False) @ Wc.T          # [S, k]
    U_cov = np.linalg.svd(cov_dirs.T, full_matrices=False)[2][:d]
    M["readout_angles_deg"] = metric("kclass.readout_angles_deg", principal_angles_deg(basis, U_ro), d=d)
    M["readout_cov_angles_deg"] = metric("kclass.readout_cov_angles_deg", principal_angles_deg(basis, U_cov), d=d)
    M["readout_variance_in_plane"] = metric(
        "kclass.readout_variance_in_plane", float(np.linalg.norm(Wc @ basis.T) ** 2 / np.linalg.norm(Wc) ** 2), d=d)
    logits = P @ Wc.T
    lfrac, _, lVt = pca_spectrum(logits)
    M["logit_fractions"] = metric("kclass.logit_fractions", lfrac[:k].tolist())
    M["dimension_logit"] = metric("kclass.dimension_logit", spectrum_dimension(lfrac[:k], share), share=share)

    # ---- eigenvalues at the slow points
    lin_idx = np.sort(rng.choice(P.shape[0], min(n_linearize, P.shape[0]), replace=False))
    li = torch.from_numpy(lin_idx)
    lin = linearize(fn64, P_t[li], x64[li])
    absev = lin.eigvals.abs().numpy()
    counts = (absev >= eig_threshold).sum(1)
    M["n_eig_slow_median"] = metric("kclass.n_eig_slow_median", float(np.median(counts)), threshold=eig_threshold,
                                    n=len(lin_idx))
    M["n_eig_slow_counts"] = metric("kclass.n_eig_slow_counts",
                                    np.bincount(counts, minlength=2 * k).tolist(), threshold=eig_threshold)
    M["eig_abs_median"] = metric("kclass.eig_abs_median", np.median(absev[:, :2 * k], 0).tolist(), n=2 * k)

    # ---- exact fixed points from slow points
    fps = None
    if n_fixed_seeds:
        seeds = P_t[np.sort(rng.choice(P.shape[0], min(n_fixed_seeds, P.shape[0]), replace=False))]
        fps = find_fixed_points(fn64, seeds, x_star.double(), tol=tol)
        out.fixed_points = fps
        conv = fps[torch.from_numpy(fps.converged.numpy().astype(bool))]
        M["fixed_points_n_converged"] = metric("kclass.fixed_points_n_converged", int(len(conv)), tol=tol,
                                               n=len(seeds))
        if len(conv):
            uniq = conv.unique()
            ulin = linearize(fn64, uniq.points.double(), x_star.double().expand(len(uniq), -1).clone(), vectors=False)
            unstable = ulin.n_unstable.numpy()
            Fp = uniq.points.double().numpy()
            off = Fp - mean
            inside = np.linalg.norm(off @ basis.T) ** 2 / max(np.linalg.norm(off) ** 2, 1e-300)
            M["fixed_points_n_unique"] = metric("kclass.fixed_points_n_unique", int(len(uniq)))
            M["fixed_points_n_stable"] = metric("kclass.fixed_points_n_stable", int((unstable == 0).sum()))
            M["fixed_points_in_subspace"] = metric("kclass.fixed_points_in_subspace", float(inside), d=d)
            out.arrays["kc_fp_pc"] = (off @ Vt[:3].T).astype(np.float32)
            out.arrays["kc_fp_unstable"] = unstable.astype(np.int64)
        else:
            out.missing.append({"what": "kclass fixed points", "why": f"no slow point converged to q < {tol:g}"})

    # ---- evidence vectors
    projectors, used = slow_projectors(lin, d)
    J_inp = lin.J_inp.numpy()
    A_man = np.mean([basis @ projectors[p] @ J_inp[p] for p in range(len(lin_idx))], axis=0)      # [d, I]
    A_log = np.mean([Wc @ projectors[p] @ J_inp[p] for p in range(len(lin_idx))], axis=0)         # [k, I]
    M["n_slow_modes_used"] = metric("kclass.n_slow_modes_used", float(np.median(used)), d=d)
    if embeddings is not None and words is not None:
        E = np.asarray(embeddings.detach().cpu() if isinstance(embeddings, torch.Tensor) else embeddings, float)
        if E.shape != (len(words), fn.input_size):
            raise ArgumentError(f"analyze_kclass: embeddings must be [{len(words)}, {fn.input_size}] for "
                                f"{len(words)} words; got {E.shape}")
        out.words = list(words)
        out.evidence = E @ A_man.T
        out.class_evidence = E @ A_log.T
        index = {w: i for i, w in enumerate(words)}
        bw, B = _bow_matrix(bow, k)
        if bw is not None:
            counts_of = word_counts if word_counts is not None else (
                dict(zip(bow.words, np.asarray(bow.counts).tolist())) if hasattr(bow, "counts") else {})
            pairs = [(j, index[w], counts_of.get(w, 0)) for j, w in enumerate(bw)
                     if w in index and w not in ("<pad>", "<unk>") and counts_of.get(w, min_count) >= min_count]
            pairs.sort(key=lambda t: -t[2])
            pairs = pairs[:n_words]
            if len(pairs) >= 3:
                bj = np.array([p[0] for p in pairs])
                wi = np.array([p[1] for p in pairs])
                rho = [_spearman(out.class_evidence[wi, c], B[bj, c]) for c in range(k)]
                M["evidence_n_words"] = metric("kclass.evidence_n_words", len(pairs), min_count=min_count)
                M["evidence_bow_spearman"] = metric("kclass.evidence_bow_spearman", rho)
                M["evidence_bow_spearman_mean"] = metric("kclass.evidence_bow_spearman_mean", float(np.nanmean(rho)))
                M["evidence_bow_r2"] = metric("kclass.evidence_bow_r2", linear_map_r2(out.evidence[wi], B[bj]), d=d)
                out.arrays["kc_evidence_rnn"] = out.class_evidence[wi].astype(np.float32)
                out.arrays["kc_evidence_bow"] = B[bj].astype(np.float32)
            else:
                out.missing.append({"what": "kclass evidence vs bag of words",
                                    "why": "fewer than 3 words shared by the network and the bag of words"})
        elif bow is not None:
            out.missing.append({"what": "kclass evidence vs bag of words",
                                "why": f"the bag of words does not have {k} per-class coefficient vectors"})
        if truth is not None:
            tw = [w for w in words if w in getattr(truth, "category", {})
                  and getattr(truth, "category", {})[w] != "negation" and truth.category[w] != "intensifier"]
            if getattr(truth, "evidence", None) and not getattr(truth, "scalar", False):
                T = np.array([truth.evidence[w] for w in tw], float)
                T = T - T.mean(1, keepdims=True)
            else:
                T = np.array([[truth.valence.get(w, 0.0)] for w in tw], float)
            if len(tw) >= 3:
                M["evidence_truth_r2"] = metric("kclass.evidence_truth_r2",
                                                linear_map_r2(out.evidence[[index[w] for w in tw]], T), d=d)

    # ---- the word-count prediction beside the measurement
    if prediction is not None:
        pd_ = prediction
        M["predicted_fractions"] = metric("kclass.predicted_fractions", np.asarray(pd_.fractions).tolist(),
                                          alpha=pd_.info.get("alpha"), min_count=pd_.info.get("min_count", 1))
        M["predicted_dimension"] = metric("kclass.predicted_dimension", int(pd_.dimension), share=pd_.info.get("share"))
        M["predicted_participation_ratio"] = metric("kclass.predicted_participation_ratio",
                                                    float(pd_.participation_ratio))
        M["predicted_word_fractions"] = metric("kclass.predicted_word_fractions",
                                               np.asarray(pd_.word_fractions).tolist())
        dd = max(1, min(int(pd_.dimension), k - 1))
        M["shape_angles_deg"] = metric("kclass.shape_angles_deg",
                                       principal_angles_deg(np.asarray(pd_.axes)[:dd], lVt[:dd]), d=dd)

    # ---- arrays for the figures
    a = out.arrays
    show = np.sort(rng.choice(P.shape[0], min(2000, P.shape[0]), replace=False))
    a["kc_slow_pc"] = ((P[show] - mean) @ Vt[:3].T).astype(np.float32)
    if readout_bias is not None:
        b = np.asarray(readout_bias.detach().cpu() if isinstance(readout_bias, torch.Tensor) else readout_bias, float)
        a["kc_slow_class"] = (P[show] @ W.T + b).argmax(1).astype(np.int64)
    else:
        a["kc_slow_class"] = (P[show] @ W.T).argmax(1).astype(np.int64)
    a["kc_readout_pc"] = (Wc @ Vt[:3].T).astype(np.float32)
    a["kc_pca_fractions"] = frac[:10]
    a["kc_lin_pc"] = ((P[lin_idx] - mean) @ Vt[:3].T).astype(np.float32)
    a["kc_eig_count"] = counts.astype(np.int64)
    a["kc_eig_abs"] = absev[:, :2 * k].astype(np.float32)
    M["seconds"] = metric("kclass.seconds", time.perf_counter() - t0)
    out.metrics[SECTION] = M
    return out


def pipeline_measurement(model, vocab, corpus, states: np.ndarray, x_star, *, bow=None, seed: int = 0,
                         **options) -> KClassAnalysis:
    """The k-class analysis as one step of :func:`rnnlens.analysis.analyze` (models with k > 2 classes):
    the model's cell, readout and embeddings, the pipeline's visited states and x*, the word-count
    prediction from the corpus's train split, and the corpus's truth when it has one."""
    from rnnlens.analysis.wordcount import predict_dimension

    prediction = predict_dimension(corpus) if "train" in corpus.splits else None
    emb = model.embedding.weight.detach().double()
    bias = model.readout.bias.detach().double() if getattr(model.readout, "bias", None) is not None else None
    return analyze_kclass(model.cell, torch.as_tensor(states), model.readout_matrix().double(), readout_bias=bias,
                          inputs=torch.as_tensor(x_star, dtype=torch.float64), embeddings=emb, words=vocab.itos,
                          bow=bow, truth=getattr(corpus, "truth", None), prediction=prediction, seed=seed,
                          **options)
