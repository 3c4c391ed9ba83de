"""rnnlens: reverse-engineer recurrent networks with dynamical-systems analysis.

The public API, one entry point per stage (imported on first use, so that ``import rnnlens.report``
loads no solver and the CLI's ``--help`` stays fast)::

    load_corpus, Vocab, tokenize        rnnlens.data          text -> token ids
    Sequences                           rnnlens.data.sequences  input sequences for networks without words
    make_cell, SentimentRNN             rnnlens.cells/.model
    TrainSettings, train, evaluate      rnnlens.training
    fit_bag_of_words                    rnnlens.baseline
    save_checkpoint, load_checkpoint, load_training_corpus    rnnlens.checkpoint
    as_step, find_fixed_points, FixedPoints, sample_seeds     rnnlens.fixedpoints
    trace_slow_manifold, SlowManifold   rnnlens.manifold      the slow manifold as an ordered curve
    linearize, Linearization            rnnlens.linearization
    Network                             rnnlens.network       the one view of a trained model the analysis reads
    analyze, AnalysisSettings, Analysis, load_analysis   rnnlens.analysis   numbers -> summary.json
    analyze_modifiers                   rnnlens.analysis.modifiers   how modifier words bend the integration
    analyze_kclass, predict_dimension   rnnlens.analysis.kclass/.wordcount   k-class manifolds, their predicted
                                                                             dimension
    make_report                         rnnlens.report        figures + HTML

No submodule shares a name with a function exported here (``rnnlens.train`` is always the function).
"""

from importlib import import_module

from rnnlens._version import __version__, code_version
from rnnlens.errors import ArgumentError, CheckpointError, DataError, RnnlensError

_LAZY = {
    "load_corpus": "rnnlens.data",
    "Vocab": "rnnlens.data",
    "tokenize": "rnnlens.data",
    "make_cell": "rnnlens.cells",
    "SentimentRNN": "rnnlens.model",
    "TrainSettings": "rnnlens.training",
    "train": "rnnlens.training",
    "evaluate": "rnnlens.training",
    "fit_bag_of_words": "rnnlens.baseline",
    "save_checkpoint": "rnnlens.checkpoint",
    "load_checkpoint": "rnnlens.checkpoint",
    "load_training_corpus": "rnnlens.checkpoint",
    "as_step": "rnnlens.fixedpoints",
    "find_fixed_points": "rnnlens.fixedpoints",
    "FixedPoints": "rnnlens.fixedpoints",
    "sample_seeds": "rnnlens.fixedpoints",
    "LM": "rnnlens.solvers",
    "Newton": "rnnlens.solvers",
    "Adam": "rnnlens.solvers",
    "Closed": "rnnlens.solvers",
    "trace_slow_manifold": "rnnlens.manifold",
    "SlowManifold": "rnnlens.manifold",
    "linearize": "rnnlens.linearization",
    "Linearization": "rnnlens.linearization",
    "analyze": "rnnlens.analysis",
    "AnalysisSettings": "rnnlens.analysis",
    "Analysis": "rnnlens.analysis",
    "load_analysis": "rnnlens.analysis",
    "Network": "rnnlens.network",
    "make_report": "rnnlens.report",
    "Sequences": "rnnlens.data.sequences",
    "analyze_modifiers": "rnnlens.analysis.modifiers",
    "analyze_kclass": "rnnlens.analysis.kclass",
    "predict_dimension": "rnnlens.analysis.wordcount",
}

__all__ = ["__version__", "code_version", "RnnlensError", "DataError", "CheckpointError", "ArgumentError", *_LAZY]


def __getattr__(name):
    if name in _LAZY:
        value = getattr(import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'rnnlens' has no attribute {name!r}")


def __dir__():
    return sorted(__all__)
