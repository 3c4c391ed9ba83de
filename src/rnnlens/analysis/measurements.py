"""The measurements of PAPER.md steps 4-8, one function each.

Every ``measure_*`` function takes what the earlier stages produced and returns a
:class:`Measurement`: its ``metrics`` (``{section: {name: node}}``, each node built by
:func:`rnnlens.analysis.metrics.metric`, so its definition comes from the one table), the
``arrays`` it saves for figures, what it could not measure (``missing``), and, as attributes, the
intermediate results later measurements need (the PCA basis, the fixed points, the line's axis, the
slow mode). :func:`rnnlens.analysis.analyze` only chains them.

Random draws go through one ``numpy.random.Generator`` passed along in a fixed order, so an
analysis is reproducible from its ``seed``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch

from rnnlens.analysis.dynamics import approach_speed, linear_rollout, nearest_point, one_step_errors
from rnnlens.analysis.geometry import (abs_cos, against_null, expected_random_abs_cos, manifold_axis, pca_fit,
                                       pca_variance, random_abs_cos, readout_covariance_direction,
                                       readout_direction)
from rnnlens.analysis.metrics import metric
from rnnlens.analysis.modes import input_projections, mode_stats, orient_top_mode
from rnnlens.analysis.valence import valence_summary
from rnnlens.data import UNK_ID, Encoded, Split, batches, encode
from rnnlens.errors import ArgumentError
from rnnlens.model import predict_labels
from rnnlens.settings import DEFAULT_MAX_LENGTH

__all__ = ["Measurement", "Documents", "select_documents", "collect_states", "measure_states",
           "measure_fixed_points", "measure_tolerance_sweep", "measure_manifold", "measure_modes",
           "measure_valence", "measure_linearization", "measure_speed", "measure_slow_manifold",
           "bow_coefficients"]


@dataclass
class Measurement:
    """What one measurement produced: metrics by section, arrays for figures, what is missing."""

    metrics: dict = field(default_factory=dict)
    arrays: dict = field(default_factory=dict)
    missing: list = field(default_factory=list)


def _np(t) -> np.ndarray:
    return t.detach().cpu().numpy() if isinstance(t, torch.Tensor) else np.asarray(t)


# ------------------------------------------------------------------------------------ documents
@dataclass
class Documents:
    """The analysed documents: their encoding (``encoded.index``: positions in the split;
    ``encoded.n_empty``: skipped for having no tokens) and the fraction of unknown tokens."""

    encoded: Encoded
    unk_fraction: float

    @property
    def labels(self) -> np.ndarray:
        return self.encoded.labels

    def __len__(self) -> int:
        return len(self.encoded)


def _is_int(v) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool)


def check_analysis_numbers(*, tol, tol_sweep, max_length, n_linear_docs, seed, untrained_seed) -> None:
    """Raise ArgumentError for a numeric argument of ``analyze`` that would fail late or mean nothing:
    tolerances must be finite and > 0, ``max_length`` / ``n_linear_docs`` integers >= 1 (or None),
    seeds integers >= 0. Cheap: meant to run before any work."""
    def positive(name, v):
        if isinstance(v, bool) or not isinstance(v, (int, float, np.floating)) or not (math.isfinite(v) and v > 0):
            raise ArgumentError(f"analyze: {name} must be a finite number > 0 (on q = (1/N)||F(h,x)-h||^2); got {v!r}")

    positive("tol", tol)
    if isinstance(tol_sweep, (str, bytes)) or not hasattr(tol_sweep, "__iter__"):
        raise ArgumentError(f"analyze: tol_sweep must be a list of tolerances (may be empty); got {tol_sweep!r}")
    for t in tol_sweep:
        positive("every tol_sweep entry", t)
    for name, v in (("max_length", max_length), ("n_linear_docs", n_linear_docs)):
        if v is not None and (not _is_int(v) or v < 1):
            raise ArgumentError(f"analyze: {name} must be an integer >= 1 or None; got {v!r}")
    for name, v in (("seed", seed), ("untrained_seed", untrained_seed)):
        if not _is_int(v) or v < 0:
            raise ArgumentError(f"analyze: {name} must be an integer >= 0; got {v!r}")


def select_documents(vocab, split: Split, n_docs: int, max_length: int | None, seed: int) -> Documents:
    """A seeded random subset of ``n_docs`` documents of ``split`` (all when it has fewer), encoded.

    Documents with no tokens are skipped and counted; documents longer than ``max_length`` (None:
    :data:`rnnlens.settings.DEFAULT_MAX_LENGTH`, which no IMDB review reaches; every visited state is
    kept, so one 10-million-token document would need gigabytes) are cut and counted
    (``encoded.n_truncated``, ``encoded.max_length``). ``unk_fraction`` counts ``<unk>`` over the tokens kept.
    """
    if max_length is None:
        max_length = DEFAULT_MAX_LENGTH
    n_total = len(split.texts)
    order = np.arange(n_total)
    if n_docs < n_total:
        order = np.sort(np.random.default_rng(seed).choice(n_total, n_docs, replace=False))
    encoded = encode(vocab, split, max_length=max_length, rows=order, skip_empty=True)
    n_tok = int(encoded.lengths.sum())
    n_unk = sum(int((x == UNK_ID).sum()) for x in encoded.ids)
    return Documents(encoded, n_unk / max(n_tok, 1))


def _subset(encoded: Encoded, rows) -> Encoded:
    return Encoded([encoded.ids[i] for i in rows], encoded.labels[rows], 0, encoded.max_length)


@torch.no_grad()
def collect_states(model, docs, *, batch_size: int = 64) -> list[np.ndarray]:
    """Every visited state per document: a list of [length, S] float32 arrays (state after each token).

    ``docs``: :class:`Documents` or an ``rnnlens.data.Encoded``.
    """
    encoded = docs.encoded if isinstance(docs, Documents) else docs
    out = [None] * len(encoded)
    for b in batches(encoded, batch_size, shuffle=False):
        hs = model.states(b.ids, b.lengths)
        for r, p in enumerate(b.index.tolist()):
            out[p] = hs[r, :int(b.lengths[r])].float().numpy()
    return out


# ---------------------------------------------------------------------------------- states, PCA
@dataclass
class StateSpace(Measurement):
    """Visited states, their PCA basis (``mean``, top-2 ``components``), the readout and the network's
    predictions on the analysed documents."""

    traj: list = field(default_factory=list)
    X: np.ndarray | None = None
    pca_rows: np.ndarray | None = None
    mean: np.ndarray | None = None
    components: np.ndarray | None = None
    W: np.ndarray | None = None
    w: np.ndarray | None = None
    predictions: np.ndarray | None = None


def measure_states(model, docs: Documents, *, split: str, max_pca_states: int, untrained_seed: int,
                   rng: np.random.Generator) -> StateSpace:
    """PCA of every visited state, trained vs an untrained copy; the network's accuracy on the documents."""
    from rnnlens.model import SentimentRNN

    traj = collect_states(model, docs)
    X = np.concatenate(traj)
    torch.manual_seed(untrained_seed)
    untrained = SentimentRNN(**model.config()).eval()
    X0 = np.concatenate(collect_states(untrained, docs))
    pca_rows = np.arange(X.shape[0])
    if X.shape[0] > max_pca_states:
        pca_rows = np.sort(rng.choice(X.shape[0], max_pca_states, replace=False))
    cum, mean, comps10 = pca_fit(X[pca_rows], 10)
    comps = comps10[:2]
    cum0 = pca_variance(X0[pca_rows], 10)
    out = StateSpace(traj=traj, X=X, pca_rows=pca_rows, mean=mean, components=comps)
    out.metrics["data"] = {
        "n_docs": metric("data.n_docs", len(docs), split=split),
        "n_empty_skipped": metric("data.n_empty_skipped", docs.encoded.n_empty),
        "n_truncated": metric("data.n_truncated", docs.encoded.n_truncated),
        "n_states": metric("data.n_states", int(X.shape[0])),
        "n_states_pca": metric("data.n_states_pca", int(pca_rows.size)),
        "unk_fraction": metric("data.unk_fraction", docs.unk_fraction),
        "state_size": metric("data.state_size", X.shape[1]),
    }
    out.metrics["pca"] = {"trained_cumulative": metric("pca.trained_cumulative", cum),
                          "untrained_cumulative": metric("pca.untrained_cumulative", cum0)}
    a = out.arrays
    a.update(pca_trained=cum, pca_untrained=cum0, pc_mean=mean, pc_components=comps)
    proj_sample = rng.choice(X.shape[0], min(X.shape[0], 20000), replace=False)
    a["state_pc"] = ((X[proj_sample] - mean) @ comps.T).astype(np.float32)
    doc_of_state = np.repeat(np.arange(len(traj)), [len(t) for t in traj])
    a["state_label"] = docs.labels[doc_of_state[proj_sample]]
    finals = np.stack([t[-1] for t in traj])
    a["final_pc"] = ((finals - mean) @ comps.T).astype(np.float32)
    a["final_label"] = docs.labels

    out.W = model.readout_matrix().double().numpy()
    out.w = readout_direction(out.W)
    a["readout_pc"] = comps @ out.w
    with torch.no_grad():
        out.predictions = predict_labels(model.logits_from_state(torch.from_numpy(finals))).numpy()
    out.metrics["data"]["rnn_accuracy"] = metric("data.rnn_accuracy", float((out.predictions == docs.labels).mean()))
    return out


