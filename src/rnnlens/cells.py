"""The four recurrent cells of the paper as step functions h_{t+1} = F(h_t, x_t).

Each cell offers two ways to read a sequence:

* the exact path, :meth:`Cell.step` (the update written out for a batch) looped over time by
  :meth:`Cell.run`; fixed-point finding and linearization use ``step`` and the closed-form
  :meth:`Cell.jacobians`;
* the fast path, :meth:`Cell.final_state`, used for training. For vanilla / GRU / LSTM it is chosen
  by ``cell.fast_path``: ``"fused"`` (the default) runs torch's fused ``nn.RNN`` / ``nn.GRU`` /
  ``nn.LSTM`` kernel over a packed sequence; ``"scan"`` runs :class:`_Scan`, a recurrence with a
  hand-written backward pass (BPTT) over the same parameters, which on CPU trains several times
  faster than the fused kernels (see benchmarks/throughput.py). The UGRNN always uses the scan.

Both paths give the same numbers (tests hold them together). The LSTM state is ``cat([h, c], -1)``
(2N numbers); ``output`` returns the part the readout sees (``h``).

Equations (``σ`` = logistic sigmoid, products elementwise):

* vanilla: ``h' = tanh(W x + b_ih + U h + b_hh)``
* GRU (torch's convention, reset gate applied to ``U_n h + b_hn``):
  ``r = σ(W_r x + b_ir + U_r h + b_hr)``, ``z = σ(W_z x + b_iz + U_z h + b_hz)``,
  ``n = tanh(W_n x + b_in + r (U_n h + b_hn))``, ``h' = (1 - z) n + z h``
* LSTM (gate order i, f, g, o): ``c' = f c + i g``, ``h' = o tanh(c')``; forget-gate bias
  initialised to +1 (``b_if + b_hf = 1``)
* UGRNN: ``u = σ(W_u x + U_u h + b_u)``, ``c = tanh(W_c x + U_c h + b_c)``, ``h' = u h + (1 - u) c``
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence

from rnnlens.constants import ARCHS, INITS
from rnnlens.errors import ArgumentError

__all__ = ["ARCHS", "INITS", "Cell", "VanillaCell", "GRUCell", "LSTMCell", "UGRNNCell", "make_cell", "cell_from_torch"]


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


class _TorchRNNCell(Cell):
    """A cell whose parameters live in a single-layer, batch_first torch ``nn.RNN``/``GRU``/``LSTM``."""

    FAST_PATHS = ("fused", "scan")

    def _weights(self):
        r = self.rnn
        return r.weight_ih_l0, r.weight_hh_l0, r.bias_ih_l0, r.bias_hh_l0

    def run_fused(self, x: Tensor) -> Tensor:
        if self.arch == "lstm":  # the kernel returns h alone; the state holds c too
            return super().run_fused(x)
        if self.h0 is not None:
            return self.rnn(x, self._initial(x, None, "run_fused").unsqueeze(0).contiguous())[0]
        return self.rnn(x)[0]

    def relax_fused(self, h: Tensor, x: Tensor, steps: int) -> Tensor:
        if self.arch == "lstm":
            return super().relax_fused(h, x, steps)
        _, hn = self.rnn(x.to(h.dtype).expand(h.shape[0], steps, -1), h.unsqueeze(0).contiguous())
        return hn[0]

    def _final_state(self, x: Tensor, lengths: Tensor, h: Tensor) -> Tensor:
        if self.fast_path == "scan":
            return super()._final_state(x, lengths, h)
        packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        N = self.hidden_size
        if self.arch == "lstm":
            hx = (h[:, :N].unsqueeze(0).contiguous(), h[:, N:].unsqueeze(0).contiguous())
            _, (h_n, c_n) = self.rnn(packed, hx)
            return torch.cat([h_n[0], c_n[0]], -1)
        _, h_n = self.rnn(packed, h.unsqueeze(0).contiguous())
        return h_n[0]


class VanillaCell(_TorchRNNCell):
    """``h' = tanh(W x + b_ih + U h + b_hh)``; parameters in ``self.rnn`` (``nn.RNN``, tanh)."""

    arch = "vanilla"

    def __init__(self, input_size: int, hidden_size: int, *, fast_path: str | None = None):
        super().__init__(input_size, hidden_size, fast_path=fast_path)
        self.rnn = nn.RNN(input_size, hidden_size, num_layers=1, nonlinearity="tanh", batch_first=True)

    def _scan_parameters(self):
        W, U, b_ih, b_hh = self._weights()
        return W, b_ih + b_hh, U, None, _VANILLA

    def _step(self, x, h):
        W, U, b_ih, b_hh = self._weights()
        return torch.tanh(torch.addmm(b_ih, x, W.t()) + torch.addmm(b_hh, h, U.t()))

    def _jacobians(self, x, h, with_input=True):
        W, U, _, _ = self._weights()
        d = 1 - self._step(x, h).square()  # tanh'
        return _scaled_rows([(d, U)]), _scaled_rows([(d, W)]) if with_input else None


