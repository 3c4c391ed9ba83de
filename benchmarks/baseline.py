"""Wall time of `rnnlens baseline` against a plain scikit-learn fit of the same features over the same C grid.

Run:  RNNLENS_DATA_DIR=/work/shared/data OMP_NUM_THREADS=1 .venv/bin/python benchmarks/baseline.py [--dataset imdb]

Both are timed in this one process, after the imports, one after the other (the machine's load varies;
--repeat N takes the medians of N runs of each, alternating which goes first):

* plain scikit-learn: from the texts in memory (loading not counted), CountVectorizer with the rnnlens
  tokens on the train split, the validation split transformed, LogisticRegression over the grid with
  the estimator settings rnnlens uses (two classes: newton-cg, tol 1e-6, ``warm_start`` along the grid
  in increasing C; more: lbfgs), each scored on validation, the best C kept. Nothing else: no test split, no output.
* rnnlens: the whole command, ``rnnlens baseline --dataset NAME -o TMP`` through its click entry point
  (loading the corpus, counts of every split, the fits, accuracy on every split, bag_of_words.json).

It checks that both chose the same C with the same validation accuracies, and prints the ratio (target
at most 1.5). ``--fresh`` also times the command in a new process (interpreter start and imports, about
3-4 s, included); ``--liblinear`` the plain loop with the solver rnnlens used before (liblinear,
intercept_scaling 100, a cold fit per C).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings


def plain_sklearn(corpus, Cs, *, solver: str = "newton-cg") -> tuple[float, dict, dict]:
    """Seconds, {C: validation accuracy}, {"vectorize": s, "fits": s} of the plain fit."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.linear_model import LogisticRegression

    from rnnlens.data import tokenize

    train, val = corpus.splits["train"], corpus.splits["validation"]
    t0 = time.perf_counter()
    v = CountVectorizer(analyzer=tokenize)
    X, Xv = v.fit_transform(train.texts), v.transform(val.texts)
    t1 = time.perf_counter()
    curve = {}
    warm = LogisticRegression(solver="newton-cg", tol=1e-6, max_iter=2000, warm_start=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for C in sorted(set(Cs)):
            if solver == "liblinear":
                model = LogisticRegression(C=C, solver="liblinear", intercept_scaling=100.0, max_iter=2000)
            elif corpus.num_classes > 2:  # rnnlens fits k classes with lbfgs, cold at each C
                model = LogisticRegression(C=C, solver="lbfgs", max_iter=2000)
            else:
                model = warm.set_params(C=C)
            curve[C] = model.fit(X, train.labels).score(Xv, val.labels)
    t2 = time.perf_counter()
    return t2 - t0, curve, {"vectorize": t1 - t0, "fits": t2 - t1}


def _command_args(args, out: str) -> list[str]:
    argv = ["baseline", "--dataset", args.dataset, "-o", out]
    if args.data_dir:
        argv += ["--data-dir", args.data_dir]
    for C in args.Cs or ():
        argv += ["--C", str(C)]
    return argv


def rnnlens_command(args, *, fresh: bool = False) -> tuple[float, dict]:
    """Seconds of `rnnlens baseline` (in this process after its imports, or ``fresh``: a new process with
    interpreter start and imports), and what it wrote."""
    import contextlib
    import io

    from rnnlens.cli import main

    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        if fresh:
            subprocess.run(
                [
                    sys.executable,
                    "-c",
                    "import sys; from rnnlens.cli import main; sys.exit(main())",
                    *_command_args(args, tmp),
                ],
                check=True,
                stdout=subprocess.DEVNULL,
                env=os.environ,
            )
        else:
            with contextlib.redirect_stdout(io.StringIO()):
                main.main(args=_command_args(args, tmp), prog_name="rnnlens", standalone_mode=False)
        seconds = time.perf_counter() - t
        with open(os.path.join(tmp, "bag_of_words.json"), encoding="utf-8") as f:
            d = json.load(f)
    return seconds, {k: d[k] for k in ("C", "accuracy", "n", "validation_curve", "info")}


def main() -> None:
    from rnnlens.baseline import DEFAULT_CS
    from rnnlens.cli._common import load_named_corpus

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default="imdb")
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--C", dest="Cs", type=float, action="append", help="repeatable; default the package grid")
    ap.add_argument("--repeat", type=int, default=1, help="alternating runs of each; the medians are compared")
    ap.add_argument(
        "--fresh",
        action="store_true",
        help="also time the command in a fresh process (interpreter start and imports included)",
    )
    ap.add_argument(
        "--liblinear",
        action="store_true",
        help="also time the plain loop with liblinear (the solver rnnlens used before)",
    )
    args = ap.parse_args()
    Cs = tuple(args.Cs or DEFAULT_CS)

    corpus = load_named_corpus(args.dataset, args.data_dir, None, ())  # the command's corpus and split
    plain, ours, parts = [], [], []
    for i in range(args.repeat):  # alternate which goes first
        runs = [("plain", lambda: plain_sklearn(corpus, Cs)), ("ours", lambda: rnnlens_command(args))]
        for name, run in runs[::-1] if i % 2 else runs:
            if name == "plain":
                s, curve, part = run()
                plain.append(s)
                parts.append(part)
            else:
                s, out = run()
                ours.append(s)
    ours_curve = {p["C"]: p["validation_accuracy"] for p in out["validation_curve"]}
    best = min(curve, key=lambda C: (-curve[C], C))
    same = ours_curve == curve and out["C"] == best

    t_plain, t_ours = statistics.median(plain), statistics.median(ours)
    print(
        f"dataset {corpus.name}: "
        + ", ".join(f"{k} {v}" for k, v in out["n"].items())
        + f" documents; C grid {list(Cs)}; solver {out['info']['solver']}"
    )
    print("| run | seconds |\n| --- | ---: |")
    print(
        f"| plain scikit-learn: counts of train + validation | {statistics.median(p['vectorize'] for p in parts):.1f} |"
    )
    print(
        f"| plain scikit-learn: {len(curve)} fits + validation scores "
        f"| {statistics.median(p['fits'] for p in parts):.1f} |"
    )
    print(f"| plain scikit-learn, total | {t_plain:.1f} |")
    print(
        f"| `rnnlens baseline` (whole command in this process: load, counts of every split, fits, "
        f"scores, JSON) | {t_ours:.1f} |"
    )
    if args.fresh:
        t_fresh, _ = rnnlens_command(args, fresh=True)
        print(f"| `rnnlens baseline` in a fresh process (+ interpreter start and imports) | {t_fresh:.1f} |")
    if args.liblinear:
        t_lib, lib_curve, _ = plain_sklearn(corpus, Cs, solver="liblinear")
        print(f"| plain scikit-learn with liblinear, cold per C (rnnlens' solver before) | {t_lib:.1f} |")
    if args.repeat > 1:
        print(
            f"(medians of {args.repeat}; plain {[round(s, 1) for s in plain]}, rnnlens {[round(s, 1) for s in ours]})"
        )
    print(
        f"ratio rnnlens / plain: {t_ours / t_plain:.2f} (target <= 1.5)"
        + (f"; fresh process / plain: {t_fresh / t_plain:.2f}" if args.fresh else "")
    )
    print(f"same choice: {same} (C={out['C']:g}, plain C={best:g})")
    for C in Cs:
        print(
            f"  C={C:g}: validation accuracy rnnlens {ours_curve[C]:.4f}, plain {curve[C]:.4f}"
            + (f", liblinear {lib_curve[C]:.4f}" if args.liblinear else "")
        )
    for name, acc in out["accuracy"].items():
        print(f"{name} accuracy (fraction correct, n={out['n'][name]}): {acc:.5f}")
    if not same:
        sys.exit("rnnlens and the plain fit disagree")


if __name__ == "__main__":
    main()
