#!/usr/bin/env python
"""What each training choice of a recipe search contributed: from a sweep folder's summary.csv (random draws
over training settings), the best validation accuracy per level of every categorical choice and the Spearman rank
correlation of every numeric one with it. A random search is not a controlled ablation: the per-level numbers are
marginals over the other draws, with few trials each, and are printed with their counts.

    python benchmarks/recipe_effects.py runs/vanilla-search [--metric validation_accuracy]
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
from pathlib import Path

from scipy.stats import spearmanr


def _float(v: str):
    try:
        x = float(v)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("sweep_dir", type=Path)
    p.add_argument("--metric", default="validation_accuracy", help="summary.csv column to explain")
    args = p.parse_args()
    path = args.sweep_dir / "summary.csv"
    if not path.is_file() or not (args.sweep_dir / "comparison.json").is_file():
        print(f"{path}: no summary.csv (run `rnnlens sweep` first)", file=sys.stderr)
        return 2
    rows = [r for r in csv.DictReader(path.open()) if _float(r.get(args.metric)) is not None]
    columns = json.loads((args.sweep_dir / "comparison.json").read_text())["columns"]
    settings = [c for c, d in columns.items() if d.startswith("TrainSettings.")]  # the drawn / grid settings
    print(f"{len(rows)} finished trials; {args.metric}: best {max(_float(r[args.metric]) for r in rows):.4f}")
    for s in settings:
        values = [r[s] for r in rows]
        nums = [_float(v) for v in values]
        if all(x is not None for x in nums) and len(set(nums)) > 3:
            rho = spearmanr(nums, [_float(r[args.metric]) for r in rows]).statistic
            print(f"  {s:16s} numeric: Spearman with {args.metric} {rho:+.2f} (n={len(rows)})")
            continue
        levels = {}
        for v, r in zip(values, rows):
            levels.setdefault(v, []).append(_float(r[args.metric]))
        text = "; ".join(
            f"{v}: mean {sum(x) / len(x):.4f}, best {max(x):.4f} (n={len(x)})"
            for v, x in sorted(levels.items(), key=lambda kv: -max(kv[1]))
        )
        print(f"  {s:16s} {text}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
