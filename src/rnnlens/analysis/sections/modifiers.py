"""Section ``modifiers``: how modifier words ("not", "very", ...) bend the integration, measured with the
network itself (:mod:`rnnlens.analysis.modifiers` has the definitions); along this analysis's slow
manifold and at its x*.
"""

from __future__ import annotations

from dataclasses import dataclass

from rnnlens.analysis.registry import ArraySpec, FigureSpec, MetricSpec, Section
from rnnlens.constants import DEFAULT_MODIFIERS
from rnnlens.settings import Int, SettingsGroup, Words, setting

__all__ = ["ModifierSettings", "measure", "SECTION"]


@dataclass(frozen=True)
class ModifierSettings(SettingsGroup):
    """The modifier analysis."""

    name = "modifiers"
    modifiers: tuple | None = setting(
        DEFAULT_MODIFIERS,
        "Modifier tokens whose effect on the next words is "
        "measured (comma-separated). With the default list those missing from the "
        "vocabulary are listed as missing; a list of your own must be in the "
        "vocabulary.",
        Words(),
        none="skip the modifier analysis",
    )
    max_gap: int = setting(8, "Gaps k = 1..max_gap tokens between the modifier and the valenced word.", Int())
    n_contexts: int = setting(200, "Contexts (document prefixes) the modifiers are read in.", Int(2))
    n_words: int = setting(20, "Valenced words of each sign measured with.", Int())
    n_neutral: int = setting(50, "Neutral words (fillers and controls).", Int())
    return_steps: int = setting(
        20, "Neutral tokens after the modifier over which the return to the line is followed.", Int()
    )
    n_eig_contexts: int = setting(
        50, "Contexts whose excursion states are linearized for the eigenmodes (0: skip).", Int(0)
    )
    n_boot: int = setting(1000, "Bootstrap resamples for the factors' confidence intervals (0: none).", Int(0))
    settle: int = setting(0, "Neutral tokens read after the valenced word before the readout.", Int(0))
    min_count: int = setting(10, "A bag-of-words word must have been seen this often in training to be chosen.", Int())


def applies(run) -> bool:
    """When a modifier list is set (``modifiers=None`` skips the section)."""
    return run.settings.modifiers.modifiers is not None


def measure(run):
    """The modifier analysis along this analysis's slow manifold (when no modifier of the default list is in the
    vocabulary, the section only says so)."""
    from rnnlens.analysis.modifiers import pipeline_measurement

    out = pipeline_measurement(run)
    out.missing = []  # modifiers missing from the vocabulary are listed under modifiers.missing_modifiers
    return out


