"""The paper's claims as explicit pass/fail checks on saved numbers (never tuned to pass).

Each check reads metrics from a summary dict and returns ``{"name", "claim", "value", "passed",
"detail"}``; ``passed`` is None when the number it needs is missing (and ``detail`` says why).
"""

from __future__ import annotations

import math

from rnnlens.analysis.metrics import METRICS, metric_value

# (name, claim in words, metric path, comparison, threshold, applies to)
PAPER_CHECKS = [
    # along the traced slow manifold (the paper's object; rnnlens.manifold)
    (
        "lambda1_near_one",
        "|lambda_1| is within 0.02 of 1 along the slow manifold (median over its nodes)",
        "slow_manifold.median_abs_dev_lambda1",
        "<=",
        0.02,
    ),
    (
        "slow_points_1d",
        "the slow points lie on a curve: it explains >= 90% of their variance (a shape test: a "
        "chain of discrete attractors threaded by the curve passes too; |lambda_1| near 1 tells a line attractor "
        "apart)",
        "slow_manifold.one_dimensionality",
        ">=",
        0.9,
    ),
    (
        "readout_aligned",
        "the slow manifold is aligned with the readout as the states see it: "
        "|cos(tangent, Cov(h, w.h))| >= 0.8 (median over nodes; the raw |cos(tangent, w)| is reported beside it)",
        "slow_manifold.readout_alignment",
        ">=",
        0.8,
    ),
    (
        "positive_words_positive",
        "the 100 most positive words (bag of words) have positive mean valence along the slow manifold",
        "slow_manifold.positive_mean",
        ">",
        0.0,
    ),
    (
        "negative_words_negative",
        "the 100 most negative words (bag of words) have negative mean valence along the slow manifold",
        "slow_manifold.negative_mean",
        "<",
        0.0,
    ),
    # the same claims on the paper's point set (fixed points with q < tol), shown beside
    (
        "tol_lambda1_near_one",
        "at the fixed points with q < tol: |lambda_1| > 0.98 at most (> 50%) of them",
        "modes.frac_abs_lambda1_gt_0_98",
        ">",
        0.5,
    ),
    (
        "tol_fixed_points_1d",
        "at the fixed points with q < tol: their top PC carries >= 80% of their variance",
        "manifold.top_pc_fraction",
        ">=",
        0.8,
    ),
    (
        "tol_readout_aligned",
        "at the fixed points with q < tol: their axis m is aligned with the readout, |cos| >= 0.8",
        "manifold.readout_cos",
        ">=",
        0.8,
    ),
]
# the paper's five claims, checked along the traced slow manifold: the verdict the documentation's tables count
FIVE_CHECKS = (
    "lambda1_near_one",
    "slow_points_1d",
    "readout_aligned",
    "positive_words_positive",
    "negative_words_negative",
)

TRUTH_CHECKS = [
    (
        "truth_valence_spearman_manifold",
        "word valence along the slow manifold has Spearman >= 0.95 with the true valence",
        "slow_manifold.spearman_truth",
        ">=",
        0.95,
    ),
    (
        "truth_valence_spearman",
        "word valence has Spearman >= 0.95 with the true valence",
        "valence.spearman_truth",
        ">=",
        0.95,
    ),
    (
        "truth_lambda1_within_0.02",
        "the median over fixed points of | |lambda_1| - 1 | is <= 0.02",
        "modes.median_abs_dev_lambda1",
        "<=",
        0.02,
    ),
    (
        "truth_fixed_points_1d_90",
        "the top PC of the fixed points carries >= 90% of their variance",
        "manifold.top_pc_fraction",
        ">=",
        0.9,
    ),
]
_OPS = {">": lambda a, b: a > b, ">=": lambda a, b: a >= b, "<": lambda a, b: a < b, "<=": lambda a, b: a <= b}


for _check in PAPER_CHECKS + TRUTH_CHECKS:  # a check must read a number analyze reports
    if _check[2] not in METRICS:
        raise ImportError(f"check {_check[0]!r} reads {_check[2]!r}, which is not in rnnlens.analysis.metrics.METRICS")
if not set(FIVE_CHECKS) <= {c[0] for c in PAPER_CHECKS}:
    raise ImportError(f"FIVE_CHECKS {FIVE_CHECKS} names a check PAPER_CHECKS does not declare")


def evaluate(summary: dict, *, truth: bool = False) -> list[dict]:
    """Evaluate the paper's checks (and, for corpora with known valence, the truth checks)."""
    out = []
    for name, claim, path, op, thr in PAPER_CHECKS + (TRUTH_CHECKS if truth else []):
        v = metric_value(summary, path)
        if v is None or (isinstance(v, float) and math.isnan(v)):
            reasons = [m["why"] for m in summary.get("missing", [])] + [
                f"{m['section']}: {m['why']}" for m in summary.get("skipped", [])
            ]
            why = "not measured: " + "; ".join(reasons) if v is None else "undefined (nan)"
            out.append({"name": name, "claim": claim, "metric": path, "value": v, "passed": None, "detail": why})
            continue
        passed = bool(_OPS[op](v, thr))
        out.append(
            {
                "name": name,
                "claim": claim,
                "metric": path,
                "value": v,
                "passed": passed,
                "detail": f"{path} = {v:.4g} (needs {op} {thr:g})",
            }
        )
    return out
