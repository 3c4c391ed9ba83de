"""Section ``kclass``: for networks with k > 2 classes, the (k-1)-dimensional integration manifold
(:mod:`rnnlens.analysis.kclass` has the definitions) and its dimension predicted from word counts
(:mod:`rnnlens.analysis.wordcount`).
"""

from __future__ import annotations

from dataclasses import dataclass

from rnnlens.analysis.registry import ArraySpec, FigureSpec, MetricSpec, Section
from rnnlens.settings import Int, Real, SettingsGroup, setting

__all__ = ["KClassSettings", "measure", "SECTION"]


@dataclass(frozen=True)
class KClassSettings(SettingsGroup):
    """The k-class analysis (models with more than two classes)."""

    name = "kclass"
    kclass_relax_steps: int = setting(
        50, "Steps of the dynamics at x* that turn visited states into slow points.", Int(0)
    )
    kclass_max_states: int = setting(2000, "Visited states (a seeded subset) relaxed into slow points.", Int(4))
    kclass_n_linearize: int = setting(64, "Slow points linearized for the eigenvalue counts.", Int())
    kclass_eig_threshold: float = setting(
        0.95, "Eigenvalues with |lambda| at least this count as slow.", Real(gt=0, le=2)
    )
    kclass_share: float = setting(0.9, "A dimension d holds at least this share of the variance.", Real(gt=0, le=1))
    kclass_n_fixed_seeds: int = setting(
        200, "Slow points used as seeds of the exact fixed-point search (0: none).", Int(0)
    )
    kclass_min_count: int = setting(
        5, "Words seen fewer times in training are left out of the comparison with the bag of words.", Int(0)
    )
    kclass_n_words: int = setting(5000, "At most this many of the most frequent words enter that comparison.", Int())


def applies(run) -> bool:
    """For networks whose readout separates more than two classes."""
    return run.network.num_classes > 2


def measure(run):
    """The k-class analysis at this analysis's x*, from its visited states."""
    from rnnlens.analysis.kclass import pipeline_measurement

    return pipeline_measurement(run)


METRICS = (
    MetricSpec("kclass.num_classes", "k, the number of classes the readout separates"),
    MetricSpec(
        "kclass.n_slow_points",
        "slow points: visited states (a seeded subset) after {relax_steps} steps of the network's own dynamics at x*",
    ),
    MetricSpec("kclass.slow_q_median", "median over the slow points of q = (1/N)||F(h, x*) - h||^2"),
    MetricSpec("kclass.pca_fractions", "fraction of the slow points' variance on each of their PCs 1..10"),
    MetricSpec(
        "kclass.pca_share_top",
        "fraction of the slow points' variance on their top {d} PCs (k-1)",
        "k-class: slow points' variance on the top k-1 PCs",
        "{:.1%}",
    ),
    MetricSpec("kclass.pca_share_next", "fraction of the slow points' variance on PC {n} (the k-th)"),
    MetricSpec(
        "kclass.dimension_pca",
        "measured dimension: smallest d whose top d PCs hold >= {share:g} of the slow points' variance",
        "k-class: measured manifold dimension (PCA)",
        "{}",
    ),
    MetricSpec(
        "kclass.participation_ratio",
        "participation ratio (sum lambda)^2 / sum lambda^2 of the slow points' PCA variances",
    ),
    MetricSpec(
        "kclass.pca_by_relax",
        "variance fractions of PCs 1..k+1 of the visited states after n steps of the "
        "dynamics at x* (n = 0 is the visited states themselves)",
    ),
    MetricSpec(
        "kclass.readout_angles_deg",
        "principal angles (degrees) between the slow points' top {d} PCs and the "
        "readout subspace (rows of W minus their mean row)",
    ),
    MetricSpec(
        "kclass.readout_cov_angles_deg",
        "principal angles (degrees) between the slow points' top {d} PCs and "
        "span(Sigma Wc^T) (Sigma: covariance of the visited states; Wc: W "
        "minus its mean row), the directions the states move in as the "
        "logits change",
    ),
    MetricSpec(
        "kclass.readout_variance_in_plane",
        "||Wc B^T||^2 / ||Wc||^2: share of the centred readout's squared "
        "norm inside the slow points' top {d} PCs (rows of B)",
    ),
    MetricSpec(
        "kclass.logit_fractions",
        "variance fractions of the slow points mapped to centred logits Wc h, along their k principal axes",
    ),
    MetricSpec(
        "kclass.dimension_logit",
        "smallest d whose top d principal axes of the centred logits Wc h of the "
        "slow points hold >= {share:g} of their variance",
    ),
    MetricSpec(
        "kclass.n_eig_slow_median",
        "median over {n} slow points of the number of eigenvalues of J_rec with |lambda| >= {threshold:g}",
    ),
    MetricSpec(
        "kclass.n_eig_slow_counts",
        "histogram over the linearized slow points of that number (entry i: "
        "points with i eigenvalues of |lambda| >= {threshold:g})",
    ),
    MetricSpec(
        "kclass.eig_abs_median",
        "median over the linearized slow points of |lambda_i|, i = 1..{n} (sorted "
        "descending): where there is no gap the count above depends on the "
        "threshold",
    ),
    MetricSpec(
        "kclass.fixed_points_n_converged", "of {n} slow points used as seeds, those the solver brought to q < {tol:g}"
    ),
    MetricSpec("kclass.fixed_points_n_unique", "distinct converged fixed points (FixedPoints.unique)"),
    MetricSpec(
        "kclass.fixed_points_n_stable",
        "distinct fixed points without eigenvalues of |lambda| > 1 (beyond rounding, as modes.n_unstable_median)",
    ),
    MetricSpec(
        "kclass.fixed_points_in_subspace",
        "share of the distinct fixed points' squared distance from the slow "
        "points' mean that lies in their top {d} PCs",
    ),
    MetricSpec(
        "kclass.n_slow_modes_used",
        "median number of slowest modes in the projector P = Re(R_s L_s) ({d}, "
        "or one more where the last is half of a complex pair)",
    ),
    MetricSpec(
        "kclass.evidence_n_words",
        "words compared: in the network's vocabulary and the bag of words, seen "
        ">= {min_count} times in training (the most frequent, at most n_words)",
    ),
    MetricSpec(
        "kclass.evidence_bow_spearman",
        "per class c: Spearman correlation over the words of the class "
        "evidence (Wc P J_inp x)[c] (averaged over slow points) with the bag "
        "of words' coefficient minus the word's mean coefficient",
    ),
    MetricSpec(
        "kclass.evidence_bow_spearman_mean",
        "mean over classes of evidence_bow_spearman",
        "k-class: evidence vectors vs bag of words (mean Spearman)",
        "{:.3f}",
    ),
    MetricSpec(
        "kclass.evidence_bow_r2",
        "R^2 of the least-squares linear map (with intercept) from the words' {d}-D "
        "evidence vectors (B P J_inp x, averaged over slow points) to their k "
        "centred bag-of-words coefficients",
    ),
    MetricSpec(
        "kclass.evidence_truth_r2",
        "R^2 of the least-squares linear map from the words' {d}-D evidence vectors "
        "to their true evidence (synthetic corpus; one-hot minus 1/k, or the "
        "ordered variant's valence)",
    ),
    MetricSpec(
        "kclass.predicted_fractions",
        "word-count prediction: variance fractions of the training documents' "
        "summed naive-Bayes evidence (log p(w|c) minus its class mean, add-"
        "{alpha:g} smoothing, words in >= {min_count} documents) along its "
        "principal axes",
    ),
    MetricSpec(
        "kclass.predicted_dimension",
        "word-count prediction of the dimension: smallest d whose top d axes hold >= {share:g} of that variance",
        "k-class: predicted dimension (word counts)",
        "{}",
    ),
    MetricSpec("kclass.predicted_participation_ratio", "participation ratio of predicted_fractions"),
    MetricSpec(
        "kclass.predicted_word_fractions",
        "spectrum of the words' naive-Bayes evidence vectors, weighted by "
        "their counts (ignores co-occurrence in documents)",
    ),
    MetricSpec(
        "kclass.shape_angles_deg",
        "principal angles (degrees) between the predicted top {d} axes (word "
        "counts) and the top {d} axes of the slow points' centred logits Wc h",
    ),
    MetricSpec("kclass.seconds", "wall-clock seconds of the k-class analysis"),
)

