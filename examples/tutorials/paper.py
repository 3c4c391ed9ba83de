"""The paper reproduced: train a GRU on IMDB, compare it with the bag of words, and find its line attractor.

    python examples/tutorials/paper.py [--out DIR] [--dataset imdb] [--option KEY=VALUE ...] [--arch gru]
                                       [--embed 64] [--hidden 128] [--epochs 4] [--lr 2e-3] [--lr-decay 0.7]
                                       [--batch-size 64] [--n-docs 1000] [--n-seeds 500]

Maheswaranathan, Williams, Golub, Ganguli & Sussillo (NeurIPS 2019) trained sentiment RNNs and found that
they all solve the task the same way: the state moves along a line of slow points (an approximate line
attractor), each word pushes it along the line by its valence, and the readout reads the position. This
script does what the paper did, with rnnlens's public API: train, evaluate, fit the bag-of-words baseline,
analyze (fixed points, the traced slow manifold, linearization) and check the paper's five claims; then it
writes the HTML report. The defaults are the CPU recipe of docs/results.md (GRU-128 on IMDB, about 8 minutes
on one CPU thread); ``--dataset synthetic`` with a few ``--option``s runs it in seconds on the generated
language whose word valences are known. The tutorial page is docs/tutorials/paper.md.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path

import rnnlens

# --8<-- [start:claims]
# The paper's five claims, as rnnlens checks them along the traced slow manifold (Analysis.paper_checks):
#   lambda1_near_one         |lambda_1| of the Jacobian within 0.02 of 1 along the line: a marginally stable mode
#   slow_points_1d           the slow points lie on one curve (>= 90% of their variance)
#   readout_aligned          the line runs along the readout, as the visited states see it (|cos| >= 0.8)
#   positive_words_positive  the 100 most positive words push the state towards the positive end ...
#   negative_words_negative  ... and the 100 most negative towards the negative end
# The numbers of the docs/results.md table, each printed with the definition the analysis stores beside it.
KEY_NUMBERS = (
    "slow_manifold.one_dimensionality",
    "slow_manifold.readout_alignment",
    "slow_manifold.readout_explained_by_position",
    "slow_manifold.median_abs_dev_lambda1",
    "slow_manifold.exact_fixed_point_unstable",
    "slow_manifold.positive_mean",
    "slow_manifold.negative_mean",
    "slow_manifold.one_step_error_median",
    "slow_manifold.linear_accuracy",
    "slow_manifold.rnn_accuracy_same_docs",
)
# --8<-- [end:claims]


@dataclass
class PaperRun:
    """What the tutorial measured: the network's and the bag of words' test accuracy, the analysis, the five
    checks (``{"name", "claim", "metric", "value", "passed", "detail"}`` each) and the report."""

    test_accuracy: float
    recorded_test_accuracy: float
    bow_test_accuracy: float
    analysis: rnnlens.Analysis
    checks: list[dict]
    report: Path


def corpus_option(text: str) -> tuple[str, object]:
    """``KEY=VALUE`` of ``--option``: the value read as JSON when it parses (``n_train=3000`` is a number)."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"--option wants KEY=VALUE; got {text!r}")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


def main(argv: list[str] | None = None) -> PaperRun:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("paper-run"), help="output folder")
    ap.add_argument("--dataset", default="imdb", help="a corpus name of rnnlens.load_corpus")
    ap.add_argument("--option", type=corpus_option, action="append", default=[], help="a load_corpus option")
    ap.add_argument("--arch", default="gru", choices=["vanilla", "ugrnn", "gru", "lstm"])
    ap.add_argument("--embed", type=int, default=64)
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--lr-decay", type=float, default=0.7)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--n-docs", type=int, default=1000, help="test documents the analysis reads")
    ap.add_argument("--n-seeds", type=int, default=500, help="seeds of the fixed-point search")
    args = ap.parse_args(argv)

    # --8<-- [start:train]
    corpus = rnnlens.load_corpus(args.dataset, **dict(args.option))
    print(corpus)
    settings = rnnlens.TrainSettings(
        arch=args.arch,
        embed_dim=args.embed,
        hidden_size=args.hidden,
        epochs=args.epochs,
        lr=args.lr,
        lr_decay=args.lr_decay,
        batch_size=args.batch_size,
    )
    # the best epoch on the validation split is kept; a stopped run resumes where it stopped
    checkpoint = rnnlens.train(corpus, settings, args.out / "model", progress=False)
    # --8<-- [end:train]

    # --8<-- [start:evaluate]
    test = rnnlens.evaluate(checkpoint.model, checkpoint.vocab, corpus.splits["test"])
    recorded = checkpoint.record["metrics"]["test"]["accuracy"]  # train scored the test split once, at its end
    bow = rnnlens.fit_bag_of_words(corpus)  # logistic regression on word counts, C chosen on validation
    bow.save(args.out / "baseline")
    print(f"test accuracy: {args.arch} {100 * test['accuracy']:.2f}%, bag of words {100 * bow.accuracy['test']:.2f}%")
    # --8<-- [end:evaluate]

    # --8<-- [start:analyze]
    analysis_settings = rnnlens.AnalysisSettings.make(n_docs=args.n_docs, n_seeds=args.n_seeds)
    analysis = rnnlens.analyze(checkpoint, corpus, analysis_settings, bow=bow, out_dir=args.out / "analysis")
    # --8<-- [end:analyze]

    # --8<-- [start:checks]
    checks = analysis.paper_checks  # the five above, in that order
    for c in checks:
        verdict = {True: "PASS", False: "FAIL", None: "not measured"}[c["passed"]]
        print(f"{verdict:>4}  {c['name']}: {c['claim']}\n      {c['detail']}")
    passed = sum(c["passed"] is True for c in checks)
    print(f"{passed} of {len(checks)} of the paper's checks pass")
    for path in KEY_NUMBERS:
        node = analysis.node(path)  # {"value", "definition"}; None when not measured
        value = "not measured" if node is None else node["value"]
        shown = f"{value:.4g}" if isinstance(value, float) else value
        print(f"{path} = {shown}\n      {'' if node is None else node['definition']}")
    # --8<-- [end:checks]

    # --8<-- [start:report]
    report = rnnlens.make_report([args.out / "analysis"], args.out / "report")
    print(f"report: {report}")
    # --8<-- [end:report]
    return PaperRun(
        test_accuracy=test["accuracy"],
        recorded_test_accuracy=recorded,
        bow_test_accuracy=bow.accuracy["test"],
        analysis=analysis,
        checks=checks,
        report=report,
    )


if __name__ == "__main__":
    main()
