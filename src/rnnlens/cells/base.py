"""What every rnnlens cell is: :class:`Cell`, a step ``h_{t+1} = F(h_t, x_t)`` with an exact path and a fast path,
and :class:`_Scan`, the recurrence with a hand-written backward pass that the gated cells' fast path runs."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from rnnlens.constants import INITS
from rnnlens.errors import ArgumentError


def _positive_int(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ArgumentError(f"{name} must be a positive integer, got {value!r}.")
    return value


def _shape(t) -> str:
    return f"a tensor of shape {tuple(t.shape)}" if isinstance(t, Tensor) else f"a {type(t).__name__}"


def _scaled_rows(terms, diagonal=None, out=None) -> Tensor:
    """``sum_k diag(a_k) M_k (+ diag(d))`` for a batch, accumulated in one buffer.

    terms: pairs ``(a_k [B, R], M_k [R, C])``; diagonal: ``d [B, R]`` or None; out: a ``[B, R, C]``
    view to write into (e.g. a block of a larger Jacobian), or None for a new tensor. Each term is
    one fused multiply-add over the output (no [B, R, C] temporaries).
    """
    if out is None:
        (a, M), *terms = terms
        out = a.unsqueeze(-1) * M
    else:
        out.zero_()
    for a, M in terms:
        out.addcmul_(a.unsqueeze(-1), M)
    if diagonal is not None:
        out.diagonal(dim1=-2, dim2=-1).add_(diagonal)
    return out


class Cell(nn.Module):
    """A recurrent cell ``h_{t+1} = F(h_t, x_t)`` with an exact step path and a fast sequence path.

    Attributes: ``arch`` (one of :data:`ARCHS`), ``input_size`` (I), ``hidden_size`` (N) and
    ``state_size`` (S: N, or 2N for the LSTM whose state is ``cat([h, c], -1)``).
    """

    arch: str = ""
    state_factor: int = 1
    FAST_PATHS: tuple = ("scan",)
    h0: nn.Parameter | None  # registered in __init__ (None until learn_initial_state)

    def __init__(self, input_size: int, hidden_size: int, *, fast_path: str | None = None):
        super().__init__()
        self.input_size = _positive_int(input_size, "input_size")
        self.hidden_size = _positive_int(hidden_size, "hidden_size")
        self.fast_path = self.FAST_PATHS[0] if fast_path is None else fast_path
        self.register_parameter("h0", None)  # a trained initial state [S] (learn_initial_state), or zeros

    def learn_initial_state(self) -> Cell:
        """Give the cell a trained initial state: a parameter ``h0`` ``[S]`` (zeros at first) that every sequence
        starts from (:meth:`init_state`, :meth:`run`, :meth:`final_state`, the fused paths) instead of zeros."""
        if self.h0 is None:
            p = next(self.parameters())
            self.h0 = nn.Parameter(torch.zeros(self.state_size, dtype=p.dtype, device=p.device))
        return self

    @torch.no_grad()
    def initialize(
        self, recurrent: str = "default", recurrent_gain: float = 1.0, inputs: str = "default", input_gain: float = 1.0
    ) -> Cell:
        """Redraw the recurrent and input weights, one ``[N, fan_in]`` block per gate, by one of :data:`INITS`
        with its gain (``"default"`` leaves torch's draw as it is). Biases are left as they are (the LSTM's
        forget bias stays +1). Draws from torch's global generator: seed it first."""
        W_ih, W_hh = self._weight_matrices()
        for name, how, gain, W in (
            ("recurrent", recurrent, recurrent_gain, W_hh),
            ("inputs", inputs, input_gain, W_ih),
        ):
            if how not in INITS:
                raise ArgumentError(
                    f"{type(self).__name__}.initialize: {name}={how!r}: choose one of {', '.join(INITS)}."
                )
            if not (isinstance(gain, (int, float)) and not isinstance(gain, bool) and math.isfinite(gain) and gain > 0):
                raise ArgumentError(
                    f"{type(self).__name__}.initialize: the {name} gain must be a number > 0, got {gain!r}."
                )
            for block in W.split(self.hidden_size, 0):
                if how == "normal":
                    block.normal_(0.0, gain / math.sqrt(block.shape[1]))
                elif how == "orthogonal":
                    nn.init.orthogonal_(block, gain=gain)
        return self

    def _weight_matrices(self) -> tuple[Tensor, Tensor]:
        """The input weights ``[G N, I]`` and the recurrent weights ``[G N, N]`` (G gate blocks of N rows)."""
        W, _, U, _, _ = self._scan_parameters()
        return W, U

    @property
    def fast_path(self) -> str:
        """How :meth:`final_state` runs: ``"fused"`` (torch kernel) or ``"scan"`` (hand-written BPTT)."""
        return self._fast_path

    @fast_path.setter
    def fast_path(self, value: str) -> None:
        if value not in self.FAST_PATHS:
            raise ArgumentError(
                f"{type(self).__name__}: fast_path={value!r} is not available for arch {self.arch!r}; "
                f"choose one of {', '.join(map(repr, self.FAST_PATHS))}."
            )
        self._fast_path = value

    @property
    def state_size(self) -> int:
        """Number of state variables S (2 * hidden_size for the LSTM, else hidden_size)."""
        return self.state_factor * self.hidden_size

    def extra_repr(self) -> str:
        return (
            f"arch={self.arch!r}, input_size={self.input_size}, hidden_size={self.hidden_size}, "
            f"fast_path={self.fast_path!r}"
        )

    # ----------------------------------------------------------------- argument checks
    def _check_step_args(self, x, h, method: str) -> None:
        if not isinstance(x, Tensor) or x.dim() != 2 or x.shape[1] != self.input_size:
            raise ArgumentError(
                f"{type(self).__name__}.{method}: argument x must be a tensor of shape "
                f"[batch, input_size={self.input_size}], got {_shape(x)}."
            )
        if not isinstance(h, Tensor) or h.dim() != 2 or h.shape[1] != self.state_size:
            raise ArgumentError(
                f"{type(self).__name__}.{method}: argument h must be a tensor of shape "
                f"[batch, state_size={self.state_size}], got {_shape(h)}"
                + (" (the LSTM state is cat([h, c], -1))." if self.arch == "lstm" else ".")
            )
        if x.shape[0] != h.shape[0]:
            raise ArgumentError(
                f"{type(self).__name__}.{method}: x and h must have the same batch size, "
                f"got {x.shape[0]} and {h.shape[0]}."
            )

    def _check_sequence(self, x, method: str) -> None:
        if not isinstance(x, Tensor) or x.dim() != 3 or x.shape[2] != self.input_size:
            raise ArgumentError(
                f"{type(self).__name__}.{method}: argument x must be a tensor of shape "
                f"[batch, time, input_size={self.input_size}], got {_shape(x)}."
            )
        if x.shape[0] < 1 or x.shape[1] < 1:
            raise ArgumentError(
                f"{type(self).__name__}.{method}: x is empty (shape {tuple(x.shape)}); "
                "it needs at least one sequence and one time step."
            )

    def _initial(self, x: Tensor, h0, method: str) -> Tensor:
        if h0 is None:
            if self.h0 is not None:
                return self.h0.to(x.dtype).expand(x.shape[0], -1)
            return x.new_zeros(x.shape[0], self.state_size)
        if not isinstance(h0, Tensor) or h0.shape != (x.shape[0], self.state_size):
            raise ArgumentError(
                f"{type(self).__name__}.{method}: argument h0 must be a tensor of shape "
                f"[batch={x.shape[0]}, state_size={self.state_size}], got {_shape(h0)}."
            )
        return h0.to(x.dtype)

    def _check_lengths(self, lengths, x: Tensor, method: str) -> Tensor:
        if not isinstance(lengths, Tensor):
            lengths = torch.as_tensor(lengths)
        if lengths.dim() != 1 or lengths.shape[0] != x.shape[0] or lengths.dtype.is_floating_point:
            raise ArgumentError(
                f"{type(self).__name__}.{method}: argument lengths must be an integer tensor of shape "
                f"[batch={x.shape[0]}], got {_shape(lengths)} of dtype {lengths.dtype}."
            )
        lengths = lengths.to(device="cpu", dtype=torch.int64)
        lo, hi = int(lengths.min()), int(lengths.max())
        if lo < 1 or hi > x.shape[1]:
            raise ArgumentError(
                f"{type(self).__name__}.{method}: every length must be between 1 and the number of time "
                f"steps {x.shape[1]}, got values from {lo} to {hi}."
            )
        return lengths

    # ----------------------------------------------------------------- public API
    def init_state(self, batch_size: int, *, dtype=None, device=None) -> Tensor:
        """The initial state ``[batch_size, state_size]``: zeros, or the trained ``h0`` when the cell has one
        (dtype/device default to the parameters')."""
        p = next(self.parameters())
        if self.h0 is not None:
            return self.h0.detach().to(dtype=dtype or p.dtype, device=device or p.device).expand(batch_size, -1).clone()
        return torch.zeros(batch_size, self.state_size, dtype=dtype or p.dtype, device=device or p.device)

    def step(self, x: Tensor, h: Tensor) -> Tensor:
        """One update ``h_{t+1} = F(h_t, x_t)``: x ``[B, I]``, h ``[B, S]`` -> ``[B, S]``."""
        self._check_step_args(x, h, "step")
        return self._step(x, h)

    def jacobians(self, x: Tensor, h: Tensor) -> tuple[Tensor, Tensor]:
        """Closed-form Jacobians at ``(x, h)``: ``dF/dh`` ``[B, S, S]`` and ``dF/dx`` ``[B, S, I]``.

        Row i, column j of ``dF/dh`` is ``d h'_i / d h_j`` (for the LSTM over the full ``[h, c]``
        state). No autograd: a few batched products of the gate derivatives with the weights.
        """
        self._check_step_args(x, h, "jacobians")
        return self._jacobians(x, h)

    def jacobian_rec(self, x: Tensor, h: Tensor) -> Tensor:
        """Closed-form ``dF/dh`` ``[B, S, S]`` alone, equal to ``jacobians(x, h)[0]``.

        What the fixed-point solvers need every iteration: the input Jacobian is not formed.
        """
        self._check_step_args(x, h, "jacobian_rec")
        return self._jacobians(x, h, with_input=False)[0]

    def run(self, x: Tensor, h0: Tensor | None = None) -> Tensor:
        """Every state along the sequence by looping :meth:`step` (the exact path).

        x ``[B, T, I]``, optional h0 ``[B, S]`` (the cell's initial state by default) -> ``[B, T, S]`` where entry t is
        the state after reading token t.
        """
        self._check_sequence(x, "run")
        h = self._initial(x, h0, "run")
        out = []
        for t in range(x.shape[1]):
            h = self._step(x[:, t], h)
            out.append(h)
        return torch.stack(out, 1)

    def final_state(self, x: Tensor, lengths, h0: Tensor | None = None) -> Tensor:
        """Fast path: the state after the last valid token, ``[B, S]``.

        x ``[B, T, I]`` (padded), lengths ``[B]`` with ``1 <= lengths <= T``; sequence b reads tokens
        ``0 .. lengths[b]-1`` and returns the state after token ``lengths[b]-1``. Equal (to float
        rounding) to ``run(x, h0)[b, lengths[b] - 1]``.
        """
        self._check_sequence(x, "final_state")
        lengths = self._check_lengths(lengths, x, "final_state")
        h = self._initial(x, h0, "final_state")
        return self._final_state(x, lengths, h)

    def run_fused(self, x: Tensor) -> Tensor:
        """Every state ``[B, T, S]`` from the initial state, through torch's fused kernel where the whole state is
        the kernel's output (vanilla, GRU: faster, equal to rounding), else :meth:`run`."""
        return self.run(x)

    def relax_fused(self, h: Tensor, x: Tensor, steps: int) -> Tensor:
        """``steps`` steps at constant input ``x`` ``[I]`` from every row of ``h`` ``[B, S]`` (fused kernel where
        :meth:`run_fused` has one)."""
        xb = x.to(h.dtype).expand(h.shape[0], -1)
        for _ in range(steps):
            h = self.step(xb, h)
        return h

    def output(self, h: Tensor) -> Tensor:
        """The part of the state the readout sees, ``[..., hidden_size]`` (the LSTM's ``h``)."""
        return h[..., : self.hidden_size]

    # ----------------------------------------------------------------- per-architecture parts
    def _step(self, x: Tensor, h: Tensor) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def _jacobians(self, x: Tensor, h: Tensor, with_input: bool = True) -> tuple[Tensor, Tensor | None]:
        """``(dF/dh, dF/dx)``; ``dF/dx`` is None (not computed) when ``with_input`` is False."""
        raise NotImplementedError  # pragma: no cover - abstract

    def _scan_parameters(self):  # pragma: no cover - abstract
        """(W [G, I], input bias [G], U [G, N], bias inside the recurrent term [G] or None, kernel)."""
        raise NotImplementedError

    def _final_state(self, x: Tensor, lengths: Tensor, h: Tensor) -> Tensor:
        """The scan fast path: input projections of all steps in one matmul, then :class:`_Scan`."""
        W, b_in, U, b_rec, kernel = self._scan_parameters()
        order = torch.argsort(lengths, descending=True, stable=True)
        sorted_len = lengths[order]
        T = int(sorted_len[0])
        # batch_sizes[t] = number of sequences longer than t (as in a PackedSequence)
        batch_sizes = (sorted_len.unsqueeze(0) > torch.arange(T).unsqueeze(1)).sum(1).tolist()
        idx = order.to(x.device)
        xp = torch.addmm(b_in, x[idx, :T].reshape(-1, self.input_size), W.t()).view(x.shape[0], T, -1)
        out = _Scan.apply(xp, h[idx], U, b_rec, kernel, batch_sizes)
        return out[torch.argsort(idx)]


