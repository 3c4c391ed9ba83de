"""Training and evaluation of :class:`rnnlens.model.SequenceRNN` on input sequences with per-step targets (a
:class:`rnnlens.data.sequences.Sequences`, e.g. a generated task of :mod:`rnnlens.data.tasks`): what
:func:`rnnlens.train` runs when it is given such sequences.

The cell reads the input vectors directly (no embedding) and a linear readout ``nn.Linear(N, O)`` is read after
every step. The loss is the mean squared error over the (step, output) entries that have a target (NaN marks
an entry without one; sequences of different lengths are padded, and the padding has no target). Every
:class:`rnnlens.TrainSettings` option that concerns the network and the optimisation applies as for text
(architecture, size, initialisations, learned initial state, AdamW, learning-rate schedule, weight decay, L2
penalty, clipping, seed, device, resume and ``checkpoint_every``); early stopping and model selection use the
validation loss (lower is better). The options that concern words (``embed_dim``, ``embedding_init``,
``vocab_size``, ``min_count``, ``max_length``, ``drop_longer``) are refused when set to anything but their
default, and so is ``fast_path="scan"`` (the scan gives final states only; a loss at every step needs every
state): vanilla, GRU and LSTM train through torch's fused kernels, the UGRNN through its step path.

An epoch is one pass over the train split in batches of ``batch_size`` sequences, in an order that is a pure
function of ``(seed, epoch)``, so a resumed run ends with the same weights as an uninterrupted one.
"""

from __future__ import annotations

import dataclasses
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from rnnlens.checkpoint import Checkpoint, is_checkpoint, load_checkpoint, save_checkpoint
from rnnlens.errors import ArgumentError, DataError
from rnnlens.model import SequenceRNN
from rnnlens.settings import TrainSettings, default_of
from rnnlens.training_state import (
    RESUME_DIR,
    _finished_checkpoint,
    _json_safe,
    _l2_term,
    _reporter,
    make_optimizer,
    new_loop,
    run_epochs,
)

__all__ = ["train_sequences", "evaluate_sequences", "check_sequence_settings", "WORD_SETTINGS"]

# the training settings that belong to words, and why they do not apply to input sequences
WORD_SETTINGS = {
    "embed_dim": "the cell reads the input vectors directly (no embedding)",
    "embedding_init": "there is no embedding",
    "vocab_size": "there is no vocabulary",
    "min_count": "there is no vocabulary",
    "max_length": "sequences are read whole (generate shorter ones with the task's steps option)",
    "drop_longer": "sequences are read whole (generate shorter ones with the task's steps option)",
}
_FRESH_RUNNING = {"loss_sum": 0.0, "n": 0, "steps": 0, "seconds": 0.0}


def check_sequence_settings(s: TrainSettings) -> None:
    """Raise ArgumentError when a setting that does not apply to input sequences is set (not its default)."""
    defaults = {f.name: default_of(f) for f in dataclasses.fields(TrainSettings)}
    for name, why in WORD_SETTINGS.items():
        if getattr(s, name) != defaults[name]:
            raise ArgumentError(
                f"training setting {name}={getattr(s, name)!r} does not apply to input sequences with per-step "
                f"targets ({why}); leave it at its default ({defaults[name]!r})"
            )
    if s.fast_path == "scan":
        raise ArgumentError(
            "training setting fast_path='scan' does not apply to input sequences with per-step targets (the scan "
            "gives final states only, a loss at every step needs every state); use auto or fused"
        )


@dataclass
class _Arrays:
    """One split as tensors: inputs ``x`` ``[n, T, I]``, targets ``y`` ``[n, T, O]`` (0 where there is none) and
    ``mask`` ``[n, T, O]`` (True where a target is)."""

    x: torch.Tensor
    y: torch.Tensor
    mask: torch.Tensor

    def __len__(self) -> int:
        return self.x.shape[0]


