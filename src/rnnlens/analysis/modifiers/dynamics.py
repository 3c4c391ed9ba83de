"""The network's side of the modifier analysis, all through :class:`rnnlens.network.Network`: states after
prefixes and along documents, the lead-and-filler chains, the readout changes the valenced words cause, the line
mode along the slow manifold and first-order input projections ``l^T J_inp x``. Token ids and states go to the
network's device (:func:`rnnlens.device.to_device`); what comes back as numpy is brought to the CPU."""

from __future__ import annotations

import numpy as np
import torch

from rnnlens.analysis.modes import orient_along
from rnnlens.device import to_device, to_numpy
from rnnlens.progress import track

__all__ = [
    "solver_step",
    "state_dtype",
    "readout_logit",
    "final_states",
    "visited_states",
    "chains",
    "word_effects",
    "slow_mode_at_nodes",
    "nearest",
    "input_projection",
    "net_valence",
]


def solver_step(network):
    """What the solvers linearize: the network's step as :func:`rnnlens.steps.as_step` wraps it for an rnnlens
    cell (closed-form Jacobians) or a torch RNN module (stacked or not; float64 where the points are), its
    plain step function (Jacobians by ``torch.func``) for any other cell."""
    from torch import nn

    from rnnlens.cells import Cell

    return network.step if isinstance(network.cell, (Cell, nn.RNN, nn.GRU, nn.LSTM)) else network.step_fn


def state_dtype(network) -> torch.dtype:
    """The dtype the network's states are computed in."""
    return network.init_state(1).dtype


def readout_logit(network, h: torch.Tensor) -> torch.Tensor:
    """The logit of states ``h`` along the readout direction: the single logit, or last class minus first."""
    out = network.logits(h)
    return out if out.dim() == h.dim() - 1 else out[..., -1] - out[..., 0]


@torch.no_grad()
def final_states(network, docs: list[np.ndarray]) -> torch.Tensor:
    """State after the last token of each id array (batched, padded)."""
    dtype, device = state_dtype(network), network.device
    out = torch.empty(len(docs), network.state_size, dtype=dtype, device=device)
    order = np.argsort([len(d) for d in docs])
    for i in range(0, len(docs), 64):
        rows = order[i : i + 64]
        T = max(len(docs[r]) for r in rows)
        ids = torch.zeros(len(rows), T, dtype=torch.long)
        for j, r in enumerate(rows):
            ids[j, : len(docs[r])] = torch.from_numpy(docs[r])
        lengths = to_device(torch.tensor([len(docs[r]) for r in rows]), device)
        x = network.embed(to_device(ids, device))
        if hasattr(network.cell, "final_state"):
            h = network.final_states(x, lengths)
        else:
            h = network.init_state(len(rows), dtype)
            for t in range(T):
                h = torch.where((t < lengths).unsqueeze(1), network.step_fn(x[:, t], h), h)
        out[torch.from_numpy(rows)] = h.to(dtype)
    return out


@torch.no_grad()
def visited_states(network, docs: list[np.ndarray], limit: int = 20000, rng=None, batch: int = 32) -> np.ndarray:
    """States after every token of the documents (at most ``limit``, a seeded subset), float64, in the
    documents' order. The documents run ``batch`` at a time, similar lengths together, through the same step as
    one at a time (rows past a document's end are computed and dropped)."""
    dtype = state_dtype(network)
    order = sorted(range(len(docs)), key=lambda i: len(docs[i]))
    states: list[np.ndarray | None] = [None] * len(docs)
    for start in range(0, len(order), batch):
        part = order[start : start + batch]
        T = max(len(docs[i]) for i in part)
        first = np.asarray(docs[part[0]])
        padded = np.zeros((len(part), T, *first.shape[1:]), dtype=first.dtype)
        for r, i in enumerate(part):
            padded[r, : len(docs[i])] = docs[i]
        x = network.embed(to_device(torch.from_numpy(padded), network.device))
        h = network.init_state(len(part), dtype)
        rows = []
        for t in range(T):
            h = network.step_fn(x[:, t], h)
            rows.append(h)
        hs = to_numpy(torch.stack(rows, 1).double())
        for r, i in enumerate(part):
            states[i] = hs[r, : len(docs[i])]
    X = np.concatenate(states) if states else np.zeros((0, network.state_size))
    if X.shape[0] > limit:
        rng = rng or np.random.default_rng(0)
        X = X[np.sort(rng.choice(X.shape[0], limit, replace=False))]
    return X


@torch.no_grad()
def chains(network, h0: torch.Tensor, lead_ids: np.ndarray, fillers: np.ndarray) -> torch.Tensor:
    """States [n_leads, T + 1, C, S]: after the lead (j = 0) and after each of the T fillers."""
    n_leads, C = lead_ids.shape[0], h0.shape[0]
    h = h0.unsqueeze(0).expand(n_leads, -1, -1).reshape(n_leads * C, -1)
    x = network.embed(to_device(lead_ids, network.device).reshape(-1))
    h = network.step_fn(x, h)
    out = [h]
    fill = to_device(fillers, network.device)  # [C, T]
    for j in range(fillers.shape[1]):
        x = network.embed(fill[:, j]).repeat(n_leads, 1)
        h = network.step_fn(x, h)
        out.append(h)
    return torch.stack(out, 0).reshape(len(out), n_leads, C, -1).transpose(0, 1)


