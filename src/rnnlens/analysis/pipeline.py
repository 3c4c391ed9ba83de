"""``analyze``: every measurement of PAPER.md steps 4-8 on one trained model, saved with provenance.

``analyze`` validates its arguments, then chains the measurements of
:mod:`rnnlens.analysis.measurements` (states and PCA -> fixed points -> manifold -> modes -> valence
-> linearization -> speed), each of which returns its own metrics and arrays. The fixed-point
solver and the linearization are imported lazily, so that ``rnnlens.report`` (which only reads
saved results) never loads them.
"""

from __future__ import annotations

import contextlib
import functools
import datetime as _dt
import platform
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from rnnlens._atomic import check_writable, output_folder
from rnnlens._lock import output_lock
from rnnlens._version import code_version
from rnnlens.analysis import checks as _checks
from rnnlens.analysis import measurements as _ms
from rnnlens.analysis.io import (
    ARRAYS_FILE,
    FIXED_POINTS_FILE,
    OWN_FILES,
    RUN_ID,
    SCHEMA,
    SUMMARY_FILE,
    write_arrays,
    write_json,
)
from rnnlens.analysis.metrics import metric_value
from rnnlens.analysis.modes import SIGN_CONVENTION
from rnnlens.errors import ArgumentError, DataError

# kept importable here: the states of documents are the pipeline's first product
collect_states = _ms.collect_states


@dataclass
class AnalysisResult:
    """What :func:`analyze` measured.

    ``summary``: the JSON-able dict written to ``summary.json`` (every number with its definition);
    ``arrays``: the arrays written to ``arrays.npz`` (for figures); ``fixed_points``: the solver's
    ``FixedPoints`` for every seed (None if not run); ``linearization``: the ``Linearization`` at
    the fixed points with q < tol (None if there were none); ``slow_manifold``: the traced
    :class:`rnnlens.manifold.SlowManifold`; ``out_dir``: where it was saved.
    """

    summary: dict
    arrays: dict = field(default_factory=dict)
    fixed_points: object | None = None
    linearization: object | None = None
    slow_manifold: object | None = None
    out_dir: Path | None = None

    @property
    def complete(self) -> bool:
        """True when no measurement is missing."""
        return not self.summary["missing"]

    def value(self, dotted: str):
        """The value of a metric by dotted name, e.g. ``result.value("fixed_points.n_converged")``
        (None when it was not measured; KeyError for a name that is not a metric)."""
        return metric_value(self.summary, dotted)


# ------------------------------------------------------------------------------------------ inputs
def _resolve_model(checkpoint_or_model, vocab):
    from rnnlens.checkpoint import Checkpoint, load_checkpoint

    if isinstance(checkpoint_or_model, (str, Path)):
        ck = load_checkpoint(checkpoint_or_model)
        return ck.model, ck.vocab, dict(ck.record), str(ck.path)
    if isinstance(checkpoint_or_model, Checkpoint):
        ck = checkpoint_or_model
        return ck.model, ck.vocab, dict(ck.record), str(ck.path) if ck.path else None
    if isinstance(checkpoint_or_model, torch.nn.Module):
        if vocab is None:
            raise ArgumentError("analyze(model, corpus): a bare model needs vocab= (its rnnlens.data.Vocab); or "
                                "pass a checkpoint folder / Checkpoint")
        return checkpoint_or_model, vocab, {}, None
    raise ArgumentError(f"analyze: checkpoint_or_model must be a checkpoint folder, a Checkpoint or a "
                        f"SentimentRNN; got {type(checkpoint_or_model).__name__}")


def _merge(metrics: dict, arrays: dict, missing: list, part: _ms.Measurement) -> None:
    for section, items in part.metrics.items():
        metrics.setdefault(section, {}).update(items)
    arrays.update(part.arrays)
    missing.extend(part.missing)


# ------------------------------------------------------------------------------------------ analyze
def _locked_output(fn):
    """Run ``fn`` holding the lock of its ``out_dir`` (when given), after checking the folder can be
    written: an unwritable or busy output folder is refused before any work."""
    @functools.wraps(fn)
    def wrapper(*args, out_dir=None, **kwargs):
        with contextlib.ExitStack() as stack:
            if out_dir is not None:
                check_writable(out_dir, "-o")
                stack.enter_context(output_lock(out_dir, "analyze"))
            return fn(*args, out_dir=out_dir, **kwargs)
    return wrapper


