"""Line-attractor analysis of a trained sentiment RNN (PAPER.md steps 4-8).

``analyze`` is the entry point. It chains the measurements of :mod:`rnnlens.analysis.measurements`
(one function per measurement, each returning its metrics and arrays); every number it reports is
defined once in :data:`rnnlens.analysis.metrics.METRICS`, which the checks and the report read too.
The mathematical pieces (geometry, modes, valence, dynamics) are plain functions that can be used
and tested on their own.
"""

from rnnlens.analysis.dynamics import approach_speed, linear_rollout, nearest_point, one_step_errors
from rnnlens.analysis.geometry import (abs_cos, against_null, expected_random_abs_cos, manifold_axis, pca_fit, pca_variance,
                                       random_abs_cos, readout_direction)
from rnnlens.analysis.io import load_analysis
from rnnlens.analysis.metrics import METRICS, MetricSpec, metric_node, metric_value
from rnnlens.analysis.modes import SIGN_CONVENTION, input_projections, mode_stats, orient_top_mode
from rnnlens.analysis.pipeline import AnalysisResult, analyze, collect_states, save_analysis
from rnnlens.analysis.valence import spearman, valence_summary, word_groups

__all__ = [
    "analyze", "AnalysisResult", "collect_states", "load_analysis", "save_analysis",
    "METRICS", "MetricSpec", "metric_node", "metric_value",
    "abs_cos", "against_null", "approach_speed", "expected_random_abs_cos", "input_projections",
    "linear_rollout", "manifold_axis", "mode_stats", "nearest_point", "one_step_errors", "orient_top_mode",
    "pca_fit", "pca_variance", "random_abs_cos", "readout_direction", "SIGN_CONVENTION", "spearman",
    "valence_summary", "word_groups",
]
