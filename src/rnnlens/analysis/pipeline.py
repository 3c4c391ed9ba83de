"""``analyze``: every measurement of PAPER.md steps 4-8 on one trained model, saved with provenance.

The fixed-point solver and the linearization are imported lazily, inside :func:`analyze`, so that
``rnnlens.report`` (which only reads saved results) never loads them.
"""

from __future__ import annotations

import datetime as _dt
import platform
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from rnnlens._version import code_version
from rnnlens.analysis import checks as _checks
from rnnlens.analysis.dynamics import approach_speed, linear_rollout, nearest_point, one_step_errors
from rnnlens.analysis.geometry import (abs_cos, against_null, expected_random_abs_cos, manifold_axis, pca_fit,
                                       pca_variance, random_abs_cos, readout_direction)
from rnnlens.analysis.io import ARRAYS_FILE, SCHEMA, SUMMARY_FILE, write_arrays, write_json
from rnnlens.analysis.modes import SIGN_CONVENTION, input_projections, mode_stats, orient_top_mode
from rnnlens.analysis.valence import valence_summary
from rnnlens.errors import ArgumentError, DataError


@dataclass
class AnalysisResult:
    """What :func:`analyze` measured.

    ``summary``: the JSON-able dict written to ``summary.json`` (every number with its definition);
    ``arrays``: the arrays written to ``arrays.npz`` (for figures); ``fixed_points``: the solver's
    ``FixedPoints`` for every seed (None if not run); ``linearization``: the ``Linearization`` at
    the fixed points with q < tol (None if there were none); ``out_dir``: where it was saved.
    """

    summary: dict
    arrays: dict = field(default_factory=dict)
    fixed_points: object | None = None
    linearization: object | None = None
    out_dir: Path | None = None

    @property
    def complete(self) -> bool:
        """True when no measurement is missing."""
        return not self.summary["missing"]

    def value(self, dotted: str):
        """The value of a metric by dotted name, e.g. ``result.value("fixed_points.n_converged")``."""
        node = self.summary["metrics"]
        for part in dotted.split("."):
            node = node[part]
        return node["value"] if isinstance(node, dict) and "value" in node else node


def _m(value, definition: str) -> dict:
    return {"value": value, "definition": definition}


# ------------------------------------------------------------------------------------------ inputs
def _resolve_model(checkpoint_or_model, vocab):
    from rnnlens.checkpoint import Checkpoint, load_checkpoint

    if isinstance(checkpoint_or_model, (str, Path)):
        ck = load_checkpoint(checkpoint_or_model)
        return ck.model, ck.vocab, dict(ck.record), str(ck.path)
    if isinstance(checkpoint_or_model, Checkpoint):
        ck = checkpoint_or_model
        return ck.model, ck.vocab, dict(ck.record), str(ck.path) if ck.path else None
    if isinstance(checkpoint_or_model, torch.nn.Module):
        if vocab is None:
            raise ArgumentError("analyze(model, corpus): a bare model needs vocab= (its rnnlens.data.Vocab); or "
                                "pass a checkpoint folder / Checkpoint")
        return checkpoint_or_model, vocab, {}, None
    raise ArgumentError(f"analyze: checkpoint_or_model must be a checkpoint folder, a Checkpoint or a "
                        f"SentimentRNN; got {type(checkpoint_or_model).__name__}")


def _bow_coefficients(bow, vocab_words, corpus_fingerprint):
    """{word: coefficient along the readout direction} from a BagOfWords, its JSON path or a dict."""
    if bow is None:
        return None, None
    if isinstance(bow, dict):
        return {str(k): float(v) for k, v in bow.items()}, {"source": "dict"}
    if isinstance(bow, (str, Path)):
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


@dataclass
class _Docs:
    ids: list          # list of int64 arrays (non-empty)
    labels: np.ndarray
    index: np.ndarray  # positions in the split
    n_empty: int
    n_truncated: int
    unk_fraction: float


