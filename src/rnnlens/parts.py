"""The parts a :class:`rnnlens.network.Network` is made of, each behind one small interface.

* **Recurrence** (:class:`Recurrence`): the dynamical system ``h' = F(x, h)`` over the whole state. Made
  from an rnnlens cell (:class:`CellRecurrence`), a torch ``nn.RNN`` / ``nn.GRU`` / ``nn.LSTM`` with any
  ``num_layers`` and ``batch_first`` either way (:class:`TorchRecurrence`: a stacked RNN is one system
  whose state is every layer's h, and c, concatenated layer by layer, see
  :func:`rnnlens.stacked.state_layout`), or a step callable with its initial state
  (:class:`CallableRecurrence`). Each says which slice of the state the readout sees.
* **Readout** (:func:`as_readout`): an ``nn.Linear`` on that slice (:class:`LinearReadout`), its matrix over
  the whole state; or any callable on it, e.g. an MLP head (:class:`CallableReadout`), whose predictions are
  its own and whose matrix is its Jacobian averaged over reference states (its linearization).
* **Tokenizer** (:func:`as_tokenizer`): an rnnlens ``Vocab``, a Hugging Face ``tokenizers.Tokenizer``
  or a callable ``str -> list[int]``, as one object with ``encode``, ``stoi``, ``itos`` and ``unk_id``.

Models that are not a dynamical system read out at the final state are refused with the reason
(:func:`check_recurrent_module`, :func:`rnnlens.steps.check_torch_rnn`).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from rnnlens.errors import ArgumentError

__all__ = [
    "Recurrence",
    "CellRecurrence",
    "TorchRecurrence",
    "CallableRecurrence",
    "LinearReadout",
    "CallableReadout",
    "as_readout",
    "TextTokenizer",
    "as_recurrence",
    "as_tokenizer",
    "check_recurrent_module",
    "reinitialized",
]

NOT_A_SYSTEM = (
    "rnnlens analyses a network whose prediction is a readout of the recurrent state after the last "
    "input: the state then carries everything the network knows, and its dynamics are the "
    "object. "
)


def check_recurrent_module(module: Any) -> None:
    """ArgumentError, saying why and what can be analysed instead, for a torch recurrent module that is not one
    forward dynamical system (a bidirectional RNN, LSTM projections; :func:`rnnlens.steps.check_torch_rnn`);
    anything else passes here."""
    if isinstance(module, (nn.RNN, nn.GRU, nn.LSTM)):
        from rnnlens.steps import check_torch_rnn

        check_torch_rnn(module)


class Recurrence:
    """The recurrent dynamical system of a network (see the module docstring). Subclasses set
    ``state_size``, ``input_size``, ``source`` (what :func:`rnnlens.steps.as_step` takes) and
    ``readout_slice`` (the coordinates of the state the readout reads)."""

    state_size: int
    input_size: int
    source: Any
    readout_slice: slice

    def step(self, x: Tensor, h: Tensor) -> Tensor:
        """``h' = F(x, h)``: x ``[B, I]``, h ``[B, S]``."""
        raise NotImplementedError  # pragma: no cover

    def init_state(self, n: int) -> Tensor:
        """The initial state of ``n`` sequences, ``[n, S]``."""
        raise NotImplementedError  # pragma: no cover

    def run(self, x: Tensor) -> Tensor:
        """Every state ``[B, T, S]`` of input vectors ``x`` ``[B, T, I]`` from the initial state."""
        h = self.init_state(x.shape[0]).to(x.dtype)
        out = []
        for t in range(x.shape[1]):
            h = self.step(x[:, t], h)
            out.append(h)
        return torch.stack(out, 1)

    def final_state(self, x: Tensor, lengths: Tensor) -> Tensor:
        """The state after each row's last valid input (``lengths`` ``[B]``, padded ``x`` ``[B, T, I]``)."""
        hs = self.run(x)
        idx = (torch.as_tensor(lengths).to(hs.device) - 1).clamp_min(0)
        return hs[torch.arange(hs.shape[0]), idx]

    def run_fused(self, x: Tensor) -> Tensor:
        """:meth:`run`, through a fused kernel where the system has one (equal to rounding)."""
        return self.run(x)

    def relax_fused(self, h: Tensor, x: Tensor, steps: int) -> Tensor:
        """``steps`` steps at constant input ``x`` ``[I]`` from every row of ``h``."""
        xb = x.to(h.dtype).expand(h.shape[0], -1)
        for _ in range(steps):
            h = self.step(xb, h)
        return h

    def output(self, h: Tensor) -> Tensor:
        """The part of the state the readout sees."""
        return h[..., self.readout_slice]

    def modules(self) -> list[nn.Module]:
        """The torch modules holding the system's parameters (for re-initialising a copy)."""
        return [self.source] if isinstance(self.source, nn.Module) else []

    def to(self, device: torch.device, move: Callable[[Any], Any]) -> Recurrence:
        """This system on ``device``, its source replaced by ``move(source)`` (a module's copy moved there; a plain
        callable as it is)."""
        out = copy.copy(self)
        out.source = move(self.source)
        return out


