"""Step functions ``h' = F(x, h)`` with Jacobians, for the fixed-point solvers and linearization.

This module holds no solver: it adapts what a user has into one interface, and checks the batches
of states and inputs fed to it (:meth:`StepFunction.prepare`, used by both
:func:`rnnlens.fixedpoints.find_fixed_points` and :func:`rnnlens.linearization.linearize`).

:func:`as_step` turns what a user has into a :class:`StepFunction`:

* an rnnlens cell (anything with ``step(x, h)``, closed-form ``jacobians(x, h)``, ``input_size``
  and ``state_size``): its own closed-form Jacobians are used;
* a torch ``nn.RNN`` / ``nn.GRU`` / ``nn.LSTM`` (any number of layers, one direction,
  ``batch_first`` either way): one time step is written out from the module's own weights in torch's
  documented gate order (RNN: ``h' = act(W_ih x + b_ih + W_hh h + b_hh)``; GRU: r, z, n; LSTM:
  i, f, g, o) over the whole stacked state, every layer's state concatenated layer by layer
  (``[h_0, ..., h_{L-1}]``; LSTM ``[h_0, c_0, ..., h_{L-1}, c_{L-1}]``, ``cat([h, c], -1)`` for one
  layer; see :mod:`rnnlens.stacked`); Jacobians come from ``torch.func``;
* any differentiable callable ``F(x, h) -> h'`` (x ``[B, I]``, h ``[B, S]``, rows independent):
  Jacobians from ``torch.func`` (``vmap`` of ``jacfwd`` or ``jacrev``, chosen per shape by timing
  both once, see :class:`FuncJacobian`).

Nothing here changes the user's module: no ``requires_grad`` flag, train/eval mode or dtype is
touched (a float64 copy for refinement is a deep copy).
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable

import numpy as np
import torch
from torch import Tensor, nn

from rnnlens._types import StepLike
from rnnlens.errors import ArgumentError

__all__ = [
    "StepFunction",
    "StackJacobians",
    "as_step",
    "FuncJacobian",
    "torch_rnn_step",
    "check_torch_rnn",
    "layer_state_size",
    "torch_state_size",
    "as_float_tensor",
    "check_finite",
]


def _first_rows(mask: Tensor, k: int = 5) -> str:
    rows = mask.nonzero().flatten()[:k].tolist()
    return ", ".join(map(str, rows)) + (", ..." if int(mask.sum()) > k else "")


def as_float_tensor(value, name: str) -> Tensor:
    """``value`` (a tensor or numpy array of floats) as a detached tensor; ArgumentError naming ``name``."""
    if isinstance(value, np.ndarray):
        value = torch.from_numpy(value)
    if not isinstance(value, Tensor):
        raise ArgumentError(f"{name} must be a tensor, got a {type(value).__name__}.")
    if not value.is_floating_point():
        raise ArgumentError(f"{name} must hold floating-point numbers, got dtype {value.dtype}.")
    return value.detach()


def all_finite(t: Tensor) -> bool:
    """Whether every number of ``t`` is finite: one sum over it (NaN or inf anywhere makes it non-finite), the
    exact elementwise test only when that sum overflowed; no temporaries the size of ``t`` (a batch of states of
    long documents is tens of MB)."""
    if t.numel() == 0 or not t.is_floating_point():
        return True
    return bool(torch.isfinite(t.sum())) or bool(torch.isfinite(t).all())


def check_finite(t: Tensor, name: str) -> None:
    """ArgumentError naming ``name``, the number of rows and the first rows holding NaN or inf."""
    if all_finite(t):
        return
    bad = ~torch.isfinite(t)
    if bad.any():
        rows = bad.reshape(bad.shape[0], -1).any(1) if t.dim() > 1 else bad
        raise ArgumentError(
            f"{name} holds NaN or inf in {int(rows.sum())} row(s) (first: {_first_rows(rows)}); "
            "remove or replace those rows."
        )


class FuncJacobian:
    """Per-point Jacobians of a batched callable through ``torch.func``.

    ``mode``: ``"fwd"`` (``vmap(jacfwd)``: one forward-mode pass per input column), ``"rev"``
    (``vmap(jacrev)``: one reverse pass per output row) or ``"auto"``: the first time a shape
    ``(S, K, dtype, device)`` is asked for, both are timed on up to 64 points (best of two after a warm-up) and the
    faster is kept for that shape; the timings (seconds per point) are kept in :attr:`timings`.
    """

    def __init__(self, fn: Callable[[Tensor, Tensor], Tensor], mode: str = "auto"):
        if mode not in ("auto", "fwd", "rev"):
            raise ArgumentError(f"jacobian_mode={mode!r}: choose 'auto', 'fwd' or 'rev'.")
        self.fn = fn
        self.mode = mode
        self.choice: dict[tuple, str] = {}
        self.timings: dict[tuple, dict[str, float]] = {}

    def _transform(self, mode: str, argnums):
        from torch.func import jacfwd, jacrev, vmap

        def one(x, h):  # one point: x [I], h [S] -> [S]
            return self.fn(x.unsqueeze(0), h.unsqueeze(0)).squeeze(0)

        jac = jacfwd if mode == "fwd" else jacrev
        return vmap(jac(one, argnums=argnums))

    def _pick(self, key, x, h, argnums) -> str:
        if self.mode != "auto":
            return self.mode
        if key not in self.choice:
            n = min(64, x.shape[0])
            xs, hs = x[:n], h[:n]
            times = {}
            for mode in ("fwd", "rev"):
                f = self._transform(mode, argnums)
                f(xs, hs)  # warm up (first use of a transform has a one-off cost)
                best = float("inf")
                for _ in range(2):
                    t0 = time.perf_counter()
                    f(xs, hs)
                    best = min(best, time.perf_counter() - t0)
                times[mode] = best / n
            self.timings[key] = times
            self.choice[key] = min(times, key=times.get)
        return self.choice[key]

    def __call__(self, x: Tensor, h: Tensor, which: str = "both"):
        """``which``: ``"rec"`` -> dF/dh ``[B, S, S]``; ``"both"`` -> (dF/dh, dF/dx ``[B, S, I]``)."""
        argnums = 1 if which == "rec" else (1, 0)
        cols = h.shape[1] + (0 if which == "rec" else x.shape[1])
        key = (h.shape[1], cols, h.dtype, h.device.type)
        mode = self._pick(key, x, h, argnums)
        return self._transform(mode, argnums)(x, h)


BIDIRECTIONAL_MESSAGE = (
    "a bidirectional RNN reads the sequence backwards too, so its final state is not the result of "
    "stepping a dynamical system forward; analyse a one-direction network, or each direction as its own "
    "system"
)


def check_torch_rnn(module: nn.Module) -> None:
    """ArgumentError unless ``module`` is an ``nn.RNN`` / ``nn.GRU`` / ``nn.LSTM`` that can be stepped.

    Any ``num_layers`` is accepted. Refused, with what to do instead: another module type (e.g.
    ``nn.GRUCell``), ``bidirectional=True`` and an LSTM with ``proj_size > 0``.
    """
    if not isinstance(module, (nn.RNN, nn.GRU, nn.LSTM)):
        raise ArgumentError(
            f"{type(module).__name__} is not supported directly: pass an nn.RNN, nn.GRU or nn.LSTM, an "
            "rnnlens cell, or a callable F(x, h) -> h'."
        )
    if module.bidirectional:
        raise ArgumentError(f"{type(module).__name__} with bidirectional=True: {BIDIRECTIONAL_MESSAGE}.")
    if getattr(module, "proj_size", 0):
        raise ArgumentError(
            f"nn.LSTM with proj_size={module.proj_size} (an LSTM projection of h) is not supported yet; "
            "pass a module built with proj_size=0, or your own step function F(x, h) -> h' over the whole "
            "stacked state."
        )


def layer_state_size(module: nn.Module) -> int:
    """Numbers of one layer's state: ``hidden_size`` (RNN, GRU) or ``2 * hidden_size`` (LSTM: h, c)."""
    return module.hidden_size * (2 if isinstance(module, nn.LSTM) else 1)


