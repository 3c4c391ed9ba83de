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

from rnnlens.cells.base import Cell, _Kernel, _scaled_rows

__all__ = ["VanillaCell", "GRUCell", "LSTMCell", "UGRNNCell", "cell_from_torch", "cell_of_layer"]


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


_TORCH_CELLS = {c.arch: c for c in (VanillaCell, GRUCell, LSTMCell)}


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
        cell = _TORCH_CELLS[arch](module.input_size, module.hidden_size).to(dtype=p.dtype, device=p.device)
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
        cell = _TORCH_CELLS[arch](getattr(module, f"weight_ih_l{k}").shape[1], module.hidden_size)
    for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
        cell.rnn._parameters[f"{name}_l0"] = module._parameters[f"{name}_l{k}"]
    cell.rnn._init_flat_weights()
    return cell.eval()