def _arrays(split: Any, where: str) -> _Arrays:
    """The padded tensors of a split of input sequences (DataError when it has no per-step targets)."""
    targets = getattr(split, "targets", None)
    if targets is None or len(split.inputs) == 0:
        raise DataError(f"{where}: no per-step targets (or no sequences); training needs a target after each input")
    T = max(len(a) for a in split.inputs)
    n, width, n_out = len(split.inputs), split.inputs[0].shape[1], targets[0].shape[1]
    x, y = np.zeros((n, T, width), np.float32), np.full((n, T, n_out), np.nan, np.float32)
    for i, (a, t) in enumerate(zip(split.inputs, targets)):
        x[i, : len(a)], y[i, : len(t)] = a, t
    mask = ~np.isnan(y)
    if not mask.any():
        raise DataError(f"{where}: no step has a target (every target is NaN)")
    return _Arrays(torch.from_numpy(x), torch.from_numpy(np.nan_to_num(y)), torch.from_numpy(mask))


def _masked_mse(out: torch.Tensor, y: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, int]:
    """Mean squared error over the entries with a target, and their number."""
    n = int(mask.sum())
    return ((out - y) ** 2 * mask).sum() / max(n, 1), n


@torch.no_grad()
def _evaluate_arrays(model: SequenceRNN, data: _Arrays, batch_size: int, device) -> dict:
    """Loss (MSE), R^2 and sign accuracy over the entries with a target; see :func:`evaluate_sequences`."""
    was_training = model.training
    model.eval()
    outs = [model(data.x[i : i + batch_size].to(device)).cpu() for i in range(0, len(data), batch_size)]
    model.train(was_training)
    out = torch.cat(outs).double()
    m = data.mask
    y, o = data.y.double()[m], out[m]
    sse = float(((o - y) ** 2).sum())
    n_out = data.y.shape[-1]
    yk = data.y.double()
    mean = torch.stack([yk[..., k][m[..., k]].mean() for k in range(n_out)])  # each output's mean target
    sst = float(((yk - mean) ** 2 * m).sum())
    signs = bool(((y == 1) | (y == -1)).all())
    return {
        "loss": sse / y.numel(),
        "mse": sse / y.numel(),
        "r2": 1.0 - sse / sst if sst > 0 else float("nan"),
        "accuracy": float((torch.sign(o) == y).double().mean()) if signs else None,
        "n": len(data),
        "n_scored": int(y.numel()),
    }


def evaluate_sequences(
    model: SequenceRNN, split: Any, *, batch_size: int = 256, device: torch.device | str | None = None
) -> dict:
    """How well ``model`` gives the per-step targets of a split of input sequences.

    Args:
        model: the trained :class:`SequenceRNN` (evaluated in eval mode, left in the mode it was in).
        split: a :class:`rnnlens.data.sequences.SequenceSplit` with per-step targets.
        batch_size: sequences per batch.
        device: where to compute; None: the model's parameters' device.

    Returns:
        ``{"loss", "mse", "r2", "accuracy", "n", "n_scored"}``: ``mse`` (= ``loss``) the mean squared error over
        the ``n_scored`` (step, output) entries that have a target; ``r2`` 1 - SSE/SST with SST about each output's
        mean target; ``accuracy`` the fraction of those entries whose output has the target's sign when every
        target is +1 or -1 (flip-flop, context), else None; ``n`` the sequences.

    Raises:
        DataError: a split without per-step targets, or with no target at any step.
    """
    device = device or next(model.parameters()).device
    return _evaluate_arrays(model, _arrays(split, "evaluate_sequences"), batch_size, device)


