"""The one table of reported numbers: how nodes are built and read, and that checks and report use it."""

import math

import pytest

from rnnlens.analysis import checks
from rnnlens.analysis.metrics import METRICS, key_numbers, metric, metric_node, metric_value


def _summary(**values):
    metrics = {}
    for path, v in values.items():
        section, name = path.split("__")
        metrics.setdefault(section, {})[name] = {"value": v, "definition": "d"}
    return {"metrics": metrics, "missing": []}


def test_metric_fills_the_definition_template():
    node = metric("fixed_points.n_converged", 7, tol=1e-8, input_point="zero")
    assert node["value"] == 7
    assert node["definition"] == (
        "points with q = (1/N)||F(h*, x*) - h*||^2 < 1e-08 (x* = zero input); the paper's definition of q"
    )
    assert metric("valence.negative_mean", -0.5, n=100)["definition"].startswith(
        "mean valence of the 100 most negative"
    )


def test_unknown_metric_path_is_an_error_not_a_missing_number():
    with pytest.raises(KeyError, match="modes.abs_lambda_1_median"):
        metric("modes.abs_lambda_1_median", 1.0)
    with pytest.raises(KeyError, match="not a metric"):
        metric_value(_summary(modes__abs_lambda1_median=1.0), "modes.abs_lambda_1_median")


def test_reader_returns_value_or_none():
    s = _summary(modes__abs_lambda1_median=0.99)
    assert metric_value(s, "modes.abs_lambda1_median") == 0.99
    assert metric_node(s, "modes.abs_lambda1_median") == {"value": 0.99, "definition": "d"}
    assert metric_value(s, "manifold.top_pc_fraction") is None  # defined, not measured
    assert metric_value({}, "manifold.top_pc_fraction") is None


def test_every_check_reads_a_defined_metric_and_uses_the_reader():
    for name, _, path, _, _ in checks.PAPER_CHECKS + checks.TRUTH_CHECKS:
        assert path in METRICS, name
    s = _summary(
        slow_manifold__median_abs_dev_lambda1=0.02,
        slow_manifold__one_dimensionality=0.8999,
        slow_manifold__readout_alignment=0.8,
        slow_manifold__positive_mean=0.1,
        slow_manifold__negative_mean=0.0,
        modes__frac_abs_lambda1_gt_0_98=0.5,
        manifold__top_pc_fraction=0.8,
        manifold__readout_cos=0.81,
    )
    got = {c["name"]: c["passed"] for c in checks.evaluate(s)}
    assert got == {
        "lambda1_near_one": True,
        "slow_points_1d": False,
        "readout_aligned": True,
        "positive_words_positive": True,
        "negative_words_negative": False,
        "tol_lambda1_near_one": False,
        "tol_fixed_points_1d": True,
        "tol_readout_aligned": True,
    }


def test_missing_and_nan_metrics_are_not_checked():
    s = _summary(slow_manifold__median_abs_dev_lambda1=math.nan)
    s["missing"] = [{"what": "x", "why": "no fixed point"}]
    out = {c["name"]: c for c in checks.evaluate(s)}
    assert out["lambda1_near_one"]["passed"] is None and out["lambda1_near_one"]["detail"] == "undefined (nan)"
    assert out["tol_fixed_points_1d"]["passed"] is None and "no fixed point" in out["tol_fixed_points_1d"]["detail"]


def test_report_key_numbers_come_from_the_table():
    keys = key_numbers()
    assert keys and all(k.path in METRICS and k.label and k.fmt for k in keys)
    paths = [k.path for k in keys]
    assert "modes.abs_lambda1_median" in paths and "fixed_points.n_slow" not in paths


