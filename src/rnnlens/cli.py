"""The ``rnnlens`` command line: a thin click layer over the Python API.

Every number printed says what it is. A user mistake (:class:`rnnlens.errors.RnnlensError`) prints
``error: <message>`` on stderr and exits with status 2, without a traceback.
"""

from __future__ import annotations

import json
import sys

import click

from rnnlens.errors import ArgumentError, RnnlensError

__all__ = ["main"]

CELL_ARCHS = ("vanilla", "gru", "lstm", "ugrnn")  # = rnnlens.cells.ARCHS (kept here so --help stays fast)


class _Group(click.Group):
    """A click group that turns RnnlensError into ``error: ...`` on stderr and exit status 2."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except RnnlensError as exc:
            click.echo(f"error: {exc}", err=True)
            ctx.exit(2)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="rnnlens")
def main():
    """rnnlens: train sentiment RNNs and reverse-engineer them as dynamical systems."""


def _parse_options(pairs, flag: str = "--option") -> dict:
    """``KEY=VALUE`` pairs to a dict (values read as JSON when they parse); ``flag`` names the option in errors."""
    options = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ArgumentError(f"{flag} {pair!r}: write KEY=VALUE (e.g. {flag} n_train=2000).")
        try:
            options[key] = json.loads(value)
        except json.JSONDecodeError:
            options[key] = value
    return options


def _data_options(f):
    f = click.option("--option", "options", multiple=True, metavar="KEY=VALUE",
                     help="Extra load_corpus option (value read as JSON when it parses), repeatable.")(f)
    f = click.option("--data-seed", type=int, default=None,
                     help="Seed of the corpus (validation carve-out, synthetic generation); default 0.")(f)
    f = click.option("--data-dir", type=click.Path(file_okay=False), default=None,
                     help="Folder with the corpora (else $RNNLENS_DATA_DIR, then the cache).")(f)
    return f


def _load(dataset, data_dir, data_seed, options):
    from rnnlens.data import load_corpus

    opts = options if isinstance(options, dict) else _parse_options(options)
    return load_corpus(dataset, data_dir=data_dir, seed=0 if data_seed is None else data_seed, **opts)


@main.command()
@click.option("--dataset", default="synthetic", show_default=True, help="Corpus name (see rnnlens.data.load_corpus).")
@_data_options
@click.option("--arch", type=click.Choice(CELL_ARCHS), default="gru", show_default=True)
@click.option("--hidden", "hidden_size", type=int, default=128, show_default=True, help="Units N.")
@click.option("--embed", "embed_dim", type=int, default=64, show_default=True, help="Embedding size.")
@click.option("--epochs", type=int, default=5, show_default=True)
@click.option("--batch-size", type=int, default=64, show_default=True)
@click.option("--lr", type=float, default=1e-3, show_default=True, help="Initial AdamW learning rate.")
@click.option("--lr-decay", type=float, default=0.9, show_default=True, help="Learning-rate factor per epoch.")
@click.option("--weight-decay", type=float, default=0.0, show_default=True, help="AdamW weight decay.")
@click.option("--clip-norm", type=float, default=5.0, show_default=True, help="Gradient-norm clip (0: none).")
@click.option("--patience", type=int, default=2, show_default=True,
              help="Early stop after this many epochs without better validation accuracy (0: never).")
@click.option("--seed", type=int, default=0, show_default=True, help="Initialisation and batch-order seed.")
@click.option("--vocab-size", type=int, default=20000, show_default=True, help="Max vocabulary entries (0: all).")
@click.option("--min-count", type=int, default=1, show_default=True)
@click.option("--max-length", type=int, default=None, help="Cut documents to this many tokens (counted, reported).")
@click.option("--checkpoint-every", type=int, default=200, show_default=True, help="Batches between resume states.")
@click.option("--threads", "num_threads", type=int, default=None, help="torch CPU threads.")
@click.option("--fast-path", type=click.Choice(["auto", "fused", "scan"]), default="auto", show_default=True,
              help="Cell implementation for training (auto: scan on CPU, fused kernel on GPU).")
@click.option("--device", default="cpu", show_default=True, help="torch device (cpu runs are bitwise reproducible).")
@click.option("--out", "out_dir", required=True, type=click.Path(), help="Checkpoint folder to write.")
@click.option("--resume/--no-resume", default=True, show_default=True,
              help="Continue an interrupted run in --out (or start over).")
@click.option("--progress/--no-progress", default=True, show_default=True)
def train(dataset, data_dir, data_seed, options, out_dir, resume, progress, clip_norm, patience,
          vocab_size, **settings):
    """Train a sentiment RNN and write its checkpoint folder to --out."""
    from rnnlens.training import TrainSettings, train as run_training

    s = TrainSettings(clip_norm=clip_norm or None, patience=patience or None,
                      vocab_size=vocab_size or None, **settings)
    s.validate()
    corpus = _load(dataset, data_dir, data_seed, options)
    ck = run_training(corpus, s, out_dir, resume=resume, progress=progress)
    m = ck.record["metrics"]
    val = m["validation"]
    click.echo(f"trained {s.arch} (N={s.hidden_size}, embedding {s.embed_dim}) on {corpus.name}: "
               f"{m['n_train']} train documents, vocabulary {m['vocab_size']} tokens")
    click.echo(f"best validation accuracy (fraction correct, n={val['n']}): {val['accuracy']:.4f} "
               f"(epoch {m['best_epoch']} of {m['epochs_run']} run)")
    click.echo(f"validation loss at that epoch (mean nats per document): {val['loss']:.4f}")
    if s.max_length is not None:
        cut = m["n_truncated"]
        click.echo(f"documents cut to --max-length {s.max_length} tokens: {cut['train']} train, "
                   f"{cut['validation']} validation")
    click.echo(f"training throughput (tokens per second of optimisation, mean over epochs): "
               f"{m['train_tokens_per_s'] or 0:.0f}")
    click.echo(f"checkpoint: {ck.path}")


@main.command()
@click.argument("checkpoint", type=click.Path())
@click.option("--dataset", default=None,
              help="Corpus name (default: the one the model was trained on, with the same options and seed).")
@_data_options
@click.option("--split", default="test", show_default=True, help="train, validation or test.")
@click.option("--max-length", type=int, default=None,
              help="Cut documents to this many tokens (default: as in training).")
@click.option("--batch-size", type=int, default=256, show_default=True)
def evaluate(checkpoint, dataset, data_dir, data_seed, options, split, max_length, batch_size):
    """Accuracy and loss of a checkpoint on one split of a corpus."""
    from rnnlens.checkpoint import load_checkpoint
    from rnnlens.training import evaluate as run_evaluation

    ck = load_checkpoint(checkpoint)
    trained_on = ck.record.get("dataset", "synthetic")
    info = ck.record.get("data_info") or {}
    if (dataset in (None, trained_on) and not options and data_seed is None
            and isinstance(info.get("options"), dict)):
        # the corpus the model was trained on, generated or carved exactly as then
        options, data_seed = info["options"], info.get("seed")
    dataset = dataset or trained_on
    corpus = _load(dataset, data_dir, data_seed, options)
    if split not in corpus.splits:
        raise ArgumentError(f"--split {split}: corpus {corpus.name!r} has splits {sorted(corpus.splits)}.")
    if corpus.num_classes != ck.model.num_classes:
        raise ArgumentError(f"--dataset {dataset}: {corpus.num_classes} classes, but the model in "
                            f"{checkpoint} was trained for {ck.model.num_classes}.")
    if corpus.fingerprint() != ck.record.get("data_fingerprint"):
        click.echo(f"note: this corpus differs from the one the model was trained on "
                   f"({ck.record.get('dataset')}, fingerprint {str(ck.record.get('data_fingerprint'))[:12]}); "
                   "its splits may overlap the training documents.", err=True)
    if max_length is None:
        max_length = ck.record.get("settings", {}).get("max_length")
    r = run_evaluation(ck.model, ck.vocab, corpus.splits[split], batch_size=batch_size, max_length=max_length)
    kind = "logistic" if ck.model.num_classes == 2 else "cross-entropy"
    click.echo(f"{split} accuracy (fraction correct, n={r['n']}): {r['accuracy']:.4f}")
    click.echo(f"{split} loss (mean {kind} loss, nats per document): {r['loss']:.4f}")
    if max_length is not None:
        click.echo(f"documents cut to {max_length} tokens: {r['n_truncated']} of {r['n']}")


@main.command()
@click.option("--dataset", default="synthetic", show_default=True)
@_data_options
@click.option("-o", "--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Folder for bag_of_words.json.")
@click.option("--C", "Cs", type=float, multiple=True,
              help="Regularisation values to choose from on validation (repeatable; default a grid 0.01..3).")
@click.option("--min-count", type=int, default=1, show_default=True,
              help="Ignore words in fewer training documents.")
@click.option("--top", type=int, default=10, show_default=True, help="How many top words to print.")
def baseline(dataset, data_dir, data_seed, options, out_dir, Cs, min_count, top):
    """Bag-of-words logistic regression: accuracy per split and per-word coefficients."""
    from rnnlens.baseline import DEFAULT_CS, fit_bag_of_words

    corpus = _load(dataset, data_dir, data_seed, options)
    bow = fit_bag_of_words(corpus, Cs=Cs or DEFAULT_CS, min_count=min_count)
    path = bow.save(out_dir)
    click.echo(f"bag of words on {corpus.name}: {len(bow.words)} words, C={bow.C:g} "
               f"(inverse L2 strength, chosen on validation)")
    for name, acc in bow.accuracy.items():
        click.echo(f"{name} accuracy (fraction correct, n={bow.n[name]}): {acc:.4f}")
    if bow.coef.shape[0] == 1 and top > 0:
        pos = bow.top_words(top, "positive")
        neg = bow.top_words(top, "negative")
        click.echo(f"most {corpus.label_names[-1]} words (largest coefficients): {' '.join(pos)}")
        click.echo(f"most {corpus.label_names[0]} words (smallest coefficients): {' '.join(neg)}")
    click.echo(f"coefficients: {path}")


# The analysis and whole-job commands (analyze, report, demo, reproduce) live in rnnlens.cli_analysis.
from rnnlens.cli_analysis import COMMANDS as _MORE_COMMANDS  # noqa: E402

for _command in _MORE_COMMANDS:
    main.add_command(_command)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
