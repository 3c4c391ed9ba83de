"""Click commands ``train``, ``evaluate`` and ``baseline``."""

from __future__ import annotations

import click

from rnnlens.cli._common import (
    OUTPUT_FOLDER_HELP,
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
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(),
    help="Checkpoint folder to write (config.json, model.safetensors, resume/). " + OUTPUT_FOLDER_HELP,
)
@click.option(
    "--resume/--no-resume",
    default=True,
    show_default=True,
    help="Continue an interrupted run in --out (or start over).",
)
@click.option("--progress/--no-progress", default=True, show_default=True)
def train_command(dataset, data_dir, data_seed, options, out_dir, resume, progress, **settings):
    """Train a sentiment RNN and write its checkpoint folder to --out.

    With a generated task (--dataset flipflop, sine or context; its options with --option, e.g. --option
    bits=3) it trains a network fed the input vectors with a linear readout after every step, on the mean
    squared error over the steps that have a target (the settings about words, such as --embed-dim, do not
    apply and are refused)."""
    from rnnlens.training import TRAIN_OUTPUTS, TrainSettings, train

    s = TrainSettings(**pop_settings(settings))
    with guarded_output(out_dir, "train", "--out", names=TRAIN_OUTPUTS):
        corpus = load_named_corpus(dataset, data_dir, data_seed, options)
        ck = train(corpus, s, out_dir, resume=resume, progress=progress)
    m = ck.record["metrics"]
    val = m["validation"]
    if ck.vocab is None:  # input sequences with per-step targets (a generated task)
        return _echo_sequence_training(s, corpus, ck)
    click.echo(
        f"trained {s.arch} (N={s.hidden_size}, embedding {s.embed_dim}) on {corpus.name}: "
        f"{m['n_train']} train documents, vocabulary {m['vocab_size']} tokens"
    )
    click.echo(
        f"best validation accuracy (fraction correct, n={val['n']}): {val['accuracy']:.4f} "
        f"(epoch {m['best_epoch']} of {m['epochs_run']} run)"
    )
    click.echo(f"validation loss at that epoch (mean nats per document): {val['loss']:.4f}")
    if s.max_length is not None:
        cut = m["n_truncated"]
        click.echo(
            f"documents cut to --max-length {s.max_length} tokens: {cut['train']} train, {cut['validation']} validation"
        )
    if s.drop_longer is not None:
        drop = m["n_dropped"]
        click.echo(
            f"documents left out by --drop-longer {s.drop_longer} (more tokens): {drop['train']} train, "
            f"{drop['validation']} validation" + (f", {drop['test']} test (scored both ways)" if "test" in drop else "")
        )
    click.echo(
        f"training throughput (tokens per second of optimisation, mean over epochs): {m['train_tokens_per_s'] or 0:.0f}"
    )
    click.echo(f"checkpoint: {ck.path}")


def _echo_sequence_training(s, corpus, ck) -> None:
    """What ``train`` prints for a network trained on input sequences with per-step targets."""
    m = ck.record["metrics"]
    click.echo(f"trained {s.arch} (N={s.hidden_size}) on {corpus.name}: {m['n_train']} train sequences")
    for split in ("validation", "test"):
        r = m.get(split)
        if r is None:
            continue
        signs = "" if r["accuracy"] is None else f", fraction of correct signs {r['accuracy']:.4f}"
        best = f" (epoch {m['best_epoch']} of {m['epochs_run']} run)" if split == "validation" else ""
        click.echo(
            f"{split} mean squared error over the {r['n_scored']} (step, output) entries with a target "
            f"(n={r['n']} sequences): {r['mse']:.4g}, R^2 {r['r2']:.4f}{signs}{best}"
        )
    click.echo(f"checkpoint: {ck.path}")


TEST_FILE_HELP = (
    "Score this labelled file, every row of it (nothing carved off): .csv or .tsv with a header row, "
    ".jsonl with one object per line, by its extension; the columns 'text' and 'label' (else "
    "--option text_column=... --option label_column=...; --option delimiter=... for another "
    "separator). Its labels must be the checkpoint's, or be mapped with --label-map. Instead of "
    "--dataset and --split."
)
LABEL_MAP_HELP = (
    "Map labels of the data onto the checkpoint's: FILE_LABEL=CHECKPOINT_LABEL pairs, comma-separated "
    "(e.g. favorable=positive,unfavorable=negative). Labels are matched by name; data whose label "
    "names differ from the checkpoint's is refused without this map."
)


