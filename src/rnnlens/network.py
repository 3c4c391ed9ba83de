"""``Network``: the one view of a trained recurrent classifier that the analysis, the explorer and the
sweep use.

A network is a dynamical system ``h' = F(x, h)`` (the recurrence) fed by an input map (token ids ->
input vectors) and read out by a linear map of its state. ``Network`` owns, in one place:

* the step ``F`` over the whole state (for an LSTM ``[h, c]``; for a stacked RNN every layer's state) as the
  solvers want it (:attr:`step`) and as a plain function (:meth:`step_fn`), the initial state and the
  constant input x* (:meth:`x_star`);
* the readout: its matrix over the whole state, the readout direction and its one sign rule
  (:meth:`readout_direction`: the single row for binary models, last class minus first for k classes),
  logits and predicted labels of states;
* running documents to every visited state and to final states, and relaxing states with the
  network's own dynamics at x*;
* how it is built: from an rnnlens checkpoint (folder or :class:`rnnlens.checkpoint.Checkpoint`) or a
  :class:`rnnlens.model.SentimentRNN` with its vocabulary (``Network(model, vocab)``, :meth:`resolve`), or
  from a user's own parts (:meth:`from_parts`: an ``nn.Embedding``, an ``nn.RNN``/``nn.GRU``/``nn.LSTM`` with
  any number of layers, an ``nn.Linear`` or callable readout, a tokenizer; :mod:`rnnlens.parts`).

Nothing outside ``cells.py``, ``model.py``, ``parts.py`` and this module reaches into a model's internals.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from rnnlens.analysis.geometry import readout_direction
from rnnlens.errors import ArgumentError
from rnnlens.parts import LinearReadout, as_readout, as_recurrence, as_tokenizer, check_recurrent_module, reinitialized

__all__ = ["Network"]


class Network:
    """A trained recurrent classifier seen as a dynamical system with an input map and a readout.

    ``Network(model, vocab)`` views an :class:`rnnlens.model.SentimentRNN`; :meth:`from_parts` builds one
    from a user's own modules.

    Args:
        model: an :class:`rnnlens.model.SentimentRNN` (embedding -> cell -> linear readout).
        vocab: its :class:`rnnlens.data.Vocab` (token <-> id).
        record: how it was made (a checkpoint's ``config.json`` record; empty when unknown).
        path: the checkpoint folder it was read from, if any.

    Raises:
        ArgumentError: a model whose ``cell`` is not a recurrence rnnlens reads, or whose ``readout`` does not take
            the final hidden state's width.
    """

    def __init__(
        self, model: torch.nn.Module, vocab: Any, *, record: dict | None = None, path: Path | str | None = None
    ):
        self.model = model.eval()
        self.vocab = vocab
        self.record = dict(record or {})
        self.path = None if path is None else str(path)
        self.recurrence = as_recurrence(model.cell)
        self.readout = LinearReadout(model.readout, self.recurrence)
        self._embedding: Any = getattr(model, "embedding", None)  # None: fed input vectors (a SequenceRNN)
        self._config = model.config() if hasattr(model, "config") else None
        self._untrained: Callable[[int], Network] = self._untrained_model

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_parts(
        cls,
        *,
        rnn: Any,
        readout: Any,
        embedding: Any = None,
        tokenizer: Any = None,
        num_classes: int | None = None,
        record: dict | None = None,
    ) -> Network:
        """A network from a user's own parts.

        Args:
            rnn: the recurrence: a torch ``nn.RNN`` / ``nn.GRU`` / ``nn.LSTM`` (any ``num_layers``,
                ``batch_first`` either way; a stacked RNN is one system whose state is every layer's h, and c,
                layer by layer), or an rnnlens cell.
            readout: an ``nn.Linear`` on the final state's last-layer h (1 output: binary; k outputs: k classes),
                or any callable on it ``[B, H] -> [B]`` / ``[B, k]`` (e.g. an MLP head): predictions are its own,
                and the analysis reads it through its linearization (:meth:`linearize_readout`).
            embedding: token ids -> input vectors: an ``nn.Embedding``, or a callable on an int64 tensor.
            tokenizer: an rnnlens ``Vocab``, a ``tokenizers.Tokenizer`` or a callable ``str -> list[int]``.
            num_classes: when given, checked against the readout's size.
            record: how it was made (kept in every analysis's provenance).

        Returns:
            The :class:`Network`.

        Raises:
            ArgumentError: a bidirectional RNN or LSTM projections (not one forward system), a readout that is
                not a linear map of the final state or does not match ``num_classes``, an embedding whose width
                is not the recurrence's input size.
        """
        self = cls.__new__(cls)
        check_recurrent_module(rnn)
        self.model = None
        self.recurrence = as_recurrence(rnn)
        self.readout = as_readout(readout, self.recurrence, num_classes)
        self._embedding = embedding
        self.vocab = as_tokenizer(tokenizer)
        self.record = dict(record or {})
        self.path = None
        self._config = {
            "arch": type(rnn).__name__ + (f" x{rnn.num_layers}" if getattr(rnn, "num_layers", 1) > 1 else ""),
            "parts": {"embedding": repr(embedding), "rnn": repr(rnn), "readout": repr(readout)},
        }
        self._check_embedding_width()
        for m in (embedding, rnn, readout):
            if isinstance(m, torch.nn.Module):
                m.eval()

        def untrained(seed: int) -> Network:
            mods = [m for m in (embedding, rnn, readout) if isinstance(m, torch.nn.Module)]
            fresh = dict(zip([id(m) for m in mods], reinitialized(mods, seed)))
            return Network.from_parts(
                rnn=fresh.get(id(rnn), rnn),
                readout=fresh.get(id(readout), readout),
                embedding=fresh.get(id(embedding), embedding),
                tokenizer=self.vocab,
            )

        self._untrained = untrained
        return self

    def _check_embedding_width(self) -> None:
        width = getattr(self._embedding, "embedding_dim", None)
        if width is not None and width != self.recurrence.input_size:
            raise ArgumentError(
                f"the embedding gives vectors of {width} numbers but the recurrence reads inputs of "
                f"{self.recurrence.input_size}; pass the embedding that feeds this RNN"
            )

    @classmethod
    def resolve(cls, network_or_checkpoint: Any, vocab: Any = None) -> Network:
        """A ``Network`` from a ``Network`` (returned as it is), a checkpoint folder, a ``Checkpoint``, or a
        ``SentimentRNN`` together with its ``vocab``. Anything else is an ArgumentError saying what to pass.

        Args:
            network_or_checkpoint: a ``Network``, a checkpoint folder (``str`` or ``Path``, read with
                :func:`rnnlens.checkpoint.load_checkpoint`), a ``Checkpoint``, or a torch module such as a
                ``SentimentRNN``.
            vocab: the module's vocabulary; needed with a bare module, not read otherwise.

        Returns:
            The :class:`Network`; a checkpoint's keeps its record and folder (``path``).

        Raises:
            ArgumentError: a bare module without ``vocab``, or an object of none of the kinds above.
            CheckpointError: a checkpoint folder that is missing, incomplete or from an incompatible version.
        """
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
            if vocab is None and hasattr(obj, "embedding"):  # a SequenceRNN reads input vectors: no vocabulary
                raise ArgumentError(
                    "analyze(model, corpus): a bare model needs its vocabulary: pass "
                    "rnnlens.Network(model, vocab), or a checkpoint folder / Checkpoint"
                )
            return cls(obj, vocab)
        raise ArgumentError(
            f"analyze: the network must be a checkpoint folder, a Checkpoint, a rnnlens.Network or "
            f"a SentimentRNN with its vocabulary; got {type(obj).__name__}"
        )

    def _untrained_model(self, seed: int) -> Network:
        torch.manual_seed(seed)
        return Network(type(self.model)(**self.model.config()), self.vocab)

    def untrained(self, seed: int) -> Network:
        """The same architecture and sizes, freshly initialised with torch seed ``seed`` (the null model), on this
        network's device (drawn on the CPU, so the weights are the same on every device)."""
        return self._untrained(seed).to(self.device)

    # ------------------------------------------------------------------ device
    def _torch_modules(self) -> list[torch.nn.Module]:
        if self.model is not None:
            return [self.model]
        readout = getattr(self.readout, "linear", getattr(self.readout, "fn", None))
        return [m for m in (self._embedding, *self.recurrence.modules(), readout) if isinstance(m, torch.nn.Module)]

    @property
    def device(self) -> torch.device:
        """The device of the network's parameters (of its initial state when it has none; else the CPU)."""
        for m in self._torch_modules():
            for p in m.parameters():
                return p.device
        return self.recurrence.init_state(1).device

    def to(self, device: torch.device | str) -> Network:
        """This network on ``device``: itself when it is there, else a copy whose torch modules are deep copies moved
        there (the modules given stay where they are). A part that is a plain function (a step callable, a readout
        or input map that is not an ``nn.Module``) is kept as it is and is then called with tensors on ``device``;
        a step callable's initial state is moved."""
        from rnnlens.device import to_device

        device = torch.device(device)
        if self.device == device:
            return self
        copies: dict[int, Any] = {}

        def move(part: Any) -> Any:
            if not isinstance(part, torch.nn.Module):
                return part
            if id(part) not in copies:
                copies[id(part)] = to_device(copy.deepcopy(part), device)
            return copies[id(part)]

        if self.model is not None:
            out = Network(move(self.model), self.vocab, record=self.record, path=self.path)
        else:
            out = copy.copy(self)
            out.recurrence = self.recurrence.to(device, move)
            out.readout = self.readout.to(out.recurrence, move)
            out._embedding = move(self._embedding)
        out._untrained = self._untrained
        return out

    # ------------------------------------------------------------------ description
    @property
    def state_size(self) -> int:
        """S, numbers per state (2N for the LSTM's ``[h, c]``; every layer's for a stacked RNN)."""
        return int(self.recurrence.state_size)

    @property
    def num_classes(self) -> int:
        """Classes the readout separates (2: one logit)."""
        return int(self.readout.num_classes)

    @property
    def itos(self) -> list[str] | None:
        """Token of each input id (None when the tokenizer has no word list)."""
        return getattr(self.vocab, "itos", None)

    def config(self) -> dict[str, Any] | None:
        """The keyword arguments that rebuild the model (a description of the parts for :meth:`from_parts`)."""
        return self._config

    # ------------------------------------------------------------------ dynamics
    @property
    def cell(self) -> Any:
        """The recurrence as it was given (an rnnlens cell, a torch RNN module or a step callable): what
        :func:`rnnlens.steps.as_step` wraps for the solvers."""
        return self.recurrence.source

    @property
    def step(self) -> Any:
        """The step ``F(x, h)`` wrapped for the solvers (:func:`rnnlens.fixedpoints.as_step`)."""
        from rnnlens.fixedpoints import as_step

        return as_step(self.recurrence.source)

    def step_fn(self, x: Tensor, h: Tensor) -> Tensor:
        """One update ``h' = F(x, h)``: x ``[B, I]``, h ``[B, S]`` -> ``[B, S]``."""
        return self.recurrence.step(x, h)

    def init_state(self, n: int, dtype: torch.dtype | None = None) -> Tensor:
        """The initial state of ``n`` documents, ``[n, S]``."""
        h = self.recurrence.init_state(n)
        return h if dtype is None else h.to(dtype)

    @property
    def embed_table(self) -> Tensor | None:
        """The table of input vectors (an ``nn.Embedding``'s weight), or None when the input map has none."""
        return getattr(self._embedding, "weight", None)

    def embeddings(self) -> Tensor:
        """Input vector of every token id, float64 ``[V, I]`` (ArgumentError when the input map has no table)."""
        weight = self.embed_table
        if weight is None:
            raise ArgumentError(
                "this network's input map is not an nn.Embedding (no table of input vectors), so the "
                "sections that need one are not measured"
            )
        return weight.detach().double()

    def embed(self, ids: Tensor) -> Tensor:
        """Input vectors of token ids (the model's own dtype)."""
        if self._embedding is None:
            raise ArgumentError("this network has no input map from token ids (it is fed input vectors)")
        return self._embedding(ids)

    def x_star(self, input_point: str) -> Tensor:
        """The constant input of the fixed points, float64 ``[I]``: ``"zero"`` (the paper), ``"mean"`` (the mean
        input vector over the vocabulary, padding excluded) or ``"task"`` (the x* the generated task the network
        was trained on declares, ``record["task"]["x_star"]``: zero for the flip-flop, the middle frequency's cue
        for the sine generator, context 1 without evidence for context-dependent integration; zero for a network
        trained on no task)."""
        if input_point == "zero":
            return torch.zeros(self.recurrence.input_size, dtype=torch.float64)
        if input_point == "task":
            declared = (self.record.get("task") or {}).get("x_star")
            if declared is None:
                return torch.zeros(self.recurrence.input_size, dtype=torch.float64)
            x = torch.tensor(declared, dtype=torch.float64)
            if x.shape != (self.recurrence.input_size,):
                raise ArgumentError(
                    f"the task's x* has {x.numel()} numbers but the network reads {self.recurrence.input_size}"
                )
            return x
        if input_point == "mean":
            emb = self.embeddings()
            pad = getattr(self._embedding, "padding_idx", 0 if self.model is not None else None)
            keep = torch.ones(emb.shape[0], dtype=torch.bool, device=emb.device)
            if pad is not None:
                keep[pad] = False
            return emb[keep].mean(0)
        raise ArgumentError(f"input_point={input_point!r}: choose 'zero' (the paper), 'mean' or 'task'")

    @torch.no_grad()
    def relax(self, h: Tensor, x: Tensor, steps: int) -> Tensor:
        """``steps`` steps of the network at constant input ``x`` from every row of ``h`` ``[B, S]``."""
        xb = x.to(h.dtype).expand(h.shape[0], -1)
        for _ in range(steps):
            h = self.recurrence.step(xb, h)
        return h

    @torch.no_grad()
    def quick_relax(self, h: Tensor, x: Tensor, steps: int) -> Tensor:
        """:meth:`relax` through torch's fused kernel where the state is exactly the kernel's output
        (vanilla, GRU); equal to rounding."""
        return self.recurrence.relax_fused(h, x, steps)

    def read_tokens(self, text: str) -> tuple[list[str], list[int], list[bool]]:
        """``(tokens, ids, unknown)`` of ``text`` as the network's tokenizer reads it: an rnnlens ``Vocab`` splits
        with :func:`rnnlens.data.tokenize` (unknown tokens read as ``<unk>``); another tokenizer gives the ids,
        and the tokens are its words (or the ids as text when it has no word list)."""
        from rnnlens.data import UNK_ID, Vocab, tokenize

        if isinstance(self.vocab, Vocab):
            tokens = tokenize(text)
            ids = [self.vocab.stoi.get(t, UNK_ID) for t in tokens]
            return tokens, ids, [i == UNK_ID for i in ids]
        ids = [int(i) for i in self.vocab.encode(text)]
        itos, unk = self.vocab.itos, getattr(self.vocab, "unk_id", None)
        tokens = [itos[i] if itos is not None and 0 <= i < len(itos) else str(i) for i in ids]
        return tokens, ids, [unk is not None and i == unk for i in ids]

    # ------------------------------------------------------------------ documents
    def _checked_ids(self, ids: Tensor) -> Tensor:
        n = getattr(self._embedding, "num_embeddings", None)
        if n is not None and ids.numel() and (int(ids.min()) < 0 or int(ids.max()) >= n):
            raise ArgumentError(
                f"the tokenizer gave token ids from {int(ids.min())} to {int(ids.max())}, outside the "
                f"embedding's {n} rows: the tokenizer and the embedding do not belong together"
            )
        return ids

    @torch.no_grad()
    def sequence_states(self, ids: Tensor, lengths: Tensor) -> Tensor:
        """Every state ``[B, T, S]`` of padded token ids ``[B, T]`` (positions past a row's end repeat its last
        valid state).

        On the CPU a vanilla or GRU cell runs torch's fused kernel (:meth:`rnnlens.cells.Cell.run_fused`), the
        step path's function, 1.2-1.8x faster: its states equal the step path's to float32 rounding (some sizes
        sum in another order: < 1e-5 relative over 600 tokens in tests/test_document_states.py, ~1e-7 seen) and,
        with MKL, bitwise for the shipped vanilla/GRU networks and a 256-unit IMDB GRU on 400 reviews (trained
        and untrained copies). Other devices keep the step path (a GPU's fused kernel may sum in TF32)."""
        from rnnlens.model import all_finite, hold_last_state

        fused = ids.device.type == "cpu"
        if self.model is not None:
            return self.model.states(ids, lengths, fused=fused)
        x = self.embed(self._checked_ids(ids))
        hs = self.recurrence.run_fused(x) if fused else self.recurrence.run(x)
        if not all_finite(hs):
            raise ArgumentError("the network's states hold NaN or inf (damaged weights, or numbers that overflowed)")
        return hold_last_state(hs, lengths)

    @torch.no_grad()
    def states(self, encoded: Any, *, batch_size: int = 64) -> list[np.ndarray]:
        """Every visited state per document of an :class:`rnnlens.data.Encoded`: a list of float32
        ``[length, S]`` arrays (entry t: the state after token t), computed on the network's device."""
        from rnnlens.data import batches
        from rnnlens.device import to_device

        out: list[Any] = [None] * len(encoded)
        device = self.device
        for b in batches(encoded, batch_size, shuffle=False):
            hs = self.sequence_states(to_device(b.ids, device), b.lengths).float().cpu()
            for r, p in enumerate(b.index.tolist()):
                out[p] = hs[r, : int(b.lengths[r])].numpy()
        return out

    @torch.no_grad()
    def quick_states(self, ids: Tensor) -> Tensor:
        """Every state ``[B, T, S]`` of token ids ``[B, T]`` (no padding), through torch's fused kernel where
        the state is exactly the kernel's output (vanilla, GRU), else the exact step path."""
        return self.recurrence.run_fused(self.embed(self._checked_ids(ids)))

    @torch.no_grad()
    def final_states(self, x: Tensor, lengths: Tensor) -> Tensor:
        """The state after each row's last valid input, for input vectors ``x`` ``[B, T, I]``."""
        return self.recurrence.final_state(x, lengths)

    # ------------------------------------------------------------------ readout
    def readout_matrix(self) -> np.ndarray:
        """Readout weights over the whole state, float64 ``[n_out, S]`` (zeros where the readout does not read,
        e.g. the LSTM's ``c`` and the lower layers of a stack)."""
        if self.model is not None:
            return self.model.readout_matrix().double().cpu().numpy()
        return self.readout.matrix()

    def readout_bias(self) -> np.ndarray:
        """Readout bias, float64 ``[n_out]``."""
        return self.readout.bias()

    @property
    def readout_is_linear(self) -> bool:
        """Whether the readout is a linear map of the state (False: a callable, read through its linearization)."""
        return isinstance(self.readout, LinearReadout)

    def linearize_readout(self, states: Any = None, *, matrix: Any = None, bias: Any = None) -> Network:
        """This network with its readout's matrix fixed (:class:`rnnlens.parts.CallableReadout`): the readout's
        Jacobian averaged over ``states`` ``[M, S]``, or the given ``matrix`` ``[n_out, S]`` and ``bias``. A linear
        readout is its own linearization: the network is returned as it is."""
        if self.readout_is_linear:
            return self
        out = copy.copy(self)
        out.readout = self.readout.linearize(states, matrix=matrix, bias=bias)
        return out

    def readout_direction(self) -> np.ndarray:
        """The readout direction w ``[S]`` (:func:`rnnlens.analysis.geometry.readout_direction`, the one sign
        rule: binary, the single row; k classes, last class minus first)."""
        return readout_direction(self.readout_matrix())

    def logits(self, h: Tensor) -> Tensor:
        """Logits of states ``h`` ``[..., S]`` (cast to the readout's dtype): ``[...]`` binary, ``[..., k]``."""
        if self.model is not None:
            return self.model.logits_from_state(h.to(self.model.readout.weight.dtype))
        return self.readout.logits(h)

    @torch.no_grad()
    def predict(self, h: Tensor) -> np.ndarray:
        """Predicted labels of states ``h`` (:func:`rnnlens.model.predict_labels` of their logits)."""
        from rnnlens.model import predict_labels

        return predict_labels(self.logits(h)).cpu().numpy()
