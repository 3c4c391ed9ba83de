"""The types of the ``summary.json`` fields the report reads, checked before anything is drawn.

``rnnlens analyze`` writes these fields with the types below; a summary edited by hand or by another program
can hold anything. :func:`check_summary` refuses the first field of the wrong type with a
:class:`rnnlens.errors.DataError` naming the file and the field (``metrics.modes.tau_median``,
``checks[0].passed``), instead of a traceback from deep inside a figure.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from rnnlens.analysis.metrics import key_numbers
from rnnlens.analysis.registry import metric_spec
from rnnlens.errors import DataError

__all__ = ["check_summary"]


def _number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _maybe_number(x: Any) -> bool:
    return x is None or _number(x)


def _numbers(x: Any) -> bool:
    return isinstance(x, list) and all(_maybe_number(v) for v in x)


def _number_or_numbers(x: Any) -> bool:
    return _maybe_number(x) or _numbers(x)


def _words(x: Any) -> bool:
    return isinstance(x, list) and all(isinstance(v, str) for v in x)


def _table_of(check: Callable[[Any], bool]) -> Callable[[Any], bool]:
    return lambda x: isinstance(x, dict) and all(check(v) for v in x.values())


def _tolerance_rows(x: Any) -> bool:
    return isinstance(x, list) and all(
        isinstance(r, dict)
        and _number(r.get("tol"))
        and _number(r.get("n_converged"))
        and all(
            _maybe_number(r.get(k))
            for k in ("top_pc_fraction", "readout_cos", "distance_median", "dist_to_visited_median")
        )
        for r in x
    )


_NUMBER = (_maybe_number, "a number")
_SERIES = (_number_or_numbers, "a number or a list of numbers")
# metrics the report's tables read beyond the key numbers: path -> (check, what it must be)
_READ = {
    "fixed_points.by_tolerance": (_tolerance_rows, "a list of rows {tol, n_converged, ...} holding numbers"),
    "modes.null_mean": _NUMBER,
    "modifiers.modifiers": (lambda x: x is None or _words(x), "a list of words"),
    "modifiers.missing_modifiers": (lambda x: x is None or _words(x), "a list of words"),
    **{
        f"modifiers.{p}": (lambda x: x is None or _table_of(_numbers)(x), "a table of word -> list of numbers")
        for p in ("factor", "factor_ci_low", "factor_ci_high")
    },
    **{
        f"modifiers.{p}": (lambda x: x is None or _table_of(_maybe_number)(x), "a table of word -> number")
        for p in ("reach", "excursion_line_angle_deg", "excursion_participation_ratio", "return_tau_trajectory")
    },
    **{f"modifiers.{p}": _NUMBER for p in ("prediction_correlation", "prediction_readout_correlation")},
    **{
        f"kclass.{p}": _SERIES
        for p in (
            "num_classes",
            "predicted_dimension",
            "predicted_participation_ratio",
            "predicted_fractions",
            "dimension_pca",
            "participation_ratio",
            "pca_fractions",
            "dimension_logit",
            "logit_fractions",
            "n_eig_slow_median",
            "eig_abs_median",
            "readout_angles_deg",
            "readout_cov_angles_deg",
            "fixed_points_n_unique",
            "fixed_points_n_stable",
            "evidence_bow_spearman",
            "evidence_bow_r2",
            "evidence_truth_r2",
        )
    },
}
_BY_FORMAT = {
    "pc3": (lambda x: x is None or (_numbers(x) and len(x) > 0), "a non-empty list of numbers"),
    "tau": (lambda x: x is None or _numbers(x), "a list of numbers"),
}


def _expected(path: str) -> tuple[Callable[[Any], bool], str] | None:
    if path in _READ:
        return _READ[path]
    spec = next((m for m in key_numbers() if m.path == path), None)
    return None if spec is None else _BY_FORMAT.get(spec.fmt, _NUMBER)


def _registered(path: str) -> bool:
    try:
        metric_spec(path)
    except KeyError:
        return False
    return True


def _shown(x: Any) -> str:
    text = repr(x)
    return f"{type(x).__name__} {text[:40] + ('...' if len(text) > 40 else '')}"


class _Bad(Exception):
    def __init__(self, field: str, value: Any, expected: str):
        super().__init__(f"field {field} is {_shown(value)}, expected {expected}")


def _need(ok: bool, field: str, value: Any, expected: str) -> None:
    if not ok:
        raise _Bad(field, value, expected)


def _check_metrics(metrics: Any) -> None:
    _need(isinstance(metrics, dict), "metrics", metrics, "an object of sections")
    for section, items in metrics.items():
        _need(isinstance(items, dict), f"metrics.{section}", items, "an object of metrics")
        for name, node in items.items():
            field = f"metrics.{section}.{name}"
            if not _registered(f"{section}.{name}"):
                continue  # a note beside the metrics (e.g. a definition shared by several)
            _need(isinstance(node, dict) and "value" in node, field, node, 'an object {"value", "definition"}')
            _need(isinstance(node.get("definition"), str), f"{field}.definition", node.get("definition"), "text")
            expected = _expected(f"{section}.{name}")
            if expected is not None:
                _need(expected[0](node["value"]), f"{field}.value", node["value"], expected[1])


def _check_list(summary: dict, key: str, fields: dict[str, tuple[Callable[[Any], bool], str]]) -> None:
    items = summary.get(key, [])
    _need(isinstance(items, list), key, items, "a list")
    for i, item in enumerate(items):
        _need(isinstance(item, dict), f"{key}[{i}]", item, "an object")
        for name, (ok, what) in fields.items():
            _need(ok(item.get(name)), f"{key}[{i}].{name}", item.get(name), what)


_TEXT = (lambda x: isinstance(x, str), "text")


def _check_rest(summary: dict) -> None:
    _check_list(
        summary,
        "checks",
        {"claim": _TEXT, "passed": (lambda x: x is None or isinstance(x, bool), "true, false or null")},
    )
    _check_list(summary, "missing", {"what": _TEXT, "why": _TEXT})
    _check_list(summary, "skipped", {"section": _TEXT, "why": _TEXT})
    prov = summary.get("provenance", {})
    _need(isinstance(prov, dict), "provenance", prov, "an object")
    names = prov.get("label_names")
    _need(names is None or _words(names), "provenance.label_names", names, "a list of words")
    _need(
        prov.get("model") is None or isinstance(prov.get("model"), dict),
        "provenance.model",
        prov.get("model"),
        "an object",
    )
    settings = summary.get("settings", {})
    _need(isinstance(settings, dict), "settings", settings, "an object")
    fp = settings.get("fixed_points")
    _need(fp is None or isinstance(fp, dict), "settings.fixed_points", fp, "an object")
    _need(
        isinstance(summary.get("sign_convention", ""), str), "sign_convention", summary.get("sign_convention"), "text"
    )


def check_summary(summary: dict, path: Path) -> None:
    """Raise DataError naming ``path`` and the first field the report reads whose value has the wrong type."""
    try:
        _check_metrics(summary.get("metrics", {}))
        _check_rest(summary)
    except _Bad as bad:
        raise DataError(
            f"{path}: {bad}; the report cannot be drawn from it. The file was edited or damaged: "
            f"rebuild it with `rnnlens analyze CHECKPOINT -o {path.parent}`."
        ) from None
