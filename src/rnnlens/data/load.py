"""``load_corpus``: one entry point for every corpus."""

from __future__ import annotations

import inspect

from rnnlens._types import PathLike
from rnnlens.data import ag_news, imdb, synthetic, tasks, text_formats
from rnnlens.data.corpus import Corpus, Split, check_fraction, finish_corpus
from rnnlens.data.sequences import Sequences
from rnnlens.errors import ArgumentError

TEXT_CORPORA = ("imdb", "sst2", "sst5", "yelp", "yelp-binary", "ag_news", "csv", "jsonl", "synthetic")
TASKS = tuple(tasks.TASKS)  # generated input sequences with per-step targets (rnnlens.data.tasks)
CORPORA = TEXT_CORPORA + TASKS
_OPTIONS = {
    "imdb": ("download", "url", "sha256", "extract", "progress"),
    "sst2": (),
    "sst5": (),
    "yelp": ("variant",),
    "yelp-binary": ("variant",),
    "ag_news": ("download", "url", "sha256", "progress", "split_seed", "test_fraction"),
    "csv": tuple(inspect.signature(text_formats.load_table).parameters)[2:],
    "jsonl": tuple(inspect.signature(text_formats.load_table).parameters)[2:],
    "synthetic": (*synthetic.DEFAULTS, *synthetic.ORDERED_DEFAULTS),
    **{name: tasks.task_options(name) for name in TASKS},
}


def load_corpus(
    name: str, *, data_dir: PathLike | None = None, seed: int = 0, validation_fraction: float = 0.1, **options
) -> Corpus | Sequences:
    """Load corpus ``name`` with splits "train", "validation" and (where the corpus has one) "test".

    Corpora: "imdb", "sst2", "sst5", "yelp", "yelp-binary", "ag_news", "csv", "jsonl", "synthetic", and the
    generated tasks "flipflop", "sine", "context" (:mod:`rnnlens.data.tasks`: a
    :class:`~rnnlens.data.sequences.Sequences` of input vectors with per-step targets, generated from ``seed``
    with its own ``n_train``/``n_validation``/``n_test``; ``data_dir`` and ``validation_fraction`` are not
    read).
    Files are looked up in ``data_dir``, then ``$RNNLENS_DATA_DIR``, then the cache folder
    (``$RNNLENS_CACHE_DIR`` or ``~/.cache/rnnlens``); in each, first ``<dir>/<corpus>/`` then
    ``<dir>/``. IMDB is downloaded into the cache when it is found nowhere (options
    ``download=False`` to forbid it, ``url=``/``sha256=`` or ``$RNNLENS_IMDB_URL``/
    ``$RNNLENS_IMDB_SHA256`` to change the source, ``extract=True`` to unpack the archive safely
    and read the folder). Where a corpus has no validation file, a stratified
    ``validation_fraction`` of train drawn with ``seed`` becomes the validation split. The
    synthetic corpus is generated from ``seed`` (options: see :mod:`rnnlens.data.synthetic`).
    "ag_news": train.csv + test.csv, or test.csv alone split with ``split_seed`` (``test_fraction``; noted in
    ``corpus.info["split"]``); downloads need ``sha256=`` (see :mod:`rnnlens.data.ag_news`).
    Generic "csv"/"jsonl": ``path=`` (or ``train=``), ``validation=``, ``test=``,
    ``text_column=``, ``label_column=``, ``label_names=``; "csv" also reads TSV (files named
    ``*.tsv``, or ``delimiter="\\t"``; ``delimiter=`` sets any one-character separator). Their label set
    is the training file's, checked for stray labels (see :mod:`rnnlens.data.labels`), unless
    ``label_names=`` declares it.

    Raises DataError for a missing or unreadable corpus, ArgumentError for a bad argument.

    Args:
        name: which corpus, one of the names above.
        data_dir: the folder searched first for the corpus's files; None: the environment and the cache only.
        seed: integer >= 0; draws the validation split carved from train, and generates the synthetic corpus.
        validation_fraction: the part of train, strictly between 0 and 1, that becomes the validation split
            where the corpus has no validation file.
        **options: the corpus's own options (above); an option the corpus does not know is refused.

    Returns:
        The :class:`~rnnlens.data.Corpus` (a task: the :class:`~rnnlens.data.sequences.Sequences`): its
        ``splits`` (``train``, ``validation``, maybe ``test``), label names, source, ``info`` (options, seed,
        counts, how validation was made) and, for "synthetic", its ``truth``.

    Raises:
        ArgumentError: an unknown corpus or option, a ``seed`` that is not an integer >= 0, a
            ``validation_fraction`` outside (0, 1), or a bad option value.
        DataError: the corpus's files missing, unreadable or malformed (bad UTF-8, a row without text or
            label, stray labels), a failed download, or a train split too small to carve validation from.
    """
    if name not in CORPORA:
        raise ArgumentError(f"unknown corpus {name!r}; choose one of {', '.join(CORPORA)}")
    unknown = sorted(set(options) - set(_OPTIONS[name]))
    if unknown:
        raise ArgumentError(
            f"unknown option(s) {unknown} for corpus {name!r}; known: {sorted(_OPTIONS[name]) or 'none'}"
        )
    if name in TASKS:
        return tasks.generate_task(name, seed, **options)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ArgumentError(f"seed must be an integer >= 0; got {seed!r}")
    fraction = check_fraction(validation_fraction)
    info = {"options": dict(options), "seed": seed}
    truth = None
    if name == "imdb":
        o = dict(options)
        splits, source, more = imdb.load_imdb(
            data_dir,
            download_missing=o.get("download", True),
            url=o.get("url"),
            sha256=o.get("sha256"),
            extract=o.get("extract", False),
            progress=o.get("progress", True),
        )
        names = imdb.LABEL_NAMES
    elif name in ("sst2", "sst5"):
        loader = text_formats.load_sst2 if name == "sst2" else text_formats.load_sst5
        splits, source, more = loader(data_dir)
        names = text_formats.SST2_LABELS if name == "sst2" else text_formats.SST5_LABELS
    elif name in ("yelp", "yelp-binary"):
        splits, names, source, more = text_formats.load_yelp(data_dir, binary=name == "yelp-binary", **options)
    elif name == "ag_news":
        o = dict(options)
        splits, source, more = ag_news.load_ag_news(
            data_dir, download_missing=o.pop("download", True), progress=o.pop("progress", True), **o
        )
        names = ag_news.LABEL_NAMES
    elif name in ("csv", "jsonl"):
        splits, names, source, more = text_formats.load_table(name, data_dir, **options)
    else:
        generated, names, truth, more = synthetic.generate_synthetic(seed, **options)
        splits = {k: Split(texts, labels) for k, (texts, labels) in generated.items()}
        source = "generated"
    info.update(more)
    return finish_corpus(name, names, splits, source, info, seed=seed, validation_fraction=fraction, truth=truth)
