"""The entry points of the modifier analysis: :func:`analyze_modifiers` on its own, and
:func:`pipeline_measurement`, the ``modifiers`` section of :func:`rnnlens.analysis.analyze`."""

from __future__ import annotations

from typing import Any

import torch

from rnnlens.analysis.modifiers.design import ModifierRequest
from rnnlens.analysis.modifiers.measure import measure_modifiers
from rnnlens.analysis.modifiers.result import SECTION, ModifierAnalysis
from rnnlens.analysis.modifiers.words import split_present
from rnnlens.analysis.registry import groups_of, metric
from rnnlens.errors import DataError
from rnnlens.network import Network

__all__ = ["analyze_modifiers", "pipeline_measurement"]

_GROUPS = ("documents", "fixed_points", "modifiers")


def analyze_modifiers(
    network: Any,
    corpus: Any,
    settings: Any = None,
    *,
    bow: Any = None,
    words: dict[str, list[str]] | None = None,
    slow_manifold: Any = None,
) -> ModifierAnalysis:
    """How modifier words bend the integration of a trained sentiment RNN (definitions:
    :mod:`rnnlens.analysis.modifiers`).

    Args:
        network: a checkpoint folder, a ``Checkpoint`` or an :class:`rnnlens.Network` (``Network(model, vocab)``
            for a bare ``SentimentRNN``).
        corpus: an ``rnnlens.data.Corpus``; contexts are prefixes of its documents of the split
            ``settings.documents.split``; a synthetic corpus's ``truth`` chooses the words and adds the true
            factors (``truth_factor``).
        settings: an :class:`rnnlens.AnalysisSettings` (None: every default). It reads ``documents.split``,
            ``documents.max_length`` and ``documents.seed`` (every random draw), ``fixed_points.input_point`` (x*
            for the Jacobians: ``"zero"``, the paper, or ``"mean"``) and the ``modifiers`` group: ``modifiers``
            (with the default list, those missing from the vocabulary are reported under ``missing_modifiers``
            and in ``missing``; every word of a list of your own must be in the vocabulary), ``max_gap`` (gaps
            k = 1..max_gap), ``n_contexts``, ``n_words`` (valenced words of each sign), ``n_neutral``,
            ``return_steps`` (fillers over which the return to the line is followed), ``n_eig_contexts``
            (contexts linearized for the eigenmodes; 0: skip), ``n_boot`` (bootstrap resamples; 0: none),
            ``settle`` (fillers read after the word before the readout) and ``min_count`` (a bag-of-words word
            must have been seen this often in training to be chosen); ``documents.device``: where it computes.
        bow: bag-of-words coefficients (``BagOfWords``, its JSON file or ``{word: coef}``) choosing the valenced
            and neutral words on real corpora; without one, the network's own valence is used.
        words: the valenced words to measure with, ``{"positive": [...], "negative": [...]}``; None chooses
            them (see :mod:`rnnlens.analysis.modifiers`).
        slow_manifold: a traced :class:`rnnlens.manifold.SlowManifold` of this network at x* (traced here
            when None).

    Returns a :class:`ModifierAnalysis` (metrics under the section ``modifiers``).

    Returns:
        The :class:`ModifierAnalysis`: its ``metrics`` (section ``modifiers``), arrays and what it could not
        measure.

    Raises:
        ArgumentError: settings that are not an ``AnalysisSettings``, a bad setting, a modifier list that is
            empty, repeats a word, holds a word that is not one token or (a list of your own) not in the
            vocabulary, or ``words`` without both signs, with unknown or modifier-like words.
        DataError: a corpus without the split or with another number of classes, too few usable contexts, or
            no valenced or neutral words to measure with.
        CheckpointError: a checkpoint folder that is missing, incomplete or from an incompatible version.
    """
    from rnnlens.device import resolve_device, to_device

    documents, fixed_points, options = groups_of(settings, _GROUPS, "analyze_modifiers")
    network = Network.resolve(network).to(resolve_device(documents.device))
    if documents.split not in corpus.splits:
        raise DataError(
            f"analyze_modifiers: corpus {corpus.name!r} has no {documents.split!r} split (it has "
            f"{sorted(corpus.splits)}); set split= one of those"
        )
    if network.num_classes != corpus.num_classes:
        raise DataError(
            f"analyze_modifiers: the model classifies {network.num_classes} labels but corpus "
            f"{corpus.name!r} has {corpus.num_classes}; analyze it on the dataset it was trained on"
        )
    request = ModifierRequest(
        network,
        corpus.splits[documents.split],
        options,
        documents.max_length,
        documents.seed,
        to_device(network.x_star(fixed_points.input_point), network.device),
        truth=getattr(corpus, "truth", None),
        bow=bow,
        words=words,
        slow_manifold=slow_manifold,
    )
    return measure_modifiers(request)


def pipeline_measurement(run: Any) -> ModifierAnalysis:
    """The modifier analysis as one section of :func:`rnnlens.analysis.analyze`: its settings group, the
    analysis's slow manifold and x*. When no modifier of the default list is in the vocabulary, the section only
    says so."""
    s = run.settings.modifiers
    present, absent = split_present(s.modifiers, run.network.vocab)
    if not present:
        out = ModifierAnalysis()
        out.metrics[SECTION] = {
            "modifiers": metric(SECTION + ".modifiers", []),
            "missing_modifiers": metric(SECTION + ".missing_modifiers", absent),
        }
        return out
    d = run.settings.documents
    slow = run.products["slow_manifold"]
    request = ModifierRequest(
        run.network,
        run.corpus.splits[d.split],
        s,
        d.max_length,
        d.seed,
        torch.as_tensor(run.x_star).double(),
        truth=run.truth,
        bow=run.bow,
        slow_manifold=slow.curve,
        slow_lin=slow.lin,
    )
    return measure_modifiers(request)
