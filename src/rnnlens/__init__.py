"""rnnlens: reverse-engineer recurrent networks with dynamical-systems analysis.

The public API, one entry point per stage::

    load_corpus, Vocab, tokenize        rnnlens.data        text -> token ids
    make_cell, SentimentRNN             rnnlens.cells/.model
    TrainSettings, train, evaluate      rnnlens.train
    fit_bag_of_words                    rnnlens.baseline
    save_checkpoint, load_checkpoint    rnnlens.checkpoint
    as_step, find_fixed_points, FixedPoints, sample_seeds     rnnlens.fixedpoints
    linearize, Linearization            rnnlens.linearize
    analyze                             rnnlens.analysis    numbers -> summary.json
    make_report                         rnnlens.report      figures + HTML

The names are imported eagerly: ``rnnlens.train`` and ``rnnlens.linearize`` are both a submodule and
a function, and only an import here keeps the package attribute the function once the submodule has
been imported.
"""

from rnnlens._version import __version__, code_version
from rnnlens.errors import ArgumentError, CheckpointError, DataError, RnnlensError

from rnnlens.data import Vocab, load_corpus, tokenize  # noqa: E402  (after the errors they use)
from rnnlens.cells import make_cell
from rnnlens.model import SentimentRNN
from rnnlens.checkpoint import load_checkpoint, save_checkpoint
from rnnlens.train import TrainSettings, evaluate, train
from rnnlens.baseline import fit_bag_of_words
from rnnlens.fixedpoints import FixedPoints, as_step, find_fixed_points, sample_seeds
from rnnlens.linearize import Linearization, linearize
from rnnlens.analysis import analyze
from rnnlens.report import make_report

__all__ = [
    "__version__", "code_version", "RnnlensError", "DataError", "CheckpointError", "ArgumentError",
    "load_corpus", "Vocab", "tokenize", "make_cell", "SentimentRNN", "TrainSettings", "train", "evaluate",
    "fit_bag_of_words", "save_checkpoint", "load_checkpoint", "as_step", "find_fixed_points", "FixedPoints",
    "sample_seeds", "linearize", "Linearization", "analyze", "make_report",
]
