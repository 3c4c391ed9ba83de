"""Training and evaluation of :class:`rnnlens.model.SentimentRNN` on a :class:`rnnlens.data.Corpus`.

AdamW (its epsilon a setting) with an exponentially decaying learning rate (one decay step per epoch, or a
continuous decay at every step), decoupled weight decay and/or an L2 penalty in the loss, gradient-norm
clipping, early stopping on validation accuracy, and the best validation model kept. Binary
tasks use a logistic loss on one logit, k-class tasks softmax cross-entropy. The weights start from torch's
draw or from a scaled normal or orthogonal draw (:meth:`rnnlens.cells.Cell.initialize`), and the state from
zeros or a trained initial state. Documents longer than ``drop_longer`` tokens can be left out of training and
validation (counted; the test split is then scored whole and without them).

Runs are seedable and deterministic on CPU, and resumable: every ``checkpoint_every`` batches and
at every epoch end the full loop state (weights, AdamW moments, scheduler, epoch and batch position,
best-so-far, RNG state) is written atomically to ``OUT/resume/`` as safetensors + JSON (no pickle).
The batch order is a pure function of (seed, epoch), so a run killed at any point and resumed ends
with the same weights as an uninterrupted one. When training ends, the checkpoint files in ``OUT`` are
replaced (atomically) by the final checkpoint of the best validation model; files of the user's in
``OUT`` are never deleted. ``OUT`` is locked while training runs (:mod:`rnnlens._lock`), and checked
writable before any work.
"""

from __future__ import annotations

import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from rnnlens._atomic import check_output
from rnnlens._lock import output_lock
from rnnlens._types import CorpusLike, PathLike
from rnnlens.checkpoint import (
    CONFIG_FILE,
    WEIGHTS_FILE,
    Checkpoint,
    is_checkpoint,
    load_checkpoint,
    save_checkpoint,
)
from rnnlens.data import Split, Vocab
from rnnlens.errors import DataError
from rnnlens.model import SentimentRNN, predict_labels
from rnnlens.settings import TrainSettings
from rnnlens.training_state import (  # noqa: F401  (_comparable, _l2_term: read by tests from here)
    RESUME_DIR,
    _comparable,
    _finished_checkpoint,
    _json_safe,
    _l2_term,
    _reporter,
    _vocab_digest,
    make_optimizer,
    new_loop,
    run_epochs,
)

__all__ = ["TrainSettings", "train", "evaluate", "loss_and_correct"]

# Evaluation reads a batch whose padded size is estimated (as a training batch) above this many bytes in chunks of
# time steps; without autograd a chunk really uses a third to a thirteenth of the estimate (measured on CPU, float32,
# every architecture and fast path), so about 1 GiB at most (read whole, one long document took > 10 GB).
EVAL_MEMORY_BUDGET = 2 * 2**30
# The running sums of a training epoch, before its first batch.
_FRESH_RUNNING = {"loss_sum": 0.0, "correct": 0, "n": 0, "tokens": 0, "seconds": 0.0}


# --------------------------------------------------------------------------------------------
# loss, evaluation


