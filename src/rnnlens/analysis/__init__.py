"""Line-attractor analysis of a trained recurrent classifier: the measurements of Maheswaranathan et al. 2019
(low dimensionality, fixed points and their linearization, the line attractor, word valence, linearized dynamics).

``analyze`` is the entry point: it runs the registered analysis sections (:mod:`rnnlens.analysis.sections`,
one module each, registered in :mod:`rnnlens.analysis.registry`) with one
:class:`~rnnlens.analysis.settings.AnalysisSettings` and returns an
:class:`~rnnlens.analysis.result.Analysis`. Every number it reports is declared once by the section
that measures it (:data:`rnnlens.analysis.metrics.METRICS` is their table), which the checks and the
report read too. The mathematical pieces (geometry, modes, valence, dynamics) are plain functions
that can be used and tested on their own.

Importing this package registers the built-in sections and loads no torch; the names below are
imported on first use.
"""

from importlib import import_module

from rnnlens.analysis import sections as _sections  # noqa: F401  (registers the built-in sections)

_LAZY = {
    "analyze": "rnnlens.analysis.pipeline",
    "Run": "rnnlens.analysis.pipeline",
    "save_analysis": "rnnlens.analysis.pipeline",
    "Analysis": "rnnlens.analysis.result",
    "Arrays": "rnnlens.analysis.result",
    "load_analysis": "rnnlens.analysis.result",
    "AnalysisSettings": "rnnlens.analysis.settings",
    "Section": "rnnlens.analysis.registry",
    "MetricSpec": "rnnlens.analysis.registry",
    "ArraySpec": "rnnlens.analysis.registry",
    "FigureSpec": "rnnlens.analysis.registry",
    "Measurement": "rnnlens.analysis.registry",
    "register": "rnnlens.analysis.registry",
    "sections": "rnnlens.analysis.registry",
    "METRICS": "rnnlens.analysis.metrics",
    "metric_node": "rnnlens.analysis.metrics",
    "metric_value": "rnnlens.analysis.metrics",
    "approach_speed": "rnnlens.analysis.dynamics",
    "linear_rollout": "rnnlens.analysis.dynamics",
    "nearest_point": "rnnlens.analysis.dynamics",
    "one_step_errors": "rnnlens.analysis.dynamics",
    "abs_cos": "rnnlens.analysis.geometry",
    "against_null": "rnnlens.analysis.geometry",
    "expected_random_abs_cos": "rnnlens.analysis.geometry",
    "manifold_axis": "rnnlens.analysis.geometry",
    "pca_fit": "rnnlens.analysis.geometry",
    "pca_variance": "rnnlens.analysis.geometry",
    "random_abs_cos": "rnnlens.analysis.geometry",
    "readout_direction": "rnnlens.analysis.geometry",
    "SIGN_CONVENTION": "rnnlens.analysis.modes",
    "input_projections": "rnnlens.analysis.modes",
    "mode_stats": "rnnlens.analysis.modes",
    "orient_top_mode": "rnnlens.analysis.modes",
    "spearman": "rnnlens.analysis.valence",
    "valence_summary": "rnnlens.analysis.valence",
    "word_groups": "rnnlens.analysis.valence",
}

__all__ = list(_LAZY)


def __getattr__(name):
    if name in _LAZY:
        value = getattr(import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'rnnlens.analysis' has no attribute {name!r}")


def __dir__():
    return sorted(__all__)
