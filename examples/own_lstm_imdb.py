"""Your own model: a two-layer LSTM sentiment classifier written and trained in plain PyTorch on IMDB, then
opened up with rnnlens in a handful of lines.

    python examples/own_lstm_imdb.py [--out DIR] [--n-train N] [--epochs 3] [--embed 64] [--hidden 64]
                                     [--max-length 400] [--n-docs 500] [--seed 0] [--save DIR | --load DIR]

The model is embedding -> nn.LSTM(num_layers=2) -> nn.Linear(hidden, 1) on the top layer's h after each
review's last token; nothing of it comes from rnnlens except the word list (``rnnlens.data.Vocab``; a Hugging
Face ``tokenizers.Tokenizer`` or any ``str -> list[int]`` works the same). rnnlens then sees the stack as one
dynamical system whose state is both layers' h and c (4 x hidden numbers), finds its fixed points, and
writes the same report as for its own networks. Needs the IMDB corpus (``RNNLENS_DATA_DIR``).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_sequence

import rnnlens
from rnnlens.data import Vocab, load_corpus


# --8<-- [start:model]
class LSTMClassifier(nn.Module):
    """Embedding -> stacked LSTM -> linear readout of the top layer's state after the last token."""

    def __init__(self, vocab_size: int, embed: int, hidden: int, layers: int = 2):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embed, padding_idx=0)
        self.lstm = nn.LSTM(embed, hidden, num_layers=layers, batch_first=False)
        self.head = nn.Linear(hidden, 1)

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Logits ``[B]`` of padded token ids ``[T, B]`` with ``lengths`` ``[B]``."""
        packed = pack_padded_sequence(self.embedding(ids), lengths, enforce_sorted=False)
        _, (h_n, _) = self.lstm(packed)
        return self.head(h_n[-1]).squeeze(-1)


# --8<-- [end:model]


def encode_texts(vocab: Vocab, texts, max_length: int | None = None) -> list[torch.Tensor]:
    """Token ids of each text (at least one id each). With ``max_length``, a longer text keeps its last
    ``max_length`` tokens: a review's verdict tends to come at its end."""
    out = []
    for text in texts:
        ids = vocab.encode(text)[-max_length:] if max_length else vocab.encode(text)
        out.append(torch.from_numpy(ids if len(ids) else np.ones(1, dtype=np.int64)))
    return out


def padded(seqs: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Time-major padded ids ``[T, B]`` and the lengths ``[B]``."""
    return pad_sequence(seqs), torch.tensor([len(s) for s in seqs])


@torch.no_grad()
def accuracy(model: LSTMClassifier, seqs: list[torch.Tensor], labels, batch: int = 256) -> float:
    """Share of ``seqs`` classified as ``labels`` (batches of similar length, whole reviews)."""
    model.eval()
    order = np.argsort([len(s) for s in seqs])
    correct = 0
    for start in range(0, len(order), batch):
        rows = order[start : start + batch]
        ids, lengths = padded([seqs[i] for i in rows])
        pred = (model(ids, lengths) > 0).long().numpy()
        correct += int((pred == np.asarray(labels)[rows]).sum())
    return correct / len(seqs)


# --8<-- [start:train]
def train(
    model: LSTMClassifier,
    seqs: list[torch.Tensor],
    labels,
    *,
    epochs: int,
    batch: int = 64,
    lr: float = 2e-3,
    clip: float = 1.0,
    seed: int = 0,
    valid=None,
) -> int:
    """A plain loop: Adam, binary cross-entropy on the logits, gradient-norm clipping. Batches are drawn from
    length-sorted chunks (less padding). With ``valid`` = (seqs, labels) it prints the validation accuracy per
    epoch and leaves the model at its best epoch on validation; returns that epoch (1-based)."""
    best, best_epoch, best_state = -1.0, epochs, None
    rng = np.random.default_rng(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    loss_fn = nn.BCEWithLogitsLoss()
    y = torch.tensor(np.asarray(labels), dtype=torch.float32)
    lengths = np.array([len(s) for s in seqs])
    for epoch in range(epochs):
        started = time.perf_counter()
        model.train()
        order = rng.permutation(len(seqs))
        chunks = [c[np.argsort(lengths[c])] for c in np.array_split(order, max(1, len(order) // (batch * 50)))]
        batches = [c[i : i + batch] for c in chunks for i in range(0, len(c), batch)]
        total = 0.0
        for k in rng.permutation(len(batches)):
            rows = batches[k]
            ids, lens = padded([seqs[i] for i in rows])
            loss = loss_fn(model(ids, lens), y[rows])
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), clip)
            opt.step()
            total += loss.item() * len(rows)
        note = ""
        if valid is not None:
            score = accuracy(model, *valid)
            note = f", validation accuracy {score:.4f}"
            if score > best:
                best, best_epoch = score, epoch + 1
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        print(
            f"epoch {epoch + 1}: training loss {total / len(seqs):.4f}{note} ({time.perf_counter() - started:.0f} s)",
            flush=True,
        )
    if best_state is not None:
        model.load_state_dict(best_state)
    return best_epoch


# --8<-- [end:train]


def save_model(folder: Path, model: LSTMClassifier, vocab: Vocab, meta: dict) -> None:
    """The user's own way to keep a trained model: its weights (torch.save of the state dict), the word list and
    how it was made, in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), folder / "weights.pt")
    (folder / "model.json").write_text(json.dumps({"vocab": vocab.to_dict(), **meta}))


