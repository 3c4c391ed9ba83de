"""Cells: fused/fast path vs exact step path, closed-form Jacobians vs finite differences, errors."""

import pytest
import torch

from rnnlens.cells import ARCHS, make_cell
from rnnlens.errors import ArgumentError

I, N = 6, 8
LENGTHS = torch.tensor([12, 5, 1, 9, 12, 3])  # mixed, with padding, a length-1 row and full rows
# every fast path: torch's fused kernel (vanilla/gru/lstm), the hand-written BPTT scan (the paper's four) and
# the chunked scan (the elementwise-linear cells)
PATHS = [(a, "fused") for a in ("vanilla", "gru", "lstm")] + [(a, "scan") for a in ARCHS]


def _cell(arch, dtype=torch.float32, seed=0, fast_path=None):
    torch.manual_seed(seed)
    cell = make_cell(arch, I, N, fast_path=fast_path).to(dtype)
    with torch.no_grad():  # biases away from zero so every gate term matters
        for p in cell.parameters():
            p.mul_(2.0)
    return cell


def _inputs(cell, dtype, seed=1):
    g = torch.Generator().manual_seed(seed)
    B, T = len(LENGTHS), int(LENGTHS.max())
    x = torch.randn(B, T, I, generator=g, dtype=dtype)
    h0 = 0.5 * torch.randn(B, cell.state_size, generator=g, dtype=dtype)
    return x, h0


@pytest.mark.parametrize("arch,path", PATHS)
@pytest.mark.parametrize("zero_h0", [True, False])
def test_fast_path_equals_step_path_float32(arch, path, zero_h0):
    cell = _cell(arch, fast_path=path)
    x, h0 = _inputs(cell, torch.float32)
    h0 = None if zero_h0 else h0
    ref = cell.run(x, h0)[torch.arange(len(LENGTHS)), LENGTHS - 1]  # after the last valid token
    fast = cell.final_state(x, LENGTHS, h0)
    assert fast.shape == (len(LENGTHS), cell.state_size)
    assert (fast - ref).abs().max().item() < 1e-5
    # not one step past the end: for rows with padding the next state differs
    rows = torch.tensor([1, 3])
    past = cell.run(x, h0)[rows, LENGTHS[rows]]
    assert (fast[rows] - past).abs().max().item() > 1e-3


@pytest.mark.parametrize("arch,path", PATHS)
def test_fast_path_ignores_padding(arch, path):
    cell = _cell(arch, fast_path=path)
    x, h0 = _inputs(cell, torch.float32)
    longer = torch.cat([x, 100 * torch.randn(x.shape[0], 7, I)], 1)  # garbage after the end
    a = cell.final_state(x, LENGTHS, h0)
    b = cell.final_state(longer, LENGTHS, h0)
    assert (a - b).abs().max().item() < 1e-6


@pytest.mark.parametrize("arch,path", PATHS)
def test_fast_path_gradients_equal_step_path(arch, path):
    """Gradients of the training path (fused kernel / hand-written BPTT) match autograd on step."""
    cell = _cell(arch, torch.float64, fast_path=path)
    x, h0 = _inputs(cell, torch.float64)
    w = torch.randn(len(LENGTHS), cell.state_size, dtype=torch.float64)

    def grads(fn):
        xx, hh = x.clone().requires_grad_(), h0.clone().requires_grad_()
        cell.zero_grad()
        (fn(xx, hh) * w).sum().backward()
        return [xx.grad, hh.grad] + [p.grad.clone() for p in cell.parameters()]

    fast = grads(lambda xx, hh: cell.final_state(xx, LENGTHS, hh))
    exact = grads(lambda xx, hh: cell.run(xx, hh)[torch.arange(len(LENGTHS)), LENGTHS - 1])
    for a, b in zip(fast, exact):
        assert (a - b).abs().max().item() < 1e-10


@pytest.mark.parametrize("arch", ARCHS)
def test_scan_gradcheck(arch):
    """The hand-written backward against finite differences (torch.autograd.gradcheck, float64)."""
    cell = _cell(arch, torch.float64, fast_path="scan")
    x, h0 = _inputs(cell, torch.float64)
    x, h0 = x[:3, :5].clone().requires_grad_(), h0[:3].clone().requires_grad_()
    lengths = torch.tensor([2, 5, 4])
    params = tuple(cell.parameters())
    assert torch.autograd.gradcheck(lambda a, b, *_: cell.final_state(a, lengths, b), (x, h0) + params)


def _central_differences(f, v, eps=1e-6):
    cols = []
    for j in range(v.shape[1]):
        e = torch.zeros_like(v)
        e[:, j] = eps
        cols.append((f(v + e) - f(v - e)) / (2 * eps))
    return torch.stack(cols, -1)  # [B, S, K]


