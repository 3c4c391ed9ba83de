"""The whole state of a stacked torch ``nn.RNN`` / ``nn.GRU`` / ``nn.LSTM``, as one dynamical system.

A module with ``num_layers = L`` and ``hidden_size = N`` is one system ``s' = F(x, s)``
(:func:`rnnlens.steps.torch_rnn_step`) whose state ``s`` is every layer's state concatenated, layer
by layer, layers numbered from 0 as torch numbers them (``weight_ih_l0``, ``h_n[0]``):

* nn.RNN / nn.GRU: ``[h_0, h_1, ..., h_{L-1}]``, S = L * N numbers;
* nn.LSTM: ``[h_0, c_0, h_1, c_1, ..., h_{L-1}, c_{L-1}]``, S = 2 * L * N numbers (so one layer is
  ``cat([h, c], -1)``).

:func:`state_layout` names the parts, :func:`pack_state` / :func:`unpack_state` convert from and to
torch's ``h_n`` (and ``c_n``) ``[L, B, N]``, :func:`top_output` reads the last layer's h (what torch's
``output`` holds at that time step) and :func:`run_states` gives every stacked state along a
sequence. Bidirectional modules and LSTM projections (``proj_size > 0``) are refused with an
ArgumentError (:func:`rnnlens.steps.check_torch_rnn`). Dropout between layers is not part of the
system: analyse the module in eval mode.
"""

from __future__ import annotations

from typing import cast

import torch
from torch import Tensor, nn

from rnnlens.errors import ArgumentError
from rnnlens.steps import check_torch_rnn, layer_state_size, torch_state_size

__all__ = ["state_layout", "pack_state", "unpack_state", "top_output", "run_states"]


def state_layout(module: nn.Module) -> list[tuple[str, int, slice]]:
    """The parts of the stacked state, in order: ``(name, layer, slice)``.

    ``name`` is ``"h"`` (hidden state) or ``"c"`` (LSTM cell state), ``layer`` counts from 0 (torch's
    ``_l{k}``), ``slice`` selects that part along the state's last dimension. A 2-layer GRU with N = 4:
    ``[("h", 0, slice(0, 4)), ("h", 1, slice(4, 8))]``; a 2-layer LSTM: ``[("h", 0, slice(0, 4)),
    ("c", 0, slice(4, 8)), ("h", 1, slice(8, 12)), ("c", 1, slice(12, 16))]``.
    """
    check_torch_rnn(module)
    N = module.hidden_size
    names = ("h", "c") if isinstance(module, nn.LSTM) else ("h",)
    out, start = [], 0
    for layer in range(module.num_layers):
        for name in names:
            out.append((name, layer, slice(start, start + N)))
            start += N
    return out


def _check_layers(module: nn.Module, t: Tensor, name: str) -> None:
    L, N = module.num_layers, module.hidden_size
    if not isinstance(t, Tensor) or t.dim() not in (2, 3) or t.shape[0] != L or t.shape[-1] != N:
        got = tuple(t.shape) if isinstance(t, Tensor) else type(t).__name__
        raise ArgumentError(
            f"{name} must be a tensor of shape [num_layers={L}, batch, hidden_size={N}] (or "
            f"[{L}, {N}] unbatched), as torch returns it; got {got}."
        )


def pack_state(module: nn.Module, h_n: Tensor | tuple[Tensor, Tensor], c_n: Tensor | None = None) -> Tensor:
    """The stacked state ``[B, S]`` from torch's final states ``h_n`` (and ``c_n``) ``[L, B, N]``.

    For an nn.LSTM pass ``c_n`` too, or the pair ``(h_n, c_n)`` as torch returns it as ``h_n``.
    Unbatched ``[L, N]`` gives ``[S]``. The result is the state layout of :func:`state_layout`; it is
    a new tensor (autograd flows through it).
    """
    check_torch_rnn(module)
    lstm = isinstance(module, nn.LSTM)
    if lstm and isinstance(h_n, tuple) and c_n is None:
        h_n, c_n = h_n
    if lstm and c_n is None:
        raise ArgumentError(
            "an nn.LSTM's state holds h and c: pass pack_state(module, h_n, c_n) (or the "
            "pair (h_n, c_n) that the module returns)."
        )
    if not lstm and c_n is not None:
        raise ArgumentError(f"an {type(module).__name__} has no cell state: pass pack_state(module, h_n).")
    h_n = cast(Tensor, h_n)  # the pair was unpacked above
    _check_layers(module, h_n, "h_n")
    parts = [h_n]
    if lstm:
        _check_layers(module, c_n, "c_n")
        if c_n.shape != h_n.shape:
            raise ArgumentError(f"h_n {tuple(h_n.shape)} and c_n {tuple(c_n.shape)} must have the same shape.")
        parts.append(c_n)
    per_layer = torch.stack([p.movedim(0, -2) for p in parts], -2)  # [*, L, parts, N]
    return per_layer.reshape(*per_layer.shape[:-3], torch_state_size(module))


