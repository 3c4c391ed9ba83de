"""Wall time of the bag-of-words baseline (`rnnlens baseline`), stage by stage, and its accuracy.

Run:  RNNLENS_DATA_DIR=../shared/data .venv/bin/python benchmarks/baseline.py [--dataset imdb] 

Stages: loading the corpus (IMDB: read from the archive), building the count matrix (tokenize + sparse
CountVectorizer, once for all splits), the fits over the C grid (rnnlens.baseline.DEFAULT_CS unless
--C is given), scoring, and writing bag_of_words.json. Prints the validation curve and the accuracy
of every split. The count matrix is timed on its own first (and built again inside the fit), so
"fit_bag_of_words" is the number `rnnlens baseline` spends after loading.
"""

from __future__ import annotations

import argparse
import tempfile
import time


def main() -> None:
    from rnnlens.baseline import DEFAULT_CS, fit_bag_of_words
    from rnnlens.data import load_corpus, tokenize

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default="imdb")
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--C", dest="Cs", type=float, action="append", help="repeatable; default the package grid")

    args = ap.parse_args()

    t0 = time.perf_counter()
    kw = {"download": False} if args.dataset == "imdb" else {}
    corpus = load_corpus(args.dataset, data_dir=args.data_dir, **kw)
    t_load = time.perf_counter() - t0

    from sklearn.feature_extraction.text import CountVectorizer
    t = time.perf_counter()
    v = CountVectorizer(analyzer=tokenize)
    X = v.fit_transform(corpus.splits["train"].texts)
    for name, split in corpus.splits.items():
        if name != "train":
            v.transform(split.texts)
    t_vec = time.perf_counter() - t

    t = time.perf_counter()
    bow = fit_bag_of_words(corpus, Cs=args.Cs or DEFAULT_CS)
    t_fit = time.perf_counter() - t
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        bow.save(tmp)
        t_save = time.perf_counter() - t

    print(f"dataset {corpus.name}: {X.shape[0]} train documents, {X.shape[1]} words, {X.nnz} nonzero counts")
    print("| stage | seconds |\n| --- | ---: |")
    print(f"| load corpus | {t_load:.1f} |")
    print(f"| count matrix, all splits (timed alone) | {t_vec:.1f} |")
    print(f"| fit_bag_of_words (count matrix + {len(bow.validation_curve)} fits + scoring) | {t_fit:.1f} |")
    print(f"| save JSON | {t_save:.1f} |")
    print(f"| total as `rnnlens baseline` (load + fit + save) | {t_load + t_fit + t_save:.1f} |")
    print(f"solver {bow.info.get('solver')}, chosen C={bow.C:g}")
    for p in bow.validation_curve:
        print(f"  C={p['C']:g}: validation accuracy {p['validation_accuracy']:.4f}, converged {p['converged']}")
    for name, acc in bow.accuracy.items():
        print(f"{name} accuracy (fraction correct, n={bow.n[name]}): {acc:.5f}")


if __name__ == "__main__":
    main()