METRICS = (
    MetricSpec("modifiers.modifiers", "the modifier tokens measured (in the model's vocabulary)"),
    MetricSpec(
        "modifiers.missing_modifiers", "requested modifier tokens that are not in the model's vocabulary (not measured)"
    ),
    MetricSpec(
        "modifiers.n_contexts",
        "contexts: prefixes of documents of the split ({split_size} documents), "
        "each cut at a random position whose last max_gap tokens hold no "
        "modifier-like word",
    ),
    MetricSpec("modifiers.max_gap", "K: gaps k = 1..K tokens from the modifier to the valenced word"),
    MetricSpec("modifiers.settle", "neutral filler tokens read after the valenced word before the readout"),
    MetricSpec(
        "modifiers.factor",
        "per modifier, for k = 1..K: least-squares ratio sum(num*den)/sum(den^2) over "
        "contexts x valenced words, num = readout change caused by the word read k tokens "
        "after the modifier (in place of the k-th neutral filler; read out {settle} "
        "tokens after it), den = the same with the control word in the modifier's "
        "place. -1: flipped, 2: doubled, 1: no effect",
    ),
    MetricSpec(
        "modifiers.factor_ci_low",
        "2.5th percentile of the factor over {n_boot} bootstrap resamples of the "
        "contexts and the words (independently, with replacement)",
    ),
    MetricSpec("modifiers.factor_ci_high", "97.5th percentile of the same bootstrap"),
    MetricSpec(
        "modifiers.factor_median_ratio",
        "cross-check: median of num/den over the pairs whose |den| is at least a tenth of the median |den|",
    ),
    MetricSpec(
        "modifiers.truth_factor",
        "the factor computed the same way on the synthetic corpus's true score "
        "(its modifier rules) instead of the network's readout",
    ),
    MetricSpec(
        "modifiers.reach",
        "largest gap k up to which |factor - 1| stays at least half of |factor(1) - 1| (0: no effect at k = 1)",
    ),
    MetricSpec(
        "modifiers.factor_tau",
        "tau (tokens) of a least-squares fit factor(k) = 1 + a exp(-(k - 1)/tau), "
        "k = 1..K (scipy curve_fit; tau within [0.05, 1000])",
    ),
    MetricSpec(
        "modifiers.excursion_norm",
        "median over contexts of ||e_0||, the excursion e_0 = state after the "
        "modifier - state after the control word, same context",
    ),
    MetricSpec(
        "modifiers.excursion_readout",
        "median over contexts of readout . e_0: the modifier's own immediate readout change",
    ),
    MetricSpec(
        "modifiers.lasting_readout",
        "median over contexts of readout . e_{steps}, the excursion after "
        "{steps} neutral fillers: the modifier's lasting push along the line",
    ),
    MetricSpec(
        "modifiers.excursion_top_share",
        "share of the top direction in the uncentred excursions e_0 over "
        "contexts: s_1^2 / sum s_i^2 of their singular values (all: every "
        "modifier's excursions together)",
    ),
    MetricSpec(
        "modifiers.excursion_participation_ratio",
        "participation ratio (sum s_i^2)^2 / sum s_i^4 of the "
        "singular values of the uncentred excursions e_0 over "
        "contexts (1: one direction); all: every modifier "
        "together; lifetime: e_0..e_{K} minus 1 of every "
        "modifier together (K = {K})",
    ),
    MetricSpec(
        "modifiers.excursion_tangent_cos",
        "median over contexts of |cos(e_0, t)|, t the unit tangent of the "
        "traced slow manifold at the node nearest the control state",
    ),
    MetricSpec(
        "modifiers.excursion_line_angle_deg",
        "arccos of excursion_tangent_cos, in degrees (90: the excursion leaves the line at a right angle)",
    ),
    MetricSpec(
        "modifiers.return_tau_trajectory",
        "tau (tokens) of median_contexts ||e_j^perp|| / ||e_0^perp|| ~ "
        "exp(-j/tau), j = 0..{steps} neutral fillers after the modifier, "
        "e^perp the excursion normal to the local tangent; least squares "
        "on the log through the origin",
    ),
    MetricSpec(
        "modifiers.return_tau_eigen",
        "median over {n} contexts of the mean time constant 1/|ln|lambda_a|| "
        "of the eigenmodes of J_rec at the excursion state (input x*), each "
        "mode weighted by its share |(L e_0)_a| ||r_a|| of the excursion, the "
        "line mode (of the 3 slowest, the one most aligned with the tangent) "
        "left out; inf when a mode with |lambda| = 1 carries part of it",
    ),
    MetricSpec(
        "modifiers.n_slow_modes_excursion",
        "median over {n} contexts of the number of eigenvalues of J_rec with |lambda| > 0.9 at the excursion state",
    ),
    MetricSpec("modifiers.n_slow_modes_control", "the same at the control states (after the neutral control word)"),
    MetricSpec(
        "modifiers.complex_top_fraction",
        "fraction of contexts whose 3 slowest modes of J_rec at the "
        "excursion state (control: at the control state) include a complex "
        "pair (|Im lambda| > 1e-3)",
    ),
    MetricSpec(
        "modifiers.predicted_factor",
        "the linearized explanation: the factor's least-squares ratio with num "
        "and den replaced by l_1^T J_inp x_word at the state before the word "
        "(J_inp = dF/dx at that state and x*; l_1 the line mode's left "
        "eigenvector at the slow-manifold node nearest it)",
    ),
    MetricSpec(
        "modifiers.prediction_correlation",
        "Pearson correlation of predicted and measured factors over the {n} (modifier, gap) pairs",
    ),
    MetricSpec(
        "modifiers.prediction_ratio_median",
        "median of predicted / measured factor over the (modifier, gap) pairs with |measured| > 0.1",
    ),
    MetricSpec(
        "modifiers.predicted_factor_readout",
        "the same ratio with the readout direction in place of l_1: "
        "readout^T J_inp x_word at the state before the word, the "
        "word's immediate readout change to first order in its input",
    ),
    MetricSpec(
        "modifiers.prediction_readout_correlation",
        "Pearson correlation of predicted_factor_readout and the measured factors over the (modifier, gap) pairs",
    ),
    MetricSpec(
        "modifiers.prediction_readout_ratio_median",
        "median of predicted_factor_readout / measured factor over the pairs with |measured| > 0.1",
    ),
    MetricSpec("modifiers.seconds", "wall-clock seconds of the modifier analysis"),
)