def _check_state(module: nn.Module, state: Tensor) -> None:
    S = torch_state_size(module)
    if not isinstance(state, Tensor) or state.dim() == 0 or state.shape[-1] != S:
        got = tuple(state.shape) if isinstance(state, Tensor) else type(state).__name__
        raise ArgumentError(
            f"state must be a tensor of shape [..., state_size={S}] (every layer's state "
            f"concatenated, see rnnlens.stacked.state_layout); got {got}."
        )


def unpack_state(module: nn.Module, state: Tensor) -> Tensor | tuple[Tensor, Tensor]:
    """Torch's ``h_n`` ``[L, B, N]`` (nn.RNN / nn.GRU) or ``(h_n, c_n)`` (nn.LSTM) from states ``[B, S]``.

    The inverse of :func:`pack_state`: the result can be passed to the module as its initial state
    ``hx``. Any leading shape ``[*, S]`` gives ``[L, *, N]``.
    """
    check_torch_rnn(module)
    _check_state(module, state)
    lstm = isinstance(module, nn.LSTM)
    per_layer = state.reshape(*state.shape[:-1], module.num_layers, 2 if lstm else 1, module.hidden_size)
    h = per_layer[..., 0, :].movedim(-2, 0).contiguous()
    if not lstm:
        return h
    return h, per_layer[..., 1, :].movedim(-2, 0).contiguous()


def top_output(module: nn.Module, state: Tensor) -> Tensor:
    """The last layer's h ``[*, N]`` from states ``[*, S]``: what torch's ``output`` holds at that step."""
    check_torch_rnn(module)
    _check_state(module, state)
    start = (module.num_layers - 1) * layer_state_size(module)
    return state[..., start : start + module.hidden_size]


def _initial_hx(module: nn.Module, h0, B: int, like: Tensor):
    if h0 is None:
        h0 = like.new_zeros(B, torch_state_size(module))
    elif isinstance(h0, tuple) or (isinstance(h0, Tensor) and h0.dim() == 3):
        h0 = pack_state(module, h0)
    _check_state(module, h0)
    if h0.dim() != 2 or h0.shape[0] != B:
        raise ArgumentError(
            f"h0 must have shape [batch={B}, state_size={torch_state_size(module)}] (or torch's "
            f"h_0 / (h_0, c_0) [num_layers, {B}, hidden_size]); got {tuple(h0.shape)}."
        )
    return unpack_state(module, h0)


def run_states(module: nn.Module, x: Tensor, h0: Tensor | tuple[Tensor, Tensor] | None = None) -> Tensor:
    """Every stacked state along a sequence: ``[B, T, S]``, state ``t`` after reading ``x[:, t]``.

    Args:
        module: a torch nn.RNN / nn.GRU / nn.LSTM (any ``num_layers``, one direction).
        x: inputs ``[B, T, input_size]``, batch first whatever the module's ``batch_first``.
        h0: the initial stacked state ``[B, S]``, or torch's ``h_0`` / ``(h_0, c_0)`` ``[L, B, N]``;
            None: zeros, as torch.

    The states come from the module's own forward, called once per time step with the previous
    state as ``hx``, so ``top_output(module, states)`` is the module's ``output`` (batch first) and
    ``states[:, -1]`` is ``pack_state(module, h_n, c_n)``. Autograd follows the caller's mode (wrap
    in ``torch.no_grad()`` for analysis). A module in training mode with ``dropout > 0`` between
    layers is refused: call ``module.eval()`` first.
    """
    check_torch_rnn(module)
    if module.training and module.dropout > 0 and module.num_layers > 1:
        raise ArgumentError(
            f"the module is in training mode with dropout={module.dropout} between layers, "
            "so its steps are random; call module.eval() before run_states."
        )
    if not isinstance(x, Tensor) or x.dim() != 3 or x.shape[-1] != module.input_size:
        got = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise ArgumentError(
            f"x must be a tensor of shape [batch, time, input_size={module.input_size}] "
            f"(batch first, whatever the module's batch_first); got {got}."
        )
    B, T, _ = x.shape
    hx = _initial_hx(module, h0, B, x)
    states = []
    for t in range(T):
        xt = x[:, t : t + 1] if module.batch_first else x[:, t].unsqueeze(0)
        _, hx = module(xt, hx)
        states.append(pack_state(module, hx))
    if not states:
        return x.new_zeros(B, 0, torch_state_size(module))
    return torch.stack(states, 1)
