"""k classes: a GRU trained on a k-class corpus integrates evidence on a manifold of dimension k - 1.

    python examples/tutorials/kclass.py [--out DIR] [--dataset ag_news | sst5 | synthetic] [--classes 3]
                                        [--ordered] [--embed 64] [--hidden 128] [--epochs 25] [--lr 4e-3]
                                        [--lr-decay 0.85] [--weight-decay 1.0] [--patience 5] [--batch-size 32]
                                        [--n-docs 500] [--n-seeds 500]

A binary sentiment network needs one number, the summed valence, and keeps it on a line attractor. With k
unordered classes a network must keep k - 1 numbers (the evidence for each class, up to a common shift), so
its slow points should fill a (k - 1)-dimensional manifold; with ordered classes (star ratings) one number
still suffices. The corpus itself says which: ``rnnlens.predict_dimension`` counts words, turns them into
naive-Bayes class evidence and measures the dimension of the training documents' summed evidence, before
any network is trained. This script predicts, trains, analyzes (``rnnlens.analyze``'s ``kclass`` section:
the slow points, their dimension four ways, their angles to the readout, the words' evidence vectors) and
prints the measured dimension beside the predicted one. The defaults are docs/kclass.md's AG News recipe
(4 topics, test.csv split 80/20 with seed 0; about 2 minutes on one CPU thread); ``--dataset synthetic``
is the generated language with ``--classes`` classes whose true word evidence is known (seconds). The
tutorial page is docs/tutorials/kclass.md.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import rnnlens


@dataclass
class KClassRun:
    """The test accuracy of the network and the bag of words, the word-count prediction and the analysis
    (its ``kclass`` section: ``analysis.value("kclass.dimension_pca")`` and the rest)."""

    test_accuracy: float
    bow_test_accuracy: float
    prediction: object  # rnnlens.analysis.wordcount.DimensionPrediction
    analysis: rnnlens.Analysis


# --8<-- [start:load]
# the synthetic language at the size of the truth tests (tests/analysis/test_kclass.py): 3,000 training
# documents of 10-30 tokens, each token an evidence word for one class with probability 0.3
SYNTHETIC = dict(n_train=3000, n_validation=300, n_test=300, min_length=10, max_length=30)


def load(dataset: str, classes: int, ordered: bool):
    """The corpus: AG News or SST-5 as ``load_corpus`` reads them, or the synthetic language with k classes."""
    if dataset != "synthetic":
        return rnnlens.load_corpus(dataset)
    return rnnlens.load_corpus("synthetic", num_classes=classes, **SYNTHETIC, **({"ordered": True} if ordered else {}))


# --8<-- [end:load]


def main(argv: list[str] | None = None) -> KClassRun:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("kclass-run"), help="output folder")
    ap.add_argument("--dataset", default="ag_news", choices=["ag_news", "sst5", "synthetic"])
    ap.add_argument("--classes", type=int, default=3, help="k of the synthetic language")
    ap.add_argument("--ordered", action="store_true", help="synthetic: k ordered classes (bins of one score)")
    ap.add_argument("--embed", type=int, default=64)
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--epochs", type=int, default=25)
    ap.add_argument("--lr", type=float, default=4e-3)
    ap.add_argument("--lr-decay", type=float, default=0.85)
    ap.add_argument("--weight-decay", type=float, default=1.0)
    ap.add_argument("--patience", type=int, default=5)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--n-docs", type=int, default=500, help="test documents whose states the analysis reads")
    ap.add_argument("--n-seeds", type=int, default=500, help="seeds of the fixed-point search")
    args = ap.parse_args(argv)

    # --8<-- [start:predict]
    corpus = load(args.dataset, args.classes, args.ordered)
    prediction = rnnlens.predict_dimension(corpus)  # from the training documents' word counts alone
    shown = ", ".join(f"{x:.3f}" for x in prediction.fractions)
    print(f"{corpus}\npredicted dimension {prediction.dimension} (evidence variance fractions {shown})")
    # --8<-- [end:predict]

    # --8<-- [start:train]
    settings = rnnlens.TrainSettings(
        arch="gru",
        embed_dim=args.embed,
        hidden_size=args.hidden,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        lr_decay=args.lr_decay,
        weight_decay=args.weight_decay,
        patience=args.patience,
        min_count=2,
    )
    checkpoint = rnnlens.train(corpus, settings, args.out / "model", progress=False)
    test = rnnlens.evaluate(checkpoint.model, checkpoint.vocab, corpus.splits["test"])
    bow = rnnlens.fit_bag_of_words(corpus)
    print(f"test accuracy: GRU {100 * test['accuracy']:.1f}%, bag of words {100 * bow.accuracy['test']:.1f}%")
    # --8<-- [end:train]

    # --8<-- [start:analyze]
    analysis = rnnlens.analyze(
        checkpoint,
        corpus,
        rnnlens.AnalysisSettings.make(n_docs=args.n_docs, n_seeds=args.n_seeds),
        bow=bow,
        out_dir=args.out / "analysis",
    )
    k = corpus.num_classes
    pcs = analysis.value("kclass.pca_fractions")[: k + 1]
    print(f"slow points' variance on PCs 1..{k + 1}: {', '.join(f'{x:.3f}' for x in pcs)}")
    for name in ("dimension_pca", "participation_ratio", "dimension_logit", "n_eig_slow_median", "predicted_dimension"):
        node = analysis.node(f"kclass.{name}")
        print(f"{name} = {node['value']:.3g}: {node['definition']}")
    angles = ", ".join(f"{a:.0f}" for a in analysis.value("kclass.readout_angles_deg"))
    print(f"principal angles between the slow points' top PCs and the readout's rows: {angles} degrees")
    # --8<-- [end:analyze]

    # --8<-- [start:evidence]
    print(f"evidence vs bag of words, Spearman per class: {analysis.value('kclass.evidence_bow_spearman')}")
    if corpus.truth is not None:  # the synthetic language: each word's true class evidence is known
        print(f"evidence vs the truth, R^2 of a linear map: {analysis.value('kclass.evidence_truth_r2'):.3f}")
    print(
        f"measured dimension {analysis.value('kclass.dimension_pca')}, predicted {prediction.dimension}, "
        f"k - 1 = {k - 1}"
    )
    # --8<-- [end:evidence]
    return KClassRun(
        test_accuracy=test["accuracy"], bow_test_accuracy=bow.accuracy["test"], prediction=prediction, analysis=analysis
    )


if __name__ == "__main__":
    main()
