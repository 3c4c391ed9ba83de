"""The float32 eigendecomposition of float32 Jacobians (``rnnlens.linearization.LAPACK_FLOAT32``) against the
float64 one, through the whole analysis of the shipped IMDB networks: every number within the tolerance the
module docstring states, every check's verdict the same.

The tolerance: a real number within ``1e-6 + 2e-3 max(|a|, |b|)`` (the eigenvalues move by float32 LAPACK's error,
~1e-5 in the bulk; |lambda_1..3| are refined to float64's accuracy; what depends on eigenvectors moves by about
their angle); a count within 1 or 2%; verdicts, statuses and strings equal.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from click.testing import CliRunner

import rnnlens.linearization as lz
from rnnlens.cli import main
from rnnlens.workflows import pretrained_checkpoints

pytestmark = [pytest.mark.realdata, pytest.mark.slow]


def _flat(d, prefix=""):
    if isinstance(d, dict):
        out = {}
        for k, v in d.items():
            out.update(_flat(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    if isinstance(d, list) and d and isinstance(d[0], (dict, list)):
        out = {}
        for i, v in enumerate(d):
            out.update(_flat(v, f"{prefix}[{i}]"))
        return out
    return {prefix: d}


def _close(a, b) -> bool:
    if isinstance(a, bool) or isinstance(b, bool) or isinstance(a, str) or a is None or b is None:
        return a == b
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(_close(x, y) for x, y in zip(a, b))
    if isinstance(a, int) and isinstance(b, int):
        return abs(a - b) <= max(1, 0.02 * abs(a))
    a, b = float(a), float(b)
    if math.isnan(a) or math.isnan(b) or math.isinf(a) or math.isinf(b):
        return (math.isnan(a) and math.isnan(b)) or a == b
    return abs(a - b) <= 1e-6 + 2e-3 * max(abs(a), abs(b))


def _analyse(arch, data, out, float32, monkeypatch, extra):
    monkeypatch.setattr(lz, "LAPACK_FLOAT32", float32)
    r = CliRunner().invoke(
        main,
        [
            "analyze",
            str(pretrained_checkpoints()[arch]),
            "--data-dir",
            str(data),
            "-o",
            str(out),
            "--n-docs",
            "60",
            "--n-seeds",
            "40",
            "--quiet",
            *extra,
        ],
    )
    assert r.exit_code == 0, r.output
    return json.loads((out / "summary.json").read_text())


@pytest.mark.parametrize("arch,extra", [("gru", ["--n-contexts", "40"]), ("lstm", ["--no-modifiers"])])
def test_float32_eigendecomposition_keeps_every_number_of_the_analysis(
    arch, extra, tmp_path, monkeypatch, real_corpus_dir
):
    data = real_corpus_dir("imdb").parent
    exact = _analyse(arch, data, tmp_path / "f64", False, monkeypatch, extra)
    fast = _analyse(arch, data, tmp_path / "f32", True, monkeypatch, extra)
    assert fast["status"] == exact["status"] and fast.get("missing") == exact.get("missing")
    assert [c.get("passed") for c in fast["checks"]] == [c.get("passed") for c in exact["checks"]]
    a = {k: v for k, v in _flat(exact["metrics"]).items() if k.endswith(".value") and "seconds" not in k}
    b = {k: v for k, v in _flat(fast["metrics"]).items() if k.endswith(".value") and "seconds" not in k}
    assert a.keys() == b.keys()
    off = {k: (a[k], b[k]) for k in a if not _close(a[k], b[k])}
    assert not off, off
    moved = [k for k in a if a[k] != b[k]]
    assert moved  # the premise: the two paths are not the same computation
    ea, eb = (np.load(tmp_path / p / "arrays.npz")["eigvals"] for p in ("f64", "f32"))
    assert np.abs(np.abs(ea[:, 0]) - np.abs(eb[:, 0])).max() < 1e-6  # |lambda_1| refined in float64
