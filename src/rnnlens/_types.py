"""Type names of the public API (for annotations; nothing here runs)."""

from __future__ import annotations

import os
from typing import Any

__all__ = ["PathLike", "StepLike", "TensorLike", "CorpusLike", "NetworkLike", "BagOfWordsLike"]

# a file or folder name
PathLike = str | os.PathLike[str]
# what the solvers accept as the step F(x, h): an rnnlens cell, a torch nn.RNN / nn.GRU / nn.LSTM, a
# rnnlens.steps.StepFunction, or a callable F(x, h) -> h'
StepLike = Any
# a torch.Tensor or anything torch.as_tensor takes (numpy arrays, nested lists)
TensorLike = Any
# an rnnlens.data.Corpus
CorpusLike = Any
# what analyze takes as the network: a checkpoint folder, an rnnlens.checkpoint.Checkpoint or an
# rnnlens.network.Network
NetworkLike = Any
# a bag of words: an rnnlens.baseline.BagOfWords, its JSON file, or {word: coefficient}
BagOfWordsLike = Any
