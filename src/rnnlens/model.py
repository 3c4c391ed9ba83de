"""SentimentRNN: embedding -> recurrent cell -> linear readout of the last valid state.

Binary tasks use one logit (logistic regression on the state); k classes use k logits (softmax).
``forward`` reads through the cell's fast path (:meth:`rnnlens.cells.Cell.final_state`), ``states``
through the exact step path (:meth:`rnnlens.cells.Cell.run`); both see the same numbers.
"""

from __future__ import annotations

import os

import torch
from torch import Tensor, nn

from rnnlens.cells import ARCHS, Cell, make_cell
from rnnlens.constants import DIAGONAL_ARCHS, EMBEDDING_INITS, INITIAL_STATES
from rnnlens.errors import ArgumentError, DataError
from rnnlens.steps import all_finite

__all__ = [
    "SentimentRNN",
    "SequenceRNN",
    "INITIAL_STATES",
    "predict_labels",
    "available_memory",
    "all_finite",
    "hold_last_state",
]

# Bytes one forward + backward pass keeps per (document, time step, embedding + state number):
# measured on CPU (scan path, float32) at 16 (vanilla), 28 (UGRNN), 36 (LSTM), 49-61 (GRU); 64 bounds them.
TRAIN_BYTES_PER_NUMBER = 64
# Batches estimated below this are not checked against the free memory (the check reads /proc).
MEMORY_CHECK_FLOOR = 2**30


def available_memory(device) -> int | None:
    """Bytes free for a new allocation on ``device`` (CUDA: the driver's figure; CPU: MemAvailable
    from /proc/meminfo), or None where it cannot be told."""
    device = torch.device(device)
    if device.type == "cuda":
        try:
            return int(torch.cuda.mem_get_info(device)[0])
        except (RuntimeError, AssertionError):
            return None
    if device.type != "cpu":
        return None
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def hold_last_state(hs: Tensor, lengths: Tensor) -> Tensor:
    """``hs`` ``[B, T, S]`` with every position past row b's ``lengths[b]`` set to its last valid state, in place
    (only the padded positions are written; a copy when autograd records ``hs``)."""
    T = hs.shape[1]
    if hs.requires_grad:
        last = torch.as_tensor(lengths).to(hs.device) - 1
        index = torch.minimum(torch.arange(T, device=hs.device)[None], last[:, None])
        return hs.gather(1, index.unsqueeze(-1).expand(-1, -1, hs.shape[-1]))
    for b, n in enumerate(torch.as_tensor(lengths).tolist()):
        if n < T:
            hs[b, n:] = hs[b, n - 1]
    return hs


def predict_labels(logits: Tensor) -> Tensor:
    """The one rule from logits to labels: ``logit > 0`` for one logit per document (binary), else argmax."""
    return (logits > 0).long() if logits.dim() == 1 else logits.argmax(-1)