def torch_state_size(module: nn.Module) -> int:
    """Size S of the whole stacked state of a torch RNN module: ``num_layers * layer_state_size``."""
    return module.num_layers * layer_state_size(module)


def _layer_step(module: nn.Module, k: int) -> Callable[[Tensor, Tensor], Tensor]:
    """``F_k(x_k, s_k)``: one step of layer ``k`` (weights ``*_l{k}``) from its input and its state."""
    N = module.hidden_size

    def lin(x, h):
        gx = x @ getattr(module, f"weight_ih_l{k}").t()
        gh = h @ getattr(module, f"weight_hh_l{k}").t()
        if module.bias:
            gx = gx + getattr(module, f"bias_ih_l{k}")
            gh = gh + getattr(module, f"bias_hh_l{k}")
        return gx, gh

    if isinstance(module, nn.LSTM):

        def step(x, h):
            gx, gh = lin(x, h[..., :N])
            i, f, g, o = (gx + gh).chunk(4, -1)
            c = torch.sigmoid(f) * h[..., N:] + torch.sigmoid(i) * torch.tanh(g)
            return torch.cat([torch.sigmoid(o) * torch.tanh(c), c], -1)
    elif isinstance(module, nn.GRU):

        def step(x, h):
            gx, gh = lin(x, h)
            xr, xz, xn = gx.chunk(3, -1)
            hr, hz, hn = gh.chunk(3, -1)
            r = torch.sigmoid(xr + hr)
            z = torch.sigmoid(xz + hz)
            n = torch.tanh(xn + r * hn)
            return (1 - z) * n + z * h
    else:
        act = torch.tanh if module.nonlinearity == "tanh" else torch.relu

        def step(x, h):
            gx, gh = lin(x, h)
            return act(gx + gh)

    return step