def _select_docs(vocab, split, n_docs, max_length, seed) -> _Docs:
    n_total = len(split.texts)
    order = np.arange(n_total)
    if n_docs < n_total:
        order = np.sort(np.random.default_rng(seed).choice(n_total, n_docs, replace=False))
    ids, labels, index, n_empty, n_trunc, n_tok, n_unk = [], [], [], 0, 0, 0, 0
    for i in order:
        x = np.asarray(vocab.encode(split.texts[i]), dtype=np.int64)
        if x.size == 0:
            n_empty += 1
            continue
        n_tok += x.size
        n_unk += int((x == 1).sum())
        if max_length is not None and x.size > max_length:
            x = x[:max_length]
            n_trunc += 1
        ids.append(x)
        labels.append(int(split.labels[i]))
        index.append(int(i))
    return _Docs(ids, np.asarray(labels, dtype=np.int64), np.asarray(index), n_empty, n_trunc,
                 n_unk / max(n_tok, 1))


def _padded_batches(docs: _Docs, batch_size: int):
    """Yield (positions, ids [B, T], lengths [B]) over documents sorted by length."""
    order = np.argsort([len(x) for x in docs.ids], kind="stable")
    for a in range(0, len(order), batch_size):
        pos = order[a:a + batch_size]
        lengths = torch.tensor([len(docs.ids[p]) for p in pos])
        ids = torch.zeros(len(pos), int(lengths.max()), dtype=torch.long)
        for r, p in enumerate(pos):
            ids[r, :len(docs.ids[p])] = torch.from_numpy(docs.ids[p])
        yield pos, ids, lengths


@torch.no_grad()
def collect_states(model, docs: _Docs, *, batch_size: int = 64) -> list[np.ndarray]:
    """Every visited state per document: a list of [length, S] float32 arrays (state after each token)."""
    out = [None] * len(docs.ids)
    for pos, ids, lengths in _padded_batches(docs, batch_size):
        hs = model.states(ids, lengths)
        for r, p in enumerate(pos):
            out[p] = hs[r, :int(lengths[r])].float().numpy()
    return out


