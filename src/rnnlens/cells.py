"""The four recurrent cells of the paper as step functions h_{t+1} = F(h_t, x_t).

Each cell offers two ways to read a sequence:

* the exact path, :meth:`Cell.step` (the update written out for a batch) looped over time by
  :meth:`Cell.run`; fixed-point finding and linearization use ``step`` and the closed-form
  :meth:`Cell.jacobians`;
* the fast path, :meth:`Cell.final_state`, used for training: torch's fused ``nn.RNN`` /
  ``nn.GRU`` / ``nn.LSTM`` kernels over a packed sequence for vanilla / GRU / LSTM, and a
  hand-written forward and backward recurrence for the UGRNN (:class:`_UGRNNScan`).

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

from rnnlens.errors import ArgumentError

ARCHS = ("vanilla", "gru", "lstm", "ugrnn")

__all__ = ["ARCHS", "Cell", "VanillaCell", "GRUCell", "LSTMCell", "UGRNNCell", "make_cell"]


def _positive_int(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ArgumentError(f"{name} must be a positive integer, got {value!r}.")
    return value


def _shape(t) -> str:
    return f"a tensor of shape {tuple(t.shape)}" if isinstance(t, Tensor) else f"a {type(t).__name__}"


class Cell(nn.Module):
    """A recurrent cell ``h_{t+1} = F(h_t, x_t)`` with an exact step path and a fast sequence path.

    Attributes: ``arch`` (one of :data:`ARCHS`), ``input_size`` (I), ``hidden_size`` (N) and
    ``state_size`` (S: N, or 2N for the LSTM whose state is ``cat([h, c], -1)``).
    """

    arch: str = ""
    state_factor: int = 1

    def __init__(self, input_size: int, hidden_size: int):
        super().__init__()
        self.input_size = _positive_int(input_size, "input_size")
        self.hidden_size = _positive_int(hidden_size, "hidden_size")

    @property
    def state_size(self) -> int:
        """Number of state variables S (2 * hidden_size for the LSTM, else hidden_size)."""
        return self.state_factor * self.hidden_size

    def extra_repr(self) -> str:
        return f"arch={self.arch!r}, input_size={self.input_size}, hidden_size={self.hidden_size}"

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
        if x.shape[1] < 1:
            raise ArgumentError(f"{type(self).__name__}.{method}: x has no time steps (shape {tuple(x.shape)}).")

    def _initial(self, x: Tensor, h0, method: str) -> Tensor:
        if h0 is None:
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
        """Zero state ``[batch_size, state_size]`` (dtype/device default to the parameters')."""
        p = next(self.parameters())
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

    def run(self, x: Tensor, h0: Tensor | None = None) -> Tensor:
        """Every state along the sequence by looping :meth:`step` (the exact path).

        x ``[B, T, I]``, optional h0 ``[B, S]`` (zeros by default) -> ``[B, T, S]`` where entry t is
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

    def output(self, h: Tensor) -> Tensor:
        """The part of the state the readout sees, ``[..., hidden_size]`` (the LSTM's ``h``)."""
        return h[..., : self.hidden_size]

    # ----------------------------------------------------------------- per-architecture parts
    def _step(self, x: Tensor, h: Tensor) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def _jacobians(self, x: Tensor, h: Tensor) -> tuple[Tensor, Tensor]:  # pragma: no cover
        raise NotImplementedError

    def _final_state(self, x: Tensor, lengths: Tensor, h: Tensor) -> Tensor:  # pragma: no cover
        raise NotImplementedError


class _TorchRNNCell(Cell):
    """A cell whose parameters live in a single-layer, batch_first torch ``nn.RNN``/``GRU``/``LSTM``."""

    def _weights(self):
        r = self.rnn
        return r.weight_ih_l0, r.weight_hh_l0, r.bias_ih_l0, r.bias_hh_l0

    def _final_state(self, x: Tensor, lengths: Tensor, h: Tensor) -> Tensor:
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

    def __init__(self, input_size: int, hidden_size: int):
        super().__init__(input_size, hidden_size)
        self.rnn = nn.RNN(input_size, hidden_size, num_layers=1, nonlinearity="tanh", batch_first=True)

    def _step(self, x, h):
        W, U, b_ih, b_hh = self._weights()
        return torch.tanh(torch.addmm(b_ih, x, W.t()) + torch.addmm(b_hh, h, U.t()))

    def _jacobians(self, x, h):
        W, U, _, _ = self._weights()
        d = 1 - self._step(x, h).square()  # tanh'
        return d.unsqueeze(-1) * U, d.unsqueeze(-1) * W


class GRUCell(_TorchRNNCell):
    """torch's GRU (gate order r, z, n; reset gate applied to ``U_n h + b_hn``) in ``self.rnn``."""

    arch = "gru"

    def __init__(self, input_size: int, hidden_size: int):
        super().__init__(input_size, hidden_size)
        self.rnn = nn.GRU(input_size, hidden_size, num_layers=1, batch_first=True)

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

    def _jacobians(self, x, h):
        W, U, _, _ = self._weights()
        N = self.hidden_size
        r, z, n, ghn = self._gates(x, h)
        dr = (r * (1 - r)).unsqueeze(-1)  # sigma' as a column, [B, N, 1]
        dz = (z * (1 - z)).unsqueeze(-1)
        dn = (1 - n.square()).unsqueeze(-1)
        keep, mix = (1 - z).unsqueeze(-1), (h - n).unsqueeze(-1)

        def through(Mr, Mz, n_direct):
            # dn/dv = tanh' * (n_direct + ghn * dr/dv); n_direct is r * U_n for v = h and W_n for v = x
            dn_dv = dn * (n_direct + ghn.unsqueeze(-1) * (dr * Mr))
            return keep * dn_dv + mix * (dz * Mz)

        J_h = through(U[:N], U[N : 2 * N], r.unsqueeze(-1) * U[2 * N :]) + torch.diag_embed(z)
        J_x = through(W[:N], W[N : 2 * N], W[2 * N :])
        return J_h, J_x


class LSTMCell(_TorchRNNCell):
    """torch's LSTM (gate order i, f, g, o) in ``self.rnn``; state ``cat([h, c], -1)``; forget bias +1."""

    arch = "lstm"
    state_factor = 2

    def __init__(self, input_size: int, hidden_size: int):
        super().__init__(input_size, hidden_size)
        self.rnn = nn.LSTM(input_size, hidden_size, num_layers=1, batch_first=True)
        self.reset_forget_bias()

    @torch.no_grad()
    def reset_forget_bias(self, value: float = 1.0) -> None:
        """Set the total forget-gate bias ``b_if + b_hf`` to ``value`` (+1 at construction)."""
        N = self.hidden_size
        self.rnn.bias_ih_l0[N : 2 * N].fill_(value)
        self.rnn.bias_hh_l0[N : 2 * N].zero_()

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

    def _jacobians(self, x, h):
        W, U, _, _ = self._weights()
        N = self.hidden_size
        i, f, g, o, _, tc = self._gates(x, h)
        c = h[:, N:]
        col = lambda v: v.unsqueeze(-1)  # noqa: E731 - a per-row scale of a weight block
        # dc'/d(pre-activation) of gates i, f, g; dh'/d(pre-activation of o); dh'/dc'
        si, sf, sg = col(i * (1 - i) * g), col(f * (1 - f) * c), col((1 - g.square()) * i)
        so, dh_dc_new = col(o * (1 - o) * tc), col(o * (1 - tc.square()))

        def through(M):  # M: the weight block [4N, K] (rows i, f, g, o) of the variable differentiated
            Mi, Mf, Mg, Mo = M.chunk(4, 0)
            dc = si * Mi + sf * Mf + sg * Mg
            return so * Mo + dh_dc_new * dc, dc

        dh_dh, dc_dh = through(U)
        dh_dx, dc_dx = through(W)
        dc_dc = torch.diag_embed(f)
        dh_dcold = torch.diag_embed(o * (1 - tc.square()) * f)
        J_h = torch.cat([torch.cat([dh_dh, dh_dcold], 2), torch.cat([dc_dh, dc_dc], 2)], 1)
        return J_h, torch.cat([dh_dx, dc_dx], 1)


class _UGRNNScan(torch.autograd.Function):
    """UGRNN recurrence over length-sorted sequences with a hand-written backward (BPTT).

    Inputs: ``xp`` ``[B, T, 2N]`` = the input projections ``W x + b`` of every step (computed for
    all steps in one matmul by the caller), ``h0`` ``[B, N]``, ``U`` ``[2N, N]``, and
    ``batch_sizes``: a list of ints, the number of sequences still running at each step, with
    sequences sorted by length, longest first (as in a packed sequence). Finished sequences keep
    their state. Returns the final states ``[B, N]``.

    Forward stores h_{t-1}, u_t and c_t of the active rows; backward runs the recurrence in reverse
    and forms dU with one matrix product over all steps.
    """

    @staticmethod
    def forward(ctx, xp, h0, U, batch_sizes):
        T = len(batch_sizes)
        B, N = h0.shape
        Ut = U.t()
        h = h0.clone()
        hs = xp.new_zeros(T, B, N)
        us = xp.new_zeros(T, B, N)
        cs = xp.new_zeros(T, B, N)
        for t, b in enumerate(batch_sizes):
            hp = h[:b]
            g = torch.addmm(xp[:b, t], hp, Ut)
            u = torch.sigmoid(g[:, :N])
            c = torch.tanh(g[:, N:])
            hs[t, :b] = hp
            us[t, :b] = u
            cs[t, :b] = c
            h[:b] = c + u * (hp - c)
        ctx.save_for_backward(hs, us, cs, U)
        ctx.batch_sizes = batch_sizes
        return h

    @staticmethod
    def backward(ctx, grad_h):
        hs, us, cs, U = ctx.saved_tensors
        T, B, N = hs.shape
        dh = grad_h.clone()
        dpre = hs.new_zeros(B, T, 2 * N)
        for t in range(T - 1, -1, -1):
            b = ctx.batch_sizes[t]
            u, c, hp, g = us[t, :b], cs[t, :b], hs[t, :b], dh[:b]
            d = dpre[:b, t]
            torch.mul(g * (hp - c), u * (1 - u), out=d[:, :N])
            torch.mul(g * (1 - u), 1 - c.square(), out=d[:, N:])
            dh[:b] = torch.addmm(g * u, d, U)
        # dU[k, j] = sum over (t, b) of dpre[b, t, k] * h_{t-1}[b, j]; padded rows hold zeros
        dU = dpre.transpose(0, 1).reshape(T * B, 2 * N).t() @ hs.reshape(T * B, N)
        return dpre, dh, dU, None


class UGRNNCell(Cell):
    """UGRNN (Collins et al. 2017): ``u = σ(W_u x + U_u h + b_u)``, ``c = tanh(W_c x + U_c h + b_c)``,
    ``h' = u h + (1 - u) c``.

    Parameters: ``weight_ih`` ``[2N, I]`` and ``weight_hh`` ``[2N, N]`` (rows: u then c) and ``bias``
    ``[2N]``, initialised uniform in ``±1/sqrt(N)`` like torch's RNNs. The fast path computes the
    input projections of all steps in one matmul, then runs :class:`_UGRNNScan`.
    """

    arch = "ugrnn"

    def __init__(self, input_size: int, hidden_size: int):
        super().__init__(input_size, hidden_size)
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

    def _jacobians(self, x, h):
        N = self.hidden_size
        u, c = self._gates(x, h)
        su = ((h - c) * u * (1 - u)).unsqueeze(-1)  # d h'/d(pre-activation of u)
        sc = ((1 - u) * (1 - c.square())).unsqueeze(-1)  # d h'/d(pre-activation of c)
        U, W = self.weight_hh, self.weight_ih
        J_h = su * U[:N] + sc * U[N:] + torch.diag_embed(u)
        J_x = su * W[:N] + sc * W[N:]
        return J_h, J_x

    def _final_state(self, x, lengths, h):
        order = torch.argsort(lengths, descending=True, stable=True)
        sorted_len = lengths[order]
        T = int(sorted_len[0])
        # batch_sizes[t] = number of sequences longer than t (like a PackedSequence's)
        batch_sizes = (sorted_len.unsqueeze(0) > torch.arange(T).unsqueeze(1)).sum(1).tolist()
        idx = order.to(x.device)
        xp = torch.addmm(self.bias, x[idx, :T].reshape(-1, self.input_size), self.weight_ih.t())
        out = _UGRNNScan.apply(xp.view(x.shape[0], T, -1), h[idx], self.weight_hh, batch_sizes)
        return out[torch.argsort(idx)]


_CELLS = {c.arch: c for c in (VanillaCell, GRUCell, LSTMCell, UGRNNCell)}


def make_cell(arch: str, input_size: int, hidden_size: int) -> Cell:
    """Build a cell by name: one of ``ARCHS`` = ("vanilla", "gru", "lstm", "ugrnn")."""
    if arch not in _CELLS:
        raise ArgumentError(f"unknown architecture arch={arch!r}: choose one of {', '.join(ARCHS)}.")
    return _CELLS[arch](input_size, hidden_size)
