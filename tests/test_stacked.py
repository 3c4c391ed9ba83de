"""Stacked torch RNNs as one dynamical system: the step and its Jacobians against the module's own
forward and finite differences, the state layout helpers, run_states, fixed points, refusals."""

import pytest
import torch
from torch import nn
from torch.func import jacrev, vmap

from rnnlens.errors import ArgumentError
from rnnlens.fixedpoints import find_fixed_points
from rnnlens.linearization import linearize
from rnnlens.stacked import pack_state, run_states, state_layout, top_output, unpack_state
from rnnlens.steps import as_step, torch_rnn_step

D = torch.float64
I, N = 3, 4

# (module class, keyword arguments); every stack is built with num_layers 2 and 3 and batch_first True/False
KINDS = [
    (nn.RNN, {"nonlinearity": "tanh"}),
    (nn.RNN, {"nonlinearity": "relu"}),
    (nn.GRU, {}),
    (nn.LSTM, {}),
    (nn.GRU, {"bias": False}),
    (nn.LSTM, {"bias": False}),
]


def _module(cls, kw, layers, batch_first, seed=0):
    torch.manual_seed(seed)
    return cls(I, N, num_layers=layers, batch_first=batch_first, **kw).double().eval()


def _torch_step(m, x, h):
    """One time step through the module's own forward: x [B, I], stacked state h [B, S] -> [B, S]."""
    xs = x[:, None] if m.batch_first else x[None]
    _, hx = m(xs, unpack_state(m, h))
    return pack_state(m, hx)


def _central_differences(f, z, eps=1e-6):
    """d f / d z [B, S_out, K] of a batched f: z [B, K] -> [B, S_out], by central differences."""
    cols = []
    for j in range(z.shape[1]):
        dz = torch.zeros_like(z)
        dz[:, j] = eps
        cols.append((f(z + dz) - f(z - dz)) / (2 * eps))
    return torch.stack(cols, -1)