class CellRecurrence(Recurrence):
    """An rnnlens cell (:mod:`rnnlens.cells`): its own step, closed-form Jacobians and fast paths; also any object
    with ``step``, ``init_state``, ``state_size`` and ``input_size`` (and, optionally, ``output``, ``run``,
    ``final_state``), whose missing parts are done by stepping."""

    def __init__(self, cell: Any):
        self.source = cell
        self.state_size, self.input_size = int(cell.state_size), int(cell.input_size)
        self.readout_slice = slice(0, int(getattr(cell, "hidden_size", cell.state_size)))

    def step(self, x: Tensor, h: Tensor) -> Tensor:
        return self.source.step(x, h)

    def init_state(self, n: int) -> Tensor:
        return self.source.init_state(n)

    def run(self, x: Tensor) -> Tensor:
        return self.source.run(x) if hasattr(self.source, "run") else super().run(x)

    def final_state(self, x: Tensor, lengths: Tensor) -> Tensor:
        if hasattr(self.source, "final_state"):
            return self.source.final_state(x, lengths)
        return super().final_state(x, lengths)

    def run_fused(self, x: Tensor) -> Tensor:
        return self.source.run_fused(x) if hasattr(self.source, "run_fused") else self.run(x)

    def relax_fused(self, h: Tensor, x: Tensor, steps: int) -> Tensor:
        if hasattr(self.source, "relax_fused"):
            return self.source.relax_fused(h, x, steps)
        return super().relax_fused(h, x, steps)

    def output(self, h: Tensor) -> Tensor:
        return self.source.output(h) if hasattr(self.source, "output") else super().output(h)


class TorchRecurrence(Recurrence):
    """A torch ``nn.RNN`` / ``nn.GRU`` / ``nn.LSTM``, any ``num_layers``, ``batch_first`` either way, as one
    system over the stacked state (:func:`rnnlens.stacked.state_layout`); the readout sees the last layer's h.
    Analysed in eval mode (no dropout between layers)."""

    def __init__(self, module: nn.RNNBase):
        from rnnlens.stacked import state_layout
        from rnnlens.steps import torch_rnn_step

        check_recurrent_module(module)
        self.source = module
        self._step = torch_rnn_step(module)
        layout = state_layout(module)
        self.state_size = max(s.stop for _, _, s in layout)
        self.input_size = int(module.input_size)
        top = [s for kind, layer, s in layout if kind == "h" and layer == module.num_layers - 1]
        self.readout_slice = top[0]

    def to(self, device: torch.device, move: Callable[[Any], Any]) -> TorchRecurrence:
        return TorchRecurrence(move(self.source))  # the step closes over its module: made anew

    def step(self, x: Tensor, h: Tensor) -> Tensor:
        return self._step(x, h)

    def init_state(self, n: int) -> Tensor:
        p = next(self.source.parameters())
        return torch.zeros(n, self.state_size, dtype=p.dtype, device=p.device)

    def run(self, x: Tensor) -> Tensor:
        from rnnlens.stacked import run_states

        return run_states(self.source, x)


