"""The modifier analysis's report: its metric nodes (each with its definition, from
:func:`rnnlens.analysis.registry.metric`), its arrays and the report's 3-D view."""

from __future__ import annotations

import time

import numpy as np
import torch

from rnnlens.analysis.modifiers.estimators import decay_time_constant, factor_reach, fit_factor_decay
from rnnlens.analysis.modifiers.result import SECTION, ModifierAnalysis
from rnnlens.analysis.registry import metric
from rnnlens.device import to_device, to_numpy

__all__ = ["summarize", "view_3d"]

P = SECTION + "."


def _factor_metrics(request, design, parts: dict) -> dict:
    """The metric nodes of the design and the factors."""
    s, present, itos = request.options, design.present, request.network.vocab.itos
    per = lambda arr: {m: arr[i].tolist() for i, m in enumerate(present)}  # noqa: E731
    vocab_words = lambda ids: [itos[i] for i in ids]  # noqa: E731
    factor = parts["factor"]
    return {
        "modifiers": metric(P + "modifiers", list(present)),
        "missing_modifiers": metric(P + "missing_modifiers", design.absent),
        "n_contexts": metric(P + "n_contexts", design.C, split_size=design.split_size),
        "max_gap": metric(P + "max_gap", s.max_gap),
        "settle": metric(P + "settle", s.settle),
        "words": {
            "positive": vocab_words(design.pos),
            "negative": vocab_words(design.neg),
            "neutral": vocab_words(design.neu[:20]),
            "source": design.source,
        },
        "factor": metric(P + "factor", per(factor), settle=s.settle),
        "factor_ci_low": metric(P + "factor_ci_low", per(parts["lo"]), n_boot=s.n_boot),
        "factor_ci_high": metric(P + "factor_ci_high", per(parts["hi"]), n_boot=s.n_boot),
        "factor_median_ratio": metric(P + "factor_median_ratio", per(parts["med"])),
        "reach": metric(P + "reach", {m: factor_reach(factor[i]) for i, m in enumerate(present)}),
        "factor_tau": metric(P + "factor_tau", {m: fit_factor_decay(factor[i]) for i, m in enumerate(present)}),
    }


def _excursion_metrics(request, design, parts: dict) -> dict:
    """The metric nodes of the excursion and of the eigenmodes at the excursion states."""
    present, max_gap, T = design.present, request.options.max_gap, design.T
    one = lambda arr: {m: float(arr[i]) for i, m in enumerate(present)}  # noqa: E731
    x, eig = parts["exc"], parts["eig"]
    w = request.network.readout_direction()
    e0, cos_t, shares, n_eig = x["e0"], x["cos_t"], x["shares"], eig["n_eig"]
    return {
        "excursion_norm": metric(P + "excursion_norm", one(np.median(x["e0_norm"], axis=1))),
        "excursion_readout": metric(P + "excursion_readout", one(np.median(e0 @ w, axis=1))),
        "lasting_readout": metric(P + "lasting_readout", one(np.median(x["exc"][:, -1] @ w, axis=1)), steps=T),
        "excursion_top_share": metric(
            P + "excursion_top_share", {**{m: s[0] for m, s in zip(present, shares)}, "all": x["joint"][0]}
        ),
        "excursion_participation_ratio": metric(
            P + "excursion_participation_ratio",
            {**{m: s[1] for m, s in zip(present, shares)}, "all": x["joint"][1], "lifetime": x["life"][1]},
            K=max_gap,
        ),
        "excursion_tangent_cos": metric(P + "excursion_tangent_cos", one(np.median(cos_t, axis=1))),
        "excursion_line_angle_deg": metric(
            P + "excursion_line_angle_deg", one(np.degrees(np.arccos(np.clip(np.median(cos_t, axis=1), 0, 1))))
        ),
        "return_tau_trajectory": metric(
            P + "return_tau_trajectory", {m: decay_time_constant(x["ratio"][i]) for i, m in enumerate(present)}, steps=T
        ),
        "return_tau_eigen": metric(P + "return_tau_eigen", one(eig["tau_eig"]), n=n_eig),
        "n_slow_modes_excursion": metric(P + "n_slow_modes_excursion", one(eig["slow_exc"]), n=n_eig),
        "n_slow_modes_control": metric(P + "n_slow_modes_control", eig["slow_ctrl"], n=n_eig),
        "complex_top_fraction": metric(
            P + "complex_top_fraction", {**one(eig["complex_exc"]), "control": eig["complex_ctrl"]}
        ),
    }


def _prediction_metrics(design, parts: dict) -> dict:
    """The metric nodes of the linearized explanation (and of the true factors, when there are some)."""
    present, lin = design.present, parts["lin"]
    per = lambda arr: {m: arr[i].tolist() for i, m in enumerate(present)}  # noqa: E731
    mm = {
        "predicted_factor": metric(P + "predicted_factor", per(lin["pred"])),
        "prediction_correlation": metric(P + "prediction_correlation", lin["corr"], n=design.M * lin["pred"].shape[1]),
        "prediction_ratio_median": metric(P + "prediction_ratio_median", lin["ratio_pm"]),
        "predicted_factor_readout": metric(P + "predicted_factor_readout", per(lin["pred_w"])),
        "prediction_readout_correlation": metric(P + "prediction_readout_correlation", lin["corr_w"]),
        "prediction_readout_ratio_median": metric(P + "prediction_readout_ratio_median", lin["ratio_w"]),
    }
    if parts["truth"] is not None:
        mm["truth_factor"] = metric(P + "truth_factor", per(parts["truth"]))
    return mm


