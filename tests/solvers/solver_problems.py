"""Problems with known fixed points, shared by the solver tests (float64 definitions; dtype casts)."""

import math

import torch

from rnnlens.cells import make_cell

D = torch.float64


def gen(seed):
    return torch.Generator().manual_seed(seed)


def linear(dtype):
    """h' = W h + U x + b with ||W|| < 1: one fixed point per input, h* = (I - W)^-1 (U x + b)."""
    g = gen(0)
    S, I, P = 4, 2, 12
    W = torch.randn(S, S, generator=g, dtype=D) * 0.9 / math.sqrt(S)
    U, b = torch.randn(S, I, generator=g, dtype=D), torch.randn(S, generator=g, dtype=D)
    x = torch.randn(P, I, generator=g, dtype=D)
    seeds = 2 * torch.randn(P, S, generator=g, dtype=D)

    def F(x, h):
        return h @ W.to(h.dtype).T + x @ U.to(h.dtype).T + b.to(h.dtype)

    exact = torch.linalg.solve(torch.eye(S, dtype=D) - W, (x @ U.T + b).T).T
    # r = (W - I)(h - h*), so ||h - h*|| <= ||(W - I)^-1||_2 ||r||
    K = float(torch.linalg.matrix_norm(torch.linalg.inv(W - torch.eye(S, dtype=D)), ord=2))
    return F, seeds.to(dtype), x.to(dtype), exact, K


def line_attractor():
    """Rotated coordinates y = Q^T h: y1' = y1 (kept exactly), y2' = 0.5 tanh(y2) (1 + 0.2 tanh(y1)).

    Every point of the line y2 = 0 is a fixed point and there are no others; |y2' - y2| >= 0.4 |y2|,
    so a point with residual ||r|| lies within ||r|| / 0.4 of the line.
    """
    c, s = math.cos(0.5), math.sin(0.5)
    Q = torch.tensor([[c, -s], [s, c]], dtype=D)

    def F(x, h):
        y = h @ Q.to(h.dtype)
        y2 = 0.5 * torch.tanh(y[:, 1:]) * (1 + 0.2 * torch.tanh(y[:, :1]))
        return torch.cat([y[:, :1], y2], 1) @ Q.to(h.dtype).T

    return F, Q


def flipflop():
    """h' = tanh(W h): a' = tanh(2 a) has fixed points 0 (a saddle) and +-a*; (b, c) contract to 0.

    Near each, ||h - h*|| <= ||(J - I)^-1|| ||r|| with ||(J - I)^-1|| < 2.5 (J at the three points).
    """
    W = torch.tensor([[2.0, 0, 0], [0, 0.5, 0.3], [0, -0.3, 0.5]], dtype=D)
    a_star = 0.9575040240772687  # tanh(2 a) = a
    known = torch.tensor([[-a_star, 0, 0], [0, 0, 0], [a_star, 0, 0]], dtype=D)
    return (lambda x, h: torch.tanh(h @ W.to(h.dtype).T)), known


def gru(dtype):
    torch.manual_seed(3)
    cell = make_cell("gru", 3, 6).to(dtype)
    x = torch.randn(3, generator=gen(4), dtype=D).to(dtype)
    # reference: plain iteration h <- F(x, h) in float64 (this small random GRU is a contraction)
    ref_cell = make_cell("gru", 3, 6)
    ref_cell.load_state_dict({k: v.double() for k, v in cell.state_dict().items()})
    ref_cell = ref_cell.double()
    h = torch.zeros(1, 6, dtype=D)
    with torch.no_grad():
        for _ in range(3000):
            h = ref_cell.step(x.double()[None], h)
        assert (ref_cell.step(x.double()[None], h) - h).abs().max() < 1e-14
    return cell, x, h[0]
