"""``Network``: the one view of a trained recurrent classifier that the analysis, the explorer and the
sweep use.

A network is a dynamical system ``h' = F(x, h)`` fed by an input map (token ids -> input vectors) and
read out by a linear map of its state. ``Network`` owns, in one place:

* the step ``F`` over the whole state (for the LSTM ``[h, c]``) as the solvers want it (:attr:`step`)
  and as a plain function (:meth:`step_fn`), the initial state and the constant input x*
  (:meth:`x_star`);
* the readout: its matrix over the whole state, the readout direction and its one sign rule
  (:meth:`readout_direction`: the single row for binary models, last class minus first for k classes),
  logits and predicted labels of states;
* running documents to every visited state and to final states, and relaxing states with the
  network's own dynamics at x*;
* how it is built from an rnnlens checkpoint (folder or :class:`rnnlens.checkpoint.Checkpoint`) or a
  :class:`rnnlens.model.SentimentRNN` with its vocabulary (:meth:`resolve`).

Nothing outside ``cells.py``, ``model.py`` and this module reaches into a cell's internals.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from rnnlens.analysis.geometry import readout_direction
from rnnlens.errors import ArgumentError

__all__ = ["Network"]


class Network:
    """A trained recurrent classifier seen as a dynamical system with an input map and a readout.

    Args:
        model: an :class:`rnnlens.model.SentimentRNN` (embedding -> cell -> linear readout).
        vocab: its :class:`rnnlens.data.Vocab` (token <-> id).
        record: how it was made (a checkpoint's ``config.json`` record; empty when unknown).
        path: the checkpoint folder it was read from, if any.
    """

    def __init__(self, model: torch.nn.Module, vocab: Any, *, record: dict | None = None,
                 path: Path | str | None = None):
        self.model = model.eval()
        self.vocab = vocab
        self.record = dict(record or {})
        self.path = None if path is None else str(path)

    # ------------------------------------------------------------------ construction
    @classmethod
    def resolve(cls, network_or_checkpoint: Any, vocab: Any = None) -> "Network":
        """A ``Network`` from a ``Network`` (returned as it is), a checkpoint folder, a ``Checkpoint``, or a
        ``SentimentRNN`` together with its ``vocab``. Anything else is an ArgumentError saying what to pass."""
        from rnnlens.checkpoint import Checkpoint, load_checkpoint

        obj = network_or_checkpoint
        if isinstance(obj, Network):
            return obj
        if isinstance(obj, (str, Path)):
            ck = load_checkpoint(obj)
            return cls(ck.model, ck.vocab, record=ck.record, path=ck.path)
        if isinstance(obj, Checkpoint):
            return cls(obj.model, obj.vocab, record=obj.record, path=obj.path)
        if isinstance(obj, torch.nn.Module):
            if vocab is None:
                raise ArgumentError("analyze(model, corpus): a bare model needs its vocabulary: pass "
                                    "rnnlens.Network(model, vocab), or a checkpoint folder / Checkpoint")
            return cls(obj, vocab)
        raise ArgumentError(f"analyze: the network must be a checkpoint folder, a Checkpoint, a rnnlens.Network or "
                            f"a SentimentRNN with its vocabulary; got {type(obj).__name__}")

    def untrained(self, seed: int) -> "Network":
        """The same architecture and sizes, freshly initialised with torch seed ``seed`` (the null model)."""
        torch.manual_seed(seed)
        return Network(type(self.model)(**self.model.config()), self.vocab)

    # ------------------------------------------------------------------ description
    @property
    def state_size(self) -> int:
        """S, numbers per state (2N for the LSTM's ``[h, c]``)."""
        return int(self.model.cell.state_size)

    @property
    def num_classes(self) -> int:
        """Classes the readout separates (2: one logit)."""
        return int(self.model.num_classes)

    @property
    def itos(self) -> list[str]:
        """Token of each input id."""
        return self.vocab.itos

    def config(self) -> dict[str, Any] | None:
        """The keyword arguments that rebuild the model (None when the model has none)."""
        return self.model.config() if hasattr(self.model, "config") else None

    # ------------------------------------------------------------------ dynamics
    @property
    def cell(self):
        """The recurrent cell (an :class:`rnnlens.cells.Cell`): what the solvers linearize."""
        return self.model.cell

    @property
    def step(self):
        """The step ``F(x, h)`` wrapped for the solvers (:func:`rnnlens.fixedpoints.as_step`)."""
        from rnnlens.fixedpoints import as_step

        return as_step(self.model.cell)

    def step_fn(self, x: Tensor, h: Tensor) -> Tensor:
        """One update ``h' = F(x, h)``: x ``[B, I]``, h ``[B, S]`` -> ``[B, S]``."""
        return self.model.cell.step(x, h)

    def init_state(self, n: int, dtype: torch.dtype | None = None) -> Tensor:
        """The initial state of ``n`` documents, ``[n, S]``."""
        h = self.model.cell.init_state(n)
        return h if dtype is None else h.to(dtype)

    def embeddings(self) -> Tensor:
        """Input vector of every token id, float64 ``[V, I]`` (row 0 is padding)."""
        return self.model.embedding.weight.detach().double()

    def embed(self, ids: Tensor) -> Tensor:
        """Input vectors of token ids (the model's own dtype)."""
        return self.model.embedding(ids)

    def x_star(self, input_point: str) -> Tensor:
        """The constant input of the fixed points, float64 ``[I]``: ``"zero"`` (the paper) or ``"mean"`` (the mean
        input vector over the vocabulary, padding excluded)."""
        emb = self.embeddings()
        if input_point == "mean":
            return emb[1:].mean(0)
        if input_point == "zero":
            return torch.zeros(emb.shape[1], dtype=torch.float64)
        raise ArgumentError(f"input_point={input_point!r}: choose 'zero' (the paper) or 'mean'")

    @torch.no_grad()
    def relax(self, h: Tensor, x: Tensor, steps: int) -> Tensor:
        """``steps`` steps of the network at constant input ``x`` from every row of ``h`` ``[B, S]``."""
        xb = x.to(h.dtype).expand(h.shape[0], -1)
        for _ in range(steps):
            h = self.model.cell.step(xb, h)
        return h

    @torch.no_grad()
    def quick_relax(self, h: Tensor, x: Tensor, steps: int) -> Tensor:
        """:meth:`relax` through torch's fused kernel where the state is exactly the kernel's output
        (vanilla, GRU); equal to rounding."""
        return self.model.cell.relax_fused(h, x, steps)

    # ------------------------------------------------------------------ documents
    @torch.no_grad()
    def states(self, encoded: Any, *, batch_size: int = 64) -> list[np.ndarray]:
        """Every visited state per document of an :class:`rnnlens.data.Encoded`: a list of float32
        ``[length, S]`` arrays (entry t: the state after token t)."""
        from rnnlens.data import batches

        out = [None] * len(encoded)
        for b in batches(encoded, batch_size, shuffle=False):
            hs = self.model.states(b.ids, b.lengths)
            for r, p in enumerate(b.index.tolist()):
                out[p] = hs[r, :int(b.lengths[r])].float().numpy()
        return out

    @torch.no_grad()
    def quick_states(self, ids: Tensor) -> Tensor:
        """Every state ``[B, T, S]`` of token ids ``[B, T]`` (no padding), through torch's fused kernel where
        the state is exactly the kernel's output (vanilla, GRU), else the exact step path."""
        return self.model.cell.run_fused(self.model.embedding(ids))

    @torch.no_grad()
    def final_states(self, x: Tensor, lengths: Tensor) -> Tensor:
        """The state after each row's last valid input, for input vectors ``x`` ``[B, T, I]``."""
        return self.model.cell.final_state(x, lengths)

    # ------------------------------------------------------------------ readout
    def readout_matrix(self) -> np.ndarray:
        """Readout weights over the whole state, float64 ``[n_out, S]`` (zeros over the LSTM's ``c``)."""
        return self.model.readout_matrix().double().numpy()

    def readout_bias(self) -> np.ndarray:
        """Readout bias, float64 ``[n_out]``."""
        return self.model.readout.bias.detach().double().numpy()

    def readout_direction(self) -> np.ndarray:
        """The readout direction w ``[S]`` (:func:`rnnlens.analysis.geometry.readout_direction`, the one sign
        rule: binary, the single row; k classes, last class minus first)."""
        return readout_direction(self.readout_matrix())

    def readout_value(self, h: Any) -> np.ndarray:
        """``w . h`` for states ``h`` ``[..., S]`` (float64)."""
        return np.asarray(h, dtype=np.float64) @ self.readout_direction()

    def logits(self, h: Tensor) -> Tensor:
        """Logits of states ``h`` ``[..., S]`` (cast to the readout's dtype): ``[...]`` binary, ``[..., k]``."""
        return self.model.logits_from_state(h.to(self.model.readout.weight.dtype))

    @torch.no_grad()
    def predict(self, h: Tensor) -> np.ndarray:
        """Predicted labels of states ``h`` (:func:`rnnlens.model.predict_labels` of their logits)."""
        from rnnlens.model import predict_labels

        return predict_labels(self.logits(h)).numpy()