@click.command("evaluate")
@click.argument("checkpoint", type=click.Path())
@checkpoint_corpus_options
@click.option("--test-file", type=click.Path(dir_okay=False), default=None, help=TEST_FILE_HELP)
@click.option("--label-map", default=None, metavar="LABEL=CHECKPOINT_LABEL,...", help=LABEL_MAP_HELP)
@click.option("--split", default=None, help="train, validation or test split of the corpus  [default: test].")
@click.option(
    "--max-length",
    type=click.IntRange(min=0),
    default=None,
    help="Cut documents to this many tokens; 0 keeps them whole (a long document is read in chunks of "
    "bounded memory). Default: as in training.",
)
@click.option("--batch-size", type=int, default=256, show_default=True)
def evaluate_command(
    checkpoint, dataset, data_dir, data_seed, options, test_file, label_map, split, max_length, batch_size
):
    """Accuracy and loss of a checkpoint on one split of a corpus, or on a labelled file (--test-file).

    Labels are matched with the checkpoint's by name; e.g. rnnlens evaluate CK --test-file reviews.csv
    --label-map favorable=positive,unfavorable=negative.
    """
    from rnnlens.checkpoint import load_checkpoint
    from rnnlens.data.labels import parse_label_map
    from rnnlens.training import evaluate

    ck = load_checkpoint(checkpoint)
    if ck.vocab is None:  # a network fed input sequences (a generated task)
        if test_file is not None or label_map is not None:
            raise ArgumentError(
                "--test-file and --label-map are for text classifiers; this checkpoint reads input "
                "sequences (use --dataset/--option/--split)"
            )
        return _evaluate_sequences(ck, dataset, data_dir, data_seed, options, split or "test", batch_size)
    mapping = parse_label_map(label_map)
    if test_file is not None:
        data = _test_file_split(ck, test_file, dataset, data_seed, options, split, mapping)
        split = "test"
    else:
        split = split or "test"
        data = _corpus_split(ck, checkpoint, dataset, data_dir, data_seed, options, split, mapping)
    if max_length is None:
        max_length = ck.record.get("settings", {}).get("max_length")
    max_length = max_length or None  # 0: documents whole
    r = evaluate(ck.model, ck.vocab, data, batch_size=batch_size, max_length=max_length)
    kind = "logistic" if ck.model.num_classes == 2 else "cross-entropy"
    click.echo(f"{split} accuracy (fraction correct, n={r['n']}): {r['accuracy']:.4f}")
    click.echo(f"{split} loss (mean {kind} loss, nats per document): {r['loss']:.4f}")
    if max_length is not None:
        click.echo(f"documents cut to {max_length} tokens: {r['n_truncated']} of {r['n']}")


def _evaluate_sequences(ck, dataset, data_dir, data_seed, options, split, batch_size) -> None:
    """``evaluate`` of a network trained on input sequences with per-step targets."""
    from rnnlens.task_training import evaluate_sequences

    corpus = load_checkpoint_corpus(ck, dataset, data_dir, data_seed, options)
    if split not in corpus.splits:
        raise ArgumentError(f"--split {split}: the sequences have splits {sorted(corpus.splits)}")
    r = evaluate_sequences(ck.model, corpus.splits[split], batch_size=batch_size)
    click.echo(
        f"{split} mean squared error over the {r['n_scored']} (step, output) entries with a target "
        f"(n={r['n']} sequences): {r['mse']:.4g}"
    )
    click.echo(f"{split} R^2 (1 - SSE/SST, SST about each output's mean target): {r['r2']:.4f}")
    if r["accuracy"] is not None:
        click.echo(f"{split} fraction of entries whose output has the target's sign: {r['accuracy']:.4f}")


def _checkpoint_labels(ck) -> list[str] | None:
    """The label names the checkpoint records (id i: name i), checked against its model; None when it records none."""
    from rnnlens.errors import CheckpointError

    names = ck.record.get("label_names")
    if names is None:
        return None
    if not isinstance(names, list) or len(names) != ck.model.num_classes or len(set(map(str, names))) != len(names):
        raise CheckpointError(
            f"{ck.path}: the recorded label_names {names!r} do not name the model's "
            f"{ck.model.num_classes} classes once each; the config was edited or damaged."
        )
    return [str(n) for n in names]


def _test_file_split(ck, test_file, dataset, data_seed, options, split, mapping):
    """The whole labelled ``test_file``, its labels as the checkpoint's ids."""
    from rnnlens.cli._common import parse_options
    from rnnlens.data.eval_file import OPTIONS, load_labelled_file

    if dataset is not None or data_seed is not None:
        raise ArgumentError("give --test-file or --dataset/--data-seed, not both: --test-file is read alone.")
    if split not in (None, "test"):
        raise ArgumentError(f"--split {split}: a --test-file is scored whole, as the test split; leave --split out.")
    opts = parse_options(options)
    for key in opts:
        if key not in OPTIONS:
            raise ArgumentError(
                f"--option {key}: not an option of --test-file (it takes {', '.join(OPTIONS)}); "
                "the file itself is --test-file FILE."
            )
    names = _checkpoint_labels(ck)
    if names is None:
        raise ArgumentError(
            f"{ck.path}: the checkpoint records no label names, so the file's labels cannot be "
            "matched with its classes; evaluate with --dataset instead."
        )
    return load_labelled_file(test_file, names, label_map=mapping, **opts)


