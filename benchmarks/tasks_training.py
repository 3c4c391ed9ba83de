"""One 3-bit flip-flop network of each architecture, trained with rnnlens.train and analysed with rnnlens.analyze,
at the size meant for the 64-network comparison of issue 26 (4 architectures x 16 seeds on a 2-core machine in
45 minutes: about 80 s per network on one core, training and analysis together).

    OMP_NUM_THREADS=1 python benchmarks/tasks_training.py [--hidden 64] [--epochs 30] [--n-train 2048]

Prints, per architecture: training seconds, analysis seconds, the test mean squared error, the fraction of
correct signs, and the distinct stable fixed points and saddles the analysis found (at zero input).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

import rnnlens
from rnnlens.checkpoint import load_training_corpus
from rnnlens.data import load_corpus


def main(argv=None) -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--archs", default="vanilla,gru,lstm,ugrnn")
    ap.add_argument("--hidden", type=int, default=64)
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--n-train", type=int, default=2048)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--n-seeds", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    corpus = load_corpus("flipflop", n_train=args.n_train, n_validation=128, n_test=128, steps=args.steps)
    settings = rnnlens.AnalysisSettings.make(n_docs=128, n_seeds=args.n_seeds, seed_noise=0.5, tol_sweep=[])
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for arch in args.archs.split(","):
            s = rnnlens.TrainSettings(
                arch=arch,
                hidden_size=args.hidden,
                epochs=args.epochs,
                batch_size=64,
                lr=1e-2,
                lr_decay=0.9,
                patience=None,
                seed=args.seed,
            )
            t0 = time.perf_counter()
            ck = rnnlens.train(corpus, s, Path(tmp) / arch, progress=False, verbose=False)
            t1 = time.perf_counter()
            result = rnnlens.analyze(ck.path, load_training_corpus(ck.path), settings)
            t2 = time.perf_counter()
            test = ck.record["metrics"]["test"]
            row = {
                "arch": arch,
                "train_s": round(t1 - t0, 1),
                "analyze_s": round(t2 - t1, 1),
                "test_mse": test["mse"],
                "test_signs": test["accuracy"],
                "stable": result.value("modes.n_distinct_stable"),
                "saddles": result.value("modes.n_distinct_saddles"),
            }
            rows.append(row)
            print(
                f"{arch:8s} N={args.hidden}: train {row['train_s']:6.1f} s, analyze {row['analyze_s']:5.1f} s, "
                f"test MSE {row['test_mse']:.4f}, signs correct {row['test_signs']:.4f}, "
                f"{row['stable']} stable fixed points, {row['saddles']} saddles",
                flush=True,
            )
    return rows


if __name__ == "__main__":
    main()