@pytest.mark.parametrize("arch", ARCHS)
def test_jacobians_equal_finite_differences_float64(arch):
    cell = _cell(arch, torch.float64)
    g = torch.Generator().manual_seed(3)
    B = 4
    x = torch.randn(B, I, generator=g, dtype=torch.float64)
    h = torch.rand(B, cell.state_size, generator=g, dtype=torch.float64) * 2 - 1  # LSTM: c in [-1, 1] too
    J_h, J_x = cell.jacobians(x, h)
    assert J_h.shape == (B, cell.state_size, cell.state_size) and J_x.shape == (B, cell.state_size, I)
    fd_h = _central_differences(lambda v: cell.step(x, v), h)
    fd_x = _central_differences(lambda v: cell.step(v, h), x)
    for J, fd in ((J_h, fd_h), (J_x, fd_x)):
        rel = ((J - fd).norm(dim=(1, 2)) / fd.norm(dim=(1, 2))).max().item()
        assert rel < 1e-6


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_jacobian_rec_equals_jacobians_and_is_what_as_step_uses(arch, dtype, monkeypatch):
    """jacobian_rec skips dF/dx but gives dF/dh bit for bit; the solvers' adapter calls it."""
    from rnnlens.steps import as_step

    cell = _cell(arch, dtype)
    g = torch.Generator().manual_seed(4)
    x = torch.randn(5, I, generator=g, dtype=dtype)
    h = torch.rand(5, cell.state_size, generator=g, dtype=dtype) * 2 - 1
    J_h, _ = cell.jacobians(x, h)
    J = cell.jacobian_rec(x, h)
    assert J.shape == (5, cell.state_size, cell.state_size) and J.dtype == dtype
    assert torch.equal(J, J_h)
    assert cell._jacobians(x, h, with_input=False)[1] is None  # dF/dx not formed

    def no_input_jacobian(*args):
        raise AssertionError("StepFunction.jacobian_rec went through jacobians (forming dF/dx)")

    monkeypatch.setattr(cell, "jacobians", no_input_jacobian)  # before as_step, which binds it
    step = as_step(cell)
    assert torch.equal(step.jacobian_rec(x, h), J_h)
    with pytest.raises(ArgumentError, match=r"jacobian_rec: argument h .*state_size"):
        cell.jacobian_rec(x, h[:, :-1])


def test_vanilla_jacobian_closed_form():
    """At h = 0, x = 0 the vanilla Jacobian is diag(1 - tanh(b)^2) U."""
    cell = _cell("vanilla", torch.float64)
    rnn = cell.rnn
    J_h, J_x = cell.jacobians(torch.zeros(1, I, dtype=torch.float64), torch.zeros(1, N, dtype=torch.float64))
    d = 1 - torch.tanh(rnn.bias_ih_l0 + rnn.bias_hh_l0) ** 2
    assert torch.allclose(J_h[0], d[:, None] * rnn.weight_hh_l0, atol=1e-14)
    assert torch.allclose(J_x[0], d[:, None] * rnn.weight_ih_l0, atol=1e-14)


def test_lstm_forget_bias_is_one_at_init():
    torch.manual_seed(0)
    cell = make_cell("lstm", I, N).double()
    b = cell.rnn.bias_ih_l0 + cell.rnn.bias_hh_l0
    assert torch.equal(b[N : 2 * N], torch.ones(N, dtype=torch.float64))
    # with x = 0 and h = 0 the cell-state block of dF/dh is f * I with f = sigmoid(1) = 0.7310585786...
    J_h, _ = cell.jacobians(torch.zeros(1, I, dtype=torch.float64), torch.zeros(1, 2 * N, dtype=torch.float64))
    assert torch.allclose(J_h[0, N:, N:], 0.7310585786300049 * torch.eye(N, dtype=torch.float64), atol=1e-12)


def test_sizes_output_and_init_state():
    for arch in ARCHS:
        cell = make_cell(arch, I, N)
        S = 2 * N if arch in ("lstm", "lru") else N  # the LSTM's [h, c]; the LRU's [Re z, Im z]
        assert (cell.arch, cell.input_size, cell.hidden_size, cell.state_size) == (arch, I, N, S)
        h = torch.arange(3 * S, dtype=torch.float32).view(3, S)
        assert torch.equal(cell.output(h), h[:, :N])
        assert torch.equal(cell.init_state(3), torch.zeros(3, S))


def test_user_errors_are_clear():
    with pytest.raises(ArgumentError, match=r"arch='transformer'.*vanilla, ugrnn, gru, lstm, mingru, minlstm, lru, s6"):
        make_cell("transformer", I, N)
    with pytest.raises(ArgumentError, match="hidden_size must be a positive integer"):
        make_cell("gru", I, 0)
    lstm = make_cell("lstm", I, N)
    x, h = torch.zeros(2, I), torch.zeros(2, 2 * N)
    with pytest.raises(ArgumentError, match=r"step: argument x .*input_size=6.*\(2, 5\)"):
        lstm.step(torch.zeros(2, 5), h)
    with pytest.raises(ArgumentError, match=r"argument h .*state_size=16.*\(2, 8\).*cat\(\[h, c\]"):
        lstm.step(x, torch.zeros(2, N))
    with pytest.raises(ArgumentError, match="same batch size, got 3 and 2"):
        lstm.jacobians(torch.zeros(3, I), h)
    with pytest.raises(ArgumentError, match=r"run: argument x .*\[batch, time, input_size=6\]"):
        lstm.run(x)
    with pytest.raises(ArgumentError, match=r"final_state: x is empty \(shape \(0, 4, 6\)\)"):
        lstm.final_state(torch.zeros(0, 4, I), torch.tensor([], dtype=torch.long))
    with pytest.raises(ArgumentError, match="between 1 and the number of time steps 4, got values from 0 to 4"):
        lstm.final_state(torch.zeros(2, 4, I), torch.tensor([0, 4]))
    with pytest.raises(ArgumentError, match="lengths must be an integer tensor of shape"):
        lstm.final_state(torch.zeros(2, 4, I), torch.tensor([1.0, 4.0]))
    with pytest.raises(ArgumentError, match=r"fast_path='fused' is not available for arch 'ugrnn'.*'scan'"):
        make_cell("ugrnn", I, N, fast_path="fused")
    with pytest.raises(ArgumentError, match=r"fast_path='cudnn'.*'fused', 'scan'"):
        lstm.fast_path = "cudnn"
    with pytest.raises(ArgumentError, match=r"h0 must be a tensor of shape \[batch=2, state_size=16\]"):
        lstm.final_state(torch.zeros(2, 4, I), torch.tensor([1, 4]), torch.zeros(2, N))