def torch_rnn_step(module: nn.Module) -> Callable[[Tensor, Tensor], Tensor]:
    """One time step of a torch ``nn.RNN`` / ``nn.GRU`` / ``nn.LSTM`` (any ``num_layers``) from its weights.

    Returns ``F(x, h)`` with x ``[B, input_size]`` and h ``[B, S]``, the whole stacked state, layer by
    layer (layer k's weights are ``weight_ih_l{k}``, ``weight_hh_l{k}``, ``bias_*_l{k}``):
    ``[h_0, ..., h_{L-1}]`` (S = L * hidden_size) for nn.RNN / nn.GRU and
    ``[h_0, c_0, ..., h_{L-1}, c_{L-1}]`` (S = 2 * L * hidden_size) for nn.LSTM, so one layer keeps
    ``cat([h, c], -1)`` (see :func:`rnnlens.stacked.state_layout`). As torch does within one time step,
    layer 0 reads x and layer k + 1 reads layer k's new h. Gate order as torch documents it: RNN
    ``h' = act(W_ih x + b_ih + W_hh h + b_hh)`` (``nonlinearity`` tanh or relu); GRU rows r, z, n
    (reset gate applied to ``W_hn h + b_hn``); LSTM rows i, f, g, o. ``bias=False`` drops the biases.
    ``batch_first`` does not matter for one step. Dropout between layers is not applied: this is the
    module in eval mode, the one to analyse. Raises ArgumentError as :func:`check_torch_rnn` says.
    """
    check_torch_rnn(module)
    layers = [_layer_step(module, k) for k in range(module.num_layers)]
    if len(layers) == 1:
        return layers[0]
    N, W = module.hidden_size, layer_state_size(module)

    def step(x, h):
        out, inp = [], x
        for k, layer in enumerate(layers):
            new = layer(inp, h[..., k * W : (k + 1) * W])
            out.append(new)
            inp = new[..., :N]
        return torch.cat(out, -1)

    return step


class StackJacobians:
    """Closed-form Jacobians of a torch RNN stack (``num_layers`` > 1) over its whole state, composed from its
    layers' rnnlens cells (:func:`rnnlens.cells.cell_from_torch` of each layer's weights; their closed forms).

    Layer k's new state s_k' = F_k(u_k, s_k) reads u_0 = x and u_k = the output part (h) of s_{k-1}'. So its rows
    of dF/dh are A_k = dF_k/ds_k at its own block plus B_k P_h (rows of s_{k-1}' over the whole state) for the
    layers below (B_k = dF_k/du_k; P_h keeps the first N rows, layer k-1's new h), and its rows of dF/dx are
    B_k P_h (rows of s_{k-1}' over x), B_0 for layer 0: the chain rule, with no autograd. ``available`` is False
    where the layers have no rnnlens cell (relu, no bias); the step then keeps ``torch.func``. Each layer's cell
    shares the stack's own parameters (no copy)."""

    def __init__(self, module: nn.Module):
        from rnnlens.cells import cell_of_layer

        self.N, self.W = module.hidden_size, layer_state_size(module)
        self.cells = [cell_of_layer(module, k) for k in range(module.num_layers)]
        self.available = all(c is not None for c in self.cells)

    def __call__(self, x: Tensor, h: Tensor, with_input: bool = True) -> tuple[Tensor, Tensor | None]:
        B, S, W, N = h.shape[0], h.shape[1], self.W, self.N
        J = h.new_zeros(B, S, S)
        Ji = h.new_zeros(B, S, x.shape[1]) if with_input else None
        u = x
        below_h: Tensor | None = None
        below_x: Tensor | None = None
        for k, cell in enumerate(self.cells):
            s_k = h[:, k * W : (k + 1) * W]
            A, Bk = cell.jacobians(u, s_k)
            rows = J[:, k * W : (k + 1) * W]
            if k:
                rows += Bk @ below_h[:, :N]  # through layer k-1's new h
            rows[:, :, k * W : (k + 1) * W] += A
            if with_input or k + 1 < len(self.cells):
                rows_x = Bk if k == 0 else Bk @ below_x[:, :N]
                if with_input:
                    Ji[:, k * W : (k + 1) * W] = rows_x
                below_x = rows_x
            below_h = rows
            u = cell.step(u, s_k)[:, :N]
        return J, Ji

    def rec(self, x: Tensor, h: Tensor) -> Tensor:
        """dF/dh alone (the input rows are formed only as far as the layers above need them)."""
        return self(x, h, with_input=False)[0]