def loss_and_correct(logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean loss (logistic for one logit per document, softmax cross-entropy for k) and #correct."""
    if logits.dim() == 1:
        loss = F.binary_cross_entropy_with_logits(logits, labels.to(logits.dtype))
    else:
        loss = F.cross_entropy(logits, labels)
    return loss, (predict_labels(logits) == labels).sum()


def _to(batch, device):
    return batch.ids.to(device), batch.lengths.to(device), batch.labels.to(device)


def _chunked_logits(model, encoded, idx: np.ndarray, lengths: np.ndarray, tokens: int, device) -> torch.Tensor:
    """The logits of documents ``idx`` of ``encoded``, as ``model(ids, lengths)`` of their padded batch gives them,
    read ``tokens`` padded tokens at a time: the state after each chunk of time steps starts the next, rows that
    ended drop out, and no padded array of the whole batch is made. Rows run longest first (ties in batch order),
    the order the cell's fast path gives them itself, so every step multiplies the same rows."""
    from rnnlens.data.tokenize import PAD_ID

    order = np.argsort(-lengths[idx], kind="stable")
    rows, lens = idx[order], lengths[idx][order]
    h = model.cell.init_state(len(rows), dtype=model.embedding.weight.dtype, device=device)
    t0 = 0
    while t0 < lens[0]:
        active = int(np.count_nonzero(lens > t0))  # a prefix: lens is sorted, longest first
        t1 = min(int(lens[0]), t0 + max(1, tokens // active))
        part = np.minimum(lens[:active], t1) - t0
        ids = np.full((active, t1 - t0), PAD_ID, dtype=np.int64)
        for r in range(active):
            ids[r, : part[r]] = encoded.ids[rows[r]][t0 : t0 + part[r]]
        x = model.embedding(torch.from_numpy(ids).to(device))
        h[:active] = model.cell.final_state(x, torch.from_numpy(part), h[:active])
        t0 = t1
    logits = model.logits_from_state(h[torch.from_numpy(np.argsort(order, kind="stable")).to(device)])
    return model._check_output(logits, "forward")  # NaN or inf: the error forward gives


@torch.no_grad()
def _evaluate_encoded(model, encoded, *, batch_size: int, device=None, memory_budget: int | None = None) -> dict:
    """Accuracy and loss over ``encoded``: length-sorted batches of ``batch_size``; a batch whose padded size
    would need more than ``memory_budget`` bytes (default :data:`EVAL_MEMORY_BUDGET`, estimated as for a
    training batch) is read in chunks of time steps (:func:`_chunked_logits`): the same predictions, the same
    loss to float32 rounding."""
    from rnnlens.data.batching import batch_order, make_batch

    n = len(encoded.labels)
    if n == 0:
        raise DataError("cannot evaluate on an empty split (0 documents).")
    device = device or next(model.parameters()).device
    budget = EVAL_MEMORY_BUDGET if memory_budget is None else memory_budget
    tokens = max(1, budget // model.training_memory(1, 1))
    was_training = model.training
    model.eval()
    loss_sum, correct = 0.0, 0
    lengths = encoded.lengths
    for idx in batch_order(lengths, batch_size, shuffle=False):
        labels = torch.from_numpy(encoded.labels[idx].copy()).to(device)
        if model.training_memory(len(idx), int(lengths[idx].max())) <= budget:
            b = make_batch(encoded, idx, lengths)
            logits = model(b.ids.to(device), b.lengths.to(device))
        else:
            logits = _chunked_logits(model, encoded, idx, lengths, tokens, device)
        loss, c = loss_and_correct(logits, labels)
        loss_sum += float(loss) * len(labels)
        correct += int(c)
    model.train(was_training)
    return {
        "accuracy": correct / n,
        "loss": loss_sum / n,
        "n": n,
        "n_truncated": int(encoded.n_truncated),
        "max_length": encoded.max_length,
    }


def evaluate(
    model: SentimentRNN,
    vocab: Vocab,
    split: Split,
    *,
    batch_size: int = 256,
    max_length: int | None = None,
    device: torch.device | str | None = None,
    memory_budget: int | None = None,
) -> dict:
    """Accuracy and loss of ``model`` on a :class:`rnnlens.data.Split`.

    Returns ``accuracy`` (fraction of documents classified correctly), ``loss`` (mean per-document
    loss in nats: logistic loss for binary, cross-entropy for k classes), ``n`` (documents),
    ``n_truncated`` (documents cut to ``max_length`` tokens; 0 when ``max_length`` is None).
    Memory stays bounded however long a document is: a batch whose padded size would need more than
    ``memory_budget`` bytes (default :data:`EVAL_MEMORY_BUDGET`; estimated as for a training batch,
    :meth:`SentimentRNN.training_memory`) is read in chunks of time steps: the same predictions, the same loss
    to float32 rounding (a chunk's matrix products have other shapes, which BLAS may round differently).

    Args:
        model: the classifier; it is evaluated in eval mode (no gradients) and left in the mode it was in.
        vocab: the vocabulary that encodes the split's texts (the one the model was trained with).
        split: the documents and their labels.
        batch_size: documents per batch (the documents are sorted by length into batches).
        max_length: keep only each document's first ``max_length`` tokens; None keeps them whole.
        device: where the batches are computed; None: the device of the model's parameters.
        memory_budget: bytes a batch may need before it is read in chunks of time steps; None:
            :data:`EVAL_MEMORY_BUDGET`.

    Returns:
        ``{"accuracy", "loss", "n", "n_truncated", "max_length"}`` as above (``max_length`` as given).

    Raises:
        ArgumentError: ``max_length`` not a positive integer or None, or ``batch_size`` not a positive integer.
        DataError: an empty split, or a document with no tokens.
    """
    from rnnlens.data import encode

    return _evaluate_encoded(
        model,
        encode(vocab, split, max_length=max_length),
        batch_size=batch_size,
        device=device,
        memory_budget=memory_budget,
    )


# --------------------------------------------------------------------------------------------
# resume state


# --------------------------------------------------------------------------------------------
# training


TRAIN_OUTPUTS = (CONFIG_FILE, WEIGHTS_FILE, RESUME_DIR)  # what train writes in --out (rnnlens._atomic's rule)


def _resolve_fast_path(s: TrainSettings, cell) -> str:
    if s.fast_path != "auto":
        return s.fast_path
    want = "scan" if torch.device(s.device).type == "cpu" else "fused"
    return want if want in cell.FAST_PATHS else cell.FAST_PATHS[0]


def train(
    corpus: CorpusLike,
    settings: TrainSettings,
    out_dir: PathLike,
    *,
    resume: bool = True,
    progress: bool = True,
    on_batch: Callable[[dict], None] | None = None,
    verbose: bool = True,
) -> Checkpoint:
    """Train a SentimentRNN on ``corpus`` and write the best validation model to ``out_dir``.

    The vocabulary is built from the train split only; early stopping and model selection use the
    validation split. With ``resume=True`` an unfinished run in ``out_dir`` (``resume/`` state)
    continues where it stopped, and a finished checkpoint made with the same settings and data is
    returned as is; ``resume=False`` starts over. ``on_batch(loop)`` is called after every
    training batch (after any resume state was saved) with the loop position; tests use it.
    ``progress`` shows a bar per epoch; ``verbose`` prints one line per epoch to stderr (train loss
    and accuracy, validation accuracy, tokens/s, seconds), with or without the bar, and the resume
    and early-stop notes. Returns the loaded final :class:`Checkpoint`.

    Given input sequences with per-step targets (a :class:`rnnlens.data.sequences.Sequences`, e.g. a generated
    task: ``load_corpus("flipflop")``), it trains a :class:`rnnlens.model.SequenceRNN` instead: the cell reads
    the input vectors, a linear readout after every step, mean squared error over the steps that have a target,
    early stopping and model selection on the validation loss (:func:`rnnlens.task_training.train_sequences`;
    the settings that belong to words are refused there).

    Args:
        corpus: an ``rnnlens.data.Corpus`` with ``train`` and ``validation`` splits, or input sequences
            (``Sequences``) with per-step targets in both; a ``test`` split, when there is one, is evaluated once
            at the end and recorded (it selects nothing).
        settings: the :class:`rnnlens.TrainSettings` (architecture, optimizer, schedule, seed, device, ...);
            checked again before any work.
        out_dir: the output folder (made when missing; a symbolic link: the folder it points to). rnnlens
            writes ``config.json``, ``model.safetensors`` and ``resume/`` there and leaves other files alone.
        resume: continue an unfinished run in ``out_dir``, or return its finished checkpoint; False deletes
            any ``resume/`` state and trains from the start.
        progress: show a progress bar per epoch (stderr).
        on_batch: called as ``on_batch(loop)`` after every training batch; None: nothing is called.
        verbose: print the per-epoch lines and notes to stderr.

    Returns:
        The :class:`Checkpoint` read back from ``out_dir``: the model with the best validation accuracy, its
        vocabulary and the record (settings, data fingerprint, per-epoch history, validation and test metrics).

    Raises:
        ArgumentError: an invalid setting, or an ``out_dir`` that cannot be written or holds files of the
            user's under the names training writes.
        DataError: a corpus without a train or validation split, an empty train split (or every validation
            document longer than ``drop_longer``), or a document with no tokens.
        CheckpointError: with ``resume``, a resume state or finished checkpoint in ``out_dir`` made with other
            settings, data or vocabulary, or of another format, or resume state that does not fit the model.
        RnnlensError: another rnnlens run is writing ``out_dir`` (its lock is held), or the disk is full.
    """
    settings.validate()
    out_dir = check_output(out_dir, TRAIN_OUTPUTS, "--out")  # a link: its folder
    with output_lock(out_dir, "train"):
        check_output(out_dir, TRAIN_OUTPUTS, "--out")  # again, now that no other rnnlens run can write it
        return _train(corpus, settings, out_dir, resume=resume, progress=progress, on_batch=on_batch, verbose=verbose)


def _train(
    corpus,
    settings: TrainSettings,
    out_dir: Path,
    *,
    resume: bool,
    progress: bool,
    on_batch: Callable[[dict], None] | None,
    verbose: bool = True,
) -> Checkpoint:
    from rnnlens.data import Vocab

    if hasattr(next(iter(corpus.splits.values()), None), "inputs"):  # input sequences with per-step targets
        from rnnlens.task_training import train_sequences

        return train_sequences(
            corpus, settings, out_dir, resume=resume, progress=progress, on_batch=on_batch, verbose=verbose
        )
    _check_splits(corpus)
    if settings.num_threads:
        torch.set_num_threads(settings.num_threads)
    say = _reporter(verbose, progress)

    s = settings
    meta = {"settings": s.to_dict(), "data_fingerprint": corpus.fingerprint()}
    resume_dir = out_dir / RESUME_DIR
    if resume and is_checkpoint(out_dir) and not resume_dir.exists():
        return _finished_checkpoint(out_dir, meta, say)
    if not resume and resume_dir.exists():
        shutil.rmtree(resume_dir)

    vocab = Vocab.build(corpus.splits["train"].texts, max_size=s.vocab_size, min_count=s.min_count)
    meta["vocab_digest"] = _vocab_digest(vocab)
    enc_train, enc_val, n_cut, n_dropped = _encode_splits(corpus, vocab, s)

    device = torch.device(s.device)
    model, opt, sched = _build_model(s, corpus, vocab, enc_train, device)
    loop = run_epochs(
        model,
        opt,
        sched,
        out_dir,
        meta,
        s,
        new_loop("best_accuracy", _FRESH_RUNNING),
        resume=resume,
        say=say,
        train_epoch=lambda loop, save: _train_epoch(
            model, opt, sched, enc_train, loop, s, device, progress=progress, on_batch=on_batch, save_state=save
        ),
        end_epoch=lambda loop, best: _end_epoch(model, sched, opt, enc_val, loop, best, s, device, say),
    )
    test = _test_metrics(model, corpus, vocab, s, device, n_cut, n_dropped, say)
    record = _record(corpus, meta, loop, test, n_cut, len(enc_train.labels), len(vocab), model.cell.fast_path)
    record["metrics"]["n_dropped"] = n_dropped
    save_checkpoint(out_dir, model.to("cpu"), vocab, record)
    return load_checkpoint(out_dir)


def _check_splits(corpus) -> None:
    """Raise DataError unless ``corpus`` has a train and a validation split."""
    for name in ("train", "validation"):
        if name not in corpus.splits:
            raise DataError(
                f"corpus {corpus.name!r} ({corpus.source}) has no {name!r} split "
                f"(it has {sorted(corpus.splits)}); training needs train and validation."
            )


def _encode_splits(corpus, vocab, s: TrainSettings):
    """The encoded train and validation splits, the number of documents ``max_length`` cut in each and the number
    ``drop_longer`` left out of each (printed as notes when any was); DataError when the train split is empty."""
    from rnnlens.data import encode

    enc_train = encode(vocab, corpus.splits["train"], max_length=s.max_length, drop_longer=s.drop_longer)
    enc_val = encode(vocab, corpus.splits["validation"], max_length=s.max_length, drop_longer=s.drop_longer)
    if len(enc_train.labels) == 0:
        raise DataError(
            f"corpus {corpus.name!r}: the train split is empty"
            + (
                f" (all {enc_train.n_dropped} documents have more than drop_longer={s.drop_longer} tokens)."
                if enc_train.n_dropped
                else "."
            )
        )
    if len(enc_val.labels) == 0 and enc_val.n_dropped:
        raise DataError(
            f"corpus {corpus.name!r}: every validation document has more than drop_longer="
            f"{s.drop_longer} tokens; raise --drop-longer."
        )
    n_dropped = {"train": int(enc_train.n_dropped), "validation": int(enc_val.n_dropped)}
    if s.drop_longer is not None:
        print(
            f"note: drop_longer={s.drop_longer} left out {n_dropped['train']} of "
            f"{n_dropped['train'] + len(enc_train.labels)} train and {n_dropped['validation']} of "
            f"{n_dropped['validation'] + len(enc_val.labels)} validation documents (more tokens than that)",
            file=sys.stderr,
        )
    n_cut = {"train": int(enc_train.n_truncated), "validation": int(enc_val.n_truncated)}
    if s.max_length is not None and any(n_cut.values()):
        print(
            f"note: max_length={s.max_length} cut {n_cut['train']} of {len(enc_train.labels)} "
            f"train and {n_cut['validation']} of {len(enc_val.labels)} validation documents "
            "(their later tokens are not seen)",
            file=sys.stderr,
        )
    return enc_train, enc_val, n_cut, n_dropped


def _build_model(s: TrainSettings, corpus, vocab, enc_train, device):
    """The seeded model on ``device`` (memory checked for the longest training batch; weights drawn as the
    settings say), its AdamW optimizer and the exponential learning-rate schedule (stepped once per epoch, or
    at every batch when ``lr_decay_steps`` is set)."""
    torch.manual_seed(s.seed)
    model = SentimentRNN(
        len(vocab),
        arch=s.arch,
        embed_dim=s.embed_dim,
        hidden_size=s.hidden_size,
        num_classes=corpus.num_classes,
        initial_state=s.initial_state,
    )
    model.cell.initialize(s.recurrent_init, s.recurrent_gain, s.input_init, s.input_gain)  # default: draws nothing
    model.initialize_embedding(s.embedding_init)
    model = model.to(device)
    model.cell.fast_path = _resolve_fast_path(s, model.cell)
    # the longest training batch, checked against free memory before any work
    model.check_training_memory(min(s.batch_size, len(enc_train)), int(enc_train.lengths.max()), device)
    opt, sched = make_optimizer(model, s)
    return model, opt, sched


def _train_epoch(
    model, opt, sched, enc_train, loop: dict, s: TrainSettings, device, *, progress: bool, on_batch, save_state
) -> None:
    """Train on the batches of epoch ``loop["epoch"]`` from batch ``loop["batch"]`` on, adding to the
    running sums in ``loop["running"]`` (the data loss, without the L2 penalty; stepping the learning rate at
    every batch when ``lr_decay_steps`` is set); saves the resume state every ``checkpoint_every`` batches."""
    from rnnlens.data import batches

    epoch = loop["epoch"]
    order = list(batches(enc_train, s.batch_size, shuffle=True, seed=s.seed, epoch=epoch))
    run = loop["running"]
    bar = tqdm(
        total=len(order),
        initial=loop["batch"],
        disable=not progress,
        leave=False,
        desc=f"epoch {epoch + 1}/{s.epochs}",
        unit="batch",
        file=sys.stderr,
    )
    model.train()
    for i in range(loop["batch"], len(order)):
        t0 = time.perf_counter()
        ids, lengths, labels = _to(order[i], device)
        opt.zero_grad(set_to_none=True)
        loss, correct = loss_and_correct(model(ids, lengths), labels)
        penalty = _l2_term(model, s.l2_penalty)
        (loss if penalty is None else loss + penalty).backward()
        if s.clip_norm is not None:
            torch.nn.utils.clip_grad_norm_(model.parameters(), s.clip_norm)
        opt.step()
        if s.lr_decay_steps is not None:
            sched.step()
        run["loss_sum"] += float(loss.detach()) * len(labels)
        run["correct"] += int(correct)
        run["n"] += len(labels)
        run["tokens"] += int(lengths.sum())
        run["seconds"] += time.perf_counter() - t0
        loop["batch"] = i + 1
        bar.update(1)
        bar.set_postfix(loss=f"{run['loss_sum'] / run['n']:.4f}", acc=f"{run['correct'] / run['n']:.4f}")
        if s.checkpoint_every and loop["batch"] % s.checkpoint_every == 0 and loop["batch"] < len(order):
            save_state()
        if on_batch is not None:
            on_batch(dict(loop, batches_in_epoch=len(order)))
    bar.close()


def _end_epoch(model, sched, opt, enc_val, loop: dict, best_state: dict, s: TrainSettings, device, say) -> dict:
    """Validate after an epoch, step the learning rate, record the epoch in ``loop``, decide on early
    stopping and move ``loop`` to the next epoch. Returns the best model's state (a new copy when this
    epoch's validation accuracy is the best so far)."""
    epoch = loop["epoch"]
    run = loop["running"]
    t_val = time.perf_counter()
    val = _evaluate_encoded(model, enc_val, batch_size=s.eval_batch_size, device=device)
    lr_used = opt.param_groups[0]["lr"]  # at the epoch's end
    if s.lr_decay_steps is None:
        sched.step()
    entry = {
        "epoch": epoch + 1,
        "lr": lr_used,
        "train_loss": run["loss_sum"] / max(run["n"], 1),
        "train_accuracy": run["correct"] / max(run["n"], 1),
        "validation_loss": val["loss"],
        "validation_accuracy": val["accuracy"],
        "train_tokens_per_s": run["tokens"] / run["seconds"] if run["seconds"] else None,
    }
    loop["history"].append(entry)
    val_seconds = time.perf_counter() - t_val
    if loop["best_accuracy"] is None or val["accuracy"] > loop["best_accuracy"]:
        loop.update(best_accuracy=val["accuracy"], best_epoch=epoch + 1, best_metrics=val, bad_epochs=0)
        best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    else:
        loop["bad_epochs"] += 1
    say(
        f"epoch {epoch + 1}: train loss (mean nats/doc) {entry['train_loss']:.4f}, train accuracy "
        f"(running, fraction correct) {entry['train_accuracy']:.4f}, validation accuracy (fraction "
        f"correct, n={val['n']}) {val['accuracy']:.4f}, "
        + (f"{entry['train_tokens_per_s']:.0f} tokens/s, " if entry["train_tokens_per_s"] else "")
        + f"{run['seconds']:.1f} s training + {val_seconds:.1f} s validation"
    )
    loop["epoch"] = epoch + 1
    loop["batch"] = 0
    loop["running"] = dict(_FRESH_RUNNING)
    if s.patience is not None and loop["bad_epochs"] >= s.patience and loop["epoch"] < s.epochs:
        loop["stopped_early"] = True
        say(f"early stop: no better validation accuracy for {s.patience} epochs")
    return best_state


def _test_metrics(model, corpus, vocab, s: TrainSettings, device, n_cut: dict, n_dropped: dict, say) -> dict | None:
    """The test split's metrics on the whole split (recorded for provenance only; model selection used validation
    alone), or None when the corpus has no test split; with ``drop_longer``, also ``within_drop_longer``: the
    metrics without the test documents longer than that (their number in ``n_dropped["test"]``). Adds the test
    split's cut documents to ``n_cut``."""
    from rnnlens.data import encode

    if "test" not in corpus.splits:
        return None
    enc_test = encode(vocab, corpus.splits["test"], max_length=s.max_length)
    n_cut["test"] = int(enc_test.n_truncated)
    test = _evaluate_encoded(model, enc_test, batch_size=s.eval_batch_size, device=device)
    say(f"test accuracy (fraction correct, n={test['n']}): {test['accuracy']:.4f}")
    if s.drop_longer is not None:
        short = encode(vocab, corpus.splits["test"], max_length=s.max_length, drop_longer=s.drop_longer)
        n_dropped["test"] = int(short.n_dropped)
        if len(short):
            test["within_drop_longer"] = _evaluate_encoded(model, short, batch_size=s.eval_batch_size, device=device)
            say(
                f"test accuracy without the {short.n_dropped} documents longer than {s.drop_longer} tokens "
                f"(fraction correct, n={len(short)}): {test['within_drop_longer']['accuracy']:.4f}"
            )
    return test


def _record(corpus, meta: dict, loop: dict, test, n_cut: dict, n_train: int, vocab_size: int, fast_path: str) -> dict:
    """The checkpoint's record: the data, the settings and the training metrics."""
    hist = loop["history"]
    tps = [h["train_tokens_per_s"] for h in hist if h["train_tokens_per_s"]]
    return {
        "dataset": corpus.name,
        "data_source": str(corpus.source),
        "data_fingerprint": meta["data_fingerprint"],
        "data_info": _json_safe(corpus.info),
        "label_names": list(corpus.label_names),
        "settings": meta["settings"],
        "metrics": {
            "validation": loop["best_metrics"],
            "test": test,
            "best_epoch": loop["best_epoch"],
            "epochs_run": len(hist),
            "stopped_early": loop["stopped_early"],
            "n_truncated": n_cut,
            "n_train": n_train,
            "vocab_size": vocab_size,
            "fast_path": fast_path,
            "train_tokens_per_s": sum(tps) / len(tps) if tps else None,
            "history": hist,
        },
    }
