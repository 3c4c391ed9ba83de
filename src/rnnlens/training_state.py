"""What a training loop keeps between batches and runs: the resume state (weights, AdamW moments, scheduler, loop
position, RNG) written to ``OUT/resume/`` as safetensors + JSON, the check that a resumed or finished run used
the same settings and data, the optimizer and learning-rate schedule, and the L2 penalty. Shared by the text
classifier's loop (:mod:`rnnlens.training`) and the per-step task loop (:mod:`rnnlens.task_training`).
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Callable
from pathlib import Path

import torch
from tqdm.auto import tqdm

from rnnlens._atomic import output_folder
from rnnlens.checkpoint import Checkpoint, load_checkpoint, load_tensors, read_json, save_tensors
from rnnlens.errors import CheckpointError
from rnnlens.settings import TrainSettings

RESUME_DIR = "resume"


RESUME_FORMAT = "rnnlens-resume"


RESUME_VERSION = 1


# Settings that do not change the trained weights; they may differ between a run and its resume.
_RESULT_NEUTRAL = ("checkpoint_every", "num_threads", "eval_batch_size")


def _vocab_digest(vocab) -> str:
    return hashlib.sha256(json.dumps(vocab.itos).encode()).hexdigest()


def _comparable(settings: dict) -> dict:
    """The settings that change the trained weights; a field an older rnnlens did not record had its default
    (each new field's default is the behaviour from before it existed)."""
    import dataclasses

    from rnnlens.settings import default_of

    full = {f.name: default_of(f) for f in dataclasses.fields(TrainSettings)}
    full.update(settings)
    return {k: v for k, v in full.items() if k not in _RESULT_NEUTRAL}


def _settings_diff(a: dict, b: dict) -> str:
    a, b = _comparable(a), _comparable(b)
    keys = sorted(set(a) | set(b))
    return ", ".join(f"{k}: {a.get(k)!r} there vs {b.get(k)!r} now" for k in keys if a.get(k) != b.get(k))


def _save_resume(out_dir: Path, model, best_state, opt, sched, loop: dict, meta: dict) -> None:
    tensors = {f"model/{k}": v for k, v in model.state_dict().items()}
    tensors.update({f"best/{k}": v for k, v in best_state.items()})
    opt_sd = opt.state_dict()
    opt_scalars: dict = {}
    for pid, st in opt_sd["state"].items():
        for name, value in st.items():
            if torch.is_tensor(value):
                tensors[f"optim/{pid}/{name}"] = value
            else:
                opt_scalars[f"{pid}/{name}"] = value
    tensors["rng/torch"] = torch.get_rng_state()
    state = {
        "format": RESUME_FORMAT,
        "format_version": RESUME_VERSION,
        **meta,
        "loop": loop,
        "optimizer": {"param_groups": opt_sd["param_groups"], "scalars": opt_scalars},
        "scheduler": sched.state_dict(),
    }
    text = json.dumps(state, indent=1)
    with output_folder(out_dir, "train", flag="--out", update=True) as staged:  # only resume/ is replaced
        tmp = staged / RESUME_DIR
        tmp.mkdir()
        save_tensors(tmp / "state.safetensors", tensors)
        (tmp / "state.json").write_text(text + "\n", encoding="utf-8")


def _load_resume(out_dir: Path, model, opt, sched, meta: dict) -> tuple[dict, dict]:
    folder = out_dir / RESUME_DIR
    state = read_json(folder / "state.json", "resume state")
    if state.get("format") != RESUME_FORMAT or state.get("format_version") != RESUME_VERSION:
        raise CheckpointError(
            f"{folder / 'state.json'}: resume state of format "
            f"{state.get('format')!r} v{state.get('format_version')!r}, this rnnlens "
            f"writes v{RESUME_VERSION}. Start over with --no-resume."
        )
    if state.get("data_fingerprint") != meta["data_fingerprint"]:
        raise CheckpointError(
            f"{folder}: this unfinished run was trained on other data (fingerprint "
            f"{str(state.get('data_fingerprint'))[:12]}, now {meta['data_fingerprint'][:12]}). "
            "Use the same corpus, another --out folder, or --no-resume to start over."
        )
    diff = _settings_diff(state.get("settings", {}), meta["settings"])
    if diff:
        raise CheckpointError(
            f"{folder}: this unfinished run used other settings ({diff}). Rerun with "
            "the same settings, another --out folder, or --no-resume to start over."
        )
    if state.get("vocab_digest") != meta["vocab_digest"]:
        raise CheckpointError(
            f"{folder}: the vocabulary differs from the one the run started with; start over with --no-resume."
        )
    tensors = load_tensors(folder / "state.safetensors")
    try:
        model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model/")})
        best = {k[5:]: v.clone() for k, v in tensors.items() if k.startswith("best/")}
        opt_state: dict = {}
        for k, v in tensors.items():
            if k.startswith("optim/"):
                _, pid, name = k.split("/", 2)
                opt_state.setdefault(int(pid), {})[name] = v
        for k, v in state["optimizer"]["scalars"].items():
            pid, name = k.split("/", 1)
            opt_state.setdefault(int(pid), {})[name] = v
        groups = state["optimizer"]["param_groups"]
        for g in groups:
            if "betas" in g:
                g["betas"] = tuple(g["betas"])
        opt.load_state_dict({"state": opt_state, "param_groups": groups})
        sched.load_state_dict(state["scheduler"])
        torch.set_rng_state(tensors["rng/torch"])
    except (RuntimeError, KeyError, ValueError) as exc:
        raise CheckpointError(
            f"{folder}: the resume state does not fit this model ({exc}). Start over with --no-resume."
        ) from exc
    return state["loop"], best


def _json_safe(obj):
    try:
        json.dumps(obj)
        return obj
    except (TypeError, ValueError):
        return json.loads(json.dumps(obj, default=str))


def _reporter(verbose: bool, progress: bool) -> Callable[[str], None]:
    """The function that prints one message to stderr: nothing when not ``verbose``, through tqdm (which
    keeps the bar intact) when ``progress``, else a plain print."""
    if not verbose:
        return lambda msg: None
    if progress:
        return lambda msg: tqdm.write(msg, file=sys.stderr)
    return lambda msg: print(msg, file=sys.stderr, flush=True)


def _finished_checkpoint(out_dir: Path, meta: dict, say) -> Checkpoint:
    """The finished checkpoint in ``out_dir`` when it was made with the settings and data of ``meta``;
    CheckpointError when it was not."""
    done = load_checkpoint(out_dir)
    diff = _settings_diff(done.record.get("settings", {}), meta["settings"])
    if done.record.get("data_fingerprint") != meta["data_fingerprint"] or diff:
        why = diff or "other data (fingerprint differs)"
        raise CheckpointError(
            f"{out_dir}: holds a finished checkpoint made with {why}. Choose "
            "another --out folder, or --no-resume to train again and replace it."
        )
    say(f"{out_dir}: already trained with these settings and data; nothing to do (--no-resume trains again).")
    return done


class _StepDecay:
    """The learning-rate factor after ``k`` optimizer steps: ``decay ** (k / steps)``."""

    def __init__(self, decay: float, steps: int):
        self.decay, self.steps = decay, steps

    def __call__(self, k: int) -> float:
        return self.decay ** (k / self.steps)


def _l2_term(model, l2: float):
    """``l2`` x the sum of every trained parameter squared (the L2 penalty added to the loss), or None for 0."""
    if not l2:
        return None
    return l2 * sum(p.square().sum() for p in model.parameters() if p.requires_grad)


def make_optimizer(model, s: TrainSettings):
    """AdamW over the model's parameters and the exponential learning-rate schedule (stepped once per epoch, or
    at every batch when ``lr_decay_steps`` is set)."""
    opt = torch.optim.AdamW(model.parameters(), lr=s.lr, weight_decay=s.weight_decay, eps=s.adam_eps)
    if s.lr_decay_steps is None:
        sched = torch.optim.lr_scheduler.ExponentialLR(opt, gamma=s.lr_decay)
    else:
        sched = torch.optim.lr_scheduler.LambdaLR(opt, _StepDecay(s.lr_decay, s.lr_decay_steps))
    return opt, sched


def new_loop(best_key: str, running: dict) -> dict:
    """The loop position of a run that starts: epoch 0, batch 0, no best yet (``best_key``: what it is judged by)."""
    return {
        "epoch": 0,
        "batch": 0,
        best_key: None,
        "best_epoch": None,
        "best_metrics": None,
        "bad_epochs": 0,
        "stopped_early": False,
        "history": [],
        "running": dict(running),
    }


def run_epochs(
    model,
    opt,
    sched,
    out_dir: Path,
    meta: dict,
    s: TrainSettings,
    loop: dict,
    *,
    resume: bool,
    say,
    train_epoch,
    end_epoch,
) -> dict:
    """The epochs of a run, from ``loop`` or from the resume state in ``out_dir`` (with ``resume``):
    ``train_epoch(loop, save_state)`` then ``best = end_epoch(loop, best)`` each epoch, the resume state saved after
    each; the model is left holding the best weights. Returns the final loop position."""
    best = {"state": {k: v.detach().clone() for k, v in model.state_dict().items()}}
    if resume and (out_dir / RESUME_DIR / "state.json").exists():
        loop, best["state"] = _load_resume(out_dir, model, opt, sched, meta)
        say(f"resuming {out_dir} at epoch {loop['epoch'] + 1}, batch {loop['batch']}")

    def save_state():
        _save_resume(out_dir, model, best["state"], opt, sched, loop, meta)

    while loop["epoch"] < s.epochs and not loop["stopped_early"]:
        train_epoch(loop, save_state)
        best["state"] = end_epoch(loop, best["state"])
        save_state()
    model.load_state_dict(best["state"])
    return loop
