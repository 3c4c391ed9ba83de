"""Click commands ``train``, ``evaluate`` and ``baseline``."""

from __future__ import annotations

import click

from rnnlens.cli._common import (
    checkpoint_corpus_options,
    corpus_options,
    guarded_output,
    load_checkpoint_corpus,
    load_named_corpus,
    pop_settings,
    settings_options,
)
from rnnlens.errors import ArgumentError

__all__ = ["COMMANDS", "train_command", "evaluate_command", "baseline_command"]


@click.command("train")
@corpus_options()
@settings_options()
@click.option("--out", "out_dir", required=True, type=click.Path(), help="Checkpoint folder to write.")
@click.option("--resume/--no-resume", default=True, show_default=True,
              help="Continue an interrupted run in --out (or start over).")
@click.option("--progress/--no-progress", default=True, show_default=True)
def train_command(dataset, data_dir, data_seed, options, out_dir, resume, progress, **settings):
    """Train a sentiment RNN and write its checkpoint folder to --out."""
    from rnnlens.training import TrainSettings, train

    s = TrainSettings(**pop_settings(settings))
    with guarded_output(out_dir, "train", "--out"):
        corpus = load_named_corpus(dataset, data_dir, data_seed, options)
        ck = train(corpus, s, out_dir, resume=resume, progress=progress)
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


@click.command("evaluate")
@click.argument("checkpoint", type=click.Path())
@checkpoint_corpus_options
@click.option("--split", default="test", show_default=True, help="train, validation or test.")
@click.option("--max-length", type=int, default=None,
              help="Cut documents to this many tokens (default: as in training).")
@click.option("--batch-size", type=int, default=256, show_default=True)
def evaluate_command(checkpoint, dataset, data_dir, data_seed, options, split, max_length, batch_size):
    """Accuracy and loss of a checkpoint on one split of a corpus."""
    from rnnlens.checkpoint import load_checkpoint
    from rnnlens.training import evaluate

    ck = load_checkpoint(checkpoint)
    corpus = load_checkpoint_corpus(ck, dataset, data_dir, data_seed, options)
    if split not in corpus.splits:
        raise ArgumentError(f"--split {split}: corpus {corpus.name!r} has splits {sorted(corpus.splits)}.")
    if corpus.num_classes != ck.model.num_classes:
        raise ArgumentError(f"--dataset {corpus.name}: {corpus.num_classes} classes, but the model in "
                            f"{checkpoint} was trained for {ck.model.num_classes}.")
    if corpus.fingerprint() != ck.record.get("data_fingerprint"):
        click.echo(f"note: this corpus differs from the one the model was trained on "
                   f"({ck.record.get('dataset')}, fingerprint {str(ck.record.get('data_fingerprint'))[:12]}); "
                   "its splits may overlap the training documents.", err=True)
    if max_length is None:
        max_length = ck.record.get("settings", {}).get("max_length")
    r = evaluate(ck.model, ck.vocab, corpus.splits[split], batch_size=batch_size, max_length=max_length)
    kind = "logistic" if ck.model.num_classes == 2 else "cross-entropy"
    click.echo(f"{split} accuracy (fraction correct, n={r['n']}): {r['accuracy']:.4f}")
    click.echo(f"{split} loss (mean {kind} loss, nats per document): {r['loss']:.4f}")
    if max_length is not None:
        click.echo(f"documents cut to {max_length} tokens: {r['n_truncated']} of {r['n']}")


@click.command("baseline")
@corpus_options()
@click.option("-o", "--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Folder for bag_of_words.json.")
@click.option("--C", "Cs", type=float, multiple=True,
              help="Regularisation values to choose from on validation (repeatable; default a grid 0.01..3).")
@click.option("--min-count", type=int, default=1, show_default=True,
              help="Ignore words in fewer training documents.")
@click.option("--top", type=int, default=10, show_default=True, help="How many top words to print.")
def baseline_command(dataset, data_dir, data_seed, options, out_dir, Cs, min_count, top):
    """Bag-of-words logistic regression: accuracy per split and per-word coefficients."""
    from rnnlens.baseline import DEFAULT_CS, fit_bag_of_words

    with guarded_output(out_dir, "baseline"):
        corpus = load_named_corpus(dataset, data_dir, data_seed, options)
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


COMMANDS = [train_command, evaluate_command, baseline_command]