class GRUCell(_TorchRNNCell):
    """torch's GRU (gate order r, z, n; reset gate applied to ``U_n h + b_hn``) in ``self.rnn``."""

    arch = "gru"

    def __init__(self, input_size: int, hidden_size: int, *, fast_path: str | None = None):
        super().__init__(input_size, hidden_size, fast_path=fast_path)
        self.rnn = nn.GRU(input_size, hidden_size, num_layers=1, batch_first=True)

    def _scan_parameters(self):
        W, U, b_ih, b_hh = self._weights()
        return W, b_ih, U, b_hh, _GRU

    def _gates(self, x, h):
        W, U, b_ih, b_hh = self._weights()
        gx = torch.addmm(b_ih, x, W.t()).chunk(3, -1)
        gh = torch.addmm(b_hh, h, U.t()).chunk(3, -1)
        r = torch.sigmoid(gx[0] + gh[0])
        z = torch.sigmoid(gx[1] + gh[1])
        n = torch.tanh(gx[2] + r * gh[2])
        return r, z, n, gh[2]

    def _step(self, x, h):
        _, z, n, _ = self._gates(x, h)
        return n + z * (h - n)

    def _jacobians(self, x, h, with_input=True):
        W, U, _, _ = self._weights()
        N = self.hidden_size
        r, z, n, ghn = self._gates(x, h)
        # h' = n + z (h - n), n = tanh(a_n), a_n = W_n x + b_in + r (U_n h + b_hn): per-row factors
        dan = (1 - z) * (1 - n.square())  # dh'/da_n
        sr = dan * ghn * r * (1 - r)  # dh'/d(pre-activation of r)
        sz = (h - n) * z * (1 - z)  # dh'/d(pre-activation of z)
        J_h = _scaled_rows([(sr, U[:N]), (sz, U[N : 2 * N]), (dan * r, U[2 * N :])], diagonal=z)
        J_x = _scaled_rows([(sr, W[:N]), (sz, W[N : 2 * N]), (dan, W[2 * N :])]) if with_input else None
        return J_h, J_x