# ------------------------------------------------------------------------------------------ analyze
def analyze(checkpoint_or_model, corpus, *, vocab=None, bow=None, split: str = "test", n_docs: int = 1000,
            n_seeds: int = 500, input_point: str = "zero", tol: float = 1e-8, max_length: int | None = None,
            n_transitions: int = 20000, max_pca_states: int = 200000, n_linear_docs: int | None = None, n_speed: int = 200,
            speed_steps: int = 100, n_group: int = 100, seed: int = 0, untrained_seed: int = 0,
            solver_options: dict | None = None, tol_sweep=(1e-7, 1e-6, 1e-5), out_dir=None) -> AnalysisResult:
    """Measure the line-attractor picture of one trained model on ``corpus[split]`` documents.

    Args:
        checkpoint_or_model: a checkpoint folder, a ``Checkpoint``, or a ``SentimentRNN`` (then pass
            ``vocab=``).
        corpus: an ``rnnlens.data.Corpus``; its ``truth`` (synthetic corpora) adds the true-valence check.
        bow: bag-of-words coefficients (``BagOfWords``, its JSON file, or ``{word: coef}``) for the
            word-valence comparison and the positive/negative/neutral word groups.
        n_docs: documents (a seeded random subset of the split) for PCA, seeds and trajectories.
        n_seeds: seeds for the fixed-point search, drawn from visited states.
        input_point: ``"zero"`` (x* = 0, the paper) or ``"mean"`` (x* = mean embedding over the
            vocabulary, padding excluded).
        tol: keep fixed points with q = (1/N)||F(h*, x*) - h*||^2 < tol.
        tol_sweep: looser tolerances at which the search is repeated on the same seeds, reported under
            ``fixed_points.by_tolerance`` (a diagnostic: exact fixed points vs the slow manifold).
        max_length: cut documents to this many tokens (counted in the summary); None keeps all.
        n_transitions: transitions sampled for the one-step linearization error.
        max_pca_states: at most this many visited states (a seeded random subset) enter the PCA.
        n_linear_docs: documents classified with the linearized dynamics (default: all n_docs).
        n_speed, speed_steps: starting states and steps for the approach-to-attractor speed.
        n_group: size of the most positive / negative / neutral word groups.
        out_dir: when given, write ``summary.json``, ``arrays.npz`` and ``fixed_points.safetensors`` there.

    Returns an :class:`AnalysisResult`. When no fixed point reaches ``tol`` the analysis still
    completes the measurements that do not need one and lists the rest under ``missing``.
    """
    from rnnlens.fixedpoints import as_step, find_fixed_points, sample_seeds
    from rnnlens.linearization import linearize

    model, vocab, record, ck_path = _resolve_model(checkpoint_or_model, vocab)
    model.eval()
    if input_point not in ("zero", "mean"):
        raise ArgumentError(f"input_point={input_point!r}: choose 'zero' (the paper) or 'mean'")
    for name, v, lo in (("n_docs", n_docs, 2), ("n_seeds", n_seeds, 1), ("n_transitions", n_transitions, 1), ("max_pca_states", max_pca_states, 2),
                        ("n_speed", n_speed, 1), ("speed_steps", speed_steps, 1), ("n_group", n_group, 1)):
        if isinstance(v, bool) or not isinstance(v, int) or v < lo:
            raise ArgumentError(f"analyze: {name} must be an integer >= {lo}; got {v!r}")
    if split not in corpus.splits:
        raise DataError(f"corpus {corpus.name!r} has no {split!r} split (it has {sorted(corpus.splits)}); "
                        "pass split= one of those")
    num_classes = getattr(model, "num_classes", None)
    if num_classes is not None and num_classes != corpus.num_classes:
        raise DataError(f"the model classifies {num_classes} labels but corpus {corpus.name!r} has "
                        f"{corpus.num_classes} ({corpus.label_names}); analyze it on the dataset it was trained on")
    fingerprint = corpus.fingerprint()
    docs = _select_docs(vocab, corpus.splits[split], n_docs, max_length, seed)
    if len(docs.ids) < 2:
        raise DataError(f"corpus {corpus.name!r} split {split!r}: fewer than 2 non-empty documents after "
                        "encoding; nothing to analyze")
    if docs.unk_fraction > 0.5:
        raise DataError(f"{100 * docs.unk_fraction:.0f}% of the tokens of corpus {corpus.name!r} ({split}) are "
                        "unknown to the checkpoint's vocabulary: the vocabulary does not match this dataset. "
                        "Analyze the checkpoint on the dataset it was trained on (see its config.json record).")
    missing: list[dict] = []
    settings = dict(split=split, n_docs_requested=n_docs, n_seeds=n_seeds, input_point=input_point, tol=tol,
                    tol_sweep=[float(t) for t in tol_sweep],
                    max_length=max_length, n_transitions=n_transitions, max_pca_states=max_pca_states, n_linear_docs=n_linear_docs,
                    n_speed=n_speed, speed_steps=speed_steps, n_group=n_group, seed=seed,
                    untrained_seed=untrained_seed, solver_options=solver_options or {})
    metrics: dict = {}
    arrays: dict = {}
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)

    # ---- states and PCA (trained vs an untrained copy)
    traj = collect_states(model, docs)
    X = np.concatenate(traj)
    S = X.shape[1]
    from rnnlens.model import SentimentRNN
    torch.manual_seed(untrained_seed)
    untrained = SentimentRNN(**model.config()).eval()
    X0 = np.concatenate(collect_states(untrained, docs))
    pca_rows = np.arange(X.shape[0])
    if X.shape[0] > max_pca_states:
        pca_rows = np.sort(rng.choice(X.shape[0], max_pca_states, replace=False))
    cum, mean2, comps10 = pca_fit(X[pca_rows], 10)
    comps2 = comps10[:2]
    cum0 = pca_variance(X0[pca_rows], 10)
    metrics["data"] = {
        "n_docs": _m(len(docs.ids), f"documents of the {split!r} split analysed (seeded random subset)"),
        "n_empty_skipped": _m(docs.n_empty, "documents with no tokens after encoding, skipped"),
        "n_truncated": _m(docs.n_truncated, "documents cut to max_length tokens"),
        "n_states": _m(int(X.shape[0]), "visited states (one per token of the analysed documents)"),
        "n_states_pca": _m(int(pca_rows.size), "states used for PCA (all, or a seeded random subset of "
                                               "max_pca_states when there are more)"),
        "unk_fraction": _m(docs.unk_fraction, "fraction of tokens not in the model's vocabulary"),
        "state_size": _m(S, "S, numbers per state (2N for the LSTM: [h, c])"),
    }
    metrics["pca"] = {
        "trained_cumulative": _m(cum, "cumulative fraction of state variance explained by PCs 1..k (k=1..10), "
                                      "PCA (scikit-learn) of every visited state of the analysed documents"),
        "untrained_cumulative": _m(cum0, "the same for an untrained copy (same architecture, fresh init with "
                                         "torch seed untrained_seed) on the same documents"),
    }
    arrays.update(pca_trained=cum, pca_untrained=cum0, pc_mean=mean2, pc_components=comps2)
    proj_sample = rng.choice(X.shape[0], min(X.shape[0], 20000), replace=False)
    arrays["state_pc"] = ((X[proj_sample] - mean2) @ comps2.T).astype(np.float32)
    doc_of_state = np.repeat(np.arange(len(traj)), [len(t) for t in traj])
    arrays["state_label"] = docs.labels[doc_of_state[proj_sample]]
    arrays["final_pc"] = ((np.stack([t[-1] for t in traj]) - mean2) @ comps2.T).astype(np.float32)
    arrays["final_label"] = docs.labels

    # ---- readout, accuracy on these docs
    W = model.readout_matrix().double().numpy()
    w = readout_direction(W)
    arrays["readout_pc"] = comps2 @ w
    with torch.no_grad():
        finals = torch.from_numpy(np.stack([t[-1] for t in traj]))
        pred = _predict(model.logits_from_state(finals))
    rnn_acc = float((pred == docs.labels).mean())
    metrics["data"]["rnn_accuracy"] = _m(rnn_acc, "accuracy of the network on the analysed documents")

    # ---- fixed points
    step = as_step(model.cell)
    emb = model.embedding.weight.detach().double()
    x_star = torch.zeros(emb.shape[1], dtype=torch.float64)
    if input_point == "mean":
        x_star = emb[1:].mean(0)
    seeds = sample_seeds(torch.from_numpy(X), None, n=n_seeds, seed=seed, replace=n_seeds > X.shape[0])
    inputs = x_star.to(seeds.dtype).expand(seeds.shape[0], -1).clone()
    fps = find_fixed_points(step, seeds, inputs, tol=tol, **(solver_options or {}))
    conv = np.asarray(fps.converged, dtype=bool)
    q = np.asarray(fps.q, dtype=np.float64)
    dist = np.asarray(fps.distance, dtype=np.float64)
    metrics["fixed_points"] = {
        "n_seeds": _m(int(len(fps)), "seeds drawn from visited states (fixedpoints.sample_seeds)"),
        "n_converged": _m(int(conv.sum()), f"points with q = (1/N)||F(h*, x*) - h*||^2 < {tol:g} (x* = "
                                           f"{input_point} input); the paper's definition of q"),
        "n_slow": _m(int(np.asarray(fps.slow).sum()), "points that stalled at a local minimum of q above tol"),
        "q_min": _m(float(q.min()), "smallest q reached over all seeds"),
        "q_median": _m(float(np.median(q)), "median q over all seeds"),
        "distance_median": _m(float(np.median(dist)), "median ||h* - seed|| (how far points travelled)"),
        "distance_max": _m(float(dist.max()), "largest ||h* - seed||"),
    }
    arrays["fp_q"] = q
    arrays["fp_distance"] = dist
    metrics["fixed_points"]["by_tolerance"] = _tolerance_sweep(
        step, seeds, inputs, fps, tol_sweep, solver_options or {}, w, X[pca_rows])
    lin = None
    if conv.sum() == 0:
        missing.append({"what": "fixed-point geometry, spectra, word valence, linearization",
                        "why": f"no fixed point reached q < {tol:g} from {len(fps)} seeds (smallest q "
                               f"{q.min():.3g}); try more seeds (n_seeds), more solver iterations or check "
                               "that the network was trained"})
    else:
        good = fps[torch.from_numpy(conv)]
        points = torch.as_tensor(good.points).double()
        P_np = points.numpy()
        man = manifold_axis(P_np, readout=w)
        m = man["m"]
        visible = np.any(W != 0, axis=0)  # coordinates with a readout weight (LSTM: the h block)
        arrays.update(fp_pc=((P_np - mean2) @ comps2.T), fp_theta=man["theta"], m_pc=comps2 @ m)
        Xt = torch.from_numpy(X[pca_rows]).double()
        near = Xt[nearest_point(points, Xt)]
        d_vis = torch.linalg.vector_norm(points - near, dim=1).numpy()
        radius = float(np.sqrt(((X[pca_rows] - X[pca_rows].mean(0)) ** 2).sum(1).mean()))
        metrics["fixed_points"]["dist_to_visited_median"] = _m(
            float(np.median(d_vis)), "median over fixed points (q < tol) of the distance to the nearest visited state "
            "(of the PCA states)")
        metrics["fixed_points"]["visited_rms_radius"] = _m(
            radius, "RMS distance of the visited states from their mean (the size of the visited region)")
        arrays["fp_dist_to_visited"] = d_vis
        metrics["manifold"] = {
            "top_pc_fraction": _m(man["top_pc_fraction"], "variance of the fixed points (q < tol) along their top "
                                  "PC / their total variance (nan with fewer than 2 distinct points)"),
            "cumulative": _m(man["cumulative"], "cumulative variance fractions of the fixed points' PCs 1..k"),
            "readout_cos": _m(man["readout_cos"], "|cos| between m (top PC of the fixed points) and the readout "
                              "direction (binary: the readout row; k classes: W[last] - W[first])"),
            "m_readout_visible_fraction": _m(float(np.sum(m[visible] ** 2)), "fraction of m's squared length on "
                                             "the state coordinates the readout sees (1 except for the LSTM, "
                                             "whose readout sees h but not the cell state c)"),
            "readout_cos_visible": _m(abs_cos(m[visible], w[visible]),
                                      "|cos| between m and the readout restricted to the coordinates the readout "
                                      "sees (equals readout_cos except for the LSTM)"),
            "readout_cos_null_p99": _m(float(np.percentile(random_abs_cos(S, 10000, seed=seed), 99)),
                                       "99th percentile of |cos| for random unit vectors in R^S"),
            "theta_definition": "theta = projection (h* - mean) . m rescaled linearly to [-1, 1] (min -> -1, "
                                "max -> +1); m is oriented so that readout . m >= 0, so theta = +1 is the end with "
                                "the largest logit. The paper used LLE; on a near-straight manifold both order "
                                "the points alike, and the projection needs no neighbourhood size.",
        }
        lin = linearize(step, points, x_star.expand(points.shape[0], -1).clone())
        eig = _np(lin.eigvals)
        r1, l1, w_r1 = orient_top_mode(_np(lin.R), _np(lin.L), w)
        st = mode_stats(eig, _np(lin.tau), r1, m)
        null = random_abs_cos(S, 10000, seed=seed + 1)
        cmp_null = against_null(st["r1_m_overlap"], null)
        al1 = st["abs_lambda1"]
        metrics["modes"] = {
            "abs_lambda1_median": _m(float(np.median(al1)), "median over fixed points of |lambda_1|, the largest "
                                     "eigenvalue modulus of J_rec = dF/dh at (h*, x*)"),
            "frac_abs_lambda1_gt_0_98": _m(float((al1 > 0.98).mean()), "fraction of fixed points with |lambda_1| > 0.98"),
            "frac_abs_lambda1_within_0_02": _m(float((np.abs(al1 - 1) <= 0.02).mean()),
                                               "fraction of fixed points with | |lambda_1| - 1 | <= 0.02"),
            "median_abs_dev_lambda1": _m(float(np.median(np.abs(al1 - 1))), "median over fixed points of "
                                         "| |lambda_1| - 1 |"),
            "n_slow_modes_median": _m(float(np.median((np.abs(eig) > 0.98).sum(1))), "median over fixed points of the "
                                      "number of eigenvalues with |lambda| > 0.98 (1 on a line attractor; many where "
                                      "the gates saturate, e.g. a GRU update gate z = 1 makes h' = h)"),
            "input_gain_median": _m(float(np.median(np.linalg.norm(_np(lin.J_inp).reshape(len(eig), -1), axis=1))),
                                    "median over fixed points of the Frobenius norm of J_inp (about 0 at saturated "
                                    "points, where no word moves the state)"),
            "tau_median": _m(np.median(st["tau_top"], axis=0), "median over fixed points of tau_a = 1/|ln|lambda_a||"
                             " (tokens) for the 3 slowest modes a = 1..3"),
            "n_unstable_median": _m(float(np.median(_np(lin.n_unstable))), "median number of |lambda| > 1"),
            "r1_m_overlap_median": _m(float(np.median(st["r1_m_overlap"])), "median over fixed points of |cos| "
                                      "between r_1 (top right eigenvector) and m"),
            "r1_m_percentile_median": _m(float(np.median(cmp_null["percentile"])), "median over fixed points of "
                                         "the percentile of |r_1 . m| within the null (|cos| of 10,000 random unit "
                                         "vectors in R^S with m)"),
            "r1_m_z_median": _m(float(np.median(cmp_null["z"])), "median z-score of |r_1 . m| against that null"),
            "null_mean": _m(cmp_null["null_mean"], "mean |cos| of the null sample"),
            "null_mean_closed_form": _m(expected_random_abs_cos(S), "E|cos| for random unit vectors in R^S, "
                                        "Gamma(S/2)/(sqrt(pi) Gamma((S+1)/2))"),
            "readout_dot_r1_median": _m(float(np.median(w_r1)), "median readout . r_1 after orientation (>= 0)"),
        }
        arrays.update(eigvals=eig.astype(np.complex64), abs_lambda1=al1, tau_top=st["tau_top"],
                      r1_m_overlap=st["r1_m_overlap"], null_abs_cos=null.astype(np.float32),
                      r1_pc=(comps2 @ r1.real.T).T)

        # ---- word valence
        bow_coef, bow_info = _bow_coefficients(bow, vocab.itos, fingerprint)
        truth = getattr(getattr(corpus, "truth", None), "valence", None) or None
        proj = input_projections(l1, _np(lin.J_inp), emb.numpy())
        val = valence_summary(proj, list(vocab.itos), bow_coef=bow_coef, truth=truth, n_group=n_group)
        vm = {"definition": "valence of a word = Re(l_1^T J_inp x_word) at a fixed point, x_word its embedding; "
                            "positive pushes towards a larger logit (see sign_convention)",
              "mean_abs": _m(float(np.abs(val["mean"][2:]).mean()), "mean |valence| over the vocabulary "
                             "(special tokens excluded), valence averaged over fixed points"),
              "spread_median": _m(float(np.median(val["std"][2:])), "median over words of the std of the valence "
                                  "across fixed points")}
        if bow_coef is not None:
            vm["bow"] = bow_info
            vm["spearman_bow"] = _m(val["spearman_bow"], f"Spearman correlation of the mean valence with the "
                                    f"bag-of-words coefficients over {val['n_words_bow']} shared words")
            g = val["groups"]
            for kind in ("positive", "negative", "neutral"):
                vm[f"{kind}_mean"] = _m(g[kind]["mean"], f"mean valence of the {g['n']} most {kind} words by "
                                        "bag-of-words coefficient (averaged over words and fixed points)")
                vm[f"{kind}_words"] = g[kind]["words"][:20]
                arrays[f"group_{kind}"] = g[kind]["per_point"]
            vm["group_size"] = g["n"]
        else:
            missing.append({"what": "word valence vs bag-of-words coefficients and the word groups",
                            "why": "no bag-of-words baseline was given (bow=...; `rnnlens baseline`)"})
        if truth is not None:
            vm["spearman_truth"] = _m(val["spearman_truth"], f"Spearman correlation of the mean valence with the "
                                      f"corpus's true word valence over {val['n_words_truth']} words")
            tw = [i for i, t in enumerate(vocab.itos) if t in truth]
            arrays["truth_valence"] = np.array([truth[vocab.itos[i]] for i in tw])
            arrays["truth_model_valence"] = val["mean"][tw]
        metrics["valence"] = vm
        arrays["valence_mean"] = val["mean"].astype(np.float32)
        arrays["valence_std"] = val["std"].astype(np.float32)
        if bow_coef is not None:
            bw = [i for i, t in enumerate(vocab.itos) if t in bow_coef and i > 1]
            arrays["bow_coef"] = np.array([bow_coef[vocab.itos[i]] for i in bw])
            arrays["bow_model_valence"] = val["mean"][bw]

        # ---- linearized dynamics
        metrics["linearization"] = _linear_checks(model, docs, traj, pred, points, x_star, lin, n_transitions,
                                                  n_linear_docs, rng, arrays, mean2, comps2)

    # ---- approach to the attractor
    h0 = torch.from_numpy(X[rng.choice(X.shape[0], min(n_speed, X.shape[0]), replace=False)])
    with torch.no_grad():
        speed = approach_speed(model.cell.step, h0, x_star.float(), speed_steps).double().numpy()
    med = np.median(speed, axis=0)
    metrics["speed"] = {
        "median_by_step": _m(med, f"median over {h0.shape[0]} visited starting states of ||h_(t+1) - h_t|| / ||h_t||, "
                                  f"t = 0..{speed_steps - 1}, running with constant input x* ({input_point})"),
        "median_first": _m(float(med[0]), "median normalised speed at the first step"),
        "median_last": _m(float(med[-1]), f"median normalised speed after {speed_steps} steps"),
    }
    arrays["speed"] = speed.astype(np.float32)

    summary = {
        "schema": SCHEMA,
        "status": "partial" if missing else "complete",
        "missing": missing,
        "sign_convention": SIGN_CONVENTION,
        "provenance": {
            "checkpoint": ck_path, "record": {k: v for k, v in record.items() if k != "vocab"},
            "model": model.config() if hasattr(model, "config") else None,
            "dataset": corpus.name, "label_names": list(corpus.label_names), "corpus_fingerprint": fingerprint, "corpus_source": str(corpus.source),
            "trained_on_same_corpus": (record.get("data_fingerprint") == fingerprint
                                       if "data_fingerprint" in record else None),
            "code_version": code_version(), "torch": torch.__version__, "python": platform.python_version(),
            "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        },
        "settings": settings,
        "metrics": metrics,
        "arrays_file": ARRAYS_FILE,
    }
    summary["checks"] = _checks.evaluate(summary, truth=getattr(corpus, "truth", None) is not None)
    result = AnalysisResult(summary=summary, arrays=arrays, fixed_points=fps, linearization=lin)
    if out_dir is not None:
        save_analysis(result, out_dir)
    return result


def _tolerance_sweep(step, seeds, inputs, fps_at_tol, tols, solver_options, w, visited) -> dict:
    """The same seeds solved again at looser tolerances: how the picture depends on where each point
    is allowed to stop. With the paper's q < 1e-8 a network whose line is only approximately slow
    can give a few clusters at its exact fixed points; at looser tolerances the points stop on the
    slow manifold near where they started. Diagnostic only: the checks use ``tol``."""
    from rnnlens.fixedpoints import find_fixed_points

    rows = []
    Xt = torch.from_numpy(visited).double()
    tol = float(fps_at_tol.tol)
    for t in sorted({tol, *map(float, tols)}):
        fps = fps_at_tol if t == tol else find_fixed_points(step, seeds, inputs, tol=t, **solver_options)
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
    return _m(rows, "the fixed-point search rerun on the same seeds with tolerance tol on q = (1/N)||F(h*, x*) - "
                    "h*||^2: points under tol, median distance travelled from the seed, and for those points the "
                    "variance on their top PC, |cos(m, readout)| and median distance to the nearest visited state")


def save_analysis(result: AnalysisResult, out_dir) -> Path:
    """Write ``arrays.npz``, ``fixed_points.safetensors`` and finally ``summary.json`` (each atomically) to ``out_dir``."""
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ArgumentError(f"{out}: exists and is not a folder; pass -o a folder path")
    out.mkdir(parents=True, exist_ok=True)
    write_arrays(out / ARRAYS_FILE, result.arrays)
    if result.fixed_points is not None and hasattr(result.fixed_points, "save"):
        result.fixed_points.save(out / "fixed_points.safetensors")
    write_json(out / SUMMARY_FILE, result.summary)
    result.out_dir = out
    return out


def _np(t) -> np.ndarray:
    return t.detach().cpu().numpy() if isinstance(t, torch.Tensor) else np.asarray(t)


def _predict(logits: torch.Tensor) -> np.ndarray:
    return (logits > 0).long().numpy() if logits.dim() == 1 else logits.argmax(-1).numpy()


@torch.no_grad()
def _linear_checks(model, docs, traj, rnn_pred, points, x_star, lin, n_transitions, n_linear_docs, rng,
                   arrays, mean2, comps2) -> dict:
    emb = model.embedding.weight.detach().double()
    init = model.cell.init_state(1).double().numpy()[0]
    # transitions (h_{t-1}, x_t) -> h_t, h_{-1} = the initial state
    lengths = np.array([len(t) for t in traj])
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    pick = np.sort(rng.choice(offsets[-1], min(n_transitions, offsets[-1]), replace=False))
    d = np.searchsorted(offsets, pick, side="right") - 1
    t = pick - offsets[d]
    h_next = np.stack([traj[i][j] for i, j in zip(d, t)]).astype(np.float64)
    h_prev = np.stack([traj[i][j - 1] if j > 0 else init for i, j in zip(d, t)]).astype(np.float64)
    tok = torch.tensor([int(docs.ids[i][j]) for i, j in zip(d, t)])
    J_rec, J_inp = torch.as_tensor(lin.J_rec).double(), torch.as_tensor(lin.J_inp).double()
    err, _, _ = one_step_errors(torch.from_numpy(h_prev), emb[tok], torch.from_numpy(h_next), points, x_star,
                                J_rec, J_inp)
    err = err.numpy()
    arrays["one_step_error"] = err.astype(np.float32)
    # example trajectory: the document closest to the median length, true vs one-step linearized
    ex = int(np.argsort(lengths)[len(lengths) // 2])
    H = traj[ex].astype(np.float64)
    Hp = np.vstack([init[None], H[:-1]])
    _, h_lin, _ = one_step_errors(torch.from_numpy(Hp), emb[torch.from_numpy(docs.ids[ex])], torch.from_numpy(H),
                                  points, x_star, J_rec, J_inp)
    arrays["example_true_pc"] = (H - mean2) @ comps2.T
    arrays["example_lin_pc"] = (h_lin.numpy() - mean2) @ comps2.T
    # classification with the linearized dynamics alone
    n_lin = len(traj) if n_linear_docs is None else min(n_linear_docs, len(traj))
    sel = np.sort(rng.choice(len(traj), n_lin, replace=False))
    correct, agree, diverged = 0, 0, 0
    sub = _Docs([docs.ids[i] for i in sel], docs.labels[sel], sel, 0, 0, 0.0)
    for pos, ids, lens in _padded_batches(sub, 128):
        h0 = model.cell.init_state(len(pos)).double()
        final, div = linear_rollout(emb[ids], lens, h0, points, x_star, J_rec, J_inp)
        ok = ~div
        pred = np.full(len(pos), -1)
        if ok.any():
            pred[ok.numpy()] = _predict(model.logits_from_state(final[ok].to(model.readout.weight.dtype)))
        rnn = rnn_pred[sel[pos]]
        correct += int((pred == sub.labels[pos]).sum())
        agree += int((pred == rnn).sum())
        diverged += int(div.sum())
    return {
        "one_step_error_median": _m(float(np.median(err)), f"median over {err.size} sampled transitions of the "
                                    "analysed documents of ||h_next - h_lin|| / ||h_next||, h_lin = h* + J_rec "
                                    "(h - h*) + J_inp (x - x*) around the fixed point nearest to h"),
        "one_step_error_mean": _m(float(err.mean()), "mean of the same relative one-step error"),
        "one_step_error_p90": _m(float(np.percentile(err, 90)), "90th percentile of the same"),
        "linear_accuracy": _m(correct / n_lin, f"accuracy on {n_lin} documents of the readout applied to the state "
                              "reached by the linearized dynamics alone (every step linearized around the fixed "
                              "point nearest the current linearized state; diverged runs count as wrong)"),
        "rnn_accuracy_same_docs": _m(float((rnn_pred[sel] == docs.labels[sel]).mean()),
                                     "accuracy of the network itself on the same documents"),
        "linear_rnn_agreement": _m(agree / n_lin, "fraction of those documents where the linearized and the "
                                   "true dynamics predict the same label"),
        "linear_diverged": _m(diverged, "linearized runs whose state became non-finite"),
        "example_doc_length": _m(int(lengths[ex]), "tokens in the example trajectory (median-length document)"),
    }
