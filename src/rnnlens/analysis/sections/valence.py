"""Section ``valence``: each word's push along the line, Re(l_1^T J_inp x_word), at every fixed point with
q < tol (the paper's word valence), against the bag-of-words coefficients and, on synthetic corpora, the true
valence. The slow-manifold section measures the same along the traced curve (:func:`word_valence`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rnnlens.analysis.registry import ArraySpec, FigureSpec, Measurement, MetricSpec, Section, metric
from rnnlens.analysis.sections.fixed_points import applies_to_points
from rnnlens.constants import WORD_GROUP_SIZE
from rnnlens.settings import Int, SettingsGroup, setting

__all__ = [
    "ValenceSettings",
    "bow_coefficients",
    "word_valence",
    "valence_specs",
    "valence_arrays",
    "measure",
    "SECTION",
]

VALENCE_DEFINITION = (
    "valence of a word = Re(l_1^T J_inp x_word) at a point, x_word its embedding; positive "
    "pushes towards a larger logit (see sign_convention)"
)


@dataclass(frozen=True)
class ValenceSettings(SettingsGroup):
    """Word valence."""

    name = "valence"
    n_group: int = setting(
        WORD_GROUP_SIZE,
        "Size of the most positive / negative / neutral word groups (by bag-of-words coefficient).",
        Int(),
    )


def bow_coefficients(bow, corpus_fingerprint: str):
    """``({word: coefficient along the readout direction}, info)`` from a BagOfWords, its JSON file or a
    ``{word: coef}`` dict; ``(None, None)`` without one. The direction follows the readout's sign rule
    (:func:`rnnlens.analysis.geometry.readout_direction`)."""
    from rnnlens.analysis.geometry import readout_direction

    if bow is None:
        return None, None
    if isinstance(bow, dict):
        return {str(k): float(v) for k, v in bow.items()}, {"source": "dict"}
    if not hasattr(bow, "coef"):
        from rnnlens.baseline import load_bag_of_words

        bow = load_bag_of_words(bow)
    coef = np.asarray(bow.coef, dtype=np.float64)
    row = readout_direction(coef)
    info = {
        "source": "rnnlens.baseline.BagOfWords",
        "dataset": bow.dataset,
        "data_fingerprint": bow.data_fingerprint,
        "C": bow.C,
        "accuracy": bow.accuracy,
        "direction": "coef[0]" if coef.shape[0] == 1 else "coef[last] - coef[first]",
    }
    if bow.data_fingerprint != corpus_fingerprint:
        info["warning"] = "the bag of words was fitted on a different corpus (fingerprint differs)"
    return dict(zip(bow.words, row.tolist())), info


def word_valence(run, l1: np.ndarray, lin, section: str = "valence", prefix: str = "") -> Measurement:
    """Word valence Re(l_1^T J_inp x_word) at the points of ``lin`` (``l1``: their oriented left slow modes),
    against the bag of words and, for synthetic corpora, the true valence; metrics under ``section``,
    arrays named ``prefix + ...``."""
    from rnnlens.analysis.modes import input_projections
    from rnnlens.analysis.valence import valence_summary
    from rnnlens.device import to_numpy

    itos, bow_coef, truth = run.network.itos, run.bow_coef, run.truth_valence
    # numpy on the CPU: [P, V] products of the slow mode's input row with every embedding
    proj = input_projections(l1, to_numpy(lin.J_inp), to_numpy(run.network.embeddings()))
    val = valence_summary(proj, list(itos), bow_coef=bow_coef, truth=truth, n_group=run.settings.valence.n_group)
    out = Measurement()
    P = f"{section}."
    vm = {
        "definition": VALENCE_DEFINITION.replace("at a point", "at a fixed point")
        if section == "valence"
        else VALENCE_DEFINITION,
        "mean_abs": metric(P + "mean_abs", float(np.abs(val["mean"][2:]).mean())),
        "spread_median": metric(P + "spread_median", float(np.median(val["std"][2:]))),
    }
    if bow_coef is not None:
        vm["bow"] = run.bow_info
        vm["spearman_bow"] = metric(P + "spearman_bow", val["spearman_bow"], n_words=val["n_words_bow"])
        w = run.products["documents"].w
        if w is not None:  # the same with the readout in place of l_1: meaningful with many slow modes too
            wl = np.broadcast_to(np.asarray(w, dtype=np.float64), l1.shape)
            by_w = input_projections(wl, to_numpy(lin.J_inp), to_numpy(run.network.embeddings()))
            vw = valence_summary(by_w, list(itos), bow_coef=bow_coef, truth=None, n_group=run.settings.valence.n_group)
            vm["spearman_bow_readout"] = metric(
                P + "spearman_bow_readout", vw["spearman_bow"], n_words=vw["n_words_bow"]
            )
        g = val["groups"]
        for kind in ("positive", "negative", "neutral"):
            vm[f"{kind}_mean"] = metric(P + f"{kind}_mean", g[kind]["mean"], n=g["n"])
            vm[f"{kind}_words"] = g[kind]["words"][:20]
            out.arrays[f"{prefix}group_{kind}"] = g[kind]["per_point"]
        vm["group_size"] = g["n"]
    elif section == "valence":
        out.missing.append(
            {
                "what": "word valence vs bag-of-words coefficients and the word groups",
                "why": "no bag-of-words baseline was given (bow=...; `rnnlens baseline`)",
            }
        )
    if truth is not None:
        vm["spearman_truth"] = metric(P + "spearman_truth", val["spearman_truth"], n_words=val["n_words_truth"])
        tw = [i for i, t in enumerate(itos) if t in truth]
        out.arrays[prefix + "truth_valence"] = np.array([truth[itos[i]] for i in tw], dtype=np.float64)
        out.arrays[prefix + "truth_model_valence"] = val["mean"][tw]
    out.metrics[section] = vm
    out.arrays[prefix + "valence_mean"] = val["mean"].astype(np.float32)
    out.arrays[prefix + "valence_std"] = val["std"].astype(np.float32)
    if bow_coef is not None:
        bw = [i for i, t in enumerate(itos) if t in bow_coef and i > 1]
        out.arrays[prefix + "bow_coef"] = np.array([bow_coef[itos[i]] for i in bw], dtype=np.float64)
        out.arrays[prefix + "bow_model_valence"] = val["mean"][bw]
    return out


def measure(run) -> Measurement:
    """Word valence at the fixed points with q < tol."""
    modes = run.products["modes"]
    return word_valence(run, modes.l1, modes.lin)


def valence_specs(section: str, at: str) -> tuple[MetricSpec, ...]:
    """The valence metrics of ``section`` (``valence``: at the fixed points; ``slow_manifold``: at its nodes)."""
    return (
        MetricSpec(
            f"{section}.mean_abs",
            f"mean |valence| over the vocabulary (special tokens excluded), valence averaged over {at}",
        ),
        MetricSpec(f"{section}.spread_median", f"median over words of the std of the valence across {at}"),
        MetricSpec(
            f"{section}.spearman_bow",
            "Spearman correlation of the mean valence with the bag-of-words "
            "coefficients over {n_words} shared words" + ("" if section == "valence" else f" ({at})"),
            "Spearman(word valence, bag-of-words coefficient)"
            + ("" if section == "valence" else " along the slow manifold"),
            "{:.3f}",
        ),
        MetricSpec(
            f"{section}.spearman_bow_readout",
            "Spearman correlation of the readout's first-order change w^T J_inp x_word (w the readout direction in "
            "state space, in place of l_1; averaged over " + at + ") with the bag-of-words coefficients over "
            "{n_words} shared words: the word's immediate effect on the prediction, which a network that integrates "
            "along many slow modes at once spreads over them instead of one l_1 (a first step, fast modes included: "
            "in a gated network with few slow modes it can disagree with what the network keeps, l_1's valence)",
        ),
        MetricSpec(
            f"{section}.spearman_truth",
            "Spearman correlation of the mean valence with the corpus's true "
            "word valence over {n_words} words" + ("" if section == "valence" else f" ({at})"),
            "Spearman(word valence, true valence)" + ("" if section == "valence" else " along the slow manifold"),
            "{:.3f}",
        ),
        *(
            MetricSpec(
                f"{section}.{kind}_mean",
                "mean valence of the {n} most " + kind + " words by bag-of-words "
                f"coefficient (averaged over words and {at})",
                f"mean valence of the most {kind} words" + ("" if section == "valence" else " along the slow manifold"),
                "{:+.4f}",
            )
            for kind in ("positive", "negative", "neutral")
        ),
    )


def valence_arrays(prefix: str, at: str) -> tuple[ArraySpec, ...]:
    """The valence arrays, names starting with ``prefix`` (``""`` at the fixed points, ``"sm_"`` along the slow
    manifold)."""
    return (
        *(
            ArraySpec(
                f"{prefix}group_{kind}", "f", 1, f"[points] mean valence of the most {kind} words at each of the {at}"
            )
            for kind in ("positive", "negative", "neutral")
        ),
        ArraySpec(prefix + "valence_mean", "f", 1, f"[V] each token's valence averaged over the {at}"),
        ArraySpec(prefix + "valence_std", "f", 1, f"[V] its standard deviation across the {at}"),
        ArraySpec(prefix + "truth_valence", "f", 1, "[n] the true valence of the words the corpus defines"),
        ArraySpec(prefix + "truth_model_valence", "f", 1, "[n] the network's valence of the same words"),
        ArraySpec(prefix + "bow_coef", "f", 1, "[n] bag-of-words coefficient of the words the vocabulary shares"),
        ArraySpec(prefix + "bow_model_valence", "f", 1, "[n] the network's valence of the same words"),
    )


FIGURES = (
    FigureSpec(
        "fig4a_valence",
        "rnnlens.report.figures:fig_valence",
        "Each word's push along the line (its input projection l_1^T J_inp x, averaged over fixed points)"
        " against the bag-of-words coefficient (or the true valence).",
    ),
    FigureSpec(
        "fig4b_groups",
        "rnnlens.report.figures:fig_groups",
        "Mean input projection of the most positive, negative and neutral words at every fixed point.",
    ),
)

SECTION = Section(
    name="valence",
    title="word valence at the fixed points",
    measure=measure,
    applies=applies_to_points,
    settings=ValenceSettings,
    needs=("words",),
    metrics=valence_specs("valence", "fixed points"),
    arrays=valence_arrays("", "fixed points"),
    figures=FIGURES,
)