ARRAYS = (
    ArraySpec("kc_slow_pc", "f", 2, "[n, 3] a sample of slow points in their top 3 PCs"),
    ArraySpec("kc_slow_class", "i", 1, "[n] the class the readout predicts at each of them"),
    ArraySpec("kc_readout_pc", "f", 2, "[k, 3] each class's readout row minus the mean row, in the same PCs"),
    ArraySpec("kc_pca_fractions", "f", 1, "[10] variance fractions of the slow points' PCs"),
    ArraySpec("kc_lin_pc", "f", 2, "[n_linearize, 3] the linearized slow points in the same PCs"),
    ArraySpec("kc_eig_count", "i", 1, "[n_linearize] eigenvalues with |lambda| >= threshold at each"),
    ArraySpec("kc_eig_abs", "f", 2, "[n_linearize, 2k] the largest |lambda| at each"),
    ArraySpec("kc_fp_pc", "f", 2, "[n_fixed, 3] the distinct exact fixed points in the same PCs"),
    ArraySpec("kc_fp_unstable", "i", 1, "[n_fixed] eigenvalues with |lambda| > 1 at each"),
    ArraySpec("kc_evidence_rnn", "f", 2, "[n_words, k] the words' evidence vectors Wc P J_inp x"),
    ArraySpec("kc_evidence_bow", "f", 2, "[n_words, k] the same words' centred bag-of-words coefficients"),
)

FIGURES = (
    FigureSpec(
        "fig_kc1_manifold",
        "rnnlens.report.kclass:fig_kclass_manifold",
        "The k-class integration manifold: "
        "visited states relaxed with the network's own dynamics at x* (slow points), in their top principal "
        "components, coloured by the class the readout predicts there; arrows: each class's readout row minus "
        "the mean row, projected on the same PCs; black: exact fixed points found from slow points. k "
        "unordered classes fill a (k-1)-D region.",
    ),
    FigureSpec(
        "fig_kc2_eigen",
        "rnnlens.report.kclass:fig_kclass_eigen",
        "Eigenvalues of the recurrent Jacobian at "
        "the slow points: how many have |lambda| above the threshold at each point (left), and the top of the "
        "spectrum at every point with its median (right). Where the spectrum has no gap after the (k-1)-th "
        "mode the count depends on the threshold.",
    ),
)

SECTION = Section(
    name="kclass",
    title="k-class integration manifold",
    measure=measure,
    applies=applies,
    needs=("labels",),
    settings=KClassSettings,
    metrics=METRICS,
    arrays=ARRAYS,
    figures=FIGURES,
    table="rnnlens.report.kclass:kclass_table",
    scene="rnnlens.explore.engine:kclass_scene",
    optional="models with more than two classes",
)