# ---------------------------------------------------------------------------------- fixed points
@dataclass
class FixedPointSearch(Measurement):
    """The solver's result for every seed (``fps``) and the points under ``tol`` (``points``, float64;
    None when there are none)."""

    fps: object = None
    seeds: torch.Tensor | None = None
    inputs: torch.Tensor | None = None
    points: torch.Tensor | None = None


def measure_fixed_points(step, visited: np.ndarray, x_star: torch.Tensor, *, n_seeds: int, tol: float,
                         input_point: str, solver_options: dict, seed: int) -> FixedPointSearch:
    """Search for fixed points F(h*, x*) = h* from ``n_seeds`` visited states; keep those with q < tol."""
    from rnnlens.fixedpoints import find_fixed_points, sample_seeds

    seeds = sample_seeds(torch.from_numpy(visited), None, n=n_seeds, seed=seed, replace=n_seeds > visited.shape[0])
    inputs = x_star.to(seeds.dtype).expand(seeds.shape[0], -1).clone()
    fps = find_fixed_points(step, seeds, inputs, tol=tol, **solver_options)
    conv = np.asarray(fps.converged, dtype=bool)
    q = np.asarray(fps.q, dtype=np.float64)
    dist = np.asarray(fps.distance, dtype=np.float64)
    out = FixedPointSearch(fps=fps, seeds=seeds, inputs=inputs)
    out.metrics["fixed_points"] = {
        "n_seeds": metric("fixed_points.n_seeds", int(len(fps))),
        "n_converged": metric("fixed_points.n_converged", int(conv.sum()), tol=tol, input_point=input_point),
        "n_slow": metric("fixed_points.n_slow", int(np.asarray(fps.slow).sum())),
        "q_min": metric("fixed_points.q_min", float(q.min())),
        "q_median": metric("fixed_points.q_median", float(np.median(q))),
        "distance_median": metric("fixed_points.distance_median", float(np.median(dist))),
        "distance_max": metric("fixed_points.distance_max", float(dist.max())),
    }
    out.arrays.update(fp_q=q, fp_distance=dist)
    if conv.sum() == 0:
        out.missing.append({"what": "fixed-point geometry, spectra, word valence, linearization",
                            "why": f"no fixed point reached q < {tol:g} from {len(fps)} seeds (smallest q "
                                   f"{q.min():.3g}); try more seeds (n_seeds), more solver iterations or check "
                                   "that the network was trained"})
    else:
        out.points = torch.as_tensor(fps[torch.from_numpy(conv)].points).double()
    return out