def train_sequences(
    corpus: Any,
    settings: TrainSettings,
    out_dir: Path,
    *,
    resume: bool = True,
    progress: bool = True,
    on_batch: Callable[[dict], None] | None = None,
    verbose: bool = True,
) -> Checkpoint:
    """Train a :class:`SequenceRNN` on input sequences with per-step targets and write the model of the best
    validation loss to ``out_dir`` (module docstring). :func:`rnnlens.train` calls it, holding ``out_dir``'s lock,
    for a :class:`~rnnlens.data.sequences.Sequences`; its arguments and errors are :func:`rnnlens.train`'s.

    Returns:
        The :class:`Checkpoint` read back (vocabulary None), its record holding the task (``record["task"]``,
        from ``corpus.info``), the settings, the data fingerprint and the metrics (``validation``/``test``: see
        :func:`evaluate_sequences`; ``history`` per epoch).
    """
    s = settings
    check_sequence_settings(s)
    for name in ("train", "validation"):
        if name not in corpus.splits:
            raise DataError(
                f"sequences {corpus.name!r} have no {name!r} split (they have {sorted(corpus.splits)}); training "
                "needs train and validation"
            )
    if s.num_threads:
        torch.set_num_threads(s.num_threads)
    say = _reporter(verbose, progress)
    meta = {"settings": s.to_dict(), "data_fingerprint": corpus.fingerprint(), "vocab_digest": "no vocabulary"}
    resume_dir = out_dir / RESUME_DIR
    if resume and is_checkpoint(out_dir) and not resume_dir.exists():
        return _finished_checkpoint(out_dir, meta, say)
    if not resume and resume_dir.exists():
        shutil.rmtree(resume_dir)
    train_data = _arrays(corpus.splits["train"], f"sequences {corpus.name!r}, split 'train'")
    val_data = _arrays(corpus.splits["validation"], f"sequences {corpus.name!r}, split 'validation'")
    device = torch.device(s.device)
    torch.manual_seed(s.seed)
    model = SequenceRNN(
        train_data.x.shape[-1],
        arch=s.arch,
        hidden_size=s.hidden_size,
        n_out=train_data.y.shape[-1],
        initial_state=s.initial_state,
    )
    model.cell.initialize(s.recurrent_init, s.recurrent_gain, s.input_init, s.input_gain)
    model = model.to(device)
    opt, sched = make_optimizer(model, s)
    loop = run_epochs(
        model,
        opt,
        sched,
        out_dir,
        meta,
        s,
        new_loop("best_loss", _FRESH_RUNNING),
        resume=resume,
        say=say,
        train_epoch=lambda loop, save: _train_epoch(
            model, opt, sched, train_data, loop, s, device, progress, on_batch, save
        ),
        end_epoch=lambda loop, best: _end_epoch(model, sched, opt, val_data, loop, best, s, device, say),
    )
    test = None
    if "test" in corpus.splits:
        test = _evaluate_arrays(model, _arrays(corpus.splits["test"], "test split"), s.eval_batch_size, device)
        say(f"test mean squared error over the steps with a target (n={test['n']}): {test['mse']:.4g}")
    save_checkpoint(out_dir, model.to("cpu"), None, _record(corpus, meta, loop, test, len(train_data)))
    return load_checkpoint(out_dir)


def _train_epoch(model, opt, sched, data: _Arrays, loop: dict, s: TrainSettings, device, progress, on_batch, save):
    """Train on the batches of epoch ``loop["epoch"]`` from batch ``loop["batch"]`` on (module docstring)."""
    epoch = loop["epoch"]
    order = np.random.default_rng([s.seed, epoch]).permutation(len(data))
    batches = [order[i : i + s.batch_size] for i in range(0, len(order), s.batch_size)]
    run = loop["running"]
    bar = tqdm(total=len(batches), initial=loop["batch"], disable=not progress, leave=False, unit="batch")
    bar.set_description(f"epoch {epoch + 1}/{s.epochs}")
    model.train()
    for i in range(loop["batch"], len(batches)):
        t0 = time.perf_counter()
        idx = torch.from_numpy(batches[i])
        x, y, mask = data.x[idx].to(device), data.y[idx].to(device), data.mask[idx].to(device)
        opt.zero_grad(set_to_none=True)
        loss, n = _masked_mse(model(x), y, mask)
        penalty = _l2_term(model, s.l2_penalty)
        (loss if penalty is None else loss + penalty).backward()
        if s.clip_norm is not None:
            torch.nn.utils.clip_grad_norm_(model.parameters(), s.clip_norm)
        opt.step()
        if s.lr_decay_steps is not None:
            sched.step()
        run["loss_sum"] += float(loss.detach()) * n
        run["n"] += n
        run["steps"] += int(x.shape[0] * x.shape[1])
        run["seconds"] += time.perf_counter() - t0
        loop["batch"] = i + 1
        bar.update(1)
        bar.set_postfix(mse=f"{run['loss_sum'] / max(run['n'], 1):.4g}")
        if s.checkpoint_every and loop["batch"] % s.checkpoint_every == 0 and loop["batch"] < len(batches):
            save()
        if on_batch is not None:
            on_batch(dict(loop, batches_in_epoch=len(batches)))
    bar.close()