class _Kernel:
    """One architecture's recurrence for :class:`_Scan`, on the rows still running.

    ``forward(xp, s, gh)``: xp ``[b, G]`` input projection, s ``[b, S]`` state, gh ``[b, G]`` the
    recurrent term ``U h (+ b)`` -> (new state, tensors kept for backward).
    ``backward(g, kept, U)``: g = dL/d(new state) ``[b, S]`` -> (dL/ds ``[b, S]``, dL/dxp ``[b, G]``,
    dL/dgh ``[b, G]``).
    """

    def __init__(self, forward, backward):
        self.forward, self.backward = forward, backward


class _Scan(torch.autograd.Function):
    """A recurrence over length-sorted sequences with a hand-written backward pass (BPTT).

    Inputs: ``xp`` ``[B, T, G]``, the input projections of every step (one matmul by the caller);
    ``s0`` ``[B, S]``; ``U`` ``[G, N]`` (applied to the first N state numbers, ``h``); ``b_rec``
    ``[G]`` or None, a bias inside the recurrent term (the GRU's ``b_hh``); a :class:`_Kernel`; and
    ``batch_sizes``, the number of sequences still running at each step, rows sorted by length,
    longest first (as in a packed sequence). A sequence that ends drops out and keeps its state.
    Returns the final states ``[B, S]``.

    The forward pass records no autograd graph; backward runs the recurrence in reverse, writes
    dL/dxp for every step and forms dL/dU (and dL/db_rec) with one matrix product over all steps.
    """

    @staticmethod
    def forward(ctx, xp, s0, U, b_rec, kernel, batch_sizes):
        N = U.shape[1]
        Ut = U.t()
        s, done, kept, h_in = s0, [], [], []
        for t, b in enumerate(batch_sizes):
            if b < s.shape[0]:  # the rows from b on have ended: keep their final state
                done.append(s[b:])
                s = s[:b]
            h = s[:, :N]
            gh = h @ Ut if b_rec is None else torch.addmm(b_rec, h, Ut)
            s, k = kernel.forward(xp[:b, t], s, gh)
            kept.append(k)
            h_in.append(h)
        ctx.kernel, ctx.batch_sizes, ctx.kept, ctx.has_bias = kernel, batch_sizes, kept, b_rec is not None
        ctx.save_for_backward(U, *h_in)
        return torch.cat([s] + done[::-1], 0)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad):
        U, *h_in = ctx.saved_tensors
        bs, T = ctx.batch_sizes, len(ctx.batch_sizes)
        dxp = grad.new_zeros(grad.shape[0], T, U.shape[0])
        g, dgh = grad[: bs[-1]], [None] * T
        for t in range(T - 1, -1, -1):
            if bs[t] > g.shape[0]:  # rows whose last step is t join with the gradient of their final state
                g = torch.cat([g, grad[g.shape[0] : bs[t]]], 0)
            g, dxp[: bs[t], t], dgh[t] = ctx.kernel.backward(g, ctx.kept[t], U)
        dgh = torch.cat(dgh, 0)
        dU = dgh.t() @ torch.cat(h_in, 0)  # sum over steps and rows of dL/dgh h^T
        return dxp, g, dU, dgh.sum(0) if ctx.has_bias else None, None, None