@torch.no_grad()
def word_effects(
    network, traj: torch.Tensor, fillers: np.ndarray, word_ids: np.ndarray, gaps: tuple[int, int], chunk: int = 16384
) -> np.ndarray:
    """effect[lead, k - 1, c, w] (see :mod:`rnnlens.analysis.modifiers`), float64; ``gaps`` is
    ``(max_gap, settle)``. ``chunk``: the (context, word) rows stepped at once; 16,384 keeps each temporary state
    batch small enough to be reused (at 200,000 every step took fresh memory from the kernel: 2.5 s instead of
    1.0 s for a 256-wide S6, 5.4 s instead of 2.9 s for the 512-number LRU)."""
    max_gap, settle = gaps
    n_leads, _, C, S = traj.shape
    W = len(word_ids)
    xw = network.embed(to_device(word_ids, network.device))  # [W, I]
    fill = to_device(fillers, network.device)
    out = np.empty((n_leads, max_gap, C, W))
    base_logit = to_numpy(readout_logit(network, traj.reshape(-1, S)).reshape(n_leads, -1, C).double())
    rows_per = max(1, chunk // max(W, 1))
    for k in track(range(1, max_gap + 1), "modifier word effects", unit="gap"):
        before = traj[:, k - 1].reshape(n_leads * C, S)
        for i in range(0, n_leads * C, rows_per):
            hb = before[i : i + rows_per]
            n = hb.shape[0]
            h = network.step_fn(xw.repeat(n, 1), hb.repeat_interleave(W, 0))
            ctx = (torch.arange(i, i + n, device=fill.device) % C).repeat_interleave(W)
            for s in range(settle):
                h = network.step_fn(network.embed(fill[ctx, k + s]), h)
            lg = to_numpy(readout_logit(network, h).double().reshape(n, W))
            lead = np.arange(i, i + n) // C
            cidx = np.arange(i, i + n) % C
            out[lead, k - 1, cidx, :] = lg - base_logit[lead, k + settle, cidx][:, None]
    return out


def slow_mode_at_nodes(step, curve, x_star, lin=None):
    """(l1 [n, S] real, tangent [n, S]) of the line mode at the curve's nodes: of the three slowest modes the
    one whose right eigenvector is most aligned with the tangent, oriented so that r_1 . tangent > 0
    (:func:`rnnlens.analysis.modes.orient_along`), l_1 r_1 = 1. ``lin``: the float64 linearization at those
    nodes (input x*) when it is already known (the analysis's slow-manifold section), else computed here."""
    from rnnlens.linearization import linearize

    nodes = curve.points.double()
    if lin is None:
        lin = linearize(step, nodes, x_star.expand(nodes.shape[0], -1).clone(), modes=min(3, nodes.shape[1]))
    R, L = to_numpy(lin.R), to_numpy(lin.L)
    t = to_numpy(curve.tangent.double())
    top = min(3, R.shape[2])
    Rr = R[:, :, :top].real
    cos = np.abs(np.einsum("psk,ps->pk", Rr, t)) / np.maximum(np.linalg.norm(Rr, axis=1), 1e-300)
    a = cos.argmax(1)
    P = np.arange(R.shape[0])
    _, l1 = orient_along(R[P, :, a], L[P, a, :], t)
    return l1.real, t


def nearest(points: np.ndarray, nodes: np.ndarray) -> np.ndarray:
    """Index of the node nearest each point."""
    d = (points**2).sum(1)[:, None] - 2 * points @ nodes.T + (nodes**2).sum(1)[None]
    return d.argmin(1)


def input_projection(network, h: torch.Tensor, l1: torch.Tensor, x_star: torch.Tensor) -> torch.Tensor:
    """g [B, I] = l1^T dF/dx at (h, x*) for each row, one vector-Jacobian product (on the network's device)."""
    dtype, device = state_dtype(network), network.device
    x = to_device(x_star, device).to(dtype).expand(h.shape[0], -1).clone().requires_grad_(True)
    with torch.enable_grad():
        out = network.step_fn(x, to_device(h, device).to(dtype))
        (g,) = torch.autograd.grad((out * to_device(l1, device).to(out.dtype)).sum(), x)
    return g.detach().double()


def net_valence(network, curve, x_star, l1) -> np.ndarray:
    """Mean over the slow-manifold nodes of l_1^T J_inp x for every word of the vocabulary."""
    g = input_projection(network, curve.points.to(state_dtype(network)), torch.from_numpy(l1), x_star)  # [n, I]
    return to_numpy((network.embeddings() @ g.T).mean(1))