def _arrays(request, design, parts: dict) -> dict:
    """The section's arrays (without the 3-D view)."""
    lin, eig, e0 = parts["lin"], parts["eig"], parts["exc"]["e0"]
    a = dict(
        mod_names=np.array(design.present),
        mod_factor=parts["factor"],
        mod_ci_low=parts["lo"],
        mod_ci_high=parts["hi"],
        mod_predicted=lin["pred"],
        mod_predicted_readout=lin["pred_w"],
        mod_return=parts["exc"]["ratio"],
        mod_excursion_readout=(e0 @ request.network.readout_direction()).astype(np.float32),
    )
    if parts["truth"] is not None:
        a["mod_truth"] = parts["truth"]
    if eig["eig_exc"] is not None:
        a.update(
            mod_eig_excursion=eig["eig_exc"].astype(np.complex64), mod_eig_control=eig["eig_ctrl"].astype(np.complex64)
        )
    return a


def summarize(request, design, parts: dict, h_prefix: torch.Tensor, t0: float) -> ModifierAnalysis:
    """The :class:`ModifierAnalysis` of one measurement (``parts``: what :mod:`.measure` computed; ``t0``: its
    start, for the seconds)."""
    out = ModifierAnalysis()
    mm = {
        **_factor_metrics(request, design, parts),
        **_excursion_metrics(request, design, parts),
        **_prediction_metrics(design, parts),
    }
    if design.absent:
        out.missing.append(
            {"what": f"modifier factors and subspace of {design.absent}", "why": "not in the model's vocabulary"}
        )
    out.arrays.update(_arrays(request, design, parts))
    out.arrays.update(view_3d(request.network, design, h_prefix, parts["exc"]["e0"], request.truth))
    mm["seconds"] = metric(P + "seconds", time.perf_counter() - t0)
    out.metrics[SECTION] = mm
    out.seconds = time.perf_counter() - t0
    return out


def _view_basis(nodes: np.ndarray, e0: np.ndarray) -> np.ndarray:
    """[3, S]: the unit chord of the slow manifold, then the top two directions of the excursions normal to it."""
    chord = nodes[-1] - nodes[0]
    u1 = chord / max(np.linalg.norm(chord), 1e-300)
    E = e0.reshape(-1, e0.shape[-1])
    E = E - np.outer(E @ u1, u1)
    _, _, Vt = np.linalg.svd(E, full_matrices=False)
    return np.stack([u1, Vt[0], Vt[1] if Vt.shape[0] > 1 else np.zeros_like(u1)])


def _view_word(vocab, design, truth) -> str:
    """The valenced word of the 3-D view: "good" (the paper's example) when the vocabulary has it, else the first
    positive word; on a synthetic corpus, the first positive word of valence 1."""
    word = "good" if "good" in vocab.stoi else vocab.itos[design.pos[0]]
    if truth is not None and getattr(truth, "valence", None):
        ones = [i for i in design.pos if truth.valence.get(vocab.itos[i]) == 1.0]
        word = vocab.itos[ones[0]] if ones else word
    return word


@torch.no_grad()
def view_3d(network, design, h_prefix: torch.Tensor, e0: np.ndarray, truth) -> dict:
    """Arrays of the report's 3-D view: trajectories of "<modifier> <word> <fillers>" and "<word> <fillers>" (the
    word after the context's control) for a few contexts, in a basis of the line (first axis: the chord of
    the slow manifold) and the top two directions of the excursions normal to it."""
    vocab, present, nodes = network.vocab, design.present, design.line.nodes
    stoi = vocab.stoi
    leads = [m for m in ("not", "very") if m in present] or list(present[:2])
    word = _view_word(vocab, design, truth)
    basis = _view_basis(nodes, e0)
    origin = nodes.mean(0)
    n_ex = min(5, h_prefix.shape[0])
    wid = stoi[word]
    seqs, names = [], []
    for lead in leads + [None]:
        rows = []
        for c in range(n_ex):
            toks = (
                ([stoi[lead]] if lead is not None else [int(design.control[c])])
                + [wid]
                + design.fillers[c, :6].tolist()
            )
            h = h_prefix[c : c + 1]
            states = [h]
            for t in toks:
                h = network.step_fn(network.embed(to_device(torch.tensor([t]), network.device)), h)
                states.append(h)
            rows.append(to_numpy(torch.cat(states).double()))
        seqs.append(np.stack(rows))
        names.append(f"{lead} {word}" if lead is not None else f"{word} (after a neutral word)")
    S = np.stack(seqs)  # [n_seq, n_ex, L, S]
    return {
        "mod_3d_traj": (S - origin) @ basis.T,
        "mod_3d_nodes": (nodes - origin) @ basis.T,
        "mod_3d_names": np.array(names),
        "mod_3d_word": np.array(word),
    }