class CallableRecurrence(Recurrence):
    """A step callable ``F(x, h) -> h'`` with its initial state ``h0`` ``[S]``; the readout sees ``readout_slice``
    of the state (default: all of it)."""

    def __init__(
        self, step: Callable[[Tensor, Tensor], Tensor], h0: Tensor, input_size: int, readout_slice: slice | None = None
    ):
        h0 = torch.as_tensor(h0)
        if h0.dim() != 1 or not h0.is_floating_point():
            raise ArgumentError(f"the initial state must be a float vector [S]; got shape {tuple(h0.shape)}")
        self.source, self._h0 = step, h0.detach()
        self.state_size, self.input_size = int(h0.shape[0]), int(input_size)
        self.readout_slice = readout_slice or slice(0, self.state_size)

    def step(self, x: Tensor, h: Tensor) -> Tensor:
        return self.source(x, h)

    def init_state(self, n: int) -> Tensor:
        return self._h0.expand(n, -1).clone()

    def to(self, device: torch.device, move: Callable[[Any], Any]) -> CallableRecurrence:
        from rnnlens.device import to_device

        return CallableRecurrence(move(self.source), to_device(self._h0, device), self.input_size, self.readout_slice)


def as_recurrence(rnn: Any, *, h0: Tensor | None = None, input_size: int | None = None) -> Recurrence:
    """The :class:`Recurrence` of ``rnn``: an rnnlens cell, a torch ``nn.RNN``/``nn.GRU``/``nn.LSTM`` or a step
    callable (then ``h0`` and ``input_size`` are needed)."""
    if isinstance(rnn, Recurrence):
        return rnn
    if isinstance(rnn, (nn.RNN, nn.GRU, nn.LSTM)):
        from rnnlens.cells import cell_from_torch

        check_recurrent_module(rnn)
        cell = cell_from_torch(rnn)  # one layer: the rnnlens cell with the same weights, exactly
        return TorchRecurrence(rnn) if cell is None else CellRecurrence(cell)
    if isinstance(rnn, nn.RNNCellBase):
        raise ArgumentError(
            f"{type(rnn).__name__}: pass the nn.RNN / nn.GRU / nn.LSTM it belongs to, or a step "
            "callable F(x, h) -> h' with its initial state (h0=)"
        )
    if all(hasattr(rnn, a) for a in ("step", "state_size", "input_size", "init_state")):
        return CellRecurrence(rnn)
    if callable(rnn):
        if h0 is None or input_size is None:
            raise ArgumentError(
                "a step callable F(x, h) -> h' needs its initial state (h0=, a vector [S]) and "
                "the size of its inputs (input_size=)"
            )
        return CallableRecurrence(rnn, h0, input_size)
    raise ArgumentError(
        f"the recurrence must be an nn.RNN / nn.GRU / nn.LSTM, an rnnlens cell or a step callable "
        f"F(x, h) -> h'; got {type(rnn).__name__}"
    )


def _classes(n_out: int, num_classes: int | None) -> int:
    """Classes of a readout with ``n_out`` outputs, checked against ``num_classes`` when given."""
    classes = 2 if n_out == 1 else n_out
    if num_classes is not None and num_classes != classes:
        raise ArgumentError(
            f"the readout has {n_out} output(s), which is {classes} classes (1 output: a binary "
            f"classifier; k outputs: k classes), not num_classes={num_classes}"
        )
    return classes


def _readout_width(recurrence: Recurrence) -> int:
    return recurrence.readout_slice.stop - recurrence.readout_slice.start


