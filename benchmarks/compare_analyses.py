"""Compare two sets of saved analyses field by field (summary.json) and bitwise (arrays.npz).

Used to show that a change of the code leaves every number of ``rnnlens demo`` as it was:

    git stash; rnnlens demo -o /tmp/before --offline; git stash pop
    rnnlens demo -o /tmp/after --offline
    python benchmarks/compare_analyses.py /tmp/before /tmp/after

Each argument is a folder holding analysis folders (a demo's output: ``analysis/<name>/``, or the
analysis folders themselves), compared by name; or both are analysis folders, compared with each other.
Compared, per analysis: every metric value and definition, the checks, the missing list and the status
(field by field, exactly), and every array (dtype, shape and bytes).
Not compared: provenance (times, code version), settings (their layout may change) and wall-clock
metrics (``seconds``). Prints each difference and exits 1 when there is one.

``--tolerant`` compares the same analysis computed on two devices (``rnnlens analyze --device``; used by
scripts/gpu_check.sh), where float rounding differs, within these tolerances (the options change them):

* a real number: ``|a - b| <= atol + rtol * max(|a|, |b|)`` (rtol 1e-3, atol 1e-6; NaN equals NaN);
* an integer (a count: fixed points under tol, documents classified alike): ``|a - b| <= max(1, 2% of |a|)``;
* an array: its largest elementwise difference within ``atol + rtol * (its largest |value|)``; complex rows
  (eigenvalues) compared as sets, each value paired with one of the other row's by the assignment that
  minimises the summed distances (the two members of a conjugate pair may come in either order, and eigenvalues
  of nearly equal modulus may swap places: sorting them, by modulus or lexicographically, turned a 1e-6
  perturbation of a GRU-256's spectrum into a 0.38 difference); an array whose
  length follows a count (one row per fixed point) may differ in length as that count may;
* every check's verdict, the missing list, the status and every string: equal. Definitions (which quote
  counts) and the checks' details are not compared.

It prints every difference, those within tolerance too (largest first), and with ``--json FILE`` writes them.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import dataclass
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


def _paired(a: Path, b: Path) -> tuple[dict[str, Path], dict[str, Path]]:
    """The analyses of ``a`` and ``b`` by name; two analysis folders are one pair whatever their names."""
    if (a / "summary.json").is_file() and (b / "summary.json").is_file():
        return {a.name: a}, {a.name: b}
    return _folders(a), _folders(b)


def compare(a: Path, b: Path) -> tuple[int, int, int]:
    """(differences, metric fields compared, arrays compared), printing each difference."""
    fa, fb = _paired(a, b)
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


@dataclass(frozen=True)
class Tolerance:
    """How far two devices' numbers may differ (see the module docstring)."""

    rtol: float = 1e-3
    atol: float = 1e-6
    count_rtol: float = 0.02

    def real(self, a: float, b: float) -> tuple[float, bool]:
        """(relative difference, within tolerance) of two real numbers."""
        if (math.isnan(a) and math.isnan(b)) or a == b:
            return 0.0, True
        diff, scale = abs(a - b), max(abs(a), abs(b))
        return (diff / scale if scale and math.isfinite(diff) else math.inf), diff <= self.atol + self.rtol * scale

    def count(self, a: int, b: int) -> tuple[float, bool]:
        return abs(a - b) / max(abs(a), 1), abs(a - b) <= max(1, self.count_rtol * abs(a))

    def array(self, x: np.ndarray, y: np.ndarray) -> tuple[float, bool]:
        """(largest difference relative to the arrays' scale, within tolerance) of two same-shape arrays."""
        if x.dtype.kind not in "fciub":
            return (0.0, True) if np.array_equal(x, y) else (math.inf, False)
        x, y = (
            x.astype(np.complex128 if x.dtype.kind == "c" else np.float64),
            y.astype(np.complex128 if y.dtype.kind == "c" else np.float64),
        )
        if x.dtype.kind == "c" and x.ndim and x.shape == y.shape:  # spectra: compare rows as matched sets
            y = _matched_rows(x, y)
        nan_x, nan_y = np.isnan(x), np.isnan(y)
        if not np.array_equal(nan_x, nan_y):
            return math.inf, False
        x, y = np.where(nan_x, 0, x), np.where(nan_y, 0, y)
        diff = float(np.max(np.abs(x - y), initial=0.0))
        scale = float(max(np.max(np.abs(x), initial=0.0), np.max(np.abs(y), initial=0.0)))
        return (diff / scale if scale else (0.0 if diff == 0 else math.inf)), diff <= self.atol + self.rtol * scale