def measure_tolerance_sweep(step, search: FixedPointSearch, tols, solver_options: dict, w: np.ndarray,
                            visited: np.ndarray) -> dict:
    """The same seeds solved again at looser tolerances: how the picture depends on where each point
    is allowed to stop. With the paper's q < 1e-8 a network whose line is only approximately slow
    can give a few clusters at its exact fixed points; at looser tolerances the points stop on the
    slow manifold near where they started. Diagnostic only: the checks use ``tol``.

    Returns the metric node ``fixed_points.by_tolerance``."""
    from rnnlens.fixedpoints import find_fixed_points

    rows = []
    Xt = torch.from_numpy(visited).double()
    tol = float(search.fps.tol)
    for t in sorted({tol, *map(float, tols)}):
        fps = search.fps if t == tol else find_fixed_points(step, search.seeds, search.inputs, tol=t,
                                                            **solver_options)
        conv = torch.as_tensor(fps.converged, dtype=torch.bool)
        row = {"tol": t, "n_converged": int(conv.sum()),
               "distance_median": float(torch.as_tensor(fps.distance).double().median())}
        if int(conv.sum()) >= 2:
            pts = torch.as_tensor(fps.points)[conv].double()
            man = manifold_axis(pts.numpy(), readout=w)
            near = Xt[nearest_point(pts, Xt)]
            row.update(top_pc_fraction=man["top_pc_fraction"], readout_cos=man["readout_cos"],
                       dist_to_visited_median=float(torch.linalg.vector_norm(pts - near, dim=1).median()))
        rows.append(row)
    return metric("fixed_points.by_tolerance", rows)


# ------------------------------------------------------------------------------------- manifold
@dataclass
class Manifold(Measurement):
    """The line's axis ``m`` (unit, oriented so that readout . m >= 0)."""

    m: np.ndarray | None = None


