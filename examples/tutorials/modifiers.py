"""Modifiers: how "not", "never", "very" and "extremely" bend the integration of the shipped IMDB GRU.

    python examples/tutorials/modifiers.py [--arch gru] [--modifiers not,n't,never,no,hardly,very,extremely]
                                           [--n-contexts 200] [--n-words 20] [--max-gap 8] [--n-boot 1000]
                                           [--n-eig-contexts 50] [--max-length N] [--seed 0]

A line attractor integrates each word's valence; a modifier word has little valence of its own but changes
how the next words are integrated. ``rnnlens.analyze_modifiers`` measures this with the network itself: for
a modifier m and a gap k it puts m (or, as the control, a neutral word) k tokens before a strongly valenced
word, in the same contexts (prefixes of test reviews), and compares the readout change the word causes
(the *factor*: 1 leaves the word alone, between 0 and 1 damps it, above 1 amplifies it, below 0 flips it).
It also measures where the modifier sends the state (the excursion off the line, its dimension and its
return) and whether the linearization around the line predicts the factors. The defaults are the settings
of the docs/modifiers.md table (about 20 s for the shipped GRU on one thread, after loading IMDB). Needs the
IMDB corpus (``RNNLENS_DATA_DIR`` or the cache). The tutorial page is docs/tutorials/modifiers.md.
"""

from __future__ import annotations

import argparse

import rnnlens
from rnnlens.workflows import pretrained_checkpoints

SHOWN_GAPS = 4  # the table shows the factors at k = 1..4; the result holds every k up to --max-gap


def main(argv: list[str] | None = None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arch", default="gru", choices=["vanilla", "ugrnn", "gru", "lstm"], help="a shipped network")
    ap.add_argument("--modifiers", default="not,n't,never,no,hardly,very,extremely", help="comma-separated")
    ap.add_argument("--n-contexts", type=int, default=200, help="prefixes of test reviews the words are put after")
    ap.add_argument("--n-words", type=int, default=20, help="most positive and most negative words measured")
    ap.add_argument("--max-gap", type=int, default=8, help="gaps k = 1..max-gap from modifier to word")
    ap.add_argument("--n-boot", type=int, default=1000, help="bootstrap resamples of the 95%% intervals")
    ap.add_argument("--n-eig-contexts", type=int, default=50, help="contexts linearized for the return's modes")
    ap.add_argument("--max-length", type=int, default=10000, help="cut test reviews to this many tokens")
    ap.add_argument("--seed", type=int, default=0, help="draws the contexts, fillers and controls")
    args = ap.parse_args(argv)

    # --8<-- [start:load]
    folder = pretrained_checkpoints()[args.arch]  # rnnlens/pretrained/imdb-<arch>
    checkpoint = rnnlens.load_checkpoint(folder)
    corpus = rnnlens.load_training_corpus(checkpoint)  # IMDB, as the network was trained on it
    bow = folder.parent / "bag_of_words.json"  # the shipped bag of words picks the valenced and neutral words
    # --8<-- [end:load]

    # --8<-- [start:measure]
    settings = rnnlens.AnalysisSettings.make(
        modifiers=args.modifiers.split(","),
        n_contexts=args.n_contexts,
        n_words=args.n_words,
        max_gap=args.max_gap,
        n_boot=args.n_boot,
        n_eig_contexts=args.n_eig_contexts,
        max_length=args.max_length,
        seed=args.seed,
    )
    result = rnnlens.analyze_modifiers(checkpoint, corpus, settings, bow=bow)
    # --8<-- [end:measure]

    # --8<-- [start:table]
    low, high = result.value("factor_ci_low"), result.value("factor_ci_high")
    reach, angle = result.value("reach"), result.value("excursion_line_angle_deg")
    dims, back = result.value("excursion_participation_ratio"), result.value("return_tau_trajectory")
    gaps = min(SHOWN_GAPS, args.max_gap)
    print(
        f"{'modifier':<10} {'k=1 [95% CI]':<20}"
        + "".join(f"{'k=' + str(k):>6}" for k in range(2, gaps + 1))
        + f"{'reach':>7}{'angle':>7}{'dims':>6}{'return':>8}"
    )
    for m in result.value("modifiers"):
        f = result.factor(m)  # least-squares ratio at k = 1..max_gap
        interval = f"[{low[m][0]:.2f}, {high[m][0]:.2f}]" if args.n_boot else ""
        print(
            f"{m:<10} {f[0]:>5.2f} {interval:<14}"
            + "".join(f"{x:>6.2f}" for x in f[1:gaps])
            + f"{reach[m]:>7}{angle[m]:>6.0f}°{dims[m]:>6.1f}{back[m]:>8.1f}"
        )
    print("factor: a valenced word's push on the readout k tokens after the modifier / after a neutral word")
    print("reach: largest k with |factor - 1| >= half its k = 1 value; angle: excursion vs the line's tangent;")
    print("dims: participation ratio of the excursions; return: tokens for the excursion to decay by 1/e")
    # --8<-- [end:table]

    # --8<-- [start:explain]
    for name in ("prediction_correlation", "prediction_readout_correlation"):
        node = result.metrics["modifiers"][name]
        print(f"{name} = {node['value']:.3f}: {node['definition']}")
    for what in result.missing:
        print(f"not measured: {what}")
    # --8<-- [end:explain]
    return result


if __name__ == "__main__":
    main()
