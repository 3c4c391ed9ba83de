"""Cells whose update is elementwise linear in the state at a fixed input: ``h' = a(x) * h + b(x)``.

The minimal gated RNNs (Feng et al. 2024, "Were RNNs all we needed?"), the linear recurrent unit (Orvieto et
al. 2023) and a one-layer selective state-space model in Mamba's S6 form (Gu & Dao 2023) compute ``a`` and ``b``
from the input alone, so:

* a sequence runs as one input projection and a chunked scan (:func:`rnnlens.scan.diagonal_scan`);
* at a constant input x* the map is affine and diagonal (2x2 rotation-scaling blocks for the LRU's complex
  modes), so its fixed point, its eigenvalues and its left and right eigenvectors have closed forms:
  :meth:`DiagonalCell.fixed_point`, :meth:`DiagonalCell.spectrum`, and the slow point nearest any state,
  :meth:`DiagonalCell.nearest_slow_points` (what the ``"closed"`` solver returns).

Equations (``σ`` the logistic sigmoid, products elementwise, N = ``hidden_size``):

* minGRU: ``z = σ(W_z x + b_z)``, ``h~ = W_h x + b_h``, ``h' = (1 - z) h + z h~``
* minLSTM: ``f = σ(W_f x + b_f)``, ``i = σ(W_i x + b_i)``, ``h~ = W_h x + b_h``,
  ``h' = f/(f+i) h + i/(f+i) h~``
* LRU: N complex modes ``z' = λ z + γ (B_re x + i B_im x)`` with ``λ = exp(-exp(ν) + i exp(θ))`` (always inside
  the unit disc) and a trained normalisation ``γ`` (initially ``sqrt(1 - |λ|^2)``); the state is
  ``cat([Re z, Im z])`` (2N numbers) and the readout sees ``Re z``.
* S6: D = N / n channels with n = :attr:`S6Cell.state_per_channel` numbers each; channel input
  ``u = W_u x + b_u``, step size ``Δ = softplus(W_Δ x + b_Δ)``, ``A = -exp(A_log)`` [D, n],
  ``B = W_B x`` [n]; ``h'[d, k] = exp(Δ_d A_dk) h[d, k] + Δ_d u_d B_k`` (Mamba's zero-order hold for A and
  Euler step for B). The state is ``h`` flattened channel by channel and the readout sees all of it (a trained
  ``C`` read at the last token would be a linear map of it).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnlens.cells.base import Cell, _positive_int
from rnnlens.constants import INITS
from rnnlens.errors import ArgumentError
from rnnlens.scan import diagonal_scan

__all__ = ["DiagonalCell", "MinGRUCell", "MinLSTMCell", "LRUCell", "S6Cell"]


def _uniform(p: Tensor, fan_in: int) -> None:
    bound = 1.0 / math.sqrt(fan_in)
    with torch.no_grad():
        p.uniform_(-bound, bound)


class DiagonalCell(Cell):
    """A cell ``h' = a(x) * h + b(x)`` (elementwise; complex modes for the LRU).

    Subclasses give :meth:`coefficients` ``(a, b)`` over the *modes*: the S state numbers themselves (real), or
    for a complex cell N modes ``z = h[:N] + i h[N:]``.
    """

    FAST_PATHS = ("scan",)
    complex_modes = False

    # ------------------------------------------------------------- per-architecture part
    def coefficients(self, x: Tensor) -> tuple[Tensor, Tensor]:  # pragma: no cover - abstract
        """``(a, b)`` of ``z' = a z + b`` over the modes at inputs ``x`` ``[..., I]`` -> ``[..., M]`` each."""
        raise NotImplementedError

    def _input_blocks(self) -> list[Tensor]:  # pragma: no cover - abstract
        """The input weight matrices (``[rows, I]`` each) that :meth:`initialize` redraws."""
        raise NotImplementedError

    # ------------------------------------------------------------- modes
    def to_modes(self, h: Tensor) -> Tensor:
        """The state ``[..., S]`` in mode coordinates ``[..., M]`` (complex ``h[:N] + i h[N:]`` for complex modes)."""
        if not self.complex_modes:
            return h
        N = self.hidden_size
        return torch.complex(h[..., :N], h[..., N:])

    def from_modes(self, z: Tensor) -> Tensor:
        """Mode coordinates back to the real state ``[..., S]``."""
        return torch.cat([z.real, z.imag], -1) if self.complex_modes else z

    # ------------------------------------------------------------- Cell's parts
    def _step(self, x: Tensor, h: Tensor) -> Tensor:
        a, b = self.coefficients(x)
        return self.from_modes(a * self.to_modes(h) + b)

    def _all_states(self, x: Tensor, h: Tensor) -> Tensor:
        a, b = self.coefficients(x)
        return self.from_modes(diagonal_scan(a, b, self.to_modes(h)))

    def _final_state(self, x: Tensor, lengths: Tensor, h: Tensor) -> Tensor:
        T = int(lengths.max())
        states = self._all_states(x[:, :T], h)
        rows = torch.arange(x.shape[0], device=states.device)
        return states[rows, lengths.to(states.device) - 1]

    #: :meth:`run_fused` scans at most this many (row, token, state number) entries at once
    SCAN_ENTRIES = 1 << 20

    def run_fused(self, x: Tensor) -> Tensor:
        """Every state ``[B, T, S]`` from the initial state by the chunked scan (equal to :meth:`run` to rounding).

        Rows are scanned a few at a time, at most :attr:`SCAN_ENTRIES` entries (4 MB of float32): the scan's
        temporaries are then reused instead of taken fresh from the kernel for each batch of long documents (1,000
        IMDB reviews in batches of 64 through a 256-wide S6 in about 0.75 s instead of 1.1 s, the 512-number LRU
        1.3 s instead of 2.2 s). Each row's scan is its own, so the states are bitwise those of one piece."""
        self._check_sequence(x, "run_fused")
        h0 = self._initial(x, None, "run_fused")
        rows = max(1, self.SCAN_ENTRIES // max(1, x.shape[1] * self.state_size))
        if rows >= x.shape[0]:
            return self._all_states(x, h0)
        a, b = self.coefficients(x)  # for all rows at once: the same matrix products as in one piece
        z0 = self.to_modes(h0)

        def rows_of(t: Tensor, i: int) -> Tensor:  # a coefficient the same for every row (the LRU's a) stays whole
            return t[i : i + rows] if t.shape[0] == x.shape[0] else t

        pieces = [diagonal_scan(rows_of(a, i), rows_of(b, i), z0[i : i + rows]) for i in range(0, x.shape[0], rows)]
        return self.from_modes(torch.cat(pieces))

    def _rec_jacobian(self, a: Tensor) -> Tensor:
        """``dF/dh`` ``[B, S, S]`` from the mode coefficients ``a`` ``[B, M]``."""
        if not self.complex_modes:
            return torch.diag_embed(a)
        N = self.hidden_size
        J = a.real.new_zeros(a.shape[0], 2 * N, 2 * N)
        J[:, :N, :N].diagonal(dim1=1, dim2=2).copy_(a.real)
        J[:, N:, N:].diagonal(dim1=1, dim2=2).copy_(a.real)
        J[:, :N, N:].diagonal(dim1=1, dim2=2).copy_(-a.imag)
        J[:, N:, :N].diagonal(dim1=1, dim2=2).copy_(a.imag)
        return J

    def _input_jacobian(self, x: Tensor, h: Tensor) -> Tensor:
        """``dF/dx`` ``[B, S, I]`` by ``torch.func`` (exact; the subclasses with a short closed form override it)."""
        from torch.func import jacrev, vmap

        with torch.enable_grad():
            return vmap(jacrev(lambda xi, hi: self._step(xi[None], hi[None])[0]))(x, h)

    def _jacobians(self, x, h, with_input=True):
        a, _ = self.coefficients(x)
        return self._rec_jacobian(a), self._input_jacobian(x, h) if with_input else None

    def _weight_matrices(self) -> tuple[Tensor, Tensor]:
        raise ArgumentError(f"{type(self).__name__} has no recurrent weight matrix: its state update is elementwise.")

    @torch.no_grad()
    def initialize(
        self, recurrent: str = "default", recurrent_gain: float = 1.0, inputs: str = "default", input_gain: float = 1.0
    ) -> Cell:
        """Redraw the input weights, one block of rows per gate or projection, as :meth:`Cell.initialize` does.
        There is no recurrent matrix: ``recurrent`` must stay ``"default"``."""
        if recurrent != "default":
            raise ArgumentError(
                f"{type(self).__name__}.initialize: recurrent={recurrent!r}: a {self.arch} cell has no recurrent "
                "weight matrix (its state update is elementwise); leave the recurrent initialisation at default."
            )
        if inputs not in INITS:
            raise ArgumentError(
                f"{type(self).__name__}.initialize: inputs={inputs!r}: choose one of {', '.join(INITS)}."
            )
        if not (isinstance(input_gain, (int, float)) and not isinstance(input_gain, bool) and input_gain > 0):
            raise ArgumentError(
                f"{type(self).__name__}.initialize: the inputs gain must be a number > 0, got {input_gain!r}."
            )
        for block in self._input_blocks():
            if inputs == "normal":
                block.normal_(0.0, input_gain / math.sqrt(block.shape[1]))
            elif inputs == "orthogonal":
                nn.init.orthogonal_(block, gain=input_gain)
        return self

    # ------------------------------------------------------------- closed forms at a constant input
    def _modes_at(self, x: Tensor) -> tuple[Tensor, Tensor]:
        if not isinstance(x, Tensor) or x.dim() != 2 or x.shape[1] != self.input_size:
            raise ArgumentError(
                f"{type(self).__name__}: x must be a tensor [batch, input_size={self.input_size}], "
                f"got {getattr(x, 'shape', type(x))}."
            )
        with torch.no_grad():
            a, b = self.coefficients(x)
        return a.expand_as(b), b

    def fixed_point(self, x: Tensor) -> Tensor:
        """The fixed point ``h*`` ``[B, S]`` at each input row ``x`` ``[B, I]``: ``z* = b / (1 - a)`` per mode.

        A mode with ``a = 1`` exactly is a continuum: every value is fixed when ``b = 0`` there (the row gives 0,
        one point of the line), none when ``b != 0`` (the row gives inf)."""
        a, b = self._modes_at(x)
        gap = 1 - a
        z = b / torch.where(gap == 0, torch.ones_like(gap), gap)
        z = torch.where(gap == 0, torch.where(b == 0, torch.zeros_like(z), torch.full_like(z, math.inf)), z)
        return self.from_modes(z)

    def spectrum(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Eigenvalues and eigenvectors of ``dF/dh`` (the same at every state) at inputs ``x`` ``[B, I]``.

        Returns ``(lam [B, S], R [S, S], L [S, S])``, complex: ``dF/dh = R diag(lam) L`` with ``L = R^-1``, in the
        modes' order, unsorted (column j of ``R`` belongs to ``lam[:, j]``;
        :func:`rnnlens.linearization.closed_form_modes` sorts them by ``|lam|``).
        Real modes: ``lam = a``, ``R = L = I``. Complex modes: mode m gives ``λ_m`` with right eigenvector
        ``(e_m - i e_{N+m}) / sqrt 2`` and ``conj(λ_m)`` with ``(e_m + i e_{N+m}) / sqrt 2``; ``L = R^H``; a mode
        whose ``λ`` is real (at every row) has the double eigenvalue ``λ`` on the plane ``(e_m, e_{N+m})`` and gets
        those two real vectors.
        """
        a, _ = self._modes_at(x)
        S = self.state_size
        ctype = torch.complex128 if a.dtype in (torch.float64, torch.complex128) else torch.complex64
        if not self.complex_modes:
            eye = torch.eye(S, dtype=ctype, device=a.device)
            return a.to(ctype), eye, eye.clone()
        N = self.hidden_size
        lam = torch.cat([a, a.conj()], -1).to(ctype)
        R = torch.zeros(S, S, dtype=ctype, device=a.device)
        idx = torch.arange(N, device=a.device)
        s = 1 / math.sqrt(2)
        R[idx, idx] = s
        R[idx + N, idx] = -1j * s
        R[idx, idx + N] = s
        R[idx + N, idx + N] = 1j * s
        real = idx[(a.imag == 0).all(0)]  # a real lambda (every row): the plane's own axes, as LAPACK gives them
        for m in (real, real + N):
            R[:, m] = 0
            R[m, m] = 1
        return lam, R, R.conj().T.contiguous()

    def nearest_slow_points(self, x: Tensor, h0: Tensor, tol, iters: int = 200) -> tuple[Tensor, Tensor]:
        """The state nearest each seed ``h0`` ``[B, S]`` with ``q = (1/S) ||F(x, h) - h||^2 <= tol``, in closed form.

        At a constant input the residual is ``F(h) - h = (a - 1) (z - z*)`` per mode, so the nearest such state lies
        on the path ``z(μ) = z* + (z0 - z*) / (1 + μ |a - 1|^2)`` (a damped Newton path from the seed), at the
        ``μ`` where ``q = tol``, found by bisection on ``log μ`` (``tol``: a number, or one per row ``[B]``). A seed
        already under ``tol`` is its own answer.
        Returns ``(points [B, S], reached [B] bool)``; ``reached`` is False only where a mode with ``a = 1`` and
        ``b != 0`` keeps ``q`` above ``tol`` everywhere (the point is then the limit ``μ -> inf``).
        """
        a, b = self._modes_at(x)
        S = self.state_size
        z0 = self.to_modes(h0.to(b.real.dtype))
        d2 = (a - 1).abs().square()  # |a - 1|^2 per mode
        free = d2 == 0
        target = torch.where(free, z0, b / torch.where(free, torch.ones_like(a), 1 - a))
        e2 = (z0 - target).abs().square()
        floor = torch.where(free, b.abs().square(), torch.zeros_like(d2)).sum(-1) / S  # q's limit as μ -> inf

        def q_at(mu):
            return (d2 * e2 / (1 + mu[:, None] * d2).square()).sum(-1) / S + floor

        lo = torch.full_like(floor, -40.0)  # log10 μ
        hi = torch.full_like(floor, 40.0)
        for _ in range(iters):
            mid = (lo + hi) / 2
            above = q_at(torch.pow(10.0, mid)) > tol
            lo, hi = torch.where(above, mid, lo), torch.where(above, hi, mid)
            if bool(((hi - lo) < 1e-12).all()):
                break
        mu = torch.pow(10.0, hi)
        at_seed = q_at(torch.zeros_like(mu)) <= tol
        mu = torch.where(at_seed, torch.zeros_like(mu), mu)
        z = target + (z0 - target) / (1 + mu[:, None] * d2)
        reached = at_seed | (floor <= tol)
        return self.from_modes(z).to(h0.dtype), reached


class MinGRUCell(DiagonalCell):
    """minGRU: ``z = σ(W_z x + b_z)``, ``h' = (1 - z) h + z (W_h x + b_h)``. Parameters ``weight`` ``[2N, I]`` and
    ``bias`` ``[2N]`` (rows z then h~), initialised uniform in ``±1/sqrt(I)`` like ``nn.Linear``, except the update
    gate's bias, :attr:`gate_bias` (-3: z about 0.05, a memory of about 20 tokens at the start; with torch's
    default near 0, z is about 0.5 and the cell starts by forgetting within two tokens, which on IMDB held
    validation accuracy at 67% after one epoch)."""

    arch = "mingru"
    gate_bias = -3.0

    def __init__(self, input_size: int, hidden_size: int, *, fast_path: str | None = None):
        super().__init__(input_size, hidden_size, fast_path=fast_path)
        self.weight = nn.Parameter(torch.empty(2 * hidden_size, input_size))
        self.bias = nn.Parameter(torch.empty(2 * hidden_size))
        _uniform(self.weight, input_size)
        _uniform(self.bias, input_size)
        with torch.no_grad():
            self.bias[:hidden_size].fill_(self.gate_bias)

    def _input_blocks(self):
        return [self.weight]

    def coefficients(self, x):
        p = F.linear(x, self.weight, self.bias)
        N = self.hidden_size
        pz, cand = p[..., :N], p[..., N:]
        return torch.sigmoid(-pz), torch.sigmoid(pz) * cand  # a = 1 - z without cancellation

    def _input_jacobian(self, x, h):
        N = self.hidden_size
        p = F.linear(x, self.weight, self.bias)
        z, cand = torch.sigmoid(p[:, :N]), p[:, N:]
        W = self.weight
        return (z * (1 - z) * (cand - h)).unsqueeze(-1) * W[:N] + z.unsqueeze(-1) * W[N:]


class MinLSTMCell(DiagonalCell):
    """minLSTM: ``f = σ(W_f x + b_f)``, ``i = σ(W_i x + b_i)``, ``h' = f/(f+i) h + i/(f+i) (W_h x + b_h)``.
    Parameters ``weight`` ``[3N, I]``, ``bias`` ``[3N]`` (rows f, i, h~); the forget and input biases start at
    :attr:`gate_biases` (+1 and -3: f / (f + i) about 0.94, a memory of about 17 tokens; see :class:`MinGRUCell`)."""

    arch = "minlstm"
    gate_biases = (1.0, -3.0)

    def __init__(self, input_size: int, hidden_size: int, *, fast_path: str | None = None):
        super().__init__(input_size, hidden_size, fast_path=fast_path)
        self.weight = nn.Parameter(torch.empty(3 * hidden_size, input_size))
        self.bias = nn.Parameter(torch.empty(3 * hidden_size))
        _uniform(self.weight, input_size)
        _uniform(self.bias, input_size)
        with torch.no_grad():
            self.bias[:hidden_size].fill_(self.gate_biases[0])
            self.bias[hidden_size : 2 * hidden_size].fill_(self.gate_biases[1])

    def _input_blocks(self):
        return [self.weight]

    def _parts(self, x):
        p = F.linear(x, self.weight, self.bias)
        N = self.hidden_size
        pf, pi, cand = p[..., :N], p[..., N : 2 * N], p[..., 2 * N :]
        u = F.logsigmoid(pf) - F.logsigmoid(pi)  # f' = f / (f + i) = σ(u)
        return pf, pi, cand, u

    def coefficients(self, x):
        _, _, cand, u = self._parts(x)
        return torch.sigmoid(u), torch.sigmoid(-u) * cand

    def _input_jacobian(self, x, h):
        pf, pi, cand, u = self._parts(x)
        N, W = self.hidden_size, self.weight
        fn = torch.sigmoid(u)
        g = fn * (1 - fn) * (h - cand)  # dh'/du
        return (
            (g * torch.sigmoid(-pf)).unsqueeze(-1) * W[:N]
            - (g * torch.sigmoid(-pi)).unsqueeze(-1) * W[N : 2 * N]
            + (1 - fn).unsqueeze(-1) * W[2 * N :]
        )


class LRUCell(DiagonalCell):
    """The linear recurrent unit: N complex modes ``z' = λ z + γ B x``, ``λ = exp(-exp(ν) + i exp(θ))``.

    Parameters ``nu_log``, ``theta_log``, ``gamma_log`` ``[N]`` and ``B_re``, ``B_im`` ``[N, I]``. Initialised as
    Orvieto et al. do: ``|λ|`` uniform on the ring ``r_min <= |λ| <= r_max`` (:attr:`r_min`, :attr:`r_max`),
    phase uniform in ``[0, max_phase]``, ``γ = sqrt(1 - |λ|^2)``, ``B`` normal with variance ``1 / (2 I)``. The
    state is ``cat([Re z, Im z])``; the readout sees ``Re z``.
    """

    arch = "lru"
    state_factor = 2
    complex_modes = True
    r_min, r_max, max_phase = 0.9, 0.999, math.pi / 10

    def __init__(self, input_size: int, hidden_size: int, *, fast_path: str | None = None):
        super().__init__(input_size, hidden_size, fast_path=fast_path)
        N = hidden_size
        self.nu_log = nn.Parameter(torch.empty(N))
        self.theta_log = nn.Parameter(torch.empty(N))
        self.gamma_log = nn.Parameter(torch.empty(N))
        self.B_re = nn.Parameter(torch.empty(N, input_size))
        self.B_im = nn.Parameter(torch.empty(N, input_size))
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """Draw the parameters as the class docstring says (from torch's global generator)."""
        N = self.hidden_size
        u1, u2 = torch.rand(N), torch.rand(N)
        r2 = u1 * (self.r_max**2 - self.r_min**2) + self.r_min**2
        self.nu_log.copy_(torch.log(-0.5 * torch.log(r2)))
        self.theta_log.copy_(torch.log(self.max_phase * u2.clamp_min(1e-6)))
        self.gamma_log.copy_(0.5 * torch.log1p(-r2))
        self.B_re.normal_(0.0, 1 / math.sqrt(2 * self.input_size))
        self.B_im.normal_(0.0, 1 / math.sqrt(2 * self.input_size))

    def _input_blocks(self):
        return [self.B_re, self.B_im]

    def eigenvalues(self) -> Tensor:
        """``λ`` ``[N]`` (complex)."""
        return torch.polar(torch.exp(-torch.exp(self.nu_log)), torch.exp(self.theta_log))

    def coefficients(self, x):
        lam = self.eigenvalues()
        g = torch.exp(self.gamma_log)
        b = torch.complex(F.linear(x, self.B_re * g[:, None]), F.linear(x, self.B_im * g[:, None]))
        shape = (1,) * (x.dim() - 1) + (self.hidden_size,)
        return lam.reshape(shape), b

    def _jacobians(self, x, h, with_input=True):
        a = self.eigenvalues().expand(x.shape[0], -1)
        if not with_input:
            return self._rec_jacobian(a), None
        g = torch.exp(self.gamma_log)[:, None]
        J_x = torch.cat([self.B_re * g, self.B_im * g], 0).expand(x.shape[0], -1, -1)
        return self._rec_jacobian(a), J_x.clone()


class S6Cell(DiagonalCell):
    """A one-layer selective state-space model in Mamba's S6 form (see the module docstring).

    ``hidden_size`` N is the whole state: D = N / :attr:`state_per_channel` channels. Parameters: ``in_weight``
    ``[D, I]``, ``in_bias`` ``[D]`` (u); ``dt_weight`` ``[D, I]``, ``dt_bias`` ``[D]`` (Δ, the bias drawn so that
    ``softplus(dt_bias)`` is log-uniform in [1e-3, 1e-1] as in Mamba); ``A_log`` ``[D, n]`` (``A = -exp(A_log)``,
    initially ``-1 .. -n`` in every channel, S4D-real); ``B_weight`` ``[n, I]``.
    """

    arch = "s6"
    state_per_channel = 4

    def __init__(self, input_size: int, hidden_size: int, *, fast_path: str | None = None):
        super().__init__(input_size, hidden_size, fast_path=fast_path)
        n = self.state_per_channel
        if _positive_int(hidden_size, "hidden_size") % n:
            raise ArgumentError(
                f"S6Cell: hidden_size={hidden_size} must be a multiple of the state per channel ({n}): the state is "
                f"channels x {n}."
            )
        D = hidden_size // n
        self.channels = D
        self.in_weight = nn.Parameter(torch.empty(D, input_size))
        self.in_bias = nn.Parameter(torch.empty(D))
        self.dt_weight = nn.Parameter(torch.empty(D, input_size))
        self.dt_bias = nn.Parameter(torch.empty(D))
        self.A_log = nn.Parameter(torch.empty(D, n))
        self.B_weight = nn.Parameter(torch.empty(n, input_size))
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """Draw the parameters as the class docstring says (from torch's global generator)."""
        for p in (self.in_weight, self.in_bias, self.dt_weight, self.B_weight):
            _uniform(p, self.input_size)
        dt = torch.exp(torch.rand(self.channels) * (math.log(1e-1) - math.log(1e-3)) + math.log(1e-3))
        self.dt_bias.copy_(dt + torch.log(-torch.expm1(-dt)))  # softplus^-1(dt)
        self.A_log.copy_(
            torch.log(torch.arange(1, self.state_per_channel + 1, dtype=torch.float32)).expand_as(self.A_log)
        )

    def _input_blocks(self):
        return [self.in_weight, self.dt_weight, self.B_weight]

    def _input_jacobian(self, x, h):
        # h'[d, k] = a_dk h_dk + Δ_d u_d B_k with a_dk = exp(Δ_d A_dk), Δ = softplus(p): dΔ_d/dx = σ(p_d) W_Δ[d]
        p = F.linear(x, self.dt_weight, self.dt_bias)
        dt, sig = F.softplus(p), torch.sigmoid(p)
        u, Bx = F.linear(x, self.in_weight, self.in_bias), F.linear(x, self.B_weight)
        A = -torch.exp(self.A_log)
        a = torch.exp(dt.unsqueeze(-1) * A)
        hd = h.view(*a.shape)
        through_dt = (hd * a * A + u.unsqueeze(-1) * Bx.unsqueeze(-2)) * sig.unsqueeze(-1)  # [B, D, n]
        J = through_dt.unsqueeze(-1) * self.dt_weight[:, None, :]
        J = J + (dt.unsqueeze(-1) * Bx.unsqueeze(-2)).unsqueeze(-1) * self.in_weight[:, None, :]
        J = J + (dt * u)[:, :, None, None] * self.B_weight[None, None]
        return J.reshape(x.shape[0], self.state_size, self.input_size)

    def coefficients(self, x):
        u = F.linear(x, self.in_weight, self.in_bias)
        dt = F.softplus(F.linear(x, self.dt_weight, self.dt_bias))
        Bx = F.linear(x, self.B_weight)
        A = -torch.exp(self.A_log)
        a = torch.exp(dt.unsqueeze(-1) * A)  # [..., D, n]
        b = (dt * u).unsqueeze(-1) * Bx.unsqueeze(-2)
        return a.flatten(-2), b.flatten(-2)