def _random_state(m, B, seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(B, as_step(m).state_size, generator=g, dtype=D) * 0.7


CASES = [(c, kw, L, bf) for c, kw in KINDS for L in (2, 3) for bf in (True, False)]
IDS = [f"{c.__name__}-{kw}-L{L}-bf{bf}" for c, kw, L, bf in CASES]


# ----------------------------------------------------------------------------- layout
def test_state_layout_and_sizes():
    gru, lstm = nn.GRU(I, N, num_layers=2), nn.LSTM(I, N, num_layers=3)
    assert state_layout(gru) == [("h", 0, slice(0, 4)), ("h", 1, slice(4, 8))]
    assert state_layout(lstm) == [
        ("h", 0, slice(0, 4)),
        ("c", 0, slice(4, 8)),
        ("h", 1, slice(8, 12)),
        ("c", 1, slice(12, 16)),
        ("h", 2, slice(16, 20)),
        ("c", 2, slice(20, 24)),
    ]
    assert state_layout(nn.LSTM(I, N)) == [("h", 0, slice(0, 4)), ("c", 0, slice(4, 8))]
    assert as_step(gru).state_size == 8 and as_step(lstm).state_size == 24
    assert as_step(nn.RNN(I, N, num_layers=3)).state_size == 12 and as_step(lstm).input_size == I


def test_pack_and_unpack_follow_the_layout():
    m = nn.LSTM(I, N, num_layers=3)
    h_n, c_n = torch.randn(3, 5, N), torch.randn(3, 5, N)
    s = pack_state(m, h_n, c_n)
    assert s.shape == (5, 24) and torch.equal(pack_state(m, (h_n, c_n)), s)
    for name, layer, sl in state_layout(m):
        assert torch.equal(s[:, sl], (h_n if name == "h" else c_n)[layer])
    h2, c2 = unpack_state(m, s)
    assert torch.equal(h2, h_n) and torch.equal(c2, c_n)
    assert torch.equal(top_output(m, s), h_n[-1])
    assert torch.equal(pack_state(m, h_n[:, 0], c_n[:, 0]), s[0])  # unbatched [L, N] -> [S]
    g = nn.GRU(I, N, num_layers=2)
    h_n = torch.randn(2, 5, N)
    assert torch.equal(unpack_state(g, pack_state(g, h_n)), h_n)
    assert torch.equal(pack_state(g, h_n), torch.cat([h_n[0], h_n[1]], -1))


def test_helpers_say_what_they_want():
    lstm, gru = nn.LSTM(I, N, num_layers=2), nn.GRU(I, N, num_layers=2)
    with pytest.raises(ArgumentError, match="pass pack_state\\(module, h_n, c_n\\)"):
        pack_state(lstm, torch.zeros(2, 1, N))
    with pytest.raises(ArgumentError, match="has no cell state"):
        pack_state(gru, torch.zeros(2, 1, N), torch.zeros(2, 1, N))
    with pytest.raises(ArgumentError, match="num_layers=2, batch, hidden_size=4"):
        pack_state(gru, torch.zeros(3, 1, N))
    with pytest.raises(ArgumentError, match="state_size=16"):
        unpack_state(lstm, torch.zeros(1, 8))
    with pytest.raises(ArgumentError, match="batch first"):
        run_states(gru, torch.zeros(2, 5))
    with pytest.raises(ArgumentError, match="call module.eval\\(\\)"):
        run_states(nn.GRU(I, N, num_layers=2, dropout=0.5), torch.zeros(1, 2, I))
    with pytest.raises(ArgumentError, match="pack_state builds it"):
        find_fixed_points(gru, torch.zeros(2, N))  # one layer's h only


# ----------------------------------------------------------------------------- step and Jacobians
@pytest.mark.parametrize("cls, kw, layers, batch_first", CASES, ids=IDS)
def test_stacked_step_and_jacobians(cls, kw, layers, batch_first):
    m = _module(cls, kw, layers, batch_first)
    step = as_step(m)
    B = 3
    h = _random_state(m, B)
    x = torch.randn(B, I, generator=torch.Generator().manual_seed(2), dtype=D)
    ref = _torch_step(m, x, h)
    assert torch.allclose(step.step(x, h), ref, atol=1e-12, rtol=0)
    Jh, Jx = step.jacobians(x, h)
    assert Jh.shape == (B, step.state_size, step.state_size) and Jx.shape == (B, step.state_size, I)
    fd_h = _central_differences(lambda z: _torch_step(m, x, z), h)
    fd_x = _central_differences(lambda z: _torch_step(m, z, h), x)
    assert (Jh - fd_h).abs().max() < 1e-6
    assert (Jx - fd_x).abs().max() < 1e-6
    assert torch.allclose(step.jacobian_rec(x, h), Jh, atol=1e-12, rtol=0)
    W = step.state_size // layers
    assert Jh[:, :W, W:].abs().max() == 0  # layer 0 does not read the layers above it
    assert Jx[:, W:].abs().max() > 0  # the input reaches the layers above through layer 0


# ----------------------------------------------------------------------------- run_states
@pytest.mark.parametrize("cls, kw, layers, batch_first", CASES, ids=IDS)
def test_run_states_is_the_modules_own_forward(cls, kw, layers, batch_first):
    m = _module(cls, kw, layers, batch_first)
    x = torch.randn(2, 7, I, generator=torch.Generator().manual_seed(3), dtype=D)
    h0 = _random_state(m, 2, seed=4)
    for start in (None, h0, unpack_state(m, h0)):
        with torch.no_grad():
            states = run_states(m, x, start)
            out, hx = m(x if batch_first else x.transpose(0, 1), None if start is None else unpack_state(m, h0))
        out = out if batch_first else out.transpose(0, 1)
        assert states.shape == (2, 7, as_step(m).state_size)
        assert (top_output(m, states) - out).abs().max() < 1e-6
        assert (states[:, -1] - pack_state(m, hx)).abs().max() < 1e-6
    step = as_step(m)
    s = h0
    for t in range(7):  # the stacked step written from the weights walks the same path
        s = step.step(x[:, t], s)
        assert (s - states[:, t]).abs().max() < 1e-10


# ----------------------------------------------------------------------------- fixed points
@pytest.mark.parametrize("cls", [nn.GRU, nn.LSTM])
def test_fixed_points_of_a_two_layer_stack(cls):
    m = _module(cls, {}, 2, True, seed=5)
    x_star = torch.randn(I, generator=torch.Generator().manual_seed(6), dtype=D) * 0.5
    with torch.no_grad():
        seeds = run_states(m, torch.randn(4, 6, I, generator=torch.Generator().manual_seed(7), dtype=D))
    seeds = seeds.reshape(-1, seeds.shape[-1])
    fp = find_fixed_points(m, seeds, x_star, tol=1e-20)
    assert fp.points.shape == seeds.shape and fp.points.dtype == D
    assert fp.converged.all()
    with torch.no_grad():
        after = _torch_step(m, x_star.expand(len(seeds), -1), fp.points)
    residual = (after - fp.points).norm(dim=1)
    q = residual**2 / seeds.shape[1]
    assert residual.max() < 1e-9 and (q < fp.tol).all()
    lin = linearize(m, fp)
    J = as_step(m).jacobian_rec(fp.inputs, fp.points)
    assert torch.allclose(lin.J_rec, J, atol=1e-12, rtol=0)
    assert (lin.eigvals.abs().max(1).values < 1).all()  # stable fixed points: the stack relaxes onto them


# ----------------------------------------------------------------------------- refusals
def test_bidirectional_is_refused_with_the_reason():
    for m in (nn.GRU(I, N, bidirectional=True), nn.LSTM(I, N, num_layers=2, bidirectional=True)):
        with pytest.raises(ArgumentError) as e:
            as_step(m)
        assert str(e.value) == (
            f"{type(m).__name__} with bidirectional=True: a bidirectional RNN reads the sequence backwards "
            "too, so its final state is not the result of stepping a dynamical system forward; analyse a "
            "one-direction network, or each direction as its own system."
        )
    with pytest.raises(ArgumentError, match="bidirectional RNN reads the sequence backwards"):
        run_states(nn.RNN(I, N, bidirectional=True), torch.zeros(1, 2, I))


def test_lstm_projections_are_refused():
    with pytest.raises(ArgumentError) as e:
        as_step(nn.LSTM(I, N, num_layers=2, proj_size=2))
    assert str(e.value) == (
        "nn.LSTM with proj_size=2 (an LSTM projection of h) is not supported yet; pass a module built "
        "with proj_size=0, or your own step function F(x, h) -> h' over the whole stacked state."
    )
    with pytest.raises(ArgumentError, match="proj_size=3"):
        state_layout(nn.LSTM(I, N, proj_size=3))


def test_cell_modules_keep_their_message():
    for m in (nn.GRUCell(I, N), nn.LSTMCell(I, N), nn.RNNCell(I, N)):
        with pytest.raises(ArgumentError) as e:
            as_step(m)
        assert str(e.value) == (
            f"{type(m).__name__} is not supported directly: pass an nn.RNN, nn.GRU or "
            "nn.LSTM, an rnnlens cell, or a callable F(x, h) -> h'."
        )


# ----------------------------------------------------------------------------- one layer unchanged
def _single_layer_reference(module):
    """The one-layer step as rnnlens wrote it before stacks were supported."""
    N = module.hidden_size

    def lin(x, h):
        gx = x @ module.weight_ih_l0.t()
        gh = h @ module.weight_hh_l0.t()
        if module.bias:
            gx = gx + module.bias_ih_l0
            gh = gh + module.bias_hh_l0
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


@pytest.mark.parametrize("cls, kw", KINDS, ids=[f"{c.__name__}-{kw}" for c, kw in KINDS])
@pytest.mark.parametrize("dtype", [torch.float32, D])
def test_one_layer_is_unchanged(cls, kw, dtype):
    torch.manual_seed(8)
    m = cls(I, N, batch_first=True, **kw).to(dtype)
    step = as_step(m)
    assert step.state_size == N * (2 if cls is nn.LSTM else 1)
    g = torch.Generator().manual_seed(9)
    h = torch.randn(5, step.state_size, generator=g).to(dtype)
    x = torch.randn(5, I, generator=g).to(dtype)
    new = step.step(x, h)
    assert torch.equal(new, _single_layer_reference(m)(x, h))
    assert torch.equal(new, torch_rnn_step(m)(x, h).detach())
    with torch.no_grad():
        assert torch.allclose(new, _torch_step(m, x, h), atol=1e-6 if dtype == torch.float32 else 1e-12)
    Jh, Jx = step.jacobians(x, h)
    ref = _single_layer_reference(m)
    rh, rx = vmap(jacrev(lambda xi, hi: ref(xi[None], hi[None])[0], argnums=(1, 0)))(x, h)
    assert torch.allclose(Jh, rh, atol=1e-6, rtol=0) and torch.allclose(Jx, rx, atol=1e-6, rtol=0)


@pytest.mark.parametrize("kind", ["rnn", "gru", "lstm"])
@pytest.mark.parametrize("layers", [2, 3])
def test_a_stack_gets_closed_form_jacobians_equal_to_autodiff(kind, layers):
    # composed from its layers' rnnlens cells by the chain rule; torch.func on the same step is the reference
    from rnnlens.steps import FuncJacobian, as_step, torch_rnn_step

    M = {"rnn": torch.nn.RNN, "gru": torch.nn.GRU, "lstm": torch.nn.LSTM}[kind]
    torch.manual_seed(layers)
    m = M(5, 4, num_layers=layers, batch_first=layers == 3).double()
    fn = as_step(m)
    assert "closed-form" in repr(fn)
    h = torch.randn(7, fn.state_size, dtype=torch.float64)
    x = torch.randn(7, 5, dtype=torch.float64)
    J, Ji = fn.jacobians(x, h)
    J_ref, Ji_ref = FuncJacobian(torch_rnn_step(m), "rev")(x, h, "both")
    assert (J - J_ref).abs().max() < 1e-12 and (Ji - Ji_ref).abs().max() < 1e-12
    assert torch.equal(fn.jacobian_rec(x, h), J)


def test_a_stack_without_an_rnnlens_cell_for_its_layers_keeps_autodiff():
    from rnnlens.steps import as_step

    assert "torch.func" in repr(as_step(torch.nn.RNN(3, 4, num_layers=2, nonlinearity="relu")))
    assert "torch.func" in repr(as_step(torch.nn.GRU(3, 4, num_layers=2, bias=False)))