class StepFunction:
    """A step ``F(x, h) -> h'`` with per-point Jacobians.

    Attributes: ``state_size`` (S), ``input_size`` (I; 0 for a callable that takes no input),
    ``kind`` ("cell", "torch-rnn" or "callable"), ``module`` (the wrapped module or None),
    ``dtype`` and ``device`` of its parameters (None for a plain callable).
    """

    def __init__(
        self,
        fn,
        *,
        state_size,
        input_size,
        kind,
        module=None,
        closed_form=None,
        closed_form_rec=None,
        jacobian_mode="auto",
        source=None,
    ):
        self.fn = fn
        self.state_size = state_size
        self.input_size = input_size
        self.kind = kind
        self.module = module
        self._closed_form = closed_form
        self._closed_form_rec = closed_form_rec  # dF/dh alone (e.g. cell.jacobian_rec), or None
        self._func_jac = None if closed_form is not None else FuncJacobian(fn, jacobian_mode)
        self._source = source  # what as_step was given (to rebuild in another dtype)
        self._jacobian_mode = jacobian_mode
        p = next(iter(module.parameters()), None) if isinstance(module, nn.Module) else None
        self.dtype = p.dtype if p is not None else None
        self.device = p.device if p is not None else None

    def __repr__(self) -> str:
        how = "closed-form" if self._closed_form is not None else "torch.func"
        return (
            f"StepFunction(kind={self.kind!r}, state_size={self.state_size}, input_size={self.input_size}, "
            f"jacobians={how})"
        )

    @property
    def jacobian_timings(self) -> dict:
        """Seconds per point of ``jacfwd`` and ``jacrev`` measured by the auto mode, per shape."""
        return {} if self._func_jac is None else dict(self._func_jac.timings)

    def step(self, x: Tensor, h: Tensor) -> Tensor:
        """``h' = F(x, h)``: x ``[B, I]``, h ``[B, S]`` -> ``[B, S]`` (no autograd graph)."""
        with torch.no_grad():
            return self.fn(x, h)

    def jacobians(self, x: Tensor, h: Tensor) -> tuple[Tensor, Tensor]:
        """``(dF/dh [B, S, S], dF/dx [B, S, I])`` at each point; row i column j is d out_i / d in_j."""
        if self._closed_form is not None:
            with torch.no_grad():
                return self._closed_form(x, h)
        if x.shape[1] == 0:
            J = self._func_jac(x, h, "rec")
            return J, J.new_zeros(*J.shape[:2], 0)
        return self._func_jac(x, h, "both")

    def jacobian_rec(self, x: Tensor, h: Tensor) -> Tensor:
        """``dF/dh`` ``[B, S, S]`` only (what the solvers need).

        A cell's own ``jacobian_rec`` when it has one (the input Jacobian is then never formed).
        """
        if self._closed_form_rec is not None:
            with torch.no_grad():
                return self._closed_form_rec(x, h)
        if self._closed_form is not None:
            with torch.no_grad():
                return self._closed_form(x, h)[0]
        return self._func_jac(x, h, "rec")

    def to(self, dtype: torch.dtype) -> StepFunction:
        """This step in another floating dtype: modules are deep-copied (the user's stays as it is).

        A plain callable is reused as is: it must then accept tensors of that dtype.
        """
        if isinstance(self.module, nn.Module):
            if self.dtype == dtype:
                return self
            src = copy.deepcopy(self._source).to(dtype)
            return as_step(
                src, input_size=self.input_size, state_size=self.state_size, jacobian_mode=self._jacobian_mode
            )
        return self

    def check_parameters(self) -> None:
        """Raise ArgumentError naming the first parameter holding NaN or inf."""
        if not isinstance(self.module, nn.Module):
            return
        for name, p in self.module.named_parameters():
            if p.is_floating_point() and not bool(torch.isfinite(p).all()):
                bad = int((~torch.isfinite(p)).sum())
                raise ArgumentError(
                    f"parameter {name!r} of the step ({type(self.module).__name__}) holds {bad} NaN/inf "
                    "value(s); fixed points of such a model are meaningless. Load a healthy checkpoint "
                    "(training probably diverged: lower the learning rate or clip gradients)."
                )

    def _shape_hint(self, seeds: Tensor) -> str:
        """A word on the state layout when ``seeds`` has the width of a part of a torch module's state."""
        m, S = self.module, self.state_size
        if S is None or seeds.dim() != 2:
            return ""
        if (
            isinstance(m, (nn.RNN, nn.GRU, nn.LSTM))
            and m.num_layers > 1
            and seeds.shape[1] in (m.hidden_size, layer_state_size(m))
        ):
            return (
                f" (a {m.num_layers}-layer module's state is every layer's state concatenated, layer by "
                "layer; rnnlens.stacked.pack_state builds it from torch's h_n (and c_n))"
            )
        return " (the LSTM state is cat([h, c], -1))" if seeds.shape[1] * 2 == S else ""

    def prepare(self, states, inputs=None, *, name: str = "seeds") -> tuple[Tensor, Tensor]:
        """Check a batch ``states [P, S]`` and ``inputs`` against this step and evaluate it once.

        ``inputs``: None (zeros), ``[I]`` / ``[1, I]`` (one for all rows) or ``[P, I]``. Both are
        returned as ``(h [P, S], x [P, I])`` in the step's dtype and device (those of ``states`` for
        a plain callable). A plain callable's unknown ``state_size`` / ``input_size`` are taken
        from them. Raises ArgumentError (naming ``name``) for a wrong shape, NaN/inf, or a step
        that fails, returns the wrong shape or returns NaN/inf on them.
        """
        seeds = as_float_tensor(states, name)
        S = self.state_size
        one = name[:-1] if name.endswith("s") else name
        if seeds.dim() != 2 or seeds.shape[0] == 0 or (S is not None and seeds.shape[1] != S):
            want = f"[n_{name}, state_size={S}]" if S is not None else f"[n_{name}, state_size]"
            hint = self._shape_hint(seeds)
            raise ArgumentError(
                f"{name} must be a tensor of shape {want} with at least one row, got shape "
                f"{tuple(seeds.shape)}{hint}. One {one}: {name}[None]."
            )
        check_finite(seeds, name)
        if self.state_size is None:
            self.state_size = seeds.shape[1]
        dtype = self.dtype or seeds.dtype
        device = self.device or seeds.device
        seeds = seeds.to(dtype=dtype, device=device)
        P = seeds.shape[0]
        n_in = self.input_size
        if inputs is None:
            x = seeds.new_zeros(P, n_in or 0)
        else:
            x = as_float_tensor(inputs, "inputs").to(dtype=dtype, device=device)
            if x.dim() == 1:
                x = x.unsqueeze(0)
            if x.dim() != 2 or x.shape[0] not in (1, P) or (n_in is not None and x.shape[1] != n_in):
                want = f"{n_in}" if n_in is not None else "input_size"
                raise ArgumentError(
                    f"inputs must have shape [{want}] (one input for all {name}) or "
                    f"[n_{name}={P}, {want}] (one per {one}), got {tuple(x.shape)}."
                )
            check_finite(x, "inputs")
            x = x.expand(P, -1).contiguous()
        if self.input_size is None:
            self.input_size = x.shape[1]
        try:
            out = self.step(x, seeds)
        except ArgumentError:
            raise
        except Exception as exc:  # a user's callable failing on our arguments is a usage problem
            raise ArgumentError(
                f"calling the step function with x of shape {tuple(x.shape)} and h of shape "
                f"{tuple(seeds.shape)} failed ({type(exc).__name__}: {exc}); check the input size "
                "(pass inputs=...) and that F(x, h) accepts batched [B, I], [B, S]."
            ) from exc
        if not isinstance(out, Tensor) or out.shape != seeds.shape:
            got = tuple(out.shape) if isinstance(out, Tensor) else type(out).__name__
            raise ArgumentError(
                f"the step function returned {got} for h of shape {tuple(seeds.shape)}; F(x, h) "
                "must return the next state with the same shape as h."
            )
        bad = ~torch.isfinite(out).all(1)
        if bad.any():
            raise ArgumentError(
                f"the step function returned NaN/inf at {int(bad.sum())} {one}(s) (first rows: "
                f"{_first_rows(bad)}); check the model's parameters and the {name}' scale."
            )
        return seeds, x