class LinearReadout:
    """An ``nn.Linear`` reading the recurrence's ``readout_slice``: 1 output is a binary classifier (logistic),
    k outputs k classes (softmax)."""

    linearized = True

    def __init__(self, linear: nn.Linear, recurrence: Recurrence, num_classes: int | None = None):
        width = _readout_width(recurrence)
        if linear.in_features != width:
            raise ArgumentError(
                f"the readout reads {linear.in_features} numbers but the recurrence's readout part "
                f"has {width} (the last layer's h); the readout must map the final hidden state"
            )
        self.linear, self.recurrence = linear, recurrence
        self.num_classes = _classes(linear.out_features, num_classes)

    def logits(self, h: Tensor) -> Tensor:
        """Logits of states ``h`` ``[..., S]``: ``[...]`` binary, ``[..., k]``."""
        out = self.linear(self.recurrence.output(h.to(self.linear.weight.dtype)))
        return out.squeeze(-1) if self.num_classes == 2 else out

    def matrix(self) -> np.ndarray:
        """The readout's weights over the whole state, float64 ``[n_out, S]`` (zeros where it does not read)."""
        W = np.zeros((self.linear.out_features, self.recurrence.state_size))
        W[:, self.recurrence.readout_slice] = self.linear.weight.detach().double().cpu().numpy()
        return W

    def bias(self) -> np.ndarray:
        """The bias, float64 ``[n_out]`` (zeros without one)."""
        b = self.linear.bias
        return np.zeros(self.linear.out_features) if b is None else b.detach().double().cpu().numpy()

    def linearize(self, states: Any = None, *, matrix: Any = None, bias: Any = None) -> LinearReadout:
        """Itself: a linear readout is its own linearization."""
        return self

    def to(self, recurrence: Recurrence, move: Callable[[Any], Any]) -> LinearReadout:
        """This readout of ``recurrence`` (the system moved to a device), its layer replaced by ``move(linear)``."""
        return LinearReadout(move(self.linear), recurrence, self.num_classes)


NOT_A_FINAL_STATE_READOUT = (
    "the readout must be an nn.Linear or a callable on the final state's top-layer h ([B, {width}] -> logits "
    "[B] or [B, k]); {problem}. " + NOT_A_SYSTEM + "Pooling or attention over all states does not read the final "
    "state: analyse the recurrence with a readout of its last state (e.g. a probe fitted on the final states), or "
    "the solvers alone (rnnlens.find_fixed_points)."
)


