"""The modifier measurement itself (definitions: :mod:`rnnlens.analysis.modifiers`): the factors and their
intervals, the true factors of a synthetic corpus, the excursion off the line, the eigenmodes at the excursion
states and the linearized explanation; :func:`measure_modifiers` runs them on one :class:`ModifierRequest`."""

from __future__ import annotations

import math
import time

import numpy as np
import torch

from rnnlens.analysis.modifiers.design import Design, ModifierRequest, make_design
from rnnlens.analysis.modifiers.dynamics import (
    chains,
    final_states,
    input_projection,
    nearest,
    solver_step,
    state_dtype,
    word_effects,
)
from rnnlens.analysis.modifiers.estimators import (
    agreement,
    bootstrap_ratio,
    ls_ratio,
    median_ratio,
    participation_ratio,
)
from rnnlens.analysis.modifiers.result import ModifierAnalysis
from rnnlens.analysis.modifiers.summary import summarize
from rnnlens.device import to_device, to_numpy

__all__ = ["measure_modifiers", "factors", "truth_factors", "excursion", "eigenmodes", "linearized_factors"]


def factors(eff: np.ndarray, M: int, n_boot: int, seed: int) -> dict:
    """The factor of each modifier at each gap (least-squares ratio against the control), its bootstrap
    interval (generator seeded ``[seed, 2]``) and the median-ratio cross-check, each [M, max_gap]."""
    max_gap = eff.shape[1]
    factor = np.full((M, max_gap), np.nan)
    lo, hi, med = factor.copy(), factor.copy(), factor.copy()
    brng = np.random.default_rng([seed, 2])
    for i in range(M):
        for k in range(max_gap):
            num, den = eff[i, k], eff[M, k]
            factor[i, k] = ls_ratio(num, den)
            med[i, k] = median_ratio(num, den)
            lo[i, k], hi[i, k] = bootstrap_ratio(num, den, n_boot, brng)
    return {"factor": factor, "lo": lo, "hi": hi, "med": med}


def truth_factors(truth, itos, design: Design, gaps: tuple[int, int], n: int = 10) -> np.ndarray:
    """The factor the corpus's rules give, measured the same way on the true score (the first ``n`` contexts);
    ``gaps`` is ``(max_gap, settle)``."""
    max_gap, settle = gaps
    M = design.M
    prefixes, lead_ids, fillers = design.prefixes[:n], design.lead_ids[:, :n], design.fillers[:n]
    out = np.full((M, max_gap), np.nan)
    for k in range(1, max_gap + 1):
        eff = np.zeros((M + 1, len(prefixes), len(design.words)))
        for c, pre in enumerate(prefixes):
            head = [itos[i] for i in pre]
            for i in range(M + 1):
                chain = [itos[lead_ids[i, c]]] + [itos[j] for j in fillers[c]]
                after = chain[k + 1 : k + 1 + settle]
                base = truth.score(head + chain[: k + 1] + after)[0]
                for j, wid in enumerate(design.words):
                    eff[i, c, j] = truth.score(head + chain[:k] + [itos[wid]] + after)[0] - base
        for i in range(M):
            out[i, k - 1] = ls_ratio(eff[i], eff[M])
    return out


def excursion(X: np.ndarray, design: Design, max_gap: int) -> dict:
    """The excursion e_j (state after the modifier minus state after the control, j fillers later) of the
    trajectories ``X`` [M + 1, T + 1, C, S]: its part normal to the local tangent and its return, its size, its
    angle to the line and its dimensionality."""
    M, T, C = design.M, design.T, design.C
    exc = X[:M] - X[M][None]  # [M, T + 1, C, S]
    near = nearest(X[M].reshape(-1, X.shape[-1]), design.line.nodes).reshape(T + 1, C)  # control states -> node
    tan = design.line.tangents[near]  # [T + 1, C, S]
    along = np.einsum("mjcs,jcs->mjc", exc, tan)
    perp = exc - along[..., None] * tan[None]
    perp_norm = np.linalg.norm(perp, axis=-1)  # [M, T + 1, C]
    ratio = np.median(perp_norm / np.maximum(perp_norm[:, :1], 1e-300), axis=2)  # [M, T + 1]
    e0 = exc[:, 0]  # [M, C, S]
    e0_norm = np.linalg.norm(e0, axis=-1)
    cos_t = np.abs(np.einsum("mcs,cs->mc", e0, tan[0])) / np.maximum(e0_norm, 1e-300)
    return {
        "exc": exc,
        "tan": tan,
        "ratio": ratio,
        "e0": e0,
        "e0_norm": e0_norm,
        "cos_t": cos_t,
        "shares": [participation_ratio(e0[i]) for i in range(M)],
        "joint": participation_ratio(e0.reshape(-1, e0.shape[-1])),
        "life": participation_ratio(exc[:, :max_gap].reshape(-1, exc.shape[-1])),
    }


def _return_tau(Rm, Lm, tau_all, e0, tan0) -> float:
    """Median over contexts of the share-weighted mean time constant of the modes other than the line mode
    (inf when a mode with |lambda| = 1 carries part of the excursion); one modifier's [n_eig, ...] arrays."""
    vals = []
    for c in range(Rm.shape[0]):
        R_, L_ = Rm[c], Lm[c]
        coef = np.abs(L_ @ e0[c]) * np.linalg.norm(R_, axis=0)
        top = min(3, R_.shape[1])
        line = int(
            np.argmax(
                np.abs(R_[:, :top].real.T @ tan0[c]) / np.maximum(np.linalg.norm(R_[:, :top].real, axis=0), 1e-300)
            )
        )
        coef[line] = 0.0
        ta = tau_all[c]
        ok = ~np.isnan(ta) & ~np.isnan(coef)
        if coef[ok].sum() > 0:
            # a mode with |lambda| = 1 has tau = inf: if it carries part of the excursion, the
            # linearized excursion never decays along it, and the weighted mean is inf (leaving
            # such modes out would report the remaining, fast modes: a return that does not happen)
            if np.any(coef[ok & np.isinf(ta)] > 0):
                vals.append(math.inf)
            else:
                fin = ok & np.isfinite(ta)
                vals.append(float((coef[fin] * ta[fin]).sum() / coef[fin].sum()))
    return float(np.median(vals)) if vals else math.nan