@_locked_output
def analyze(checkpoint_or_model, corpus, *, vocab=None, bow=None, split: str = "test", n_docs: int = 1000,
            n_seeds: int = 500, input_point: str = "zero", tol: float = 1e-8, max_length: int | None = None,
            n_transitions: int = 20000, max_pca_states: int = 200000, n_linear_docs: int | None = None,
            n_speed: int = 200, speed_steps: int = 100, n_group: int = 100, seed: int = 0,
            untrained_seed: int = 0, solver_options: dict | None = None, tol_sweep=(1e-7, 1e-6, 1e-5),
            manifold_points: int = 64, relax_steps: int = 100, modifiers=None, out_dir=None) -> AnalysisResult:
    """Measure the line-attractor picture of one trained model on ``corpus[split]`` documents.

    Args:
        checkpoint_or_model: a checkpoint folder, a ``Checkpoint``, or a ``SentimentRNN`` (then pass
            ``vocab=``).
        corpus: an ``rnnlens.data.Corpus``; its ``truth`` (synthetic corpora) adds the true-valence check.
        bow: bag-of-words coefficients (``BagOfWords``, its JSON file, or ``{word: coef}``) for the
            word-valence comparison and the positive/negative/neutral word groups.
        n_docs: documents (a seeded random subset of the split) for PCA, seeds and trajectories.
        n_seeds: seeds for the fixed-point search, drawn from visited states.
        input_point: ``"zero"`` (x* = 0, the paper) or ``"mean"`` (x* = mean embedding over the
            vocabulary, padding excluded).
        tol: keep fixed points with q = (1/N)||F(h*, x*) - h*||^2 < tol.
        tol_sweep: looser tolerances at which the search is repeated on the same seeds, reported under
            ``fixed_points.by_tolerance`` (a diagnostic: exact fixed points vs the slow manifold).
        max_length: cut documents to this many tokens (counted in the summary); None: 10,000
            (``rnnlens.settings.DEFAULT_MAX_LENGTH``).
        n_transitions: transitions sampled for the one-step linearization error.
        max_pca_states: at most this many visited states (a seeded random subset) enter the PCA.
        n_linear_docs: documents classified with the linearized dynamics (default: all n_docs).
        n_speed, speed_steps: starting states and steps for the approach-to-attractor speed.
        n_group: size of the most positive / negative / neutral word groups.
        manifold_points, relax_steps: nodes of the traced slow manifold and steps of the network's own
            dynamics at x* before tracing (:func:`rnnlens.manifold.trace_slow_manifold`); the paper's
            quantities are measured along it under ``slow_manifold`` and the checks use them.
        solver_options: options of ``find_fixed_points`` (e.g. ``{"solver": "lm", "max_iter": 200}``).
        modifiers: modifier tokens (e.g. ``rnnlens.analysis.modifiers.DEFAULT_MODIFIERS``): when given, the
            modifier analysis (:func:`rnnlens.analysis.modifiers.analyze_modifiers`, default settings, along
            this analysis's slow manifold) adds the section ``modifiers``; with the default list, tokens the
            vocabulary lacks are listed under ``modifiers.missing_modifiers``.
        out_dir: when given, write ``summary.json``, ``arrays.npz`` and ``fixed_points.safetensors`` there.

    Returns an :class:`AnalysisResult`. When no fixed point reaches ``tol`` the analysis still
    completes the measurements that do not need one and lists the rest under ``missing``.
    """
    from rnnlens.fixedpoints import as_step
    from rnnlens.linearization import linearize

    if modifiers is not None:
        from rnnlens.analysis import modifiers as _mod
        modifiers = _mod.check_modifier_list(modifiers)
    _ms.check_analysis_numbers(tol=tol, tol_sweep=tol_sweep, max_length=max_length, n_linear_docs=n_linear_docs,
                               seed=seed, untrained_seed=untrained_seed)
    model, vocab, record, ck_path = _resolve_model(checkpoint_or_model, vocab)
    model.eval()
    if modifiers is not None:
        _mod.split_present(modifiers, vocab)   # an explicit list naming unknown words fails before any work
    if input_point not in ("zero", "mean"):
        raise ArgumentError(f"input_point={input_point!r}: choose 'zero' (the paper) or 'mean'")
    for name, v, lo in (("n_docs", n_docs, 2), ("n_seeds", n_seeds, 1), ("n_transitions", n_transitions, 1),
                        ("max_pca_states", max_pca_states, 2), ("n_speed", n_speed, 1),
                        ("speed_steps", speed_steps, 1), ("n_group", n_group, 1),
                        ("manifold_points", manifold_points, 3), ("relax_steps", relax_steps, 0)):
        if isinstance(v, bool) or not isinstance(v, int) or v < lo:
            raise ArgumentError(f"analyze: {name} must be an integer >= {lo}; got {v!r}")
    if split not in corpus.splits:
        raise DataError(f"corpus {corpus.name!r} has no {split!r} split (it has {sorted(corpus.splits)}); "
                        "pass split= one of those")
    num_classes = getattr(model, "num_classes", None)
    if num_classes is not None and num_classes != corpus.num_classes:
        raise DataError(f"the model classifies {num_classes} labels but corpus {corpus.name!r} has "
                        f"{corpus.num_classes} ({corpus.label_names}); analyze it on the dataset it was trained on")
    fingerprint = corpus.fingerprint()
    docs = _ms.select_documents(vocab, corpus.splits[split], n_docs, max_length, seed)
    if len(docs) < 2:
        raise DataError(f"corpus {corpus.name!r} split {split!r}: fewer than 2 non-empty documents after "
                        "encoding; nothing to analyze")
    if docs.unk_fraction > 0.5:
        raise DataError(f"{100 * docs.unk_fraction:.0f}% of the tokens of corpus {corpus.name!r} ({split}) are "
                        "unknown to the checkpoint's vocabulary: the vocabulary does not match this dataset. "
                        "Analyze the checkpoint on the dataset it was trained on (see its config.json record).")
    solver_options = dict(solver_options or {})
    settings = dict(split=split, n_docs_requested=n_docs, n_seeds=n_seeds, input_point=input_point, tol=tol,
                    tol_sweep=[float(t) for t in tol_sweep], max_length=max_length, n_transitions=n_transitions,
                    max_pca_states=max_pca_states, n_linear_docs=n_linear_docs, n_speed=n_speed,
                    speed_steps=speed_steps, n_group=n_group, seed=seed, untrained_seed=untrained_seed,
                    solver_options=solver_options, manifold_points=manifold_points, relax_steps=relax_steps)
    metrics: dict = {}
    arrays: dict = {}
    missing: list[dict] = []
    # One generator, drawn from in a fixed order by the measurements below: reproducible from `seed`.
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)

    states = _ms.measure_states(model, docs, split=split, max_pca_states=max_pca_states,
                                untrained_seed=untrained_seed, rng=rng)
    _merge(metrics, arrays, missing, states)

    step = as_step(model.cell)
    emb = model.embedding.weight.detach().double()
    x_star = emb[1:].mean(0) if input_point == "mean" else torch.zeros(emb.shape[1], dtype=torch.float64)
    search = _ms.measure_fixed_points(step, states.X, x_star, n_seeds=n_seeds, tol=tol, input_point=input_point,
                                      solver_options=solver_options, seed=seed)
    search.metrics["fixed_points"]["by_tolerance"] = _ms.measure_tolerance_sweep(
        step, search, tol_sweep, solver_options, states.w, states.X[states.pca_rows])
    _merge(metrics, arrays, missing, search)

    lin = None
    bow_coef, bow_info = _ms.bow_coefficients(bow, fingerprint)
    truth = getattr(getattr(corpus, "truth", None), "valence", None) or None
    if search.points is not None:
        points = search.points
        manifold = _ms.measure_manifold(points, states, seed=seed)
        _merge(metrics, arrays, missing, manifold)
        lin = linearize(step, points, x_star.expand(points.shape[0], -1).clone())
        modes = _ms.measure_modes(lin, manifold.m, states.w, states.components, seed=seed)
        _merge(metrics, arrays, missing, modes)
        _merge(metrics, arrays, missing, _ms.measure_valence(
            modes.l1, lin, emb.numpy(), vocab.itos, bow_coef=bow_coef, bow_info=bow_info, truth=truth,
            n_group=n_group))
        _merge(metrics, arrays, missing, _ms.measure_linearization(
            model, docs, states, points, x_star, lin, n_transitions=n_transitions, n_linear_docs=n_linear_docs,
            rng=rng))

    _merge(metrics, arrays, missing, _ms.measure_speed(model, states.X, x_star, n_speed=n_speed,
                                                       speed_steps=speed_steps, input_point=input_point, rng=rng))

    # the slow manifold, traced, and the paper's quantities along it (the checks read these)
    sm = _ms.measure_slow_manifold(step, states, x_star, n_points=manifold_points, relax_steps=relax_steps,
                                   seed=seed)
    _merge(metrics, arrays, missing, sm)
    _merge(metrics, arrays, missing, _ms.measure_valence(
        sm.l1, sm.lin, emb.numpy(), vocab.itos, bow_coef=bow_coef, bow_info=bow_info, truth=truth, n_group=n_group,
        section="slow_manifold", prefix="sm_"))
    nodes = sm.curve.points
    _merge(metrics, arrays, missing, _ms.measure_linearization(
        model, docs, states, nodes, x_star, sm.lin, n_transitions=n_transitions, n_linear_docs=n_linear_docs,
        rng=np.random.default_rng([seed, 1]), section="slow_manifold", prefix="sm_"))
    if modifiers is not None:   # issue 11: how modifier words bend the integration
        part = _mod.pipeline_measurement(model, vocab, corpus, split=split, bow=bow, modifiers=modifiers,
                                         max_length=max_length, x_star=x_star, slow_manifold=sm.curve, seed=seed)
        _merge(metrics, arrays, [], part)
        settings["modifiers"] = list(modifiers)
    if states.W.shape[0] > 2:   # issue 12: k classes integrate on a (k-1)-D manifold (section kclass)
        from rnnlens.analysis import kclass as _kc
        _merge(metrics, arrays, missing, _kc.pipeline_measurement(model, vocab, corpus, states.X, x_star, bow=bow,
                                                                  seed=seed))

    summary = {
        "schema": SCHEMA,
        "status": "partial" if missing else "complete",
        "missing": missing,
        "sign_convention": SIGN_CONVENTION,
        "provenance": {
            "checkpoint": ck_path, "record": {k: v for k, v in record.items() if k != "vocab"},
            "model": model.config() if hasattr(model, "config") else None,
            "dataset": corpus.name, "label_names": list(corpus.label_names), "corpus_fingerprint": fingerprint,
            "corpus_source": str(corpus.source),
            "trained_on_same_corpus": (record.get("data_fingerprint") == fingerprint
                                       if "data_fingerprint" in record else None),
            "code_version": code_version(), "torch": torch.__version__, "python": platform.python_version(),
            "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        },
        "settings": settings,
        "metrics": metrics,
        "arrays_file": ARRAYS_FILE,
    }
    summary["checks"] = _checks.evaluate(summary, truth=getattr(corpus, "truth", None) is not None)
    result = AnalysisResult(summary=summary, arrays=arrays, fixed_points=search.fps, linearization=lin,
                            slow_manifold=sm.curve)
    if out_dir is not None:
        save_analysis(result, out_dir)
    return result


def save_analysis(result: AnalysisResult, out_dir) -> Path:
    """Write ``arrays.npz``, ``fixed_points.safetensors`` and ``summary.json`` to ``out_dir``.

    The folder is replaced as a whole when it holds only analysis files (a reader sees all old or all
    new files); files of the user's there are kept, and only the analysis files are replaced, the
    summary last. All three carry one new run id, which :func:`load_analysis` checks.
    """
    out = Path(out_dir)
    check_writable(out, "-o")
    run_id = uuid.uuid4().hex
    result.summary[RUN_ID] = run_id
    with output_lock(out, "analyze"), output_folder(out, OWN_FILES, last=SUMMARY_FILE) as tmp:
        write_arrays(tmp / ARRAYS_FILE, {**result.arrays, RUN_ID: np.array(run_id)})
        if result.fixed_points is not None and hasattr(result.fixed_points, "save"):
            result.fixed_points.save(tmp / FIXED_POINTS_FILE, run_id=run_id)
        write_json(tmp / SUMMARY_FILE, result.summary)
    result.out_dir = out
    return out
