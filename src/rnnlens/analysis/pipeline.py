"""``analyze``: every registered analysis section on one trained network, saved with provenance.

``analyze`` checks its arguments, makes one :class:`Run` (the network, the documents' corpus, the
settings, the bag of words, one random generator) and runs the registered sections
(:func:`rnnlens.analysis.registry.sections`) in order: each that applies measures, reading what the
earlier ones produced from ``run.products``, and its metrics, arrays and what it could not measure
are merged into one :class:`rnnlens.analysis.result.Analysis`. Nothing here names a section.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import functools
import platform
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rnnlens import progress as _progress
from rnnlens._types import BagOfWordsLike, CorpusLike, NetworkLike, PathLike
from rnnlens._version import code_version
from rnnlens.analysis import checks as _checks
from rnnlens.analysis.io import SCHEMA
from rnnlens.analysis.modes import SIGN_CONVENTION
from rnnlens.analysis.registry import Measurement, sections
from rnnlens.analysis.result import Analysis
from rnnlens.analysis.settings import AnalysisSettings
from rnnlens.errors import ArgumentError, DataError
from rnnlens.network import Network

__all__ = ["analyze", "Run", "save_analysis"]


@dataclass
class Run:
    """Everything one analysis reads: the network, the corpus, the settings, the bag of words
    (``bow`` as given, or the one ``"auto"`` found; ``bow_coef``/``bow_info`` its coefficients along the
    readout direction), the corpus's known truth (synthetic corpora), one random generator drawn from in
    section order, the products of the sections that already ran (``products[name]``) and the torch device
    the sections compute on (``device``, settings ``documents.device``: the network is there, and the
    sections put their tensors there with :func:`rnnlens.device.to_device`)."""

    network: Network
    corpus: Any
    settings: AnalysisSettings
    bow: Any = None
    bow_coef: dict | None = None
    bow_info: dict | None = None
    rng: np.random.Generator | None = None
    products: dict = field(default_factory=dict)
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    @property
    def truth(self):
        """The corpus's known truth (a synthetic corpus's ``SyntheticTruth``), or None."""
        return getattr(self.corpus, "truth", None)

    @property
    def truth_valence(self) -> dict | None:
        """The true valence of each word, when the corpus knows it."""
        return getattr(self.truth, "valence", None) or None

    def lacks(self, need: str) -> str | None:
        """Why the network and the data lack ``need`` (``"words"``, ``"labels"``; see
        :attr:`rnnlens.analysis.registry.Section.needs`), or None when they have it."""
        if need == "words":
            if not hasattr(next(iter(self.corpus.splits.values())), "texts"):
                return "the data are input sequences, not text: there are no words"
            if self.network.itos is None or getattr(self.network.embed_table, "shape", None) is None:
                return (
                    "the network's tokenizer has no word list or its input map no table of input vectors, so "
                    "no word can be given a valence"
                )
            return None
        if need == "labels":
            return None if self.corpus.num_classes else "the documents have no labels (no classes to separate)"
        raise ValueError(f"unknown need {need!r}")

    @functools.cached_property
    def x_star(self) -> torch.Tensor:
        """The constant input of the fixed points (settings ``fixed_points.input_point``), float64 [I], on the
        device."""
        from rnnlens.device import to_device

        return to_device(self.network.x_star(self.settings.fixed_points.input_point), self.device)


def _locked_output(fn):
    """Run ``fn`` holding the lock of its ``out_dir`` (when given), after checking the folder can be
    written: an unwritable or busy output folder, or one where a file of the user's has the name of an
    analysis file, is refused before any work."""

    @functools.wraps(fn)
    def wrapper(*args, out_dir=None, **kwargs):
        from rnnlens._atomic import check_output
        from rnnlens._lock import output_lock
        from rnnlens.analysis.io import OWN_FILES

        with contextlib.ExitStack() as stack:
            if out_dir is not None:
                check_output(out_dir, OWN_FILES, "-o")
                stack.enter_context(output_lock(out_dir, "analyze"))
            return fn(*args, out_dir=out_dir, **kwargs)

    return wrapper


def _check(network: Network, corpus, settings) -> AnalysisSettings:
    """The settings (defaults when None), checked against the network, the corpus and this machine (the
    device) before any work."""
    from rnnlens.device import resolve_device

    if settings is None:
        settings = AnalysisSettings()
    if not isinstance(settings, AnalysisSettings):
        raise ArgumentError(
            f"analyze: settings must be an rnnlens.AnalysisSettings (e.g. "
            f"AnalysisSettings.make(n_docs=200)); got {type(settings).__name__}"
        )
    resolve_device(settings.documents.device)
    split = settings.documents.split
    if split not in corpus.splits:
        raise DataError(
            f"corpus {corpus.name!r} has no {split!r} split (it has {sorted(corpus.splits)}); pass split= one of those"
        )
    width = getattr(corpus, "input_size", None)
    if width is not None and width != network.recurrence.input_size:
        raise DataError(
            f"the input sequences {corpus.name!r} have inputs of {width} numbers but the network reads "
            f"{network.recurrence.input_size}; give the sequences the network was trained on"
        )
    if corpus.num_classes and network.num_classes != corpus.num_classes:
        raise DataError(
            f"the model classifies {network.num_classes} labels but corpus {corpus.name!r} has "
            f"{corpus.num_classes} ({corpus.label_names}); analyze it on the dataset it was trained on"
        )
    words = settings.modifiers.modifiers
    if words is not None and network.itos is not None and hasattr(corpus.splits[split], "texts"):
        from rnnlens.analysis.modifiers import split_present

        split_present(words, network.vocab)  # an explicit list naming unknown words fails before any work
    return settings


def _device_name(device: torch.device) -> str:
    """The device as provenance records it (a GPU with its name)."""
    if device.type == "cuda":
        return f"{device} ({torch.cuda.get_device_name(device)})"
    return str(device)


def _provenance(network: Network, corpus, fingerprint: str, usage: dict, device: torch.device) -> dict:
    from rnnlens.analysis.resources import definitions

    record = network.record
    return {
        "checkpoint": network.path,
        "record": {k: v for k, v in record.items() if k != "vocab"},
        "model": network.config(),
        "dataset": corpus.name,
        "label_names": list(corpus.label_names),
        "corpus_fingerprint": fingerprint,
        "corpus_source": str(corpus.source),
        "trained_on_same_corpus": (
            record.get("data_fingerprint") == fingerprint if "data_fingerprint" in record else None
        ),
        "code_version": code_version(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "device": _device_name(device),
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "section_seconds": {name: round(u.seconds, 3) for name, u in usage.items()},
        "section_peak_rss_mib": {name: _mib(u.peak_mib) for name, u in usage.items()},
        "section_start_rss_mib": {name: _mib(u.start_mib) for name, u in usage.items()},
        "section_resources_definition": definitions(u.method for u in usage.values()),
    }


def _mib(x: float | None) -> float | None:
    return None if x is None else round(x, 1)


def _is_auto(bow) -> bool:
    return isinstance(bow, str) and bow == "auto"


def _bag_of_words(bow, run: Run) -> tuple[object, dict]:
    """``(bow, how it was obtained)``: ``bow`` as given, or for ``"auto"`` the corpus's own bag of words
    (:func:`rnnlens.baseline_cache.cached_bag_of_words`: read from the cache, else fitted now and cached);
    none where the network reads no words or the documents have no labels, or the fit is impossible."""
    if not _is_auto(bow):
        if bow is None:
            return None, {"obtained": "none", "why": "none asked for (bow=None; rnnlens analyze --no-bow)"}
        return bow, {"obtained": "given", **({"path": str(bow)} if isinstance(bow, (str, Path)) else {})}
    why = run.lacks("words") or run.lacks("labels")
    if why is not None:
        return None, {"obtained": "none", "why": why}
    from rnnlens.baseline_cache import cache_path, cached_bag_of_words, describe

    if not cache_path(run.corpus).is_file():
        _progress.say(f"fitting the bag of words of {run.corpus.name} (once: it is then read from the cache) ...")
    try:
        bow, how = cached_bag_of_words(run.corpus)
    except (DataError, ArgumentError) as exc:
        return None, {"obtained": "none", "why": f"bow='auto' could not fit one: {exc}"}
    _progress.say(f"bag of words: {describe(how)}")
    return bow, how


def _measure(run: Run) -> tuple[dict, dict, list, dict, list]:
    """Run the registered sections in order: ``(metrics, arrays, missing, usage by section, skipped)``."""
    from rnnlens.analysis.resources import measured

    metrics: dict[str, Any] = {}
    arrays: dict[str, Any] = {}
    missing: list[dict] = []
    usage: dict[str, Any] = {}
    skipped: list[Any] = []
    todo = sections()
    for i, section in enumerate(
        _progress.track(todo, "analyze", len(todo), unit="section", describe=lambda s: s.title), start=1
    ):
        why = next((w for w in map(run.lacks, section.needs) if w), None)
        if why is not None:
            skipped.append({"section": section.name, "why": why})
            continue
        if not section.applies(run):
            continue
        if not _progress.shown().bars:
            _progress.say(f"analyze [{i}/{len(todo)}] {section.name}: {section.title} ...")
        with measured() as used:
            part = section.measure(run)
        usage[section.name] = used
        peak = "" if used.peak_mib is None else f", peak RSS {used.peak_mib:.0f} MiB"
        _progress.say(f"analyze [{i}/{len(todo)}] {section.name} done: {used.seconds:.1f} s{peak}")
        run.products[section.name] = part
        _merge(metrics, arrays, missing, part, section)
    return metrics, arrays, missing, usage, skipped


def _merge(metrics: dict, arrays: dict, missing: list, part: Measurement, section) -> None:
    declared = {a.name: a for a in section.arrays}
    for name, value in part.arrays.items():
        if name not in declared:
            raise TypeError(f"section {section.name!r} measured array {name!r}, which it does not declare")
        arrays[name] = declared[name].check(value)
    for name, items in part.metrics.items():
        metrics.setdefault(name, {}).update(items)
    missing.extend(part.missing)


@_locked_output
def analyze(
    network: NetworkLike,
    corpus: CorpusLike,
    settings: AnalysisSettings | None = None,
    *,
    bow: BagOfWordsLike | str | None = None,
    out_dir: PathLike | None = None,
    progress: bool = False,
) -> Analysis:
    """Measure the line-attractor picture of one trained network on ``corpus`` documents.

    Args:
        network: a checkpoint folder, a ``Checkpoint``, or an :class:`rnnlens.Network`
            (``Network(model, vocab)`` for a bare ``SentimentRNN``).
        corpus: an ``rnnlens.data.Corpus``; its ``truth`` (synthetic corpora) adds the true-valence checks.
        settings: an :class:`rnnlens.AnalysisSettings` (None: every default; e.g.
            ``AnalysisSettings.make(n_docs=200, tol=1e-10)``).
        bow: bag-of-words coefficients (``BagOfWords``, its JSON file, or ``{word: coef}``) for the
            word-valence comparison and the positive/negative/neutral word groups; ``"auto"``: the corpus's
            own, read from the cache or fitted now and cached (:mod:`rnnlens.baseline_cache`; what
            ``rnnlens analyze`` does without ``--bow``); None (the default): none, and those checks are
            left unmeasured. ``summary["provenance"]["bag_of_words"]`` says how it was obtained.
        out_dir: when given, write ``summary.json``, ``arrays.npz`` and ``fixed_points.safetensors`` there.
        progress: show a bar of the sections (and of long loops inside them) and one line per section
            on stderr (:mod:`rnnlens.progress`); False leaves that module's switch as it is (off unless set).

    Returns:
        The :class:`rnnlens.analysis.result.Analysis`. When no fixed point reaches ``tol`` the analysis
        still completes the measurements that do not need one and lists the rest under ``missing``.

    Raises:
        ArgumentError: a bad setting, or a network that is not one of the kinds above. Also an ``out_dir``
            that cannot be written or holds an entry of the user's named like an analysis file.
        DataError: a corpus without the split, with another number of classes, or whose words the
            network's vocabulary does not know.
        CheckpointError: a checkpoint folder that is missing, incomplete or from an incompatible version.
        RnnlensError: another rnnlens run is writing ``out_dir`` (its lock is held), or the disk is full.
    """
    network = Network.resolve(network)
    settings = _check(network, corpus, settings)
    with _progress.show() if progress else contextlib.nullcontext():
        return _analyze(network, corpus, settings, bow, out_dir)


def _analyze(network: Network, corpus, settings: AnalysisSettings, bow, out_dir) -> Analysis:
    from rnnlens.analysis.sections.valence import bow_coefficients
    from rnnlens.device import resolve_device

    fingerprint = corpus.fingerprint()
    device = resolve_device(settings.documents.device)
    run = Run(network.to(device), corpus, settings, rng=np.random.default_rng(settings.documents.seed), device=device)
    run.bow, bow_how = _bag_of_words(bow, run)
    run.bow_coef, run.bow_info = bow_coefficients(run.bow, fingerprint)
    if run.bow_info is not None and _is_auto(bow):
        from rnnlens.baseline_cache import describe

        run.bow_info = {**run.bow_info, "obtained": describe(bow_how)}
    torch.manual_seed(settings.documents.seed)
    metrics, arrays, missing, usage, skipped = _measure(run)
    summary = {
        "schema": SCHEMA,
        "status": "partial" if missing else "complete",
        "missing": missing,
        "skipped": skipped,
        "sign_convention": SIGN_CONVENTION,
        "provenance": {**_provenance(run.network, corpus, fingerprint, usage, device), "bag_of_words": bow_how},
        "settings": settings.to_dict(),
        "metrics": metrics,
        "arrays_file": "arrays.npz",
    }
    summary["checks"] = _checks.evaluate(summary, truth=run.truth is not None)
    products = run.products
    solved = [
        getattr(products.get(name), attr, None)
        for name, attr in (("fixed_points", "fps"), ("modes", "lin"), ("slow_manifold", "curve"))
    ]
    if device != torch.device("cpu"):  # what analyze returns lives on the CPU, as the summary and arrays do
        from rnnlens.device import to_cpu

        solved = [to_cpu(x) for x in solved]
    result = Analysis(summary, arrays, fixed_points=solved[0], linearization=solved[1], slow_manifold=solved[2])
    if out_dir is not None:
        result.save(out_dir)
    return result


def save_analysis(result: Analysis, out_dir) -> Path:
    """Write ``result`` to ``out_dir`` (:meth:`rnnlens.analysis.result.Analysis.save`)."""
    return result.save(out_dir)