def eigenmodes(request: ModifierRequest, X: np.ndarray, exc: dict, M: int) -> dict:
    """Eigenmodes of J_rec (input x*) at the excursion states of the first ``n_eig_contexts`` contexts and at
    their control states: the slowest eigenvalues, the number of slow modes, complex pairs among the three
    slowest and the return time constant (nan / None where there are no such contexts)."""
    n_eig = min(request.options.n_eig_contexts, X.shape[2])
    out = {
        "n_eig": n_eig,
        "eig_exc": None,
        "eig_ctrl": None,
        "tau_eig": np.full(M, np.nan),
        "slow_exc": np.full(M, np.nan),
        "slow_ctrl": math.nan,
        "complex_ctrl": math.nan,
        "complex_exc": np.full(M, np.nan),
    }
    if not n_eig:
        return out
    from rnnlens.linearization import linearize

    dtype = state_dtype(request.network)
    tan0 = exc["tan"][0, :n_eig]  # [n_eig, S]
    lam_list = []
    # one modifier's contexts at a time (the control's last): its full R and L ([n_eig, S, S] each) are reduced to
    # the return time constant before the next block is decomposed, so memory does not grow with M
    for i in range(M + 1):
        pts = to_device(X[i, 0, :n_eig], request.network.device).to(dtype)  # [n_eig, S]
        lin = linearize(solver_step(request.network), pts, request.x_star.to(dtype).expand(n_eig, -1).clone())
        lam_list.append(to_numpy(lin.eigvals))
        if i < M:
            out["tau_eig"][i] = _return_tau(
                to_numpy(lin.R), to_numpy(lin.L), to_numpy(lin.tau.double()), exc["e0"][i], tan0
            )
        del lin
    lam = np.stack(lam_list)  # [M + 1, n_eig, S]
    keep = min(12, lam.shape[-1])
    out["eig_exc"], out["eig_ctrl"] = lam[:M, :, :keep], lam[M, :, :keep]
    slow = (np.abs(lam) > 0.9).sum(-1)
    cplx = (np.abs(lam[..., :3].imag) > 1e-3).any(-1)
    out["slow_exc"], out["slow_ctrl"] = np.median(slow[:M], axis=1), float(np.median(slow[M]))
    out["complex_exc"], out["complex_ctrl"] = cplx[:M].mean(1), float(cplx[M].mean())
    return out


def linearized_factors(request: ModifierRequest, X: np.ndarray, design: Design, factor: np.ndarray) -> dict:
    """The linearized explanation: the factors predicted by l_1^T J_inp x_w and by readout^T J_inp x_w at the
    state before the word, and their agreement with the measured ``factor``."""
    network, x_star = request.network, request.x_star
    M, C, max_gap = design.M, design.C, request.options.max_gap
    pred = np.full((M, max_gap), np.nan)
    pred_w = pred.copy()
    xw = network.embeddings()[torch.from_numpy(design.words)] - x_star  # [W, I]
    w_t = torch.from_numpy(network.readout_direction())
    for k in range(1, max_gap + 1):
        hb = X[:, k - 1].reshape(-1, X.shape[-1])  # [(M + 1) C, S]
        for target, vec in (
            (pred, torch.from_numpy(design.line.l1[nearest(hb, design.line.nodes)])),
            (pred_w, w_t.expand(hb.shape[0], -1)),
        ):
            g = input_projection(network, torch.from_numpy(hb), vec, x_star)  # [(M + 1) C, I]
            p = to_numpy(g @ xw.T).reshape(M + 1, C, -1)
            for i in range(M):
                target[i, k - 1] = ls_ratio(p[i], p[M])
    corr, ratio_pm = agreement(pred, factor)
    corr_w, ratio_w = agreement(pred_w, factor)
    return {"pred": pred, "pred_w": pred_w, "corr": corr, "ratio_pm": ratio_pm, "corr_w": corr_w, "ratio_w": ratio_w}


def measure_modifiers(request: ModifierRequest) -> ModifierAnalysis:
    """The measurement of one :class:`ModifierRequest` (see :func:`rnnlens.analysis.modifiers.analyze_modifiers`)."""
    t0 = time.perf_counter()
    s, network, truth = request.options, request.network, request.truth
    design = make_design(request)
    h_prefix = final_states(network, design.prefixes)
    traj = chains(network, h_prefix, design.lead_ids, design.fillers)  # [M + 1, T + 1, C, S]
    eff = word_effects(network, traj, design.fillers, design.words, (s.max_gap, s.settle))  # [M + 1, K, C, W]
    parts = factors(eff, design.M, s.n_boot, request.seed)
    parts["truth"] = None
    if truth is not None and getattr(truth, "valence", None) and hasattr(truth, "score"):
        parts["truth"] = truth_factors(truth, network.vocab.itos, design, (s.max_gap, s.settle))
    X = to_numpy(traj.double())  # [M + 1, T + 1, C, S]
    parts["exc"] = excursion(X, design, s.max_gap)
    parts["eig"] = eigenmodes(request, X, parts["exc"], design.M)
    parts["lin"] = linearized_factors(request, X, design, parts["factor"])
    return summarize(request, design, parts, h_prefix, t0)