def measure_manifold(points: torch.Tensor, states: StateSpace, *, seed: int) -> Manifold:
    """Shape of the fixed points: how one-dimensional, their axis m, its alignment with the readout,
    and how far the points lie from the visited states."""
    P = points.numpy()
    visited = states.X[states.pca_rows]
    w, W, mean, comps = states.w, states.W, states.mean, states.components
    man = manifold_axis(P, readout=w)
    m = man["m"]
    visible = np.any(W != 0, axis=0)  # coordinates with a readout weight (LSTM: the h block)
    out = Manifold(m=m)
    out.arrays.update(fp_pc=((P - mean) @ comps.T), fp_theta=man["theta"], m_pc=comps @ m)
    Xt = torch.from_numpy(visited).double()
    near = Xt[nearest_point(points, Xt)]
    d_vis = torch.linalg.vector_norm(points - near, dim=1).numpy()
    radius = float(np.sqrt(((visited - visited.mean(0)) ** 2).sum(1).mean()))
    out.metrics["fixed_points"] = {
        "dist_to_visited_median": metric("fixed_points.dist_to_visited_median", float(np.median(d_vis))),
        "visited_rms_radius": metric("fixed_points.visited_rms_radius", radius),
    }
    out.arrays["fp_dist_to_visited"] = d_vis
    out.metrics["manifold"] = {
        "top_pc_fraction": metric("manifold.top_pc_fraction", man["top_pc_fraction"]),
        "cumulative": metric("manifold.cumulative", man["cumulative"]),
        "readout_cos": metric("manifold.readout_cos", man["readout_cos"]),
        "m_readout_visible_fraction": metric("manifold.m_readout_visible_fraction",
                                             float(np.sum(m[visible] ** 2))),
        "readout_cos_visible": metric("manifold.readout_cos_visible", abs_cos(m[visible], w[visible])),
        "readout_cos_null_p99": metric("manifold.readout_cos_null_p99",
                                       float(np.percentile(random_abs_cos(P.shape[1], 10000, seed=seed), 99))),
        "theta_definition": "theta = projection (h* - mean) . m rescaled linearly to [-1, 1] (min -> -1, "
                            "max -> +1); m is oriented so that readout . m >= 0, so theta = +1 is the end with "
                            "the largest logit. The paper used LLE; on a near-straight manifold both order "
                            "the points alike, and the projection needs no neighbourhood size.",
    }
    return out


# ---------------------------------------------------------------------------------------- modes
@dataclass
class Modes(Measurement):
    """The oriented top right / left eigenvectors at each fixed point (``r1``, ``l1``, [P, S])."""

    r1: np.ndarray | None = None
    l1: np.ndarray | None = None


def measure_modes(lin, m: np.ndarray, w: np.ndarray, components: np.ndarray, *, seed: int) -> Modes:
    """The spectrum of J_rec at the fixed points: |lambda_1|, slow modes, time constants, r_1 vs m."""
    eig = _np(lin.eigvals)
    S = eig.shape[1]
    r1, l1, w_r1 = orient_top_mode(_np(lin.R), _np(lin.L), w)
    st = mode_stats(eig, _np(lin.tau), r1, m)
    null = random_abs_cos(S, 10000, seed=seed + 1)
    cmp_null = against_null(st["r1_m_overlap"], null)
    al1 = st["abs_lambda1"]
    gain = np.linalg.norm(_np(lin.J_inp).reshape(len(eig), -1), axis=1)
    out = Modes(r1=r1, l1=l1)
    out.metrics["modes"] = {
        "abs_lambda1_median": metric("modes.abs_lambda1_median", float(np.median(al1))),
        "frac_abs_lambda1_gt_0_98": metric("modes.frac_abs_lambda1_gt_0_98", float((al1 > 0.98).mean())),
        "frac_abs_lambda1_within_0_02": metric("modes.frac_abs_lambda1_within_0_02",
                                               float((np.abs(al1 - 1) <= 0.02).mean())),
        "median_abs_dev_lambda1": metric("modes.median_abs_dev_lambda1", float(np.median(np.abs(al1 - 1)))),
        "n_slow_modes_median": metric("modes.n_slow_modes_median", float(np.median((np.abs(eig) > 0.98).sum(1)))),
        "input_gain_median": metric("modes.input_gain_median", float(np.median(gain))),
        "tau_median": metric("modes.tau_median", np.median(st["tau_top"], axis=0)),
        "n_unstable_median": metric("modes.n_unstable_median", float(np.median(_np(lin.n_unstable)))),
        "r1_m_overlap_median": metric("modes.r1_m_overlap_median", float(np.median(st["r1_m_overlap"]))),
        "r1_m_percentile_median": metric("modes.r1_m_percentile_median", float(np.median(cmp_null["percentile"]))),
        "r1_m_z_median": metric("modes.r1_m_z_median", float(np.median(cmp_null["z"]))),
        "null_mean": metric("modes.null_mean", cmp_null["null_mean"]),
        "null_mean_closed_form": metric("modes.null_mean_closed_form", expected_random_abs_cos(S)),
        "readout_dot_r1_median": metric("modes.readout_dot_r1_median", float(np.median(w_r1))),
    }
    out.arrays.update(eigvals=eig.astype(np.complex64), abs_lambda1=al1, tau_top=st["tau_top"],
                      r1_m_overlap=st["r1_m_overlap"], null_abs_cos=null.astype(np.float32),
                      r1_pc=(components @ r1.real.T).T)
    return out