def load_model(folder: Path) -> tuple[LSTMClassifier, Vocab, dict]:
    """What :func:`save_model` wrote."""
    meta = json.loads((folder / "model.json").read_text())
    vocab = Vocab.from_dict(meta.pop("vocab"))
    model = LSTMClassifier(len(vocab), meta["embed"], meta["hidden"])
    model.load_state_dict(torch.load(folder / "weights.pt", weights_only=True))
    return model.eval(), vocab, meta


def spread(split, n: int | None):
    """``n`` documents of ``split`` spread evenly over it (all of them when ``n`` is None)."""
    if n is None or n >= len(split):
        return split
    return split.subset(np.linspace(0, len(split) - 1, n).astype(np.int64))


def parse_args(argv=None) -> argparse.Namespace:
    """The command line."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("own-lstm-imdb"))
    ap.add_argument("--n-train", type=int, default=None, help="training reviews used (default: all 22,500)")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--embed", type=int, default=64)
    ap.add_argument("--hidden", type=int, default=64)
    ap.add_argument("--vocab", type=int, default=20000, help="vocabulary size, <pad> and <unk> included")
    ap.add_argument("--max-length", type=int, default=400, help="training reviews cut to their last N tokens")
    ap.add_argument("--n-test", type=int, default=None, help="test reviews scored (default: all 25,000)")
    ap.add_argument("--n-valid", type=int, default=None, help="validation reviews scored per epoch (default: all)")
    ap.add_argument("--n-docs", type=int, default=500, help="test reviews analysed")
    ap.add_argument("--n-seeds", type=int, default=500, help="fixed-point searches started")
    ap.add_argument("--no-modifiers", action="store_true", help="skip the modifier-word analysis")
    ap.add_argument(
        "--no-bow",
        action="store_true",
        help="no bag-of-words baseline (its two checks unmeasured; "
        "by default it is fitted once, about a minute, and cached)",
    )
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    ap.add_argument("--save", type=Path, default=None, help="keep the trained model (weights, word list) here")
    ap.add_argument("--load", type=Path, default=None, help="analyse a model kept with --save instead of training")
    return ap.parse_args(argv)


def main(argv=None) -> rnnlens.Analysis:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    corpus = load_corpus("imdb", download=False)
    if args.load is not None:
        model, vocab, meta = load_model(args.load)
        test_accuracy, train_seconds, best_epoch = meta["test_accuracy"], meta["train_seconds"], meta["best_epoch"]
        n_train = meta["n_train"]
        print(f"loaded {args.load}: test accuracy {test_accuracy:.4f} (epoch {best_epoch})")
    else:
        train_split = corpus.splits["train"]
        n_train = len(train_split) if args.n_train is None else min(args.n_train, len(train_split))
        texts, labels = train_split.texts[:n_train], train_split.labels[:n_train]
        # --8<-- [start:vocab]
        vocab = Vocab.build(texts, max_size=args.vocab)
        model = LSTMClassifier(len(vocab), args.embed, args.hidden)
        # --8<-- [end:vocab]
        valid, test = corpus.splits["validation"], corpus.splits["test"]
        valid, test = spread(valid, args.n_valid), spread(test, args.n_test)
        started = time.perf_counter()
        best_epoch = train(
            model,
            encode_texts(vocab, texts, args.max_length),
            labels,
            epochs=args.epochs,
            seed=args.seed,
            valid=(encode_texts(vocab, valid.texts), valid.labels),
        )
        train_seconds = time.perf_counter() - started
        test_accuracy = accuracy(model, encode_texts(vocab, test.texts), test.labels)
        model.eval()
        print(
            f"test accuracy {test_accuracy:.4f} on {len(test)} test reviews (epoch {best_epoch}, the best on "
            f"validation); training took {train_seconds:.0f} s"
        )
        if args.save is not None:
            save_model(
                args.save,
                model,
                vocab,
                {
                    "embed": args.embed,
                    "hidden": args.hidden,
                    "test_accuracy": test_accuracy,
                    "train_seconds": train_seconds,
                    "best_epoch": best_epoch,
                    "n_train": n_train,
                    "epochs": args.epochs,
                    "max_length": args.max_length,
                },
            )

    # --- the rnnlens part: the user's own modules, the corpus, and the report
    started = time.perf_counter()
    record = {
        "test_accuracy": test_accuracy,
        "data_fingerprint": corpus.fingerprint(),
        "epochs": args.epochs,
        "best_epoch": best_epoch,
        "n_train": n_train,
        "max_length": args.max_length,
        "train_seconds": round(train_seconds, 1),
    }
    # --8<-- [start:rnnlens]
    network = rnnlens.Network.from_parts(
        rnn=model.lstm, readout=model.head, embedding=model.embedding, tokenizer=vocab, record=record
    )
    flat = {"n_docs": args.n_docs, "n_seeds": args.n_seeds}
    if args.no_modifiers:
        flat["modifiers"] = None
    settings = rnnlens.AnalysisSettings.make(**flat)
    bow = None if args.no_bow else "auto"  # the corpus's bag of words, fitted once and cached: every check
    result = rnnlens.analyze(network, corpus, settings, bow=bow, out_dir=args.out / "analysis")
    report = rnnlens.make_report([args.out / "analysis"], args.out / "report")
    # --8<-- [end:rnnlens]
    analysis_seconds = time.perf_counter() - started

    print(f"analyze + report took {analysis_seconds:.0f} s")
    # --8<-- [start:checks]
    for c in result.checks:
        mark = "NOT CHECKED" if c["passed"] is None else ("PASS" if c["passed"] else "FAIL")
        print(f"{mark}: {c['claim']} ({c['detail']})")
    for s in result.skipped:
        print(f"skipped {s['section']}: {s['why']}")
    # --8<-- [end:checks]
    print(f"report: {report}")
    return result


if __name__ == "__main__":
    main()
