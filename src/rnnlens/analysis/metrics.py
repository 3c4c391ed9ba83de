"""Every number ``analyze`` reports, defined once.

``METRICS`` maps a dotted path (``section.name``, as in ``summary.json["metrics"]``) to its
:class:`MetricSpec`: the definition written beside the value, and, for the numbers the report lists
first, a short label and a format. The measurements fill values through :func:`metric`; the report,
the checks, the CLI and ``AnalysisResult.value`` read them back through :func:`metric_node` /
:func:`metric_value`. A path that is not in the table is an error on both sides, so a check or a
report row can never point at a number that does not exist.

Definitions may hold ``str.format`` fields (``{tol:g}``, ``{n}``) filled by the measurement that
records the value. This module imports neither torch nor the solvers.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["MetricSpec", "METRICS", "metric", "metric_node", "metric_value", "key_numbers"]

_Q = "q = (1/N)||F(h*, x*) - h*||^2"


@dataclass(frozen=True)
class MetricSpec:
    """One reported number: its dotted ``path``, its ``definition`` (a ``str.format`` template), and
    for key numbers of the report a short ``label`` and a ``fmt`` (a format string, or one of the
    report's named formats ``pc3``, ``tau``, ``r1m``)."""

    path: str
    definition: str
    label: str | None = None
    fmt: str | None = None


_SPECS = [
    # ---- data: the analysed documents and the network's accuracy on them
    MetricSpec("data.n_docs", "documents of the {split!r} split analysed (seeded random subset)"),
    MetricSpec("data.n_empty_skipped", "documents with no tokens after encoding, skipped"),
    MetricSpec("data.n_truncated", "documents cut to max_length tokens"),
    MetricSpec("data.n_states", "visited states (one per token of the analysed documents)"),
    MetricSpec("data.n_states_pca", "states used for PCA (all, or a seeded random subset of max_pca_states when "
                                    "there are more)"),
    MetricSpec("data.unk_fraction", "fraction of tokens not in the model's vocabulary"),
    MetricSpec("data.state_size", "S, numbers per state (2N for the LSTM: [h, c])"),
    MetricSpec("data.rnn_accuracy", "accuracy of the network on the analysed documents",
               "network accuracy on the analysed documents", "{:.1%}"),
    # ---- pca
    MetricSpec("pca.trained_cumulative", "cumulative fraction of state variance explained by PCs 1..k (k=1..10), "
                                         "PCA (scikit-learn) of every visited state of the analysed documents",
               "state variance in the top 3 PCs (trained)", "pc3"),
    MetricSpec("pca.untrained_cumulative", "the same for an untrained copy (same architecture, fresh init with "
                                           "torch seed untrained_seed) on the same documents",
               "state variance in the top 3 PCs (untrained copy)", "pc3"),
    # ---- fixed points
    MetricSpec("fixed_points.n_seeds", "seeds drawn from visited states (fixedpoints.sample_seeds)"),
    MetricSpec("fixed_points.n_converged", "points with " + _Q + " < {tol:g} (x* = {input_point} input); the "
                                           "paper's definition of q",
               "fixed points with q < tol (of the seeds)", "{}"),
    MetricSpec("fixed_points.n_slow", "points that stalled at a local minimum of q above tol"),
    MetricSpec("fixed_points.q_min", "smallest q reached over all seeds"),
    MetricSpec("fixed_points.q_median", "median q over all seeds"),
    MetricSpec("fixed_points.distance_median", "median ||h* - seed|| (how far points travelled)"),
    MetricSpec("fixed_points.distance_max", "largest ||h* - seed||"),
    MetricSpec("fixed_points.by_tolerance", "the fixed-point search rerun on the same seeds with tolerance tol on "
                                            + _Q + ": points under tol, median distance travelled from the seed, "
                                            "and for those points the variance on their top PC, |cos(m, readout)| "
                                            "and median distance to the nearest visited state"),
    MetricSpec("fixed_points.dist_to_visited_median", "median over fixed points (q < tol) of the distance to the "
                                                      "nearest visited state (of the PCA states)",
               "median distance of a fixed point to the nearest visited state", "{:.3g}"),
    MetricSpec("fixed_points.visited_rms_radius", "RMS distance of the visited states from their mean (the size of "
                                                  "the visited region)",
               "size (RMS radius) of the region of visited states", "{:.3g}"),
    # ---- manifold: the shape of the fixed points
    MetricSpec("manifold.top_pc_fraction", "variance of the fixed points (q < tol) along their top PC / their "
                                           "total variance (nan with fewer than 2 distinct points)",
               "variance of the fixed points on their top PC", "{:.1%}"),
    MetricSpec("manifold.cumulative", "cumulative variance fractions of the fixed points' PCs 1..k"),
    MetricSpec("manifold.readout_cos", "|cos| between m (top PC of the fixed points) and the readout direction "
                                       "(binary: the readout row; k classes: W[last] - W[first])",
               "|cos| between the line of fixed points and the readout", "{:.3f}"),
    MetricSpec("manifold.m_readout_visible_fraction", "fraction of m's squared length on the state coordinates the "
                                                      "readout sees (1 except for the LSTM, whose readout sees h but "
                                                      "not the cell state c)",
               "share of the line's direction the readout can see (LSTM: h, not c)", "{:.1%}"),
    MetricSpec("manifold.readout_cos_visible", "|cos| between m and the readout restricted to the coordinates the "
                                               "readout sees (equals readout_cos except for the LSTM)",
               "|cos| with the readout over the coordinates it sees", "{:.3f}"),
    MetricSpec("manifold.readout_cos_null_p99", "99th percentile of |cos| for random unit vectors in R^S"),
    # ---- modes: the spectrum of J_rec at the fixed points
    MetricSpec("modes.abs_lambda1_median", "median over fixed points of |lambda_1|, the largest eigenvalue modulus "
                                           "of J_rec = dF/dh at (h*, x*)",
               "median |lambda_1| at the fixed points", "{:.4f}"),
    MetricSpec("modes.frac_abs_lambda1_gt_0_98", "fraction of fixed points with |lambda_1| > 0.98",
               "fixed points with |lambda_1| > 0.98", "{:.0%}"),
    MetricSpec("modes.frac_abs_lambda1_within_0_02", "fraction of fixed points with | |lambda_1| - 1 | <= 0.02"),
    MetricSpec("modes.median_abs_dev_lambda1", "median over fixed points of | |lambda_1| - 1 |"),
    MetricSpec("modes.n_slow_modes_median", "median over fixed points of the number of eigenvalues with |lambda| > "
                                            "0.98 (1 on a line attractor; many where the gates saturate, e.g. a "
                                            "GRU update gate z = 1 makes h' = h)",
               "median number of modes with |lambda| > 0.98 at a fixed point (1 on a line)", "{:g}"),
    MetricSpec("modes.input_gain_median", "median over fixed points of the Frobenius norm of J_inp (about 0 at "
                                          "saturated points, where no word moves the state)",
               "median ||J_inp|| at the fixed points (about 0 where gates saturate)", "{:.3g}"),
    MetricSpec("modes.tau_median", "median over fixed points of tau_a = 1/|ln|lambda_a|| (tokens) for the 3 "
                                   "slowest modes a = 1..3",
               "median time constants of the 3 slowest modes (tokens)", "tau"),
    MetricSpec("modes.n_unstable_median", "median number of |lambda| > 1 (beyond rounding: 1 + 64 eps of the state precision)"),
    MetricSpec("modes.r1_m_overlap_median", "median over fixed points of |cos| between r_1 (top right eigenvector) "
                                            "and m",
               "median |cos(r_1, m)| (null mean in brackets)", "r1m"),
    MetricSpec("modes.r1_m_percentile_median", "median over fixed points of the percentile of |r_1 . m| within the "
                                               "null (|cos| of 10,000 random unit vectors in R^S with m)"),
    MetricSpec("modes.r1_m_z_median", "median z-score of |r_1 . m| against that null"),
    MetricSpec("modes.null_mean", "mean |cos| of the null sample"),
    MetricSpec("modes.null_mean_closed_form", "E|cos| for random unit vectors in R^S, Gamma(S/2)/(sqrt(pi) "
                                              "Gamma((S+1)/2))"),
    MetricSpec("modes.readout_dot_r1_median", "median readout . r_1 after orientation (>= 0)"),
    # ---- valence: each word's push along the line (at the fixed points with q < tol; the same along
    #      the traced slow manifold under slow_manifold.)
    *(spec for section, at in (("valence", "fixed points"), ("slow_manifold", "slow-manifold nodes")) for spec in (
        MetricSpec(f"{section}.mean_abs", "mean |valence| over the vocabulary (special tokens excluded), valence "
                   f"averaged over {at}"),
        MetricSpec(f"{section}.spread_median", f"median over words of the std of the valence across {at}"),
        MetricSpec(f"{section}.spearman_bow", "Spearman correlation of the mean valence with the bag-of-words "
                   "coefficients over {n_words} shared words" + ("" if section == "valence" else f" ({at})"),
                   "Spearman(word valence, bag-of-words coefficient)" + ("" if section == "valence"
                                                                          else " along the slow manifold"), "{:.3f}"),
        MetricSpec(f"{section}.spearman_truth", "Spearman correlation of the mean valence with the corpus's true "
                   "word valence over {n_words} words" + ("" if section == "valence" else f" ({at})"),
                   "Spearman(word valence, true valence)" + ("" if section == "valence" else " along the slow "
                                                                                          "manifold"), "{:.3f}"),
        *(MetricSpec(f"{section}.{kind}_mean", "mean valence of the {n} most " + kind + " words by bag-of-words "
                     f"coefficient (averaged over words and {at})",
                     f"mean valence of the most {kind} words" + ("" if section == "valence" else
                                                                 " along the slow manifold"), "{:+.4f}")
          for kind in ("positive", "negative", "neutral")),
    )),
    # ---- linearization: how well the linearized dynamics stand in for the network (around the fixed
    #      points with q < tol; the same numbers around the traced slow manifold are under slow_manifold.)
    *(spec for section, around in (("linearization", "the fixed point"), ("slow_manifold", "the slow-manifold node"))
      for spec in (
        MetricSpec(f"{section}.one_step_error_median", "median over {n} sampled transitions of the analysed "
                   "documents of ||h_next - h_lin|| / ||h_next||, h_lin = h* + J_rec (h - h*) + J_inp (x - x*) "
                   f"around {around} nearest to h (the paper's one-step error, about 10% there)",
                   f"median one-step error of the linearization around {around}s" if section == "slow_manifold"
                   else "median one-step error of the linearization", "{:.1%}"),
        MetricSpec(f"{section}.one_step_error_mean", "mean of the same relative one-step error"),
        MetricSpec(f"{section}.one_step_error_p90", "90th percentile of the same"),
        MetricSpec(f"{section}.step_relative_error_median", "median of ||h_next - h_lin|| / ||h_next - h||: the "
                   "error relative to the step the network actually took (1 = no better than predicting no change)"),
        MetricSpec(f"{section}.no_change_error_median", "median of ||h_next - h|| / ||h_next||: the one-step error "
                   "of predicting no change at all, the baseline the linearization must beat"),
        MetricSpec(f"{section}.expansion_distance_median", f"median distance ||h - h*|| from the state to {around} "
                   "the linearization expands around"),
        MetricSpec(f"{section}.linear_accuracy", "accuracy on {n} documents of the readout applied to the state "
                   "reached by the linearized dynamics alone (every step linearized around the "
                   f"{around.removeprefix('the ')} nearest the current linearized state; diverged runs count as "
                   "wrong)",
                   "accuracy with the linearized dynamics alone" + (" (slow manifold)" if section == "slow_manifold"
                                                                    else ""), "{:.1%}"),
        MetricSpec(f"{section}.rnn_accuracy_same_docs", "accuracy of the network itself on the same documents",
                   "network accuracy on the same documents" if section == "linearization" else None,
                   "{:.1%}" if section == "linearization" else None),
        MetricSpec(f"{section}.linear_rnn_agreement", "fraction of those documents where the linearized and the "
                   "true dynamics predict the same label"),
        MetricSpec(f"{section}.linear_diverged", "linearized runs whose state became non-finite"),
        MetricSpec(f"{section}.example_doc_length", "tokens in the example trajectory (median-length document)"),
      )),
    # ---- slow_manifold: the traced curve of slowest points (rnnlens.manifold.trace_slow_manifold)
    MetricSpec("slow_manifold.n_points", "nodes on the traced slow manifold (ordered from the low-readout end)"),
    MetricSpec("slow_manifold.relax_steps", "steps of the network's own dynamics at x* from visited states before "
                                            "tracing; the relaxed states are the slow points"),
    MetricSpec("slow_manifold.q_median", "median over nodes of " + _Q + " (the valley floor of q across the curve)",
               "median q along the traced slow manifold", "{:.2e}"),
    MetricSpec("slow_manifold.q_max", "largest q over the nodes"),
    MetricSpec("slow_manifold.relaxed_q_median", "median q of the visited states after {steps} steps at x*"),
    MetricSpec("slow_manifold.one_dimensionality", "1 - (mean squared distance of the slow points, visited states "
                                                   "after {steps} steps at x*, to the traced curve) / (their total "
                                                   "variance): the share of their variance a position along the "
                                                   "curve explains; a curved line scores 1 too",
               "one-dimensionality of the slow points (variance explained by the curve)", "{:.1%}"),
    MetricSpec("slow_manifold.top_pc_fraction", "variance of the same slow points on their top PC / their total "
                                                "variance (a straight-line measure: a curved line scores lower)",
               "variance of the slow points on their top PC", "{:.1%}"),
    MetricSpec("slow_manifold.readout_span_fraction", "range of readout . h over the curve / the range of readout . h "
                                                      "over the final states of the analysed documents"),
    MetricSpec("slow_manifold.tangent_readout_cos_median", "median over nodes of |cos(tangent, readout direction)| "
                                                           "(tangent: top PC of the nodes within an eighth of the curve)",
               "|cos(tangent of the curve, readout)| (median over nodes)", "{:.3f}"),
    MetricSpec("slow_manifold.chord_readout_cos", "|cos| between the chord from the first to the last node and the "
                                                  "readout direction"),
    MetricSpec("slow_manifold.readout_sensitivity_cos_median", "median over nodes of |cos(tangent, J_rec^T w)|: w^T "
                                                               "J_rec is how the readout of the next state changes "
                                                               "with the state, so this sees motion in the LSTM's "
                                                               "cell state c, which the readout reads through h",
               "|cos(tangent, readout sensitivity w^T J_rec)| (median over nodes)", "{:.3f}"),
    MetricSpec("slow_manifold.tangent_readout_covariance_cos_median",
               "median over nodes of |cos(tangent, Cov(h, w.h))|, the covariance over every visited state of the "
               "state with its readout w.h: the direction the network's states move in as its readout changes. "
               "It ignores readout weight along directions the states never take (which changes no readout the "
               "network produces) and sees coordinates that move with the readout without being read (the "
               "LSTM's c)", "|cos(tangent, Cov(h, readout))| (median over nodes)", "{:.3f}"),
    MetricSpec("slow_manifold.readout_explained_by_position",
               "1 - Var(w.h_T - w.c(s_T)) / Var(w.h_T) over the analysed documents' final states h_T, with c(s_T) "
               "the curve at h_T's projection on it (on the straight extension of an end segment for states "
               "past that end, where the readout is extended linearly): the share of the final readout that the "
               "position along the traced curve explains", "readout explained by the position along the curve",
               "{:.3f}"),
    MetricSpec("slow_manifold.readout_alignment", "the alignment the checks use: "
                                                  "slow_manifold.tangent_readout_covariance_cos_median"),
    MetricSpec("slow_manifold.abs_lambda1_median", "median over nodes of |lambda_1| of J_rec at (node, x*)",
               "median |lambda_1| along the slow manifold", "{:.4f}"),
    MetricSpec("slow_manifold.median_abs_dev_lambda1", "median over nodes of | |lambda_1| - 1 |"),
    MetricSpec("slow_manifold.frac_abs_lambda1_within_0_02", "fraction of nodes with | |lambda_1| - 1 | <= 0.02"),
    MetricSpec("slow_manifold.n_slow_modes_median", "median over nodes of the number of eigenvalues with |lambda| > "
                                                    "0.98"),
    MetricSpec("slow_manifold.tau_median", "median over nodes of tau_a = 1/|ln|lambda_a|| (tokens), a = 1..3",
               "median time constants of the 3 slowest modes along the slow manifold (tokens)", "tau"),
    MetricSpec("slow_manifold.r1_tangent_overlap_median", "median over nodes of |cos(r_1, tangent)|"),
    MetricSpec("slow_manifold.n_exact_fixed_points", "distinct exact fixed points on the curve (q < {tol:g}, found "
                                                     "from the local minima of q along it)",
               "exact fixed points on the slow manifold", "{}"),
    MetricSpec("slow_manifold.exact_fixed_point_unstable", "number of |lambda| > 1 at each exact fixed point, in "
                                                           "order along the curve (0: stable, 1: saddle)"),
    # ---- speed: how fast states approach the attractor with constant input
    MetricSpec("speed.median_by_step", "median over {n} visited starting states of ||h_(t+1) - h_t|| / ||h_t||, "
                                       "t = 0..{last}, running with constant input x* ({input_point})"),
    MetricSpec("speed.median_first", "median normalised speed at the first step"),
    MetricSpec("speed.median_last", "median normalised speed after {steps} steps",
               "median normalised speed after running with constant input", "{:.2e}"),
    # ---- modifiers: how modifier words bend the integration (rnnlens.analysis.modifiers; issue 11). A
    #      context is a prefix of an analysed document; "control" is a neutral word read in the modifier's place
    MetricSpec("modifiers.modifiers", "the modifier tokens measured (in the model's vocabulary)"),
    MetricSpec("modifiers.missing_modifiers", "requested modifier tokens that are not in the model's vocabulary "
                                              "(not measured)"),
    MetricSpec("modifiers.n_contexts", "contexts: prefixes of documents of the split ({split_size} documents), "
                                       "each cut at a random position whose last max_gap tokens hold no "
                                       "modifier-like word"),
    MetricSpec("modifiers.max_gap", "K: gaps k = 1..K tokens from the modifier to the valenced word"),
    MetricSpec("modifiers.settle", "neutral filler tokens read after the valenced word before the readout"),
    MetricSpec("modifiers.factor", "per modifier, for k = 1..K: least-squares ratio sum(num*den)/sum(den^2) over "
                                   "contexts x valenced words, num = readout change caused by the word read k tokens "
                                   "after the modifier (in place of the k-th neutral filler; read out {settle} "
                                   "tokens after it), den = the same with the control word in the modifier's "
                                   "place. -1: flipped, 2: doubled, 1: no effect"),
    MetricSpec("modifiers.factor_ci_low", "2.5th percentile of the factor over {n_boot} bootstrap resamples of the "
                                          "contexts and the words (independently, with replacement)"),
    MetricSpec("modifiers.factor_ci_high", "97.5th percentile of the same bootstrap"),
    MetricSpec("modifiers.factor_median_ratio", "cross-check: median of num/den over the pairs whose |den| is at "
                                                "least a tenth of the median |den|"),
    MetricSpec("modifiers.truth_factor", "the factor computed the same way on the synthetic corpus's true score "
                                         "(its modifier rules) instead of the network's readout"),
    MetricSpec("modifiers.reach", "largest gap k up to which |factor - 1| stays at least half of |factor(1) - 1| "
                                  "(0: no effect at k = 1)"),
    MetricSpec("modifiers.factor_tau", "tau (tokens) of a least-squares fit factor(k) = 1 + a exp(-(k - 1)/tau), "
                                       "k = 1..K (scipy curve_fit; tau within [0.05, 1000])"),
    MetricSpec("modifiers.excursion_norm", "median over contexts of ||e_0||, the excursion e_0 = state after the "
                                           "modifier - state after the control word, same context"),
    MetricSpec("modifiers.excursion_readout", "median over contexts of readout . e_0: the modifier's own immediate "
                                              "readout change"),
    MetricSpec("modifiers.lasting_readout", "median over contexts of readout . e_{steps}, the excursion after "
                                            "{steps} neutral fillers: the modifier's lasting push along the line"),
    MetricSpec("modifiers.excursion_top_share", "share of the top direction in the uncentred excursions e_0 over "
                                                "contexts: s_1^2 / sum s_i^2 of their singular values (all: every "
                                                "modifier's excursions together)"),
    MetricSpec("modifiers.excursion_participation_ratio", "participation ratio (sum s_i^2)^2 / sum s_i^4 of the "
                                                          "singular values of the uncentred excursions e_0 over "
                                                          "contexts (1: one direction); all: every modifier "
                                                          "together; lifetime: e_0..e_{K} minus 1 of every "
                                                          "modifier together (K = {K})"),
    MetricSpec("modifiers.excursion_tangent_cos", "median over contexts of |cos(e_0, t)|, t the unit tangent of the "
                                                  "traced slow manifold at the node nearest the control state"),
    MetricSpec("modifiers.excursion_line_angle_deg", "arccos of excursion_tangent_cos, in degrees (90: the "
                                                     "excursion leaves the line at a right angle)"),
    MetricSpec("modifiers.return_tau_trajectory", "tau (tokens) of median_contexts ||e_j^perp|| / ||e_0^perp|| ~ "
                                                  "exp(-j/tau), j = 0..{steps} neutral fillers after the modifier, "
                                                  "e^perp the excursion normal to the local tangent; least squares "
                                                  "on the log through the origin"),
    MetricSpec("modifiers.return_tau_eigen", "median over {n} contexts of the mean time constant 1/|ln|lambda_a|| "
                                             "of the eigenmodes of J_rec at the excursion state (input x*), each "
                                             "mode weighted by its share |(L e_0)_a| ||r_a|| of the excursion, the "
                                             "line mode (of the 3 slowest, the one most aligned with the tangent) "
                                             "left out; inf when a mode with |lambda| = 1 carries part of it"),
    MetricSpec("modifiers.n_slow_modes_excursion", "median over {n} contexts of the number of eigenvalues of J_rec "
                                                   "with |lambda| > 0.9 at the excursion state"),
    MetricSpec("modifiers.n_slow_modes_control", "the same at the control states (after the neutral control word)"),
    MetricSpec("modifiers.complex_top_fraction", "fraction of contexts whose 3 slowest modes of J_rec at the "
                                                 "excursion state (control: at the control state) include a complex "
                                                 "pair (|Im lambda| > 1e-3)"),
    MetricSpec("modifiers.predicted_factor", "the linearized explanation: the factor's least-squares ratio with num "
                                             "and den replaced by l_1^T J_inp x_word at the state before the word "
                                             "(J_inp = dF/dx at that state and x*; l_1 the line mode's left "
                                             "eigenvector at the slow-manifold node nearest it)"),
    MetricSpec("modifiers.prediction_correlation", "Pearson correlation of predicted and measured factors over "
                                                   "the {n} (modifier, gap) pairs"),
    MetricSpec("modifiers.prediction_ratio_median", "median of predicted / measured factor over the (modifier, gap) "
                                                    "pairs with |measured| > 0.1"),
    MetricSpec("modifiers.predicted_factor_readout", "the same ratio with the readout direction in place of l_1: "
                                                     "readout^T J_inp x_word at the state before the word, the "
                                                     "word's immediate readout change to first order in its input"),
    MetricSpec("modifiers.prediction_readout_correlation", "Pearson correlation of predicted_factor_readout and the "
                                                           "measured factors over the (modifier, gap) pairs"),
    MetricSpec("modifiers.prediction_readout_ratio_median", "median of predicted_factor_readout / measured factor "
                                                            "over the pairs with |measured| > 0.1"),
    MetricSpec("modifiers.seconds", "wall-clock seconds of the modifier analysis"),
    # ---- kclass: k-class integration manifolds (issue 12; rnnlens.analysis.kclass, rnnlens.analysis.wordcount)
    MetricSpec("kclass.num_classes", "k, the number of classes the readout separates"),
    MetricSpec("kclass.n_slow_points", "slow points: visited states (a seeded subset) after {relax_steps} steps of the "
                                       "network's own dynamics at x*"),
    MetricSpec("kclass.slow_q_median", "median over the slow points of q = (1/N)||F(h, x*) - h||^2"),
    MetricSpec("kclass.pca_fractions", "fraction of the slow points' variance on each of their PCs 1..10"),
    MetricSpec("kclass.pca_share_top", "fraction of the slow points' variance on their top {d} PCs (k-1)",
               "k-class: slow points' variance on the top k-1 PCs", "{:.1%}"),
    MetricSpec("kclass.pca_share_next", "fraction of the slow points' variance on PC {n} (the k-th)"),
    MetricSpec("kclass.dimension_pca", "measured dimension: smallest d whose top d PCs hold >= {share:g} of the slow "
                                       "points' variance",
               "k-class: measured manifold dimension (PCA)", "{}"),
    MetricSpec("kclass.participation_ratio", "participation ratio (sum lambda)^2 / sum lambda^2 of the slow points' "
                                             "PCA variances"),
    MetricSpec("kclass.pca_by_relax", "variance fractions of PCs 1..k+1 of the visited states after n steps of the "
                                      "dynamics at x* (n = 0 is the visited states themselves)"),
    MetricSpec("kclass.readout_angles_deg", "principal angles (degrees) between the slow points' top {d} PCs and the "
                                            "readout subspace (rows of W minus their mean row)"),
    MetricSpec("kclass.readout_cov_angles_deg", "principal angles (degrees) between the slow points' top {d} PCs and "
                                                "span(Sigma Wc^T) (Sigma: covariance of the visited states; Wc: W "
                                                "minus its mean row), the directions the states move in as the "
                                                "logits change"),
    MetricSpec("kclass.readout_variance_in_plane", "||Wc B^T||^2 / ||Wc||^2: share of the centred readout's squared "
                                                   "norm inside the slow points' top {d} PCs (rows of B)"),
    MetricSpec("kclass.logit_fractions", "variance fractions of the slow points mapped to centred logits Wc h, "
                                         "along their k principal axes"),
    MetricSpec("kclass.dimension_logit", "smallest d whose top d principal axes of the centred logits Wc h of the "
                                         "slow points hold >= {share:g} of their variance"),
    MetricSpec("kclass.n_eig_slow_median", "median over {n} slow points of the number of eigenvalues of J_rec with "
                                           "|lambda| >= {threshold:g}"),
    MetricSpec("kclass.n_eig_slow_counts", "histogram over the linearized slow points of that number (entry i: "
                                           "points with i eigenvalues of |lambda| >= {threshold:g})"),
    MetricSpec("kclass.eig_abs_median", "median over the linearized slow points of |lambda_i|, i = 1..{n} (sorted "
                                        "descending): where there is no gap the count above depends on the "
                                        "threshold"),
    MetricSpec("kclass.fixed_points_n_converged", "of {n} slow points used as seeds, those the solver brought to "
                                                  "q < {tol:g}"),
    MetricSpec("kclass.fixed_points_n_unique", "distinct converged fixed points (FixedPoints.unique)"),
    MetricSpec("kclass.fixed_points_n_stable", "distinct fixed points without eigenvalues of |lambda| > 1 (beyond rounding, as modes.n_unstable_median)"),
    MetricSpec("kclass.fixed_points_in_subspace", "share of the distinct fixed points' squared distance from the slow "
                                                  "points' mean that lies in their top {d} PCs"),
    MetricSpec("kclass.n_slow_modes_used", "median number of slowest modes in the projector P = Re(R_s L_s) ({d}, "
                                           "or one more where the last is half of a complex pair)"),
    MetricSpec("kclass.evidence_n_words", "words compared: in the network's vocabulary and the bag of words, seen "
                                          ">= {min_count} times in training (the most frequent, at most n_words)"),
    MetricSpec("kclass.evidence_bow_spearman", "per class c: Spearman correlation over the words of the class "
                                               "evidence (Wc P J_inp x)[c] (averaged over slow points) with the bag "
                                               "of words' coefficient minus the word's mean coefficient"),
    MetricSpec("kclass.evidence_bow_spearman_mean", "mean over classes of evidence_bow_spearman",
               "k-class: evidence vectors vs bag of words (mean Spearman)", "{:.3f}"),
    MetricSpec("kclass.evidence_bow_r2", "R^2 of the least-squares linear map (with intercept) from the words' {d}-D "
                                         "evidence vectors (B P J_inp x, averaged over slow points) to their k "
                                         "centred bag-of-words coefficients"),
    MetricSpec("kclass.evidence_truth_r2", "R^2 of the least-squares linear map from the words' {d}-D evidence vectors "
                                           "to their true evidence (synthetic corpus; one-hot minus 1/k, or the "
                                           "ordered variant's valence)"),
    MetricSpec("kclass.predicted_fractions", "word-count prediction: variance fractions of the training documents' "
                                             "summed naive-Bayes evidence (log p(w|c) minus its class mean, add-"
                                             "{alpha:g} smoothing, words in >= {min_count} documents) along its "
                                             "principal axes"),
    MetricSpec("kclass.predicted_dimension", "word-count prediction of the dimension: smallest d whose top d axes hold "
                                             ">= {share:g} of that variance",
               "k-class: predicted dimension (word counts)", "{}"),
    MetricSpec("kclass.predicted_participation_ratio", "participation ratio of predicted_fractions"),
    MetricSpec("kclass.predicted_word_fractions", "spectrum of the words' naive-Bayes evidence vectors, weighted by "
                                                  "their counts (ignores co-occurrence in documents)"),
    MetricSpec("kclass.shape_angles_deg", "principal angles (degrees) between the predicted top {d} axes (word "
                                          "counts) and the top {d} axes of the slow points' centred logits Wc h"),
    MetricSpec("kclass.seconds", "wall-clock seconds of the k-class analysis"),
]
METRICS: dict[str, MetricSpec] = {s.path: s for s in _SPECS}
assert len(METRICS) == len(_SPECS), "a metric path is defined twice"
# sections that analyze reports only when asked (the rest are in every complete analysis)
OPTIONAL_SECTIONS = {"modifiers": "analyze(..., modifiers=[...]) / rnnlens analyze --modifiers",
                     "kclass": "models with more than two classes"}


def _spec(path: str) -> MetricSpec:
    try:
        return METRICS[path]
    except KeyError:
        raise KeyError(f"{path!r} is not a metric of rnnlens.analysis.metrics.METRICS") from None


def metric(path: str, value, **fields) -> dict:
    """The summary node ``{"value", "definition"}`` of metric ``path``, its definition filled with ``fields``."""
    return {"value": value, "definition": _spec(path).definition.format(**fields)}


def metric_node(summary: dict, path: str) -> dict | None:
    """The ``{"value", "definition"}`` node of metric ``path`` in a summary, or None when it was not measured.

    Raises KeyError for a path that is not in :data:`METRICS` (a typo, not a missing measurement).
    """
    _spec(path)
    node = summary.get("metrics", {})
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node if isinstance(node, dict) and "value" in node else None


def metric_value(summary: dict, path: str):
    """The value of metric ``path`` in a summary, or None when it was not measured."""
    node = metric_node(summary, path)
    return None if node is None else node["value"]


def key_numbers() -> list[MetricSpec]:
    """The metrics the report lists first (those with a label), in table order."""
    return [s for s in _SPECS if s.label is not None]
