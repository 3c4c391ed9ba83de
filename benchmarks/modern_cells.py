#!/usr/bin/env python
"""The modern cells (minGRU, minLSTM, LRU, S6) beside the paper's four: one table per dataset from sweep folders and
single analysis folders (the table of docs/modern.md).

    RNNLENS_DATA_DIR=../shared/data rnnlens sweep benchmarks/modern/sst2.toml -o runs/modern/sst2 --num-cpus 2
    RNNLENS_DATA_DIR=../shared/data rnnlens sweep benchmarks/modern/imdb.toml -o runs/modern/imdb --num-cpus 2
    python benchmarks/modern_cells.py runs/modern/sst2 runs/modern/imdb [ANALYSIS_DIR ...] [--json out.json]

An ANALYSIS_DIR is the output of `rnnlens analyze` (e.g. a 256-wide network trained alone). Every number is read
from the analyses' summary.json (its definition is there too); the columns:

- test: test accuracy (%) of the network; bow: the bag of words' (the analysis's baseline);
- checks: how many of the paper's five claims pass along the traced slow manifold (Analysis.paper_checks);
- |l1|-1: median | |lambda_1| - 1 | along the slow manifold; slow modes: median number of eigenvalues with
  |lambda| > 0.98 at its nodes;
- rho(l1), rho(w): Spearman correlation with the bag-of-words coefficients of the word valence l_1^T J_inp x
  (the paper's) and of the readout's first-order change w^T J_inp x, at the fixed points;
- not, very: the modifier factor one token after the modifier (1: no effect, -1: flips the next word, 2: doubles
  it), with ``"not"`` and ``"very"``;
- embedding: how the embedding was drawn before training (TrainSettings.embedding_init);
- "analysis s" (in the JSON only): the analysis's own wall-clock seconds, as it was run (time it on a quiet
  machine: a sweep's trials run niced behind other work).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

COLUMNS = ("dataset", "arch", "units", "embedding", "test", "bow", "checks", "|l1|-1", "slow modes", "rho(l1)")
COLUMNS = COLUMNS + ("rho(w)", "not", "very")


def _value(metrics: dict, path: str):
    node = metrics
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node.get("value") if isinstance(node, dict) and "value" in node else node


def row_of(summary_path: Path) -> dict:
    """One table row from an analysis's summary.json."""
    from rnnlens.analysis.checks import FIVE_CHECKS

    s = json.loads(summary_path.read_text())
    m, prov = s["metrics"], s["provenance"]
    rec = prov.get("record", {})
    checks = {c["name"]: c.get("passed") for c in s.get("checks", [])}
    factor = _value(m, "modifiers.factor") or {}
    bow = _value(m, "valence.bow") or {}
    return {
        "dataset": prov.get("dataset"),
        "arch": prov["model"]["arch"],
        "units": prov["model"]["hidden_size"],
        "embedding": rec.get("settings", {}).get("embedding_init", "default"),
        "test": 100 * rec.get("metrics", {}).get("test", {}).get("accuracy", float("nan")),
        "bow": 100 * bow.get("accuracy", {}).get("test", float("nan")) if bow else None,
        "checks": sum(bool(checks.get(c)) for c in FIVE_CHECKS),
        "|l1|-1": _value(m, "slow_manifold.median_abs_dev_lambda1"),
        "slow modes": _value(m, "slow_manifold.n_slow_modes_median"),
        "rho(l1)": _value(m, "valence.spearman_bow"),
        "rho(w)": _value(m, "valence.spearman_bow_readout"),
        "not": factor.get("not", [None])[0],
        "very": factor.get("very", [None])[0],
        "analysis s": sum(prov.get("section_seconds", {}).values()) or None,
        "summary": str(summary_path),
    }


def summaries(folder: Path) -> list[Path]:
    """The analyses' summary.json files under a sweep folder (its finished trials) or an analysis folder."""
    if (folder / "summary.json").is_file():
        return [folder / "summary.json"]
    return sorted(folder.glob("trials/*/analysis/summary.json"))


def _fmt(v) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.0f}" if v.is_integer() and abs(v) >= 1 else f"{v:.3g}" if abs(v) < 10 else f"{v:.2f}"
    return str(v)


def table(rows: list[dict]) -> str:
    """A markdown table, datasets in turn, the architectures in the order rnnlens lists them."""
    from rnnlens.constants import ARCHS

    rows = sorted(rows, key=lambda r: (str(r["dataset"]), ARCHS.index(r["arch"]), r["units"], r["embedding"]))
    out = ["| " + " | ".join(COLUMNS) + " |", "|" + " --- |" * len(COLUMNS)]
    out += ["| " + " | ".join(_fmt(r[c]) for c in COLUMNS) + " |" for r in rows]
    return "\n".join(out)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folders", nargs="+", type=Path, help="sweep folders and analysis folders")
    ap.add_argument("--json", type=Path, help="also write the rows as JSON here")
    a = ap.parse_args(argv)
    paths = [p for f in a.folders for p in summaries(f)]
    if not paths:
        print("no analysis summary.json under " + ", ".join(map(str, a.folders)), file=sys.stderr)
        return 2
    rows = [row_of(p) for p in paths]
    print(table(rows))
    if a.json:
        a.json.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
