"""Issue 12 on real corpora: k-class networks (SST-5, AG News), their integration manifolds, the word-count
prediction of the dimension, and the cost of the analysis.

    RNNLENS_DATA_DIR=/work/shared/data .venv/bin/python benchmarks/kclass.py --out /tmp/kclass_bench \
        [--dataset sst5 --dataset ag_news] [--arch gru --arch lstm] [--epochs 8] [--hidden 128]

For every (dataset, arch): train on CPU with one torch thread (``TrainSettings`` below; the checkpoint is
kept in OUT/models/ and reused when it is there), the test accuracy; the bag of words refitted on the same
split (``rnnlens.fit_bag_of_words``, C on validation); then ``rnnlens.analysis.kclass.analyze_kclass``
on the visited states of 500 test documents (slow points, dimension four ways, principal angles to the
readout subspace, evidence vectors vs the bag of words, the word-count prediction) and its seconds.
AG News is read as ``load_corpus("ag_news")``: with only test.csv present it is split with seed 0 (noted in
the corpus record). Results go to OUT/kclass.json and a markdown table is printed.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

SETTINGS = dict(
    embed_dim=64,
    hidden_size=128,
    batch_size=32,
    lr=2e-3,
    lr_decay=0.85,
    patience=3,
    seed=0,
    vocab_size=20000,
    min_count=1,
    checkpoint_every=0,
    num_threads=1,
)


def run_one(dataset: str, arch: str, out: Path, epochs: int, hidden: int, n_docs: int) -> dict:
    from rnnlens.analysis.inputs import select_documents
    from rnnlens.analysis.kclass import analyze_kclass
    from rnnlens.analysis.wordcount import predict_dimension
    from rnnlens.baseline import fit_bag_of_words
    from rnnlens.checkpoint import load_checkpoint
    from rnnlens.data import load_corpus
    from rnnlens.network import Network
    from rnnlens.training import TrainSettings, evaluate, train

    corpus = load_corpus(dataset)
    folder = out / "models" / f"{dataset}-{arch}{hidden}"
    t0 = time.perf_counter()
    if (folder / "config.json").is_file():
        ck = load_checkpoint(folder)
    else:
        settings = TrainSettings(arch=arch, epochs=epochs, **{**SETTINGS, "hidden_size": hidden})
        ck = train(corpus, settings, folder, resume=False, progress=False)
    train_s = time.perf_counter() - t0
    model = ck.model.eval()
    acc = evaluate(model, ck.vocab, corpus.splits["test"])["accuracy"]
    bow_file = out / "bow" / f"{dataset}.json"
    if bow_file.is_file():
        from rnnlens.baseline import load_bag_of_words

        bow = load_bag_of_words(bow_file)
    else:
        bow = fit_bag_of_words(corpus)
        bow.save(bow_file)
    network = Network.resolve(ck)
    docs = select_documents(ck.vocab, corpus.splits["test"], n_docs, None, 0)
    X = np.concatenate(network.states(docs.encoded))
    t1 = time.perf_counter()
    prediction = predict_dimension(corpus) if "train" in corpus.splits else None
    r = analyze_kclass(
        network, torch.from_numpy(X), bow=bow, truth=getattr(corpus, "truth", None), prediction=prediction
    )
    seconds = time.perf_counter() - t1
    v = r.value
    row = dict(
        dataset=dataset,
        arch=arch,
        hidden=hidden,
        k=corpus.num_classes,
        train_seconds=train_s,
        test_accuracy=acc,
        bow_test_accuracy=bow.accuracy["test"],
        n_test=len(corpus.splits["test"]),
        split_note=corpus.info.get("split", {}).get("note"),
        analysis_seconds=seconds,
        n_states=int(X.shape[0]),
        missing=r.missing,
        **{k: v(k) for k in r.metrics["kclass"]},
    )
    return row


def table(rows) -> str:
    def f(x, fmt="{:.3f}"):
        return "–" if x is None else fmt.format(x)

    lines = [
        "| data | net | test acc | BoW acc | PCA share top k-1 / k-th | d (PCA) | PR | d (logits) | "
        "predicted d (PR) | #|lambda|>=0.95 (median) | angles to readout (deg) | cov angles (deg) | "
        "evidence vs BoW (Spearman, R^2) | fixed points (unique/stable) | analysis s |",
        "|" + "---|" * 15,
    ]
    for r in rows:
        ang = ", ".join(f"{a:.0f}" for a in r["readout_angles_deg"])
        cang = ", ".join(f"{a:.0f}" for a in r["readout_cov_angles_deg"])
        lines.append(
            f"| {r['dataset']} (k={r['k']}) | {r['arch']}-{r['hidden']} | {f(r['test_accuracy'], '{:.1%}')} | "
            f"{f(r['bow_test_accuracy'], '{:.1%}')} | {f(r['pca_share_top'])} / {f(r['pca_share_next'])} | "
            f"{r['dimension_pca']} | {f(r['participation_ratio'], '{:.2f}')} | {r['dimension_logit']} | "
            f"{r.get('predicted_dimension')} ({f(r.get('predicted_participation_ratio'), '{:.2f}')}) | "
            f"{f(r['n_eig_slow_median'], '{:.0f}')} | {ang} | {cang} | "
            f"{f(r.get('evidence_bow_spearman_mean'), '{:.2f}')}, {f(r.get('evidence_bow_r2'), '{:.2f}')} | "
            f"{r.get('fixed_points_n_unique')}/{r.get('fixed_points_n_stable')} | {r['analysis_seconds']:.0f} |"
        )
    return "\n".join(lines)


def main(argv=None) -> list:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--dataset", action="append", default=None, help="sst5, ag_news (repeatable)")
    ap.add_argument("--arch", action="append", default=None, help="gru, lstm (repeatable)")
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--n-docs", type=int, default=500)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    args.out.mkdir(parents=True, exist_ok=True)
    rows = []
    for dataset in args.dataset or ["sst5", "ag_news"]:
        for arch in args.arch or ["gru", "lstm"]:
            row = run_one(dataset, arch, args.out, args.epochs, args.hidden, args.n_docs)
            rows.append(row)
            print(
                json.dumps(
                    {
                        k: row[k]
                        for k in (
                            "dataset",
                            "arch",
                            "test_accuracy",
                            "bow_test_accuracy",
                            "pca_fractions",
                            "dimension_pca",
                            "predicted_dimension",
                            "readout_angles_deg",
                            "analysis_seconds",
                        )
                    }
                ),
                flush=True,
            )
            (args.out / "kclass.json").write_text(json.dumps(rows, indent=1, default=float))
    print(table(rows))
    return rows


if __name__ == "__main__":
    main()
