"""Corpora, tokenizer, vocabulary and length-bucketed batches (see docs/architecture.md)."""

from rnnlens.data.batching import Batch, Encoded, batches, encode
from rnnlens.data.corpus import Corpus, Split
from rnnlens.data.download import download, safe_extract
from rnnlens.data.load import CORPORA, load_corpus
from rnnlens.data.locate import cache_dir
from rnnlens.data.synthetic import SyntheticTruth
from rnnlens.data.tokenize import PAD, PAD_ID, UNK, UNK_ID, Vocab, tokenize

__all__ = [
    "Batch",
    "CORPORA",
    "Corpus",
    "Encoded",
    "PAD",
    "PAD_ID",
    "Split",
    "SyntheticTruth",
    "UNK",
    "UNK_ID",
    "Vocab",
    "batches",
    "cache_dir",
    "download",
    "encode",
    "load_corpus",
    "safe_extract",
    "tokenize",
]
