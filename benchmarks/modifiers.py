"""Issue 11 on real corpora: modifier factors of trained networks, and the bag of words with modifiers.

    RNNLENS_DATA_DIR=/work/shared/data .venv/bin/python benchmarks/modifiers.py \
        --net imdb-gru128=/tmp/gru128 --net imdb-lstm=src/rnnlens/pretrained/imdb-lstm \
        --net sst2-gru128=/tmp/sst2gru --bow imdb=src/rnnlens/pretrained/bag_of_words.json \
        --bow sst2=/tmp/bow_sst2/bag_of_words.json --out /tmp/modifiers.json

For every network: ``rnnlens.analyze_modifiers`` (default settings; contexts from the test split, valenced
words by the bag of words given for its dataset) and its seconds, with one torch thread. For every
dataset of the networks (``--no-modifier-bow`` skips it): the plain bag of words refitted on the full
vocabulary (``rnnlens.fit_bag_of_words``, C on validation), the bag of words with modifiers
(``rnnlens.modifier_bow.fit_modifier_bow``, same C, K = 4), their test accuracies next to each network's
and the share of the network's gain over the plain bag of words recovered.
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
import torch

MODIFIERS = ["not", "n't", "never", "no", "hardly", "very", "extremely"]


def _pair(text: str) -> tuple[str, str]:
    name, _, path = text.partition("=")
    if not path:
        raise SystemExit(f"expected NAME=PATH, got {text!r}")
    return name, path


def _print_network(val: dict) -> None:
    """One network's factors, reach, excursion and linearized prediction, as a table on stdout."""
    print("factor at gap k (95% CI)    k=1                  k=2                  k=3                  k=6")
    for mod in val["modifiers"]:
        f, lo, hi = val["factor"][mod], val["factor_ci_low"][mod], val["factor_ci_high"][mod]
        cells = [f"{f[k]:+.2f} [{lo[k]:+.2f},{hi[k]:+.2f}]" for k in (0, 1, 2, 5) if k < len(f)]
        print(
            f"  {mod:10s}  "
            + "  ".join(f"{c:20s}" for c in cells)
            + f"  reach {val['reach'][mod]}, own readout {val['excursion_readout'][mod]:+.2f}"
        )
    print(
        f"  excursion: participation ratio {val['excursion_participation_ratio']}, angle to line "
        f"{ {k: round(v) for k, v in val['excursion_line_angle_deg'].items()} } deg"
    )
    print(
        f"  return tau (trajectory) { {k: round(v, 1) for k, v in val['return_tau_trajectory'].items()} }, "
        f"(eigenmodes) { {k: round(v, 1) for k, v in val['return_tau_eigen'].items()} }"
    )
    print(
        f"  linearized: l_1 corr {val['prediction_correlation']:.2f} ratio {val['prediction_ratio_median']:.2f};"
        f" readout corr {val['prediction_readout_correlation']:.2f} ratio "
        f"{val['prediction_readout_ratio_median']:.2f}"
    )


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--net", action="append", type=_pair, default=[], help="NAME=CHECKPOINT (repeatable)")
    ap.add_argument("--bow", action="append", type=_pair, default=[], help="DATASET=BAG_OF_WORDS.json (repeatable)")
    ap.add_argument("--modifiers", default=",".join(MODIFIERS))
    ap.add_argument("--max-gap", type=int, default=8)
    ap.add_argument("--bow-gap", type=int, default=4, help="K of the bag of words with modifiers")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--no-modifier-bow", action="store_true")
    ap.add_argument("--out", default=None, help="write the results as JSON here")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)

    from rnnlens.analysis import AnalysisSettings
    from rnnlens.analysis.modifiers import analyze_modifiers
    from rnnlens.checkpoint import load_checkpoint, load_training_corpus

    mods = [m.strip() for m in args.modifiers.split(",")]
    bows = dict(args.bow)
    results: dict = {"networks": {}, "bag_of_words": {}, "threads": args.threads}
    corpora, rnn_acc = {}, {}
    for name, path in args.net:
        ck = load_checkpoint(path)
        dataset = ck.record["dataset"]
        if dataset not in corpora:
            corpora[dataset] = load_training_corpus(ck)
        corpus = corpora[dataset]
        t0 = time.perf_counter()
        present = [m for m in mods if ck.vocab.stoi.get(m, 0) > 1]  # those the network knows
        r = analyze_modifiers(
            ck, corpus, AnalysisSettings.make(modifiers=present, max_gap=args.max_gap), bow=bows.get(dataset)
        )
        seconds = time.perf_counter() - t0
        m = r.metrics["modifiers"]
        val = {k: (v["value"] if isinstance(v, dict) and "value" in v else v) for k, v in m.items()}
        results["networks"][name] = {"checkpoint": path, "dataset": dataset, "seconds": seconds, **val}
        rnn_acc.setdefault(dataset, {})[name] = (ck.record.get("metrics", {}).get("test") or {}).get("accuracy")
        print(
            f"\n== {name} ({dataset}, {ck.model.arch}-{ck.model.hidden_size}): {seconds:.1f} s; "
            f"missing {sorted(set(mods) - set(present))}"
        )
        _print_network(val)

    if not args.no_modifier_bow:
        from rnnlens.baseline import fit_bag_of_words
        from rnnlens.modifier_bow import fit_modifier_bow, share_of_gain

        for dataset, corpus in corpora.items():
            t0 = time.perf_counter()
            bow = fit_bag_of_words(corpus)
            t1 = time.perf_counter()
            mb = fit_modifier_bow(corpus, modifiers=mods, max_gap=args.bow_gap, bow=bow)
            t2 = time.perf_counter()
            row = {
                "bow_test": bow.accuracy["test"],
                "bow_C": bow.C,
                "modifier_bow_test": mb.accuracy["test"],
                "modifier_bow_validation": mb.accuracy.get("validation"),
                "bow_seconds": t1 - t0,
                "modifier_bow_seconds": t2 - t1,
                "factors": mb.factor_table(),
                "modifier_counts": mb.counts,
                "info": mb.info,
                "rnn": {},
            }
            print(
                f"\n== bag of words with modifiers on {dataset} (K={args.bow_gap}, C={bow.C:g}): plain "
                f"{bow.accuracy['test']:.4f}, with modifiers {mb.accuracy['test']:.4f} ({t2 - t1:.0f} s)"
            )
            for mod, f in mb.factor_table().items():
                print(f"  {mod:10s} " + " ".join(f"{x:+.2f}" for x in f) + f"   (n = {mb.counts[mod]})")
            for name, acc in rnn_acc.get(dataset, {}).items():
                share = share_of_gain(mb.accuracy["test"], bow.accuracy["test"], acc) if acc is not None else math.nan
                row["rnn"][name] = {"test": acc, "share_of_gain": share}
                print(
                    f"  {name}: RNN test {acc:.4f}, gain over plain {acc - bow.accuracy['test']:+.4f}, share "
                    f"recovered {share:.2f}"
                    if acc is not None
                    else f"  {name}: no test accuracy recorded"
                )
            results["bag_of_words"][dataset] = row
    if args.out:
        from rnnlens.analysis.io import write_json

        write_json(args.out, results)
    return results


if __name__ == "__main__":
    np.set_printoptions(precision=3)
    main()