def _check_int(value, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ArgumentError(f"SentimentRNN: {name} must be an integer >= {minimum}, got {value!r}.")
    return value


class SentimentRNN(nn.Module):
    """Embedding (``padding_idx=0``) -> :class:`~rnnlens.cells.Cell` -> ``nn.Linear`` readout.

    Args:
        vocab_size: number of token ids (id 0 is padding, its embedding stays zero).
        arch: one of :data:`rnnlens.constants.ARCHS`: the paper's ``"vanilla"``, ``"ugrnn"``, ``"gru"``, ``"lstm"``, or
            ``"mingru"``, ``"minlstm"``, ``"lru"``, ``"s6"`` (:mod:`rnnlens.cells.diagonal`).
        embed_dim: embedding size (the cell's input size).
        hidden_size: N, the number of units (the LSTM state has 2N numbers and the LRU's N complex modes 2N, the
            readout sees N; the S6 state is N numbers in N/4 channels, so N must be a multiple of 4).
        num_classes: 2 gives one logit (logistic), k > 2 gives k logits (softmax).
        initial_state: ``"zero"`` (every document starts from h = 0) or ``"learned"`` (from a trained state, the
            cell's parameter ``h0``; :meth:`rnnlens.cells.Cell.learn_initial_state`).

    Raises:
        ArgumentError: an unknown ``arch`` or ``initial_state``, or a size below its least value (``vocab_size``
            2, ``num_classes`` 2, ``embed_dim`` and ``hidden_size`` 1) or not an integer.
    """

    def __init__(
        self,
        vocab_size: int,
        *,
        arch: str = "gru",
        embed_dim: int = 64,
        hidden_size: int = 128,
        num_classes: int = 2,
        initial_state: str = "zero",
    ):
        super().__init__()
        if arch not in ARCHS:
            raise ArgumentError(f"SentimentRNN: unknown architecture arch={arch!r}: choose one of {', '.join(ARCHS)}.")
        self.vocab_size = _check_int(vocab_size, "vocab_size", 2)
        self.embed_dim = _check_int(embed_dim, "embed_dim", 1)
        self.hidden_size = _check_int(hidden_size, "hidden_size", 1)
        self.num_classes = _check_int(num_classes, "num_classes", 2)
        if initial_state not in INITIAL_STATES:
            raise ArgumentError(
                f"SentimentRNN: initial_state={initial_state!r}: choose one of {', '.join(INITIAL_STATES)}."
            )
        self.initial_state = initial_state
        self.arch = arch
        self.embedding = nn.Embedding(vocab_size, embed_dim, padding_idx=0)
        self.cell: Cell = make_cell(arch, embed_dim, hidden_size)
        if initial_state == "learned":
            self.cell.learn_initial_state()
        self.readout = nn.Linear(hidden_size, 1 if num_classes == 2 else num_classes)

    @property
    def n_out(self) -> int:
        """Number of logits: 1 for binary, k for k classes."""
        return self.readout.out_features

    @torch.no_grad()
    def initialize_embedding(self, how: str = "default") -> SentimentRNN:
        """Redraw the embedding by one of :data:`rnnlens.constants.EMBEDDING_INITS`: ``"default"`` leaves torch's
        N(0, 1) draw; ``"orthogonal"`` makes the columns of the ``[vocab, embed]`` matrix orthonormal (entries about
        1/sqrt(vocab)). The padding row stays zero. Draws from torch's global generator."""
        if how not in EMBEDDING_INITS:
            raise ArgumentError(
                f"SentimentRNN.initialize_embedding: how={how!r}: choose one of {', '.join(EMBEDDING_INITS)}."
            )
        if how == "orthogonal":
            nn.init.orthogonal_(self.embedding.weight)
            self.embedding.weight[0].zero_()
        return self

    def config(self) -> dict:
        """The keyword arguments that rebuild this model: ``SentimentRNN(**model.config())``."""
        config = dict(
            vocab_size=self.vocab_size,
            arch=self.arch,
            embed_dim=self.embed_dim,
            hidden_size=self.hidden_size,
            num_classes=self.num_classes,
        )
        if self.initial_state != "zero":  # written only when it differs, so older rnnlens reads the others
            config["initial_state"] = self.initial_state
        return config

    def training_memory(self, batch: int, time: int) -> int:
        """A rough upper estimate (bytes) of what one training step over a ``[batch, time]`` padded
        batch keeps for the backward pass (activations; weights and optimizer state not counted)."""
        return TRAIN_BYTES_PER_NUMBER * int(batch) * int(time) * (self.embed_dim + self.cell.state_size)

    def check_training_memory(self, batch: int, time: int, device: torch.device | str | None = None) -> None:
        """Raise DataError, before any work, when a training step over ``[batch, time]`` would need
        more memory than ``device`` has free (see :meth:`training_memory`)."""
        need = self.training_memory(batch, time)
        if need < MEMORY_CHECK_FLOOR:
            return
        device = device if device is not None else next(self.parameters()).device
        free = available_memory(device)
        if free is not None and need > free:
            raise DataError(
                f"a training batch of {batch} documents padded to {time} tokens needs about {need / 2**30:.1f} GiB "
                f"on {device}, more than the {free / 2**30:.1f} GiB free. The longest documents set the padding of "
                f"their batch: cut them with --max-length (Python: TrainSettings(max_length=...); cut documents "
                f"are counted and reported) or lower --batch-size."
            )

    def check_finite(self, where: str) -> None:
        """Raise ArgumentError naming the parameters that hold NaN or inf (none: nothing happens)."""
        bad = [name for name, p in self.named_parameters() if not bool(torch.isfinite(p).all())]
        if bad:
            raise ArgumentError(
                f"SentimentRNN.{where}: the weights hold NaN or inf values ({', '.join(bad)}); no accuracy or "
                "state computed from them means anything. A damaged checkpoint, or training that diverged: "
                "lower the learning rate or keep gradient clipping on."
            )

    def _check_output(self, out: Tensor, where: str) -> Tensor:
        if not all_finite(out):
            self.check_finite(where)
            raise ArgumentError(
                f"SentimentRNN.{where}: the outputs hold NaN or inf although the weights are finite (the "
                "numbers overflowed); lower the learning rate, or check the weights' scale."
            )
        return out

    def _check_ids(self, ids, lengths, method: str, need_lengths: bool) -> Tensor | None:
        if not isinstance(ids, Tensor) or ids.dim() != 2 or ids.dtype not in (torch.int64, torch.int32):
            got = f"shape {tuple(ids.shape)} dtype {ids.dtype}" if isinstance(ids, Tensor) else type(ids).__name__
            raise ArgumentError(f"SentimentRNN.{method}: ids must be an integer tensor [batch, time], got {got}.")
        if ids.numel() and (int(ids.min()) < 0 or int(ids.max()) >= self.vocab_size):
            raise ArgumentError(
                f"SentimentRNN.{method}: token ids must lie in [0, vocab_size={self.vocab_size}), got values "
                f"from {int(ids.min())} to {int(ids.max())}; encode with the model's own vocabulary."
            )
        if lengths is None:
            if need_lengths:
                raise ArgumentError(f"SentimentRNN.{method}: lengths is required (the number of valid tokens per row).")
            return None
        lengths = torch.as_tensor(lengths)
        if lengths.shape != (ids.shape[0],) or lengths.dtype.is_floating_point:
            raise ArgumentError(
                f"SentimentRNN.{method}: lengths must be an integer tensor of shape [batch={ids.shape[0]}], "
                f"got shape {tuple(lengths.shape)} dtype {lengths.dtype}."
            )
        if lengths.numel() and (int(lengths.min()) < 1 or int(lengths.max()) > ids.shape[1]):
            raise ArgumentError(
                f"SentimentRNN.{method}: lengths must lie in [1, {ids.shape[1]}] (the padded width of ids), got "
                f"values from {int(lengths.min())} to {int(lengths.max())}; empty documents cannot be read."
            )
        return lengths

    def forward(self, ids: Tensor, lengths: Tensor) -> Tensor:
        """Logits from the state after each row's last valid token (fast path).

        ids ``[B, T]`` (padded with 0), lengths ``[B]`` -> ``[B]`` (binary) or ``[B, k]``.
        """
        lengths = self._check_ids(ids, lengths, "forward", need_lengths=True)
        if torch.is_grad_enabled():
            self.check_training_memory(ids.shape[0], ids.shape[1], ids.device)
        h = self.cell.final_state(self.embedding(ids), lengths)
        return self._check_output(self.logits_from_state(h), "forward")

    def states(self, ids: Tensor, lengths: Tensor | None = None, *, fused: bool = False) -> Tensor:
        """Every state ``[B, T, S]`` through the exact step path (entry t: after reading token t).

        With ``lengths``, positions past a row's end repeat its last valid state, so
        ``states(ids, lengths)[:, -1]`` is the state ``forward`` reads out. Without, every position is
        read as a token (padding id 0 has a zero embedding but still drives the dynamics).
        ``fused``: through the cell's :meth:`~rnnlens.cells.Cell.run_fused` instead (torch's kernel for vanilla
        and GRU, the step path for the others): the same function, the same states to the dtype's rounding
        (tests/test_document_states.py; see :meth:`rnnlens.network.Network.sequence_states`).
        """
        lengths = self._check_ids(ids, lengths, "states", need_lengths=False)
        x = self.embedding(ids)
        hs = self._check_output(self.cell.run_fused(x) if fused else self.cell.run(x), "states")
        return hs if lengths is None else hold_last_state(hs, lengths)

    def logits_from_state(self, h: Tensor) -> Tensor:
        """Readout applied to ``cell.output(h)``: h ``[..., S]`` -> ``[...]`` (binary) or ``[..., k]``."""
        if not isinstance(h, Tensor) or h.shape[-1] != self.cell.state_size:
            got = tuple(h.shape) if isinstance(h, Tensor) else type(h).__name__
            raise ArgumentError(
                f"SentimentRNN.logits_from_state: h must have last dimension state_size={self.cell.state_size}, "
                f"got {got}."
            )
        out = self.readout(self.cell.output(h))
        return out.squeeze(-1) if self.num_classes == 2 else out

    def predict(self, logits: Tensor) -> Tensor:
        """Predicted labels from logits of :meth:`forward` / :meth:`logits_from_state`."""
        return predict_labels(logits)

    def readout_matrix(self) -> Tensor:
        """Readout weights over the full state, ``[n_out, S]`` (zeros over the LSTM's cell part ``c``)."""
        w = self.readout.weight.detach()
        pad = self.cell.state_size - self.hidden_size
        return torch.cat([w, w.new_zeros(w.shape[0], pad)], 1) if pad else w.clone()


class SequenceRNN(nn.Module):
    """A recurrent cell fed input vectors directly (no embedding) with a linear readout after every step: the
    model of a generated task (:mod:`rnnlens.data.tasks`) or any per-step regression.

    Args:
        input_size: I, the width of each input vector.
        arch: one of :data:`rnnlens.constants.ARCHS` (as :class:`SentimentRNN`).
        hidden_size: N, the number of units.
        n_out: O, the readout's outputs (one ``nn.Linear(N, O)`` read after every step).
        initial_state: ``"zero"`` or ``"learned"`` (as :class:`SentimentRNN`).

    Raises:
        ArgumentError: an unknown ``arch`` or ``initial_state``, or a size that is not an integer >= 1.
    """

    def __init__(
        self, input_size: int, *, arch: str = "gru", hidden_size: int = 64, n_out: int = 1, initial_state: str = "zero"
    ):
        super().__init__()
        if arch not in ARCHS:
            raise ArgumentError(f"SequenceRNN: unknown architecture arch={arch!r}: choose one of {', '.join(ARCHS)}.")
        if initial_state not in INITIAL_STATES:
            raise ArgumentError(
                f"SequenceRNN: initial_state={initial_state!r}: choose one of {', '.join(INITIAL_STATES)}."
            )
        self.input_size = _check_int(input_size, "input_size", 1)
        self.hidden_size = _check_int(hidden_size, "hidden_size", 1)
        self.n_out = _check_int(n_out, "n_out", 1)
        self.arch, self.initial_state = arch, initial_state
        self.cell: Cell = make_cell(arch, input_size, hidden_size)
        if initial_state == "learned":
            self.cell.learn_initial_state()
        self.readout = nn.Linear(hidden_size, n_out)

    def config(self) -> dict:
        """The keyword arguments that rebuild this model: ``SequenceRNN(**model.config())``."""
        config = dict(input_size=self.input_size, arch=self.arch, hidden_size=self.hidden_size, n_out=self.n_out)
        if self.initial_state != "zero":
            config["initial_state"] = self.initial_state
        return config

    def hidden(self, x: Tensor) -> Tensor:
        """The readout's part of every state, ``[B, T, N]``, for inputs ``x`` ``[B, T, I]`` (with autograd):
        torch's fused kernel for vanilla, GRU and LSTM (from the cell's initial state, learned or zero), the
        cell's step path for the UGRNN."""
        cell = self.cell
        if not isinstance(x, Tensor) or x.dim() != 3 or x.shape[-1] != self.input_size:
            got = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
            raise ArgumentError(f"SequenceRNN: inputs must be [batch, time, {self.input_size}], got {got}.")
        if self.arch in ("vanilla", "gru") or self.arch in DIAGONAL_ARCHS:  # fused kernel; the chunked scan
            return cell.output(cell.run_fused(x))
        if self.arch == "lstm":
            B, S = x.shape[0], cell.state_size
            h0 = x.new_zeros(B, S) if cell.h0 is None else cell.h0.to(x.dtype).expand(B, -1)  # learned: with grad
            N = self.hidden_size
            hx = (h0[:, :N].unsqueeze(0).contiguous(), h0[:, N:].unsqueeze(0).contiguous())
            return cell.rnn(x, hx)[0]
        return cell.output(cell.run(x))

    def forward(self, x: Tensor) -> Tensor:
        """The readout after every step: ``x`` ``[B, T, I]`` -> ``[B, T, O]``."""
        out = self.readout(self.hidden(x))
        if not all_finite(out):
            raise ArgumentError(
                "SequenceRNN: the outputs hold NaN or inf (damaged weights, or numbers that overflowed); lower the "
                "learning rate or keep gradient clipping on."
            )
        return out

    def logits_from_state(self, h: Tensor) -> Tensor:
        """The readout of whole states ``h`` ``[..., S]``: ``[..., O]``."""
        return self.readout(self.cell.output(h))

    def readout_matrix(self) -> Tensor:
        """Readout weights over the full state, ``[O, S]`` (zeros over the LSTM's cell part ``c``)."""
        w = self.readout.weight.detach()
        pad = self.cell.state_size - self.hidden_size
        return torch.cat([w, w.new_zeros(w.shape[0], pad)], 1) if pad else w.clone()

    def training_memory(self, batch: int, time: int) -> int:
        """A rough upper estimate (bytes) of what one training step over ``[batch, time]`` keeps for backward."""
        return TRAIN_BYTES_PER_NUMBER * int(batch) * int(time) * (self.input_size + self.cell.state_size)