def as_step(
    obj: StepLike, *, input_size: int | None = None, state_size: int | None = None, jacobian_mode: str = "auto"
) -> StepFunction:
    """Wrap an rnnlens cell, a torch ``nn.RNN``/``nn.GRU``/``nn.LSTM`` or a callable as a StepFunction.

    Args:
        obj: the step. A :class:`StepFunction` is returned as is. An object with ``step``,
            ``jacobians``, ``input_size`` and ``state_size`` (an rnnlens cell) uses its closed-form
            Jacobians (and its ``jacobian_rec(x, h)``, when it has one, for ``dF/dh`` alone). A torch RNN
            module with any ``num_layers`` is one system over its whole stacked state
            (:func:`torch_rnn_step`; ``state_size`` ``L*N``, or ``2*L*N`` for the LSTM); bidirectional
            modules, LSTM projections and ``nn.*Cell`` modules raise ArgumentError.
            A callable ``F(x, h) -> h'`` gets ``torch.func`` Jacobians.
        input_size: for a plain callable, its input size when known (otherwise taken from the inputs by
            :func:`rnnlens.fixedpoints.find_fixed_points`).
        state_size: for a plain callable, its state size when known (otherwise taken from the seeds).
        jacobian_mode: for ``torch.func`` Jacobians: ``"auto"`` (time jacfwd vs jacrev once per
            shape and keep the faster), ``"fwd"`` or ``"rev"``.

    Returns:
        The :class:`StepFunction` (``obj`` itself when it is one): ``F(x, h)`` and its Jacobians, batched.

    Raises:
        ArgumentError: a bidirectional module, LSTM projections or an ``nn.*Cell`` module, a whole model
            instead of its cell, an object that is neither a cell nor callable, or an unknown ``jacobian_mode``.
    """
    if isinstance(obj, StepFunction):
        return obj
    if isinstance(obj, (nn.RNNBase, nn.RNNCellBase)):
        fn = torch_rnn_step(obj)
        stack = StackJacobians(obj) if getattr(obj, "num_layers", 1) > 1 else None
        closed = stack if stack is not None and stack.available else None
        return StepFunction(
            fn,
            state_size=torch_state_size(obj),
            input_size=obj.input_size,
            kind="torch-rnn",
            module=obj,
            jacobian_mode=jacobian_mode,
            source=obj,
            closed_form=closed,
            closed_form_rec=None if closed is None else closed.rec,
        )
    if all(hasattr(obj, a) for a in ("step", "jacobians", "input_size", "state_size")):
        return StepFunction(
            obj.step,
            state_size=int(obj.state_size),
            input_size=int(obj.input_size),
            kind="cell",
            module=obj if isinstance(obj, nn.Module) else None,
            closed_form=obj.jacobians,
            closed_form_rec=getattr(obj, "jacobian_rec", None),
            source=obj,
        )
    if hasattr(obj, "cell") and all(hasattr(obj.cell, a) for a in ("step", "jacobians")):
        raise ArgumentError(f"{type(obj).__name__}: pass the recurrent cell (e.g. model.cell), not the whole model.")
    if callable(obj):
        return StepFunction(
            obj,
            state_size=state_size,
            input_size=input_size,
            kind="callable",
            module=obj if isinstance(obj, nn.Module) else None,
            jacobian_mode=jacobian_mode,
            source=obj,
        )
    raise ArgumentError(
        f"step must be an rnnlens cell, a torch nn.RNN/nn.GRU/nn.LSTM or a callable F(x, h) -> h', "
        f"got a {type(obj).__name__}."
    )