def _matched_rows(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``y`` with each last-axis row reordered to pair its values with ``x``'s row by the assignment of least
    summed |x_i - y_j| (NaNs paired with NaNs: they count as infinitely far from numbers)."""
    from scipy.optimize import linear_sum_assignment

    xr, yr = x.reshape(-1, x.shape[-1]), y.reshape(-1, y.shape[-1]).copy()
    for i in range(xr.shape[0]):
        cost = np.abs(xr[i][:, None] - yr[i][None, :])
        both_nan = np.isnan(xr[i])[:, None] & np.isnan(yr[i])[None, :]
        cost = np.where(both_nan, 0.0, np.nan_to_num(cost, nan=1e300))
        _, cols = linear_sum_assignment(cost)
        yr[i] = yr[i][cols]
    return yr.reshape(y.shape)


def _leaf(tol: Tolerance, a, b) -> tuple[float, bool]:
    """(relative difference, within tolerance) of two leaves of a summary (numbers, lists of numbers, other)."""
    if isinstance(a, bool) or isinstance(b, bool) or isinstance(a, str) or isinstance(b, str) or a is None or b is None:
        return (0.0, True) if a == b else (math.inf, False)
    if isinstance(a, int) and isinstance(b, int):
        return tol.count(a, b)
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return tol.real(float(a), float(b))
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return math.inf, False
        parts = [_leaf(tol, x, y) for x, y in zip(a, b)]
        return max((r for r, _ in parts), default=0.0), all(ok for _, ok in parts)
    return (0.0, True) if a == b else (math.inf, False)


def _skipped(key: str) -> bool:
    last = key.rsplit(".", 1)[-1]
    return last in ("seconds", "definition", "detail") or ".seconds." in key


def compare_tolerant(a: Path, b: Path, tol: Tolerance) -> list[dict]:
    """Every difference between the analyses of ``a`` and ``b`` (see the module docstring): one row each with
    ``analysis``, ``field``, ``first``, ``second``, ``relative`` (difference) and ``within`` (tolerance)."""
    fa, fb = _paired(a, b)
    rows = []
    for name in sorted(set(fa) | set(fb)):
        if name not in fa or name not in fb:
            rows.append(
                {
                    "analysis": name,
                    "field": "(folder)",
                    "first": name in fa,
                    "second": name in fb,
                    "relative": math.inf,
                    "within": False,
                }
            )
            continue
        s1, s2 = (json.loads((f[name] / "summary.json").read_text()) for f in (fa, fb))
        for key in ("metrics", "checks", "missing", "status"):
            f1, f2 = _flat(s1.get(key)), _flat(s2.get(key))
            for k in sorted(set(f1) | set(f2)):
                if _skipped(k):
                    continue
                x, y = f1.get(k, "<absent>"), f2.get(k, "<absent>")
                rel, ok = _leaf(tol, x, y)
                if rel:
                    rows.append(
                        {
                            "analysis": name,
                            "field": f"{key}.{k}",
                            "first": x,
                            "second": y,
                            "relative": rel,
                            "within": ok,
                        }
                    )
        rows.extend(_array_rows(name, fa[name], fb[name], tol))
    return rows


def _array_rows(name: str, a: Path, b: Path, tol: Tolerance) -> list[dict]:
    rows = []
    with np.load(a / "arrays.npz") as z1, np.load(b / "arrays.npz") as z2:
        for k in sorted((set(z1.files) | set(z2.files)) - {"run_id"}):
            row = {"analysis": name, "field": f"array {k}"}
            if k not in z1.files or k not in z2.files:
                rows.append(
                    {**row, "first": k in z1.files, "second": k in z2.files, "relative": math.inf, "within": False}
                )
                continue
            x, y = z1[k], z2[k]
            if x.shape != y.shape:
                follows_count = x.ndim == y.ndim and x.ndim > 0 and x.shape[1:] == y.shape[1:]
                rel, ok = tol.count(x.shape[0], y.shape[0]) if follows_count else (math.inf, False)
                rows.append({**row, "first": list(x.shape), "second": list(y.shape), "relative": rel, "within": ok})
                continue
            rel, ok = tol.array(x, y)
            if rel:
                rows.append(
                    {
                        **row,
                        "first": f"{x.dtype}{list(x.shape)}",
                        "second": f"{y.dtype}{list(y.shape)}",
                        "relative": rel,
                        "within": ok,
                    }
                )
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("first", type=Path)
    ap.add_argument("second", type=Path)
    ap.add_argument("--tolerant", action="store_true", help="within tolerances (two devices; see the docstring)")
    ap.add_argument("--rtol", type=float, default=Tolerance.rtol)
    ap.add_argument("--atol", type=float, default=Tolerance.atol)
    ap.add_argument("--count-rtol", type=float, default=Tolerance.count_rtol)
    ap.add_argument("--json", type=Path, default=None, help="--tolerant: write the differences here")
    args = ap.parse_args(argv)
    if not args.tolerant:
        bad, n_fields, n_arrays = compare(args.first, args.second)
        print(f"{n_fields} summary fields and {n_arrays} arrays compared; {bad} differences")
        return 1 if bad else 0
    tol = Tolerance(args.rtol, args.atol, args.count_rtol)
    rows = sorted(compare_tolerant(args.first, args.second, tol), key=lambda r: (r["within"], -r["relative"]))
    for r in rows:
        mark = "ok " if r["within"] else "OUT"
        print(
            f"{mark} {r['analysis']}: {r['field']}: {r['first']!r:.60} vs {r['second']!r:.60} "
            f"(relative {r['relative']:.2e})"
        )
    out = [r for r in rows if not r["within"]]
    print(
        f"{len(rows)} differences, {len(out)} outside the tolerance (rtol {tol.rtol:g}, atol {tol.atol:g}, counts "
        f"max(1, {tol.count_rtol:.0%}))"
    )
    if args.json is not None:
        args.json.write_text(
            json.dumps(
                {
                    "tolerance": vars(args)
                    | {"first": str(args.first), "second": str(args.second), "json": str(args.json)},
                    "differences": rows,
                },
                indent=1,
                default=str,
            )
        )
    return 1 if out else 0


if __name__ == "__main__":
    sys.exit(main())
