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
    MetricSpec("modes.n_unstable_median", "median number of |lambda| > 1"),
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
    # ---- valence: each word's push along the line
    MetricSpec("valence.mean_abs", "mean |valence| over the vocabulary (special tokens excluded), valence averaged "
                                   "over fixed points"),
    MetricSpec("valence.spread_median", "median over words of the std of the valence across fixed points"),
    MetricSpec("valence.spearman_bow", "Spearman correlation of the mean valence with the bag-of-words "
                                       "coefficients over {n_words} shared words",
               "Spearman(word valence, bag-of-words coefficient)", "{:.3f}"),
    MetricSpec("valence.spearman_truth", "Spearman correlation of the mean valence with the corpus's true word "
                                         "valence over {n_words} words",
               "Spearman(word valence, true valence)", "{:.3f}"),
    *(MetricSpec(f"valence.{kind}_mean", "mean valence of the {n} most " + kind + " words by bag-of-words "
                                         "coefficient (averaged over words and fixed points)",
                 f"mean valence of the most {kind} words", "{:+.4f}")
      for kind in ("positive", "negative", "neutral")),
    # ---- linearization: how well the linearized dynamics stand in for the network
    MetricSpec("linearization.one_step_error_median", "median over {n} sampled transitions of the analysed "
                                                      "documents of ||h_next - h_lin|| / ||h_next||, h_lin = h* + "
                                                      "J_rec (h - h*) + J_inp (x - x*) around the fixed point "
                                                      "nearest to h",
               "median one-step error of the linearization", "{:.1%}"),
    MetricSpec("linearization.one_step_error_mean", "mean of the same relative one-step error"),
    MetricSpec("linearization.one_step_error_p90", "90th percentile of the same"),
    MetricSpec("linearization.linear_accuracy", "accuracy on {n} documents of the readout applied to the state "
                                                "reached by the linearized dynamics alone (every step linearized "
                                                "around the fixed point nearest the current linearized state; "
                                                "diverged runs count as wrong)",
               "accuracy with the linearized dynamics alone", "{:.1%}"),
    MetricSpec("linearization.rnn_accuracy_same_docs", "accuracy of the network itself on the same documents",
               "network accuracy on the same documents", "{:.1%}"),
    MetricSpec("linearization.linear_rnn_agreement", "fraction of those documents where the linearized and the "
                                                     "true dynamics predict the same label"),
    MetricSpec("linearization.linear_diverged", "linearized runs whose state became non-finite"),
    MetricSpec("linearization.example_doc_length", "tokens in the example trajectory (median-length document)"),
    # ---- speed: how fast states approach the attractor with constant input
    MetricSpec("speed.median_by_step", "median over {n} visited starting states of ||h_(t+1) - h_t|| / ||h_t||, "
                                       "t = 0..{last}, running with constant input x* ({input_point})"),
    MetricSpec("speed.median_first", "median normalised speed at the first step"),
    MetricSpec("speed.median_last", "median normalised speed after {steps} steps",
               "median normalised speed after running with constant input", "{:.2e}"),
]
METRICS: dict[str, MetricSpec] = {s.path: s for s in _SPECS}
assert len(METRICS) == len(_SPECS), "a metric path is defined twice"


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