# -------------------------------------------------------------------------------------- valence
def bow_coefficients(bow, corpus_fingerprint: str):
    """``({word: coefficient along the readout direction}, info)`` from a BagOfWords, its JSON file or a
    ``{word: coef}`` dict; ``(None, None)`` without one."""
    if bow is None:
        return None, None
    if isinstance(bow, dict):
        return {str(k): float(v) for k, v in bow.items()}, {"source": "dict"}
    if not hasattr(bow, "coef"):
        from rnnlens.baseline import load_bag_of_words
        bow = load_bag_of_words(bow)
    coef = np.asarray(bow.coef, dtype=np.float64)
    row = coef[0] if coef.shape[0] == 1 else coef[-1] - coef[0]
    info = {"source": "rnnlens.baseline.BagOfWords", "dataset": bow.dataset,
            "data_fingerprint": bow.data_fingerprint, "C": bow.C, "accuracy": bow.accuracy,
            "direction": "coef[0]" if coef.shape[0] == 1 else "coef[last] - coef[first]"}
    if bow.data_fingerprint != corpus_fingerprint:
        info["warning"] = "the bag of words was fitted on a different corpus (fingerprint differs)"
    return dict(zip(bow.words, row.tolist())), info


def measure_valence(l1: np.ndarray, lin, embeddings: np.ndarray, itos, *, bow_coef: dict | None,
                    bow_info: dict | None, truth: dict | None, n_group: int, section: str = "valence",
                    prefix: str = "") -> Measurement:
    """Word valence Re(l_1^T J_inp x_word) at every fixed point (q < tol), against the bag of words and,
    for synthetic corpora, the true valence."""
    proj = input_projections(l1, _np(lin.J_inp), embeddings)
    val = valence_summary(proj, list(itos), bow_coef=bow_coef, truth=truth, n_group=n_group)
    out = Measurement()
    P = f"{section}."
    vm = {"definition": "valence of a word = Re(l_1^T J_inp x_word) at a point, x_word its embedding; "
                        "positive pushes towards a larger logit (see sign_convention)",
          "mean_abs": metric(P + "mean_abs", float(np.abs(val["mean"][2:]).mean())),
          "spread_median": metric(P + "spread_median", float(np.median(val["std"][2:])))}
    if section == "valence":
        vm["definition"] = vm["definition"].replace("at a point", "at a fixed point")
    if bow_coef is not None:
        vm["bow"] = bow_info
        vm["spearman_bow"] = metric(P + "spearman_bow", val["spearman_bow"], n_words=val["n_words_bow"])
        g = val["groups"]
        for kind in ("positive", "negative", "neutral"):
            vm[f"{kind}_mean"] = metric(P + f"{kind}_mean", g[kind]["mean"], n=g["n"])
            vm[f"{kind}_words"] = g[kind]["words"][:20]
            out.arrays[f"{prefix}group_{kind}"] = g[kind]["per_point"]
        vm["group_size"] = g["n"]
    elif section == "valence":
        out.missing.append({"what": "word valence vs bag-of-words coefficients and the word groups",
                            "why": "no bag-of-words baseline was given (bow=...; `rnnlens baseline`)"})
    if truth is not None:
        vm["spearman_truth"] = metric(P + "spearman_truth", val["spearman_truth"], n_words=val["n_words_truth"])
        tw = [i for i, t in enumerate(itos) if t in truth]
        out.arrays[prefix + "truth_valence"] = np.array([truth[itos[i]] for i in tw])
        out.arrays[prefix + "truth_model_valence"] = val["mean"][tw]
    out.metrics[section] = vm
    out.arrays[prefix + "valence_mean"] = val["mean"].astype(np.float32)
    out.arrays[prefix + "valence_std"] = val["std"].astype(np.float32)
    if bow_coef is not None:
        bw = [i for i, t in enumerate(itos) if t in bow_coef and i > 1]
        out.arrays[prefix + "bow_coef"] = np.array([bow_coef[itos[i]] for i in bw])
        out.arrays[prefix + "bow_model_valence"] = val["mean"][bw]
    return out