class LSTMCell(_TorchRNNCell):
    """torch's LSTM (gate order i, f, g, o) in ``self.rnn``; state ``cat([h, c], -1)``; forget bias +1."""

    arch = "lstm"
    state_factor = 2

    def __init__(self, input_size: int, hidden_size: int, *, fast_path: str | None = None):
        super().__init__(input_size, hidden_size, fast_path=fast_path)
        self.rnn = nn.LSTM(input_size, hidden_size, num_layers=1, batch_first=True)
        self.reset_forget_bias()

    @torch.no_grad()
    def reset_forget_bias(self, value: float = 1.0) -> None:
        """Set the total forget-gate bias ``b_if + b_hf`` to ``value`` (+1 at construction)."""
        N = self.hidden_size
        self.rnn.bias_ih_l0[N : 2 * N].fill_(value)
        self.rnn.bias_hh_l0[N : 2 * N].zero_()

    def _scan_parameters(self):
        W, U, b_ih, b_hh = self._weights()
        return W, b_ih + b_hh, U, None, _LSTM

    def _gates(self, x, h):
        W, U, b_ih, b_hh = self._weights()
        N = self.hidden_size
        g = torch.addmm(b_ih, x, W.t()) + torch.addmm(b_hh, h[:, :N], U.t())
        gi, gf, gg, go = g.chunk(4, -1)
        i, f, o = torch.sigmoid(gi), torch.sigmoid(gf), torch.sigmoid(go)
        gg = torch.tanh(gg)
        c_new = f * h[:, N:] + i * gg
        return i, f, gg, o, c_new, torch.tanh(c_new)

    def _step(self, x, h):
        _, _, _, o, c_new, tc = self._gates(x, h)
        return torch.cat([o * tc, c_new], -1)

    def _jacobians(self, x, h, with_input=True):
        W, U, _, _ = self._weights()
        N = self.hidden_size
        i, f, g, o, _, tc = self._gates(x, h)
        c = h[:, N:]
        # c' = f c + i g, h' = o tanh(c'): per-row factors dc'/d(pre-activation) of i, f, g,
        # dh'/d(pre-activation of o) and dh'/dc'
        si, sf, sg = i * (1 - i) * g, f * (1 - f) * c, (1 - g.square()) * i
        so, hc = o * (1 - o) * tc, o * (1 - tc.square())

        def through(M, out):  # M: weights [4N, K] (rows i, f, g, o) of the variable; fills out[:, :, :K]
            Mi, Mf, Mg, Mo = M.chunk(4, 0)
            K = M.shape[1]
            _scaled_rows([(hc * si, Mi), (hc * sf, Mf), (hc * sg, Mg), (so, Mo)], out=out[:, :N, :K])
            _scaled_rows([(si, Mi), (sf, Mf), (sg, Mg)], out=out[:, N:, :K])
            return out

        J_h = through(U, h.new_empty(h.shape[0], 2 * N, 2 * N))
        J_h[:, :, N:].zero_()  # d/dc: diagonal blocks, written in place (no [B, N, N] temporaries)
        J_h[:, :N, N:].diagonal(dim1=1, dim2=2).copy_(hc * f)  # dh'/dc
        J_h[:, N:, N:].diagonal(dim1=1, dim2=2).copy_(f)  # dc'/dc
        J_x = through(W, h.new_empty(h.shape[0], 2 * N, self.input_size)) if with_input else None
        return J_h, J_x


class _Kernel:
    """One architecture's recurrence for :class:`_Scan`, on the rows still running.

    ``forward(xp, s, gh)``: xp ``[b, G]`` input projection, s ``[b, S]`` state, gh ``[b, G]`` the
    recurrent term ``U h (+ b)`` -> (new state, tensors kept for backward).
    ``backward(g, kept, U)``: g = dL/d(new state) ``[b, S]`` -> (dL/ds ``[b, S]``, dL/dxp ``[b, G]``,
    dL/dgh ``[b, G]``).
    """

    def __init__(self, forward, backward):
        self.forward, self.backward = forward, backward


def _vanilla_forward(xp, s, gh):
    h = torch.tanh(xp + gh)
    return h, (h,)


def _vanilla_backward(g, kept, U):
    (h,) = kept
    d = g * (1 - h * h)
    return d @ U, d, d


def _gru_forward(xp, s, gh):
    N = s.shape[1]
    rz = torch.sigmoid(xp[:, : 2 * N] + gh[:, : 2 * N])
    r, z, ghn = rz[:, :N], rz[:, N:], gh[:, 2 * N :]
    n = torch.tanh(torch.addcmul(xp[:, 2 * N :], r, ghn))
    return n + z * (s - n), (s, r, z, n, ghn)


def _gru_backward(g, kept, U):
    s, r, z, n, ghn = kept
    dn = g * (1 - z) * (1 - n * n)  # dL/d(pre-activation of n)
    dr = dn * ghn * r * (1 - r)
    dz = g * (s - n) * z * (1 - z)
    dgh = torch.cat([dr, dz, dn * r], 1)
    return torch.addmm(g * z, dgh, U), torch.cat([dr, dz, dn], 1), dgh