ARRAYS = (
    ArraySpec("mod_names", "U", 1, "[M] the modifiers measured"),
    ArraySpec("mod_factor", "f", 2, "[M, max_gap] the factor of each modifier at gaps 1..max_gap"),
    ArraySpec("mod_ci_low", "f", 2, "[M, max_gap] its 2.5th bootstrap percentile"),
    ArraySpec("mod_ci_high", "f", 2, "[M, max_gap] its 97.5th bootstrap percentile"),
    ArraySpec("mod_predicted", "f", 2, "[M, max_gap] the factor predicted by l_1^T J_inp x"),
    ArraySpec("mod_predicted_readout", "f", 2, "[M, max_gap] the factor predicted by readout^T J_inp x"),
    ArraySpec("mod_truth", "f", 2, "[M, max_gap] the factor on the synthetic corpus's true score"),
    ArraySpec("mod_return", "f", 2, "[M, return_steps + 1] median ||e_j^perp|| / ||e_0^perp||"),
    ArraySpec("mod_excursion_readout", "f", 2, "[M, n_contexts] readout . e_0 in each context"),
    ArraySpec("mod_eig_excursion", "c", 3, "[M, n_eig_contexts, 12] slowest eigenvalues at the excursion states"),
    ArraySpec("mod_eig_control", "c", 2, "[n_eig_contexts, 12] slowest eigenvalues at the control states"),
    ArraySpec("mod_3d_traj", "f", 4, "[3, contexts, steps, 3] example trajectories in the 3-D view"),
    ArraySpec("mod_3d_nodes", "f", 2, "[n_points, 3] the slow manifold's nodes in the 3-D view"),
    ArraySpec("mod_3d_names", "U", 1, "[3] the three leads of the 3-D view"),
    ArraySpec("mod_3d_word", "U", 0, "the valenced word of the 3-D view"),
)

FIGURES = (
    FigureSpec(
        "fig_mod1_3d",
        "rnnlens.report.modifiers:fig_modifier_3d",
        'Trajectories through "not good", '
        '"very good" and "good" (after a neutral word) from a few contexts, in the line\'s direction and '
        "the top two directions of the modifiers' excursions (circle: end of the context; triangle: after the "
        "modifier or the neutral word; square: after the word; then neutral words). The modifier moves the "
        "state off the line; the word's push from there is flipped or scaled.",
    ),
    FigureSpec(
        "fig_mod2_factors",
        "rnnlens.report.modifiers:fig_modifier_factors",
        "The factor by which each "
        "modifier changes the readout change of a valenced word read k tokens later (least-squares ratio over "
        "contexts and words, against the same word after a neutral word; band: 95% bootstrap interval), the "
        "linearized prediction l_1^T J_inp x at the state before the word and, on synthetic corpora, the "
        "language's true factor. 1: no effect; -1: flipped; 2: doubled.",
    ),
    FigureSpec(
        "fig_mod3_eigenvalues",
        "rnnlens.report.modifiers:fig_modifier_eigenvalues",
        "Left: eigenvalues of "
        "the recurrent Jacobian at the states right after each modifier and after the neutral control word. "
        "Right: the median size of the excursion's part normal to the line, relative to its start, as "
        "neutral words follow the modifier.",
    ),
)

SECTION = Section(
    name="modifiers",
    title="modifier words",
    measure=measure,
    applies=applies,
    needs=("words",),
    settings=ModifierSettings,
    metrics=METRICS,
    arrays=ARRAYS,
    figures=FIGURES,
    table="rnnlens.report.modifiers:modifier_table",
    scene="rnnlens.explore.engine:modifier_scene",
    optional="modifiers=None (rnnlens analyze --no-modifiers) leaves it out",
)
