"""A sweep checked as a whole before anything starts (``rnnlens sweep``, also ``--dry-run``): what its trials
would otherwise find out inside Ray, some of it only after training.

- Each dataset's corpus is loaded as a trial loads it, so the loader itself checks every ``load_corpus``
  option and finds the files (nothing is downloaded here: a corpus that may download and is not here yet
  is noted, and left to the trials).
- The splits the stages read: ``test`` for ``evaluate``, the analysis's ``split`` for ``analyze``.
- The analysis's fixed-point search options (``[analysis] solver_options``, ``tol`` and each ``tol_sweep``
  value) are passed to :func:`rnnlens.fixedpoints.find_fixed_points` as the analysis passes them, on a
  two-unit linear map, so a bad name or value is refused by the solver's own rules.

Every failure is an :class:`rnnlens.errors.ArgumentError` naming the SPEC file and the key. No Ray here.
"""

from __future__ import annotations

import sys
from typing import Any

from rnnlens.errors import ArgumentError, DataError, RnnlensError
from rnnlens.sweep.spec import DatasetSpec, SweepSpec, analysis_settings
from rnnlens.sweep.trial import DOWNLOADING_CORPORA, corpus_options

__all__ = ["check_spec"]


def check_spec(spec: SweepSpec) -> dict[str, str | None]:
    """Check ``spec`` as its trials would, without training; return each dataset's data fingerprint
    (``Corpus.fingerprint()``, by label; None for a corpus the trials will download)."""
    analysis = analysis_settings(spec.analysis) if "analyze" in spec.stages else None
    if analysis is not None:
        _check_fixed_point_options(spec, analysis.fixed_points)
    fingerprints: dict[str, Any] = {}
    for i, ds in enumerate(spec.datasets):
        corpus = _load(spec, i, ds)
        if corpus is None:
            fingerprints[ds.label] = None
            continue
        if "evaluate" in spec.stages and "test" not in corpus.splits:
            raise spec.error(
                "stages",
                f"'evaluate' scores the test split, and dataset {ds.label} has no test split "
                f"(splits {sorted(corpus.splits)}); drop 'evaluate' or give the corpus a test "
                "split",
            )
        split = analysis.documents.split if analysis is not None else None
        if split is not None and split not in corpus.splits:
            raise spec.error(
                "analysis.split",
                f"dataset {ds.label} has no split {split!r} to analyze; it has {sorted(corpus.splits)}",
            )
        if hasattr(corpus.splits.get("train"), "inputs"):  # a generated task: the word settings do not apply
            _check_sequence_trials(spec, ds)
        fingerprints[ds.label] = corpus.fingerprint()
    return fingerprints


def _check_sequence_trials(spec: SweepSpec, ds: DatasetSpec) -> None:
    """Refuse, before any training, a trial of an input-sequence dataset (a task) whose settings include one that
    belongs to words (:func:`rnnlens.task_training.check_sequence_settings`)."""
    from rnnlens.task_training import check_sequence_settings

    for t in spec.trials:
        if t.dataset.label == ds.label:
            try:
                check_sequence_settings(t.train_settings())
            except ArgumentError as exc:
                raise spec.error("settings", f"dataset {ds.label} (trial {t.id}): {exc}") from None


def _load(spec: SweepSpec, i: int, ds: DatasetSpec):
    """The dataset's corpus, loaded as a trial loads it but never downloaded; None (with a note) when it may
    be downloaded and is not here yet."""
    from rnnlens.data import load_corpus

    key = ds.corpus_key()
    options = corpus_options(key)
    may_download = ds.name in DOWNLOADING_CORPORA and options.get("download", True) is not False
    if may_download:
        options["download"] = False
    try:
        return load_corpus(ds.name, data_dir=ds.data_dir, seed=ds.seed, **options)
    except DataError as exc:
        if may_download:
            print(
                f"note: dataset {ds.label} is not here yet ({exc}); its trials will download it (give "
                "options = {{ download = false }} to forbid that)",
                file=sys.stderr,
            )
            return None
        raise spec.error(f"datasets[{i}] ({ds.label})", str(exc)) from None
    except RnnlensError as exc:
        raise spec.error(f"datasets[{i}] ({ds.label})", str(exc)) from None
    except TypeError as exc:  # an option of a type the loader cannot take at all
        raise spec.error(f"datasets[{i}].options ({ds.label})", str(exc)) from None


def _check_fixed_point_options(spec: SweepSpec, s) -> None:
    """``find_fixed_points`` with the analysis's options at ``tol`` and each ``tol_sweep`` value, on 0.5 h."""
    import torch

    from rnnlens.fixedpoints import find_fixed_points

    key = "analysis.solver_options" if s.solver_options else "analysis.tol_sweep"
    seeds, inputs = torch.zeros(2, 2), torch.zeros(1)
    for tol in sorted({float(s.tol), *map(float, s.tol_sweep)}):
        try:
            find_fixed_points(lambda x, h: 0.5 * h, seeds, inputs, tol=tol, **s.solver_options)
        except (RnnlensError, TypeError, ValueError) as exc:
            raise spec.error(
                key, f"the analysis's fixed-point search (tol={tol:g}) refuses these options: {exc}"
            ) from None