def _corpus_split(ck, checkpoint, dataset, data_dir, data_seed, options, split, mapping):
    """Split ``split`` of the corpus the options name (by default the checkpoint's), its labels matched with
    the checkpoint's by name."""
    from rnnlens.data.labels import align_labels

    corpus = load_checkpoint_corpus(ck, dataset, data_dir, data_seed, options)
    if split not in corpus.splits:
        hint = " To score a whole labelled file, use --test-file FILE." if split == "test" else ""
        raise ArgumentError(f"--split {split}: corpus {corpus.name!r} has splits {sorted(corpus.splits)}.{hint}")
    same = corpus.fingerprint() == ck.record.get("data_fingerprint")
    carved = (corpus.info.get("validation") or {}).get("source") == "carved from train"
    if carved and split in ("train", "validation") and not same:
        whole = f"--test-file {corpus.source}" if corpus.name in ("csv", "jsonl") else "--test-file FILE"
        raise ArgumentError(
            f"--split {split}: in corpus {corpus.name!r} ({corpus.source}) the validation split was carved from the "
            f"training file, so {split} is {len(corpus.splits[split])} of its "
            f"{len(corpus.splits['train']) + len(corpus.splits['validation'])} documents, and this is not the "
            f"corpus the model was trained on. To score the whole file, use {whole}."
        )
    names = _checkpoint_labels(ck)
    if names is None:
        if mapping:
            raise ArgumentError(f"--label-map: {checkpoint} records no label names to map onto.")
        if corpus.num_classes != ck.model.num_classes:
            raise ArgumentError(
                f"--dataset {corpus.name}: {corpus.num_classes} classes, but the model in "
                f"{checkpoint} was trained for {ck.model.num_classes}."
            )
        data = corpus.splits[split]
    else:
        data = align_labels(
            corpus.splits[split], corpus.label_names, names, mapping, where=f"corpus {corpus.name!r} ({corpus.source})"
        )
    if not same:
        click.echo(
            f"note: this corpus differs from the one the model was trained on "
            f"({ck.record.get('dataset')}, fingerprint {str(ck.record.get('data_fingerprint'))[:12]}); "
            "its splits may overlap the training documents.",
            err=True,
        )
    return data


@click.command("baseline")
@corpus_options()
@click.option(
    "-o",
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False),
    help="Folder for bag_of_words.json. " + OUTPUT_FOLDER_HELP,
)
@click.option(
    "--C",
    "Cs",
    type=float,
    multiple=True,
    help="Regularisation values to choose from on validation (repeatable; default a grid 0.01..3).",
)
@click.option("--min-count", type=int, default=1, show_default=True, help="Ignore words in fewer training documents.")
@click.option("--top", type=int, default=10, show_default=True, help="How many top words to print.")
def baseline_command(dataset, data_dir, data_seed, options, out_dir, Cs, min_count, top):
    """Bag-of-words logistic regression: accuracy per split and per-word coefficients."""
    from rnnlens.baseline import DEFAULT_CS, FILE_NAME, fit_bag_of_words

    with guarded_output(out_dir, "baseline", names=(FILE_NAME,)):
        corpus = load_named_corpus(dataset, data_dir, data_seed, options)
        bow = fit_bag_of_words(corpus, Cs=Cs or DEFAULT_CS, min_count=min_count)
        path = bow.save(out_dir)
    click.echo(
        f"bag of words on {corpus.name}: {len(bow.words)} words, C={bow.C:g} "
        f"(inverse L2 strength, chosen on validation)"
    )
    for name, acc in bow.accuracy.items():
        click.echo(f"{name} accuracy (fraction correct, n={bow.n[name]}): {acc:.4f}")
    if bow.coef.shape[0] == 1 and top > 0:
        pos = bow.top_words(top, "positive")
        neg = bow.top_words(top, "negative")
        click.echo(f"most {corpus.label_names[-1]} words (largest coefficients): {' '.join(pos)}")
        click.echo(f"most {corpus.label_names[0]} words (smallest coefficients): {' '.join(neg)}")
    click.echo(f"coefficients: {path}")


COMMANDS = [train_command, evaluate_command, baseline_command]
