"""Compare two sets of saved analyses field by field (summary.json) and bitwise (arrays.npz).

Used to show that a change of the code leaves every number of ``rnnlens demo`` as it was:

    git stash; rnnlens demo -o /tmp/before --offline; git stash pop
    rnnlens demo -o /tmp/after --offline
    python benchmarks/compare_analyses.py /tmp/before /tmp/after

Each argument is a folder holding analysis folders (a demo's output: ``analysis/<name>/``, or the
analysis folders themselves). Compared, per analysis: every metric value and definition, the checks,
the missing list and the status (field by field, exactly), and every array (dtype, shape and bytes).
Not compared: provenance (times, code version), settings (their layout may change) and wall-clock
metrics (``seconds``). Prints each difference and exits 1 when there is one.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np


def _flat(d, prefix=""):
    out = {}
    if isinstance(d, dict):
        for k, v in d.items():
            out.update(_flat(v, f"{prefix}.{k}" if prefix else str(k)))
    elif isinstance(d, list) and d and isinstance(d[0], (dict, list)):
        for i, v in enumerate(d):
            out.update(_flat(v, f"{prefix}[{i}]"))
    else:
        out[prefix] = d
    return out


def _folders(root: Path) -> dict[str, Path]:
    base = root / "analysis" if (root / "analysis").is_dir() else root
    found = {p.name: p for p in sorted(base.iterdir()) if (p / "summary.json").is_file()}
    if not found and (root / "summary.json").is_file():
        found = {root.name: root}
    return found


def compare(a: Path, b: Path) -> tuple[int, int, int]:
    """(differences, metric fields compared, arrays compared), printing each difference."""
    fa, fb = _folders(a), _folders(b)
    bad = n_fields = n_arrays = 0
    for name in sorted(set(fa) | set(fb)):
        if name not in fa or name not in fb:
            print(f"{name}: only in {'the first' if name in fa else 'the second'} set")
            bad += 1
            continue
        s1, s2 = (json.loads((f[name] / "summary.json").read_text()) for f in (fa, fb))
        for key in ("metrics", "checks", "missing", "status"):
            f1, f2 = _flat(s1.get(key)), _flat(s2.get(key))
            for k in sorted(set(f1) | set(f2)):
                if k.rsplit(".", 1)[-1] == "seconds" or ".seconds." in k:
                    continue
                n_fields += 1
                if f1.get(k, "<absent>") != f2.get(k, "<absent>"):
                    bad += 1
                    print(f"{name}: {key}.{k}: {f1.get(k, '<absent>')!r:.80} != {f2.get(k, '<absent>')!r:.80}")
        with np.load(fa[name] / "arrays.npz") as z1, np.load(fb[name] / "arrays.npz") as z2:
            for k in sorted((set(z1.files) | set(z2.files)) - {"run_id"}):
                if k not in z1.files or k not in z2.files:
                    bad += 1
                    print(f"{name}: array {k} only in {'the first' if k in z1.files else 'the second'} set")
                    continue
                x, y = z1[k], z2[k]
                n_arrays += 1
                if x.dtype != y.dtype or x.shape != y.shape or x.tobytes() != y.tobytes():
                    bad += 1
                    print(f"{name}: array {k} differs ({x.dtype}{x.shape} vs {y.dtype}{y.shape})")
    return bad, n_fields, n_arrays


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("first", type=Path)
    ap.add_argument("second", type=Path)
    args = ap.parse_args(argv)
    bad, n_fields, n_arrays = compare(args.first, args.second)
    print(f"{n_fields} summary fields and {n_arrays} arrays compared; {bad} differences")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
