#!/usr/bin/env python3
"""Turn the resume state of a training run that was stopped (e.g. by `timeout`) into a checkpoint.

    PYTHONPATH=src python3 scripts/gpu_finalize.py OUT_DIR --data-dir DATA [--device cuda] \\
        [--command "rnnlens train ..."]

`rnnlens train` writes OUT_DIR/resume/ (weights of the best validation epoch so far, the loop
history, the settings, the data fingerprint) at every epoch end. When the run is killed before it
ends, this script rebuilds the vocabulary from the same corpus and settings (checked against the
digest in the resume state), loads the best-so-far weights, evaluates them on validation and test,
and writes a normal checkpoint folder (model.safetensors + config.json) in OUT_DIR, replacing it.
The record says it was finalized from a resume state (`finalized_from_resume`), and which epochs
had run. Exit status 0 when a checkpoint was written, 3 when there was nothing to finalize (no
completed epoch), 2 on an error.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("out_dir", type=Path)
    p.add_argument("--dataset", default="imdb")
    p.add_argument("--data-dir", required=True)
    p.add_argument("--data-seed", type=int, default=0)
    p.add_argument("--device", default="cpu")
    p.add_argument("--command", default=None, help="the training command to record (else this one)")
    p.add_argument("--reason", default="the training process was stopped before it ended (time limit)")
    args = p.parse_args(argv)

    import torch

    from rnnlens.checkpoint import is_checkpoint, load_tensors, save_checkpoint
    from rnnlens.data import Vocab, load_corpus
    from rnnlens.model import SentimentRNN
    from rnnlens.settings import TrainSettings
    from rnnlens.training import evaluate

    state_json = args.out_dir / "resume" / "state.json"
    if is_checkpoint(args.out_dir) and not state_json.exists():
        print(f"{args.out_dir}: already a finished checkpoint; nothing to do", file=sys.stderr)
        return 0
    if not state_json.exists():
        print(f"{args.out_dir}: no resume state (no epoch finished); nothing to finalize", file=sys.stderr)
        return 3
    state = json.loads(state_json.read_text(encoding="utf-8"))
    loop = state["loop"]
    if not loop.get("history") or loop.get("best_epoch") is None:
        print(f"{args.out_dir}: no epoch finished yet; nothing to finalize", file=sys.stderr)
        return 3
    s = TrainSettings.from_dict(state["settings"])
    corpus = load_corpus(args.dataset, data_dir=args.data_dir, seed=args.data_seed)
    if corpus.fingerprint() != state["data_fingerprint"]:
        print(f"error: {args.data_dir}: not the corpus this run was trained on (fingerprint differs)", file=sys.stderr)
        return 2
    vocab = Vocab.build(corpus.splits["train"].texts, max_size=s.vocab_size, min_count=s.min_count)
    if hashlib.sha256(json.dumps(vocab.itos).encode()).hexdigest() != state["vocab_digest"]:
        print("error: the rebuilt vocabulary differs from the run's; cannot finalize", file=sys.stderr)
        return 2
    tensors = load_tensors(args.out_dir / "resume" / "state.safetensors")
    model = SentimentRNN(
        len(vocab), arch=s.arch, embed_dim=s.embed_dim, hidden_size=s.hidden_size, num_classes=corpus.num_classes
    )
    model.load_state_dict({k[5:]: v for k, v in tensors.items() if k.startswith("best/")})
    device = torch.device(args.device)
    model.to(device)
    val = evaluate(
        model, vocab, corpus.splits["validation"], batch_size=s.eval_batch_size, max_length=s.max_length, device=device
    )
    test = None
    if "test" in corpus.splits:
        test = evaluate(
            model, vocab, corpus.splits["test"], batch_size=s.eval_batch_size, max_length=s.max_length, device=device
        )
    hist = loop["history"]
    tps = [h["train_tokens_per_s"] for h in hist if h.get("train_tokens_per_s")]
    if abs(val["accuracy"] - loop["best_accuracy"]) > 1e-9:
        print(
            f"warning: validation accuracy {val['accuracy']:.4f} differs from the run's best "
            f"{loop['best_accuracy']:.4f}",
            file=sys.stderr,
        )
    record = {
        "dataset": corpus.name,
        "data_source": str(corpus.source),
        "data_fingerprint": state["data_fingerprint"],
        "data_info": json.loads(json.dumps(corpus.info, default=str)),
        "label_names": list(corpus.label_names),
        "settings": state["settings"],
        "metrics": {
            "validation": val,
            "test": test,
            "best_epoch": loop["best_epoch"],
            "epochs_run": len(hist),
            "stopped_early": False,
            "n_train": len(corpus.splits["train"].texts),
            "vocab_size": len(vocab),
            "train_tokens_per_s": sum(tps) / len(tps) if tps else None,
            "history": hist,
        },
        "finalized_from_resume": {
            "reason": args.reason,
            "epochs_completed": loop["epoch"],
            "epochs_planned": s.epochs,
            "finalize_command": " ".join(["gpu_finalize.py", *(argv or sys.argv[1:])]),
        },
    }
    if args.command:
        record["command"] = args.command
    save_checkpoint(args.out_dir, model.to("cpu"), vocab, record)
    print(
        f"finalized {args.out_dir} from the best of {len(hist)} epochs (epoch {loop['best_epoch']}): "
        f"validation accuracy {val['accuracy']:.4f}"
        + (f", test accuracy (n={test['n']}) {test['accuracy']:.4f}" if test else ""),
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