class CallableReadout:
    """A readout that is any callable ``g`` on the recurrence's readout part (e.g. an MLP head): ``[B, H]`` ->
    logits ``[B]`` / ``[B, 1]`` (binary) or ``[B, k]`` (k classes).

    Predictions (:meth:`logits`) are ``g``'s own. The analysis also needs one matrix over the state (the readout
    direction): :meth:`linearize` fixes it as g's Jacobian averaged over reference states (float64), with the
    bias making the linear map exact on average, ``b = mean(g(h) - W h)``, and ``r2``, the share of the logits'
    variance over those states that the linear map explains (1: g is linear there). :func:`rnnlens.analyze` uses
    the final states of the documents it analyses."""

    def __init__(
        self,
        fn: Callable[[Tensor], Tensor],
        recurrence: Recurrence,
        num_classes: int | None = None,
        *,
        W: np.ndarray | None = None,
        b: np.ndarray | None = None,
        r2: float | None = None,
        n_states: int = 0,
    ):
        self.fn, self.recurrence = fn, recurrence
        params = list(fn.parameters()) if isinstance(fn, nn.Module) else []
        params = params or [p for m in recurrence.modules() for p in m.parameters()]
        self.dtype = params[0].dtype if params else torch.float32  # a plain function: the recurrence's dtype
        self.device = params[0].device if params else recurrence.init_state(1).device
        self.n_out = self._probe()
        self.num_classes = _classes(self.n_out, num_classes)
        self.W, self.b, self.r2, self.n_states = W, b, r2, n_states

    def _probe(self) -> int:
        width = _readout_width(self.recurrence)
        try:
            with torch.no_grad():
                out = self.fn(torch.zeros(3, width, dtype=self.dtype, device=self.device))
        except Exception as e:  # noqa: BLE001 - any failure on a final state is the user's readout's shape
            raise ArgumentError(
                NOT_A_FINAL_STATE_READOUT.format(
                    width=width,
                    problem=f"{type(self.fn).__name__} failed on final states [3, {width}]: {type(e).__name__}: {e}",
                )
            ) from None
        shape = tuple(getattr(out, "shape", ()))
        if not isinstance(out, Tensor) or shape[:1] != (3,) or len(shape) > 2:
            raise ArgumentError(
                NOT_A_FINAL_STATE_READOUT.format(
                    width=width,
                    problem=f"{type(self.fn).__name__} gave {type(out).__name__} of shape {shape} for final "
                    f"states [3, {width}]",
                )
            )
        return 1 if len(shape) == 1 else int(shape[1])

    @property
    def linearized(self) -> bool:
        return self.W is not None

    def _outputs(self, h: Tensor) -> Tensor:
        """``g`` on states ``[..., S]`` (leading axes flattened into one batch) as ``[..., n_out]``."""
        top = self.recurrence.output(h.to(self.dtype))
        return self.fn(top.reshape(-1, top.shape[-1])).reshape(*h.shape[:-1], self.n_out)

    def logits(self, h: Tensor) -> Tensor:
        """Logits of states ``h`` ``[..., S]``: ``[...]`` binary, ``[..., k]``."""
        out = self._outputs(h)
        return out.squeeze(-1) if self.num_classes == 2 else out

    def _need_fit(self) -> None:
        if self.W is None:
            raise ArgumentError(
                "this network's readout is a callable: its matrix over the state is its "
                "linearization at reference states; call network.linearize_readout(states) with "
                "final states (rnnlens.analyze does this with the documents it analyses)"
            )

    def matrix(self) -> np.ndarray:
        """The linearization's matrix over the whole state, float64 ``[n_out, S]``."""
        self._need_fit()
        return np.array(self.W)

    def bias(self) -> np.ndarray:
        """The linearization's bias, float64 ``[n_out]``."""
        self._need_fit()
        return np.array(self.b)

    def linearize(self, states: Any = None, *, matrix: Any = None, bias: Any = None) -> CallableReadout:
        """A copy linearized at ``states`` ``[M, S]`` (see the class docstring), or with a given ``matrix``
        ``[n_out, S]`` and ``bias`` ``[n_out]`` (e.g. an earlier analysis's)."""
        kw = dict(num_classes=self.num_classes)
        if matrix is not None:
            W = np.asarray(matrix, dtype=np.float64).reshape(self.n_out, self.recurrence.state_size)
            b = np.zeros(self.n_out) if bias is None else np.asarray(bias, dtype=np.float64).reshape(self.n_out)
            return CallableReadout(self.fn, self.recurrence, W=W, b=b, **kw)
        H = torch.as_tensor(np.asarray(states)).to(dtype=self.dtype, device=self.device)
        if H.dim() != 2 or H.shape[0] < 1 or H.shape[1] != self.recurrence.state_size:
            raise ArgumentError(
                f"linearize_readout: states must be [M >= 1, {self.recurrence.state_size}]; got {tuple(H.shape)}"
            )
        H = H.detach().requires_grad_(True)
        out = self._outputs(H)
        rows = [torch.autograd.grad(out[:, k].sum(), H, retain_graph=k + 1 < self.n_out)[0] for k in range(self.n_out)]
        W = torch.stack(rows, 1).double().mean(0).cpu().numpy()  # [n_out, S]
        Hd, Y = H.detach().double().cpu().numpy(), out.detach().double().cpu().numpy()
        b = (Y - Hd @ W.T).mean(0)
        resid = Y - (Hd @ W.T + b)
        total = ((Y - Y.mean(0)) ** 2).sum()
        r2 = float(1.0 - (resid**2).sum() / total) if total > 0 else float("nan")
        return CallableReadout(self.fn, self.recurrence, W=W, b=b, r2=r2, n_states=int(H.shape[0]), **kw)

    def to(self, recurrence: Recurrence, move: Callable[[Any], Any]) -> CallableReadout:
        """This readout of ``recurrence`` (the system moved to a device), ``move(fn)`` in place of ``fn``, with the
        same linearization."""
        return CallableReadout(
            move(self.fn), recurrence, self.num_classes, W=self.W, b=self.b, r2=self.r2, n_states=self.n_states
        )