def _lstm_forward(xp, s, gh):
    N = s.shape[1] // 2
    a = xp + gh
    ifo = torch.sigmoid(a)  # one call for the i, f, o sigmoids (the g block's result is not used)
    i, f, o = ifo[:, :N], ifo[:, N : 2 * N], ifo[:, 3 * N :]
    gg = torch.tanh(a[:, 2 * N : 3 * N])
    c = s[:, N:]
    c_new = torch.addcmul(f * c, i, gg)
    tc = torch.tanh(c_new)
    return torch.cat([o * tc, c_new], 1), (c, i, f, gg, o, tc)


def _lstm_backward(g, kept, U):
    c, i, f, gg, o, tc = kept
    N = c.shape[1]
    gh, gc = g[:, :N], g[:, N:]
    dc = gc + gh * o * (1 - tc * tc)  # dL/dc'
    da = torch.cat([dc * gg * i * (1 - i), dc * c * f * (1 - f), dc * i * (1 - gg * gg), gh * tc * o * (1 - o)], 1)
    return torch.cat([da @ U, dc * f], 1), da, da


def _ugrnn_forward(xp, s, gh):
    N = s.shape[1]
    a = xp + gh
    u, c = torch.sigmoid(a[:, :N]), torch.tanh(a[:, N:])
    return c + u * (s - c), (s, u, c)


def _ugrnn_backward(g, kept, U):
    s, u, c = kept
    d = torch.cat([g * (s - c) * u * (1 - u), g * (1 - u) * (1 - c * c)], 1)
    return torch.addmm(g * u, d, U), d, d


_VANILLA = _Kernel(_vanilla_forward, _vanilla_backward)
_GRU = _Kernel(_gru_forward, _gru_backward)
_LSTM = _Kernel(_lstm_forward, _lstm_backward)
_UGRNN = _Kernel(_ugrnn_forward, _ugrnn_backward)


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


class UGRNNCell(Cell):
    """UGRNN (Collins et al. 2017): ``u = σ(W_u x + U_u h + b_u)``, ``c = tanh(W_c x + U_c h + b_c)``,
    ``h' = u h + (1 - u) c``.

    Parameters: ``weight_ih`` ``[2N, I]`` and ``weight_hh`` ``[2N, N]`` (rows: u then c) and ``bias``
    ``[2N]``, initialised uniform in ``±1/sqrt(N)`` like torch's RNNs. The fast path computes the
    input projections of all steps in one matmul, then runs :class:`_Scan`.
    """

    arch = "ugrnn"

    def __init__(self, input_size: int, hidden_size: int, *, fast_path: str | None = None):
        super().__init__(input_size, hidden_size, fast_path=fast_path)
        self.weight_ih = nn.Parameter(torch.empty(2 * hidden_size, input_size))
        self.weight_hh = nn.Parameter(torch.empty(2 * hidden_size, hidden_size))
        self.bias = nn.Parameter(torch.empty(2 * hidden_size))
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """Uniform(-1/sqrt(N), 1/sqrt(N)) for every parameter, as torch's RNN modules do."""
        k = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            p.uniform_(-k, k)

    def _gates(self, x, h):
        g = torch.addmm(self.bias, x, self.weight_ih.t()) + h @ self.weight_hh.t()
        N = self.hidden_size
        return torch.sigmoid(g[:, :N]), torch.tanh(g[:, N:])

    def _step(self, x, h):
        u, c = self._gates(x, h)
        return c + u * (h - c)

    def _jacobians(self, x, h, with_input=True):
        N = self.hidden_size
        u, c = self._gates(x, h)
        su = (h - c) * u * (1 - u)  # dh'/d(pre-activation of u)
        sc = (1 - u) * (1 - c.square())  # dh'/d(pre-activation of c)
        U, W = self.weight_hh, self.weight_ih
        J_x = _scaled_rows([(su, W[:N]), (sc, W[N:])]) if with_input else None
        return _scaled_rows([(su, U[:N]), (sc, U[N:])], diagonal=u), J_x

    def _scan_parameters(self):
        return self.weight_ih, self.bias, self.weight_hh, None, _UGRNN