# -------------------------------------------------------------------------------- linearization
@torch.no_grad()
def measure_linearization(model, docs: Documents, states: StateSpace, points: torch.Tensor, x_star: torch.Tensor,
                          lin, *, n_transitions: int, n_linear_docs: int | None,
                          rng: np.random.Generator, section: str = "linearization",
                          prefix: str = "") -> Measurement:
    """How well the network's dynamics are described by their linearization around the nearest of
    ``points``: the one-step error, an example trajectory, and classification by the linearized
    dynamics. ``section`` names the metrics' section (``linearization``: around the fixed points with
    q < tol; ``slow_manifold``: around the traced curve's nodes), ``prefix`` the arrays'."""
    traj, mean, comps = states.traj, states.mean, states.components
    emb = model.embedding.weight.detach().double()
    init = model.cell.init_state(1).double().numpy()[0]
    out = Measurement()
    # transitions (h_{t-1}, x_t) -> h_t, h_{-1} = the initial state
    lengths = np.array([len(t) for t in traj])
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    pick = np.sort(rng.choice(offsets[-1], min(n_transitions, offsets[-1]), replace=False))
    d = np.searchsorted(offsets, pick, side="right") - 1
    t = pick - offsets[d]
    h_next = np.stack([traj[i][j] for i, j in zip(d, t)]).astype(np.float64)
    h_prev = np.stack([traj[i][j - 1] if j > 0 else init for i, j in zip(d, t)]).astype(np.float64)
    ids = docs.encoded.ids
    tok = torch.tensor([int(ids[i][j]) for i, j in zip(d, t)])
    J_rec, J_inp = torch.as_tensor(lin.J_rec).double(), torch.as_tensor(lin.J_inp).double()
    err, h_lin1, near = one_step_errors(torch.from_numpy(h_prev), emb[tok], torch.from_numpy(h_next), points,
                                        x_star, J_rec, J_inp)
    err = err.numpy()
    miss = np.linalg.norm(h_next - h_lin1.numpy(), axis=1)
    moved = np.linalg.norm(h_next - h_prev, axis=1)
    step_err = miss / np.maximum(moved, 1e-12)        # relative to the step the network took
    still_err = moved / np.maximum(np.linalg.norm(h_next, axis=1), 1e-12)   # predicting "no change"
    expansion = np.linalg.norm(h_prev - points.numpy()[near.numpy()], axis=1)
    out.arrays[prefix + "one_step_error"] = err.astype(np.float32)
    # example trajectory: the document closest to the median length, true vs one-step linearized
    ex = int(np.argsort(lengths)[len(lengths) // 2])
    H = traj[ex].astype(np.float64)
    Hp = np.vstack([init[None], H[:-1]])
    _, h_lin, _ = one_step_errors(torch.from_numpy(Hp), emb[torch.from_numpy(ids[ex])], torch.from_numpy(H),
                                  points, x_star, J_rec, J_inp)
    out.arrays[prefix + "example_true_pc"] = (H - mean) @ comps.T
    out.arrays[prefix + "example_lin_pc"] = (h_lin.numpy() - mean) @ comps.T
    # classification with the linearized dynamics alone
    n_lin = len(traj) if n_linear_docs is None else min(n_linear_docs, len(traj))
    sel = np.sort(rng.choice(len(traj), n_lin, replace=False))
    sub = _subset(docs.encoded, sel)
    rnn_pred = states.predictions
    correct, agree, diverged = 0, 0, 0
    for b in batches(sub, 128, shuffle=False):
        pos = b.index.numpy()
        h0 = model.cell.init_state(len(pos)).double()
        final, div = linear_rollout(emb[b.ids], b.lengths, h0, points, x_star, J_rec, J_inp)
        ok = ~div
        pred = np.full(len(pos), -1)
        if ok.any():
            pred[ok.numpy()] = predict_labels(model.logits_from_state(final[ok].to(model.readout.weight.dtype))).numpy()
        correct += int((pred == sub.labels[pos]).sum())
        agree += int((pred == rnn_pred[sel[pos]]).sum())
        diverged += int(div.sum())
    values = {
        "one_step_error_median": (float(np.median(err)), {"n": err.size}),
        "one_step_error_mean": (float(err.mean()), {}),
        "one_step_error_p90": (float(np.percentile(err, 90)), {}),
        "step_relative_error_median": (float(np.median(step_err)), {}),
        "no_change_error_median": (float(np.median(still_err)), {}),
        "expansion_distance_median": (float(np.median(expansion)), {}),
        "linear_accuracy": (correct / n_lin, {"n": n_lin}),
        "rnn_accuracy_same_docs": (float((rnn_pred[sel] == docs.labels[sel]).mean()), {}),
        "linear_rnn_agreement": (agree / n_lin, {}),
        "linear_diverged": (diverged, {}),
        "example_doc_length": (int(lengths[ex]), {}),
    }
    out.metrics[section] = {k: metric(f"{section}.{k}", v, **f) for k, (v, f) in values.items()}
    return out


# ---------------------------------------------------------------------------------------- speed
def measure_speed(model, visited: np.ndarray, x_star: torch.Tensor, *, n_speed: int, speed_steps: int,
                  input_point: str, rng: np.random.Generator) -> Measurement:
    """How fast visited states move when the network runs on with constant input x*."""
    h0 = torch.from_numpy(visited[rng.choice(visited.shape[0], min(n_speed, visited.shape[0]), replace=False)])
    with torch.no_grad():
        speed = approach_speed(model.cell.step, h0, x_star.float(), speed_steps).double().numpy()
    med = np.median(speed, axis=0)
    out = Measurement(arrays={"speed": speed.astype(np.float32)})
    out.metrics["speed"] = {
        "median_by_step": metric("speed.median_by_step", med, n=h0.shape[0], last=speed_steps - 1,
                                 input_point=input_point),
        "median_first": metric("speed.median_first", float(med[0])),
        "median_last": metric("speed.median_last", float(med[-1]), steps=speed_steps),
    }
    return out


# -------------------------------------------------------------------------------- slow manifold
@dataclass
class SlowManifoldMeasurement(Measurement):
    """The traced curve (``curve``, a :class:`rnnlens.manifold.SlowManifold`), the linearization at its
    nodes (``lin``) and the oriented slow mode there (``l1``)."""

    curve: object = None
    lin: object = None
    l1: np.ndarray | None = None


def _readout_explained(X: np.ndarray, r: np.ndarray, nodes: np.ndarray, arc: np.ndarray, ro: np.ndarray) -> float:
    """Share of the variance of the readouts ``r`` of states ``X`` explained by their position along the
    curve ``nodes`` (arc lengths ``arc``, readout ``ro`` at the nodes). States beyond an end of the curve
    (the relaxation that traces it pulls states inwards, so documents' final states can lie past its
    ends) are placed on the straight extension of the end segment, and the readout is extended linearly
    there too, so that a line traced shorter than the states it integrates still counts as explaining them."""
    from rnnlens.manifold import project_on_curve

    pos = project_on_curve(torch.from_numpy(X).double(), torch.from_numpy(nodes).double())[0].numpy()
    for end, a, b, s0 in ((0, nodes[0], nodes[1], arc[0]), (-1, nodes[-1], nodes[-2], arc[-1])):
        d = (a - b) / max(float(np.linalg.norm(a - b)), 1e-300)           # pointing out of the curve
        beyond = (X - a) @ d
        out = (np.isclose(pos, s0, rtol=0, atol=1e-12 * max(arc[-1], 1.0))) & (beyond > 0)
        pos[out] = s0 - beyond[out] if end == 0 else s0 + beyond[out]
    slope0 = (ro[1] - ro[0]) / max(arc[1] - arc[0], 1e-300)
    slope1 = (ro[-1] - ro[-2]) / max(arc[-1] - arc[-2], 1e-300)
    at = np.interp(pos, arc, ro)
    at = np.where(pos < arc[0], ro[0] + slope0 * (pos - arc[0]), at)
    at = np.where(pos > arc[-1], ro[-1] + slope1 * (pos - arc[-1]), at)
    return 1.0 - float(np.var(r - at)) / max(float(np.var(r)), 1e-300)


def measure_slow_manifold(step, states: StateSpace, x_star: torch.Tensor, *, n_points: int, relax_steps: int,
                          seed: int) -> SlowManifoldMeasurement:
    """Trace the slow manifold through the visited states and measure the paper's quantities along it:
    its one-dimensionality, its alignment with the readout, |lambda_1| and tau at its nodes, and r_1
    against its tangent."""
    from rnnlens.linearization import linearize
    from rnnlens.manifold import curve_variance_explained, project_on_curve, trace_slow_manifold

    w, mean, comps = states.w, states.mean, states.components
    curve = trace_slow_manifold(step, torch.from_numpy(states.X), readout=w, inputs=x_star, n_points=n_points,
                                relax_steps=relax_steps, seed=seed)
    nodes = curve.points
    lin = linearize(step, nodes, x_star.expand(nodes.shape[0], -1).clone())
    t = curve.tangent.cpu().numpy()
    eig = _np(lin.eigvals)
    R, L = _np(lin.R), _np(lin.L)
    r1, l1 = R[:, :, 0], L[:, 0, :]
    sign = np.where(np.einsum("ps,ps->p", r1.real, t) < 0, -1.0, 1.0)   # r_1 points to the high-readout end
    r1, l1 = r1 * sign[:, None], l1 * sign[:, None]
    al1 = np.abs(eig[:, 0]).astype(np.float64)
    tau = np.asarray(_np(lin.tau), dtype=np.float64)[:, :3]
    J = _np(lin.J_rec).astype(np.float64)
    sens = np.einsum("psk,s->pk", J, w)                # (w^T J_rec): the readout's sensitivity one step later
    cos_t = np.array([abs_cos(a, w) for a in t])
    cos_sens = np.array([abs_cos(a, g) for a, g in zip(t, sens)])
    cov_dir = readout_covariance_direction(states.X, w)      # where the states go as the readout changes
    cos_cov = np.array([abs_cos(a, cov_dir) for a in t])
    relaxed = curve.relaxed.cpu().numpy()
    chord = nodes[-1].cpu().numpy() - nodes[0].cpu().numpy()
    span = float(curve.readout.max() - curve.readout.min())
    final_states = np.stack([tr[-1] for tr in states.traj])
    finals = final_states @ w
    explained = _readout_explained(final_states, finals, nodes.cpu().numpy(), curve.arclength.cpu().numpy(),
                                   curve.readout.cpu().numpy())
    fp_unstable = curve.fixed_point_unstable.tolist()
    out = SlowManifoldMeasurement(curve=curve, lin=lin, l1=l1)
    out.metrics["slow_manifold"] = {
        "n_points": metric("slow_manifold.n_points", len(curve)),
        "relax_steps": metric("slow_manifold.relax_steps", relax_steps),
        "q_median": metric("slow_manifold.q_median", float(curve.q.median())),
        "q_max": metric("slow_manifold.q_max", float(curve.q.max())),
        "relaxed_q_median": metric("slow_manifold.relaxed_q_median", float(curve.relaxed_q.median()),
                                   steps=relax_steps),
        "one_dimensionality": metric("slow_manifold.one_dimensionality",
                                     curve_variance_explained(relaxed, nodes), steps=relax_steps),
        "top_pc_fraction": metric("slow_manifold.top_pc_fraction", float(pca_fit(relaxed, 2)[0][0]),
                                  steps=relax_steps),
        "readout_span_fraction": metric("slow_manifold.readout_span_fraction",
                                        span / max(float(np.ptp(finals)), 1e-12)),
        "tangent_readout_cos_median": metric("slow_manifold.tangent_readout_cos_median", float(np.median(cos_t))),
        "chord_readout_cos": metric("slow_manifold.chord_readout_cos", abs_cos(chord, w)),
        "readout_sensitivity_cos_median": metric("slow_manifold.readout_sensitivity_cos_median",
                                                 float(np.median(cos_sens))),
        "tangent_readout_covariance_cos_median": metric("slow_manifold.tangent_readout_covariance_cos_median",
                                                        float(np.median(cos_cov))),
        "readout_explained_by_position": metric("slow_manifold.readout_explained_by_position", explained),
        "readout_alignment": metric("slow_manifold.readout_alignment", float(np.median(cos_cov))),
        "abs_lambda1_median": metric("slow_manifold.abs_lambda1_median", float(np.median(al1))),
        "median_abs_dev_lambda1": metric("slow_manifold.median_abs_dev_lambda1", float(np.median(np.abs(al1 - 1)))),
        "frac_abs_lambda1_within_0_02": metric("slow_manifold.frac_abs_lambda1_within_0_02",
                                               float((np.abs(al1 - 1) <= 0.02).mean())),
        "n_slow_modes_median": metric("slow_manifold.n_slow_modes_median",
                                      float(np.median((np.abs(eig) > 0.98).sum(1)))),
        "tau_median": metric("slow_manifold.tau_median", np.median(tau, axis=0)),
        "r1_tangent_overlap_median": metric("slow_manifold.r1_tangent_overlap_median",
                                            float(np.median([abs_cos(a.real, b) for a, b in zip(r1, t)]))),
        "n_exact_fixed_points": metric("slow_manifold.n_exact_fixed_points", len(fp_unstable),
                                       tol=curve.info["fixed_point_tol"]),
        "exact_fixed_point_unstable": metric("slow_manifold.exact_fixed_point_unstable", fp_unstable),
        "method": curve.info["method"],
    }
    fps = curve.fixed_points
    fp_pc = ((torch.as_tensor(fps.points).double().cpu().numpy() - mean) @ comps.T) if len(fps) else np.zeros((0, 2))
    out.arrays.update(sm_points=nodes.cpu().numpy().astype(np.float32),     # in state space (e.g. for explore)
                      sm_pc=(nodes.cpu().numpy() - mean) @ comps.T, sm_q=curve.q.cpu().numpy(),
                      sm_position=curve.readout.cpu().numpy(), sm_arclength=curve.arclength.cpu().numpy(),
                      sm_abs_lambda1=al1, sm_tau=tau, sm_tangent_cos=cos_t, sm_sensitivity_cos=cos_sens,
                      sm_covariance_cos=cos_cov,
                      sm_fp_pc=fp_pc, sm_fp_unstable=np.asarray(fp_unstable, dtype=np.int64),
                      sm_fp_position=(torch.as_tensor(fps.points).double().cpu().numpy() @ w) if len(fps)
                      else np.zeros(0),
                      sm_fp_arclength=project_on_curve(torch.as_tensor(fps.points).double().cpu(),
                                                       nodes.cpu())[0].numpy() if len(fps) else np.zeros(0))
    return out