def as_readout(readout: Any, recurrence: Recurrence, num_classes: int | None = None) -> Any:
    """An ``nn.Linear`` as a :class:`LinearReadout`; any other callable as a :class:`CallableReadout`; anything
    else an ArgumentError."""
    if isinstance(readout, nn.Linear):
        return LinearReadout(readout, recurrence, num_classes)
    if callable(readout):
        return CallableReadout(readout, recurrence, num_classes)
    raise ArgumentError(
        NOT_A_FINAL_STATE_READOUT.format(width=_readout_width(recurrence), problem=f"got {type(readout).__name__}")
    )


class TextTokenizer:
    """A tokenizer as the analysis reads it: ``encode(text) -> int64 ids``, ``stoi``/``itos`` (None when the
    tokenizer has no word list: the sections that need words are then skipped), ``unk_id`` (None: unknown)."""

    def __init__(
        self,
        encode: Callable[[str], Any],
        *,
        itos: list[str] | None = None,
        unk_id: int | None = None,
        name: str = "tokenizer",
    ):
        self._encode, self.itos, self.unk_id, self.name = encode, itos, unk_id, name
        self.stoi = None if itos is None else {t: i for i, t in enumerate(itos)}

    def encode(self, text: str) -> np.ndarray:
        ids = np.asarray(self._encode(text), dtype=np.int64).reshape(-1)
        return ids

    def __len__(self) -> int:
        return 0 if self.itos is None else len(self.itos)


def as_tokenizer(tokenizer: Any) -> Any:
    """An rnnlens ``Vocab`` as it is; a Hugging Face ``tokenizers.Tokenizer`` (ids of ``encode(text).ids``, its
    vocabulary as the word list, ``[UNK]``/``<unk>`` as the unknown token) or a callable ``str -> list[int]`` as
    a :class:`TextTokenizer`."""
    from rnnlens.data import Vocab

    if tokenizer is None or isinstance(tokenizer, (Vocab, TextTokenizer)):
        return tokenizer
    if hasattr(tokenizer, "get_vocab") and hasattr(tokenizer, "encode"):  # tokenizers.Tokenizer
        vocab = tokenizer.get_vocab()
        itos = [""] * (max(vocab.values()) + 1 if vocab else 0)
        for tok, i in vocab.items():
            itos[i] = tok
        unk = next((vocab[t] for t in ("[UNK]", "<unk>", "<UNK>") if t in vocab), None)
        return TextTokenizer(
            lambda text: tokenizer.encode(text, add_special_tokens=False).ids,
            itos=itos,
            unk_id=unk,
            name=type(tokenizer).__name__,
        )
    if callable(tokenizer):
        return TextTokenizer(tokenizer, name=getattr(tokenizer, "__name__", type(tokenizer).__name__))
    raise ArgumentError(
        f"the tokenizer must be an rnnlens Vocab, a tokenizers.Tokenizer or a callable "
        f"str -> list[int]; got {type(tokenizer).__name__}"
    )


def reinitialized(modules: list[nn.Module], seed: int) -> list[nn.Module]:
    """Deep copies of ``modules`` with every parameter re-drawn by its own ``reset_parameters`` under torch seed
    ``seed`` (the untrained null model of the same architecture)."""
    torch.manual_seed(seed)
    out = []
    for m in modules:
        c = copy.deepcopy(m)
        for sub in c.modules():
            if hasattr(sub, "reset_parameters"):
                sub.reset_parameters()
        out.append(c)
    return out