# The paper's claims as written in the issue and PAPER.md, kept here independently of checks.py so that a
# changed threshold, comparison or metric path in checks.py is caught.
EXPECTED_CHECKS = {
    "lambda1_near_one": ("slow_manifold.median_abs_dev_lambda1", "<=", 0.02),
    "slow_points_1d": ("slow_manifold.one_dimensionality", ">=", 0.9),
    "readout_aligned": ("slow_manifold.readout_alignment", ">=", 0.8),
    "positive_words_positive": ("slow_manifold.positive_mean", ">", 0.0),
    "negative_words_negative": ("slow_manifold.negative_mean", "<", 0.0),
    "tol_lambda1_near_one": ("modes.frac_abs_lambda1_gt_0_98", ">", 0.5),
    "tol_fixed_points_1d": ("manifold.top_pc_fraction", ">=", 0.8),
    "tol_readout_aligned": ("manifold.readout_cos", ">=", 0.8),
    "truth_valence_spearman_manifold": ("slow_manifold.spearman_truth", ">=", 0.95),
    "truth_valence_spearman": ("valence.spearman_truth", ">=", 0.95),
    "truth_lambda1_within_0.02": ("modes.median_abs_dev_lambda1", "<=", 0.02),
    "truth_fixed_points_1d_90": ("manifold.top_pc_fraction", ">=", 0.9),
}


def _cases():
    for name, (path, op, thr) in EXPECTED_CHECKS.items():
        eps = 1e-6
        at = op in (">=", "<=")  # passes exactly at the threshold
        above = op in (">", ">=")
        for value, want in ((thr, at), (thr + eps, above), (thr - eps, not above)):
            yield pytest.param(name, path, value, want, id=f"{name}@{value:+.6g}")


@pytest.mark.parametrize("name,path,value,want", list(_cases()))
def test_each_check_at_just_above_and_just_below_its_threshold(name, path, value, want):
    section, metric_name = path.split(".")
    s = {"metrics": {section: {metric_name: {"value": value, "definition": "d"}}}, "missing": []}
    out = {c["name"]: c for c in checks.evaluate(s, truth=True)}
    assert out[name]["passed"] is want, (name, value, out[name])
    assert out[name]["value"] == value


def test_the_checks_are_exactly_the_expected_ones():
    got = {name: (path, op, thr) for name, _, path, op, thr in checks.PAPER_CHECKS + checks.TRUTH_CHECKS}
    assert got == EXPECTED_CHECKS
    # without truth the truth checks are not evaluated at all
    names = {c["name"] for c in checks.evaluate({"metrics": {}, "missing": []})}
    assert names == {n for n in EXPECTED_CHECKS if not n.startswith("truth")}


def test_check_records_in_full():
    # the whole record a check writes into the summary, measured and not measured
    s = _summary(slow_manifold__readout_alignment=0.75)
    s["missing"] = [
        {"what": "fixed points", "why": "no fixed point reached q < 1e-08"},
        {"what": "valence", "why": "no bag of words"},
    ]
    out = {c["name"]: c for c in checks.evaluate(s)}
    claim = next(c[1] for c in checks.PAPER_CHECKS if c[0] == "readout_aligned")
    assert out["readout_aligned"] == {
        "name": "readout_aligned",
        "claim": claim,
        "metric": "slow_manifold.readout_alignment",
        "value": 0.75,
        "passed": False,
        "detail": "slow_manifold.readout_alignment = 0.75 (needs >= 0.8)",
    }
    assert out["slow_points_1d"]["detail"] == ("not measured: no fixed point reached q < 1e-08; no bag of words")
    assert {k: out["slow_points_1d"][k] for k in ("name", "metric", "value", "passed")} == {
        "name": "slow_points_1d",
        "metric": "slow_manifold.one_dimensionality",
        "value": None,
        "passed": None,
    }
    assert out["slow_points_1d"]["claim"].startswith("the slow points lie on a curve")
    # a summary without a 'missing' list is read as nothing missing
    del s["missing"]
    assert {c["name"]: c for c in checks.evaluate(s)}["slow_points_1d"]["detail"] == "not measured: "


def test_metric_node_is_none_for_what_is_not_a_measured_number():
    from rnnlens.analysis.metrics import metric_node, metric_value

    assert metric_node({}, "pca.trained_cumulative") is None  # no metrics at all
    summary = {"metrics": {"slow_manifold": {"one_dimensionality": {"value": 0.9, "definition": "d"}, "n_points": 64}}}
    assert metric_node(summary, "slow_manifold.one_dimensionality") == {"value": 0.9, "definition": "d"}
    assert metric_node(summary, "slow_manifold.n_points") is None  # a bare number, not a node
    assert metric_value(summary, "slow_manifold.n_points") is None