_CELLS = {c.arch: c for c in (VanillaCell, GRUCell, LSTMCell, UGRNNCell)}


def cell_from_torch(module: nn.Module) -> Cell | None:
    """The rnnlens cell computing exactly what a one-layer, one-direction torch ``nn.RNN`` (tanh) / ``nn.GRU`` /
    ``nn.LSTM`` with biases computes, holding a copy of its weights (closed-form Jacobians and the fast paths
    then apply); None for any other module (stacks, relu, no bias, projections), which
    :mod:`rnnlens.steps` steps through its own weights instead."""
    arch = {nn.RNN: "vanilla", nn.GRU: "gru", nn.LSTM: "lstm"}.get(type(module))
    if (
        arch is None
        or module.num_layers != 1
        or module.bidirectional
        or not module.bias
        or getattr(module, "proj_size", 0)
        or (arch == "vanilla" and module.nonlinearity != "tanh")
    ):
        return None
    p = next(module.parameters())
    with torch.random.fork_rng(devices=[]):  # its own initial weights are overwritten: draw nothing
        cell = make_cell(arch, module.input_size, module.hidden_size).to(dtype=p.dtype, device=p.device)
    with torch.no_grad():
        for name, value in module.named_parameters():
            getattr(cell.rnn, name).copy_(value)
    return cell.eval()


def cell_of_layer(module: nn.Module, k: int) -> Cell | None:
    """The rnnlens cell of layer ``k`` of a torch ``nn.RNN`` (tanh) / ``nn.GRU`` / ``nn.LSTM`` stack with biases,
    holding the stack's own layer-``k`` parameters (shared, not copied: same values, dtype and device); None for
    any other module (relu, no bias, projections). Its closed-form Jacobians are that layer's
    (:class:`rnnlens.steps.StackJacobians` composes them)."""
    arch = {nn.RNN: "vanilla", nn.GRU: "gru", nn.LSTM: "lstm"}.get(type(module))
    if (
        arch is None
        or module.bidirectional
        or not module.bias
        or getattr(module, "proj_size", 0)
        or (arch == "vanilla" and module.nonlinearity != "tanh")
    ):
        return None
    with torch.random.fork_rng(devices=[]):  # its own initial weights are replaced: draw nothing
        cell = make_cell(arch, getattr(module, f"weight_ih_l{k}").shape[1], module.hidden_size)
    for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
        cell.rnn._parameters[f"{name}_l0"] = module._parameters[f"{name}_l{k}"]
    cell.rnn._init_flat_weights()
    return cell.eval()


def make_cell(arch: str, input_size: int, hidden_size: int, *, fast_path: str | None = None) -> Cell:
    """Build a cell by name: one of ``ARCHS`` = ("vanilla", "gru", "lstm", "ugrnn").

    ``fast_path`` picks how :meth:`Cell.final_state` runs: ``"fused"`` (torch's kernel; the default
    for vanilla/gru/lstm) or ``"scan"`` (hand-written BPTT; the only one for the UGRNN). It can be
    changed later by setting ``cell.fast_path``; both give the same numbers.

    Args:
        arch: the architecture's name.
        input_size: I, the width of each input vector (a positive integer).
        hidden_size: N, the number of units (a positive integer; the LSTM's state has 2N numbers).
        fast_path: ``"fused"`` or ``"scan"``; None: the architecture's default (its first fast path).

    Returns:
        The new :class:`Cell` (torch's initial weights; no trained initial state).

    Raises:
        ArgumentError: an unknown ``arch``, a size that is not a positive integer, or a ``fast_path`` the
            architecture does not have.
    """
    if arch not in _CELLS:
        raise ArgumentError(f"unknown architecture arch={arch!r}: choose one of {', '.join(ARCHS)}.")
    return _CELLS[arch](input_size, hidden_size, fast_path=fast_path)