def _end_epoch(model, sched, opt, val: _Arrays, loop: dict, best_state: dict, s: TrainSettings, device, say) -> dict:
    """Validate, step the per-epoch schedule, record the epoch, keep the best (lowest validation loss) weights
    and decide on early stopping; returns the best weights."""
    run, epoch = loop["running"], loop["epoch"]
    m = _evaluate_arrays(model, val, s.eval_batch_size, device)
    lr_used = opt.param_groups[0]["lr"]
    if s.lr_decay_steps is None:
        sched.step()
    entry = {
        "epoch": epoch + 1,
        "lr": lr_used,
        "train_loss": run["loss_sum"] / max(run["n"], 1),
        "validation_loss": m["loss"],
        "validation_r2": m["r2"],
        "validation_accuracy": m["accuracy"],
        "train_steps_per_s": run["steps"] / run["seconds"] if run["seconds"] else None,
    }
    loop["history"].append(entry)
    if loop["best_loss"] is None or m["loss"] < loop["best_loss"]:
        loop.update(best_loss=m["loss"], best_epoch=epoch + 1, best_metrics=m, bad_epochs=0)
        best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    else:
        loop["bad_epochs"] += 1
    signs = "" if m["accuracy"] is None else f", validation signs correct {m['accuracy']:.4f}"
    say(
        f"epoch {epoch + 1}: train MSE {entry['train_loss']:.4g}, validation MSE {m['loss']:.4g}, validation R^2 "
        f"{m['r2']:.4f}{signs} ({run['seconds']:.1f} s training)"
    )
    loop.update(epoch=epoch + 1, batch=0, running=dict(_FRESH_RUNNING))
    if s.patience is not None and loop["bad_epochs"] >= s.patience and loop["epoch"] < s.epochs:
        loop["stopped_early"] = True
        say(f"early stop: no lower validation loss for {s.patience} epochs")
    return best_state


def _record(corpus, meta: dict, loop: dict, test: dict | None, n_train: int) -> dict:
    """The checkpoint's record: the data and its task, the settings and the training metrics."""
    hist = loop["history"]
    rates = [h["train_steps_per_s"] for h in hist if h["train_steps_per_s"]]
    arch = meta["settings"]["arch"]
    return {
        "dataset": corpus.name,
        "data_source": str(corpus.source),
        "data_fingerprint": meta["data_fingerprint"],
        "data_info": _json_safe(corpus.info),
        "label_names": [],
        "task": _json_safe(corpus.info.get("task")),
        "settings": meta["settings"],
        "metrics": {
            "validation": loop["best_metrics"],
            "test": test,
            "best_epoch": loop["best_epoch"],
            "epochs_run": len(hist),
            "stopped_early": loop["stopped_early"],
            "n_train": n_train,
            "fast_path": "step" if arch == "ugrnn" else "fused",
            "train_steps_per_s": sum(rates) / len(rates) if rates else None,
            "history": hist,
        },
    }
