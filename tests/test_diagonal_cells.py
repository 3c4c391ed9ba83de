"""The elementwise-linear cells (minGRU, minLSTM, LRU, S6) against known answers: the chunked scan against the
plain loop and finite differences; closed-form fixed points and spectra against the iterative solver and LAPACK;
a hand-built LRU with one eigenvalue exactly 1, which is an exact line attractor, recovered by the analysis."""

import math

import numpy as np
import pytest
import torch

from rnnlens.cells import DiagonalCell, make_cell
from rnnlens.constants import DIAGONAL_ARCHS
from rnnlens.errors import ArgumentError
from rnnlens.fixedpoints import find_fixed_points
from rnnlens.scan import diagonal_scan, sequential_scan

I = 5


def _cell(arch, N=8, seed=0):
    torch.manual_seed(seed)
    return make_cell(arch, I, N).double()


# ------------------------------------------------------------------------------------------- the scan
@pytest.mark.parametrize("dtype", [torch.float64, torch.complex128])
def test_chunked_scan_equals_the_loop_and_its_gradient_the_finite_differences(dtype):
    g = torch.Generator().manual_seed(0)

    def draw(T):
        a = torch.rand(3, T, 4, generator=g, dtype=torch.float64)
        if dtype.is_complex:
            a = a * torch.exp(1j * torch.rand(3, T, 4, generator=g, dtype=torch.float64))
        return a, torch.randn(3, T, 4, generator=g, dtype=dtype), torch.randn(3, 4, generator=g, dtype=dtype)

    for T in (1, 2, 9, 50, 123):  # one chunk, several, and padded last chunks
        a, b, h0 = draw(T)
        assert (diagonal_scan(a, b, h0) - sequential_scan(a, b, h0)).abs().max() < 1e-13
    a, b, h0 = draw(11)  # chunks of 4: two full, one padded
    args = [t.clone().requires_grad_() for t in (a[:2], b[:2], h0[:2])]
    assert torch.autograd.gradcheck(diagonal_scan, args)
    shared = a[:1, :1].clone().requires_grad_()  # broadcast over batch and time (the LRU's constant lambda)
    assert torch.autograd.gradcheck(diagonal_scan, (shared, args[1], args[2]))


def test_scan_keeps_an_exact_unit_coefficient_and_underflow():
    a = torch.tensor([[[1.0, 0.0]]]).expand(1, 40, 2)
    b = torch.ones(1, 40, 2, dtype=torch.float64)
    out = diagonal_scan(a.double(), b)
    assert out[0, :, 0].tolist() == list(range(1, 41)) and out[0, :, 1].tolist() == [1.0] * 40
    with pytest.raises(ArgumentError, match=r"h0 must be a tensor \[batch=1, M=2\]"):
        diagonal_scan(a.double(), b, torch.zeros(2, 2))


@pytest.mark.parametrize("arch", DIAGONAL_ARCHS)
def test_run_fused_scans_a_few_rows_at_a_time_with_the_same_states(arch, monkeypatch):
    # long documents are scanned in pieces of rows (fresh memory for one big piece was the cost); each row's
    # scan is its own, so the pieces give bitwise the states of one piece, and the states of the step loop
    cell = _cell(arch).float()
    x = torch.randn(7, 30, I)
    whole = cell.run_fused(x)
    monkeypatch.setattr(DiagonalCell, "SCAN_ENTRIES", 2 * 30 * cell.state_size)  # two rows per piece
    assert torch.equal(cell.run_fused(x), whole)
    torch.testing.assert_close(whole, cell.run(x), rtol=1e-5, atol=1e-6)


# ------------------------------------------------------------------------------------------- closed forms
@pytest.mark.parametrize("arch", DIAGONAL_ARCHS)
def test_closed_form_fixed_point_and_spectrum_equal_the_iterative_solver(arch):
    cell = _cell(arch)
    g = torch.Generator().manual_seed(1)
    x = torch.randn(6, I, generator=g, dtype=torch.float64)
    seeds = 3 * torch.randn(6, cell.state_size, generator=g, dtype=torch.float64)
    # Levenberg-Marquardt, run to q < 1e-26, against z* = b / (1 - a)
    lm = find_fixed_points(cell, seeds, x, solver="lm", tol=1e-26, refine=True, max_iter=400)
    assert bool(lm.converged.all())
    exact = cell.fixed_point(x)
    assert (lm.points - exact).abs().max() < 1e-6
    assert (cell.step(x, exact) - exact).abs().max() < 1e-12
    # the closed-form solver at the same tolerance lands on the same points
    closed = find_fixed_points(cell, seeds, x, solver="closed", tol=1e-26)
    assert closed.solver == "closed" and (closed.points - exact).abs().max() < 1e-6
    # eigenvalues: LAPACK on the Jacobian at the iterative fixed point, against the closed form
    lam, R, L = cell.spectrum(x)
    J = cell.jacobians(x, lm.points)[0]
    for i in range(len(x)):
        ev = torch.linalg.eigvals(J[i])
        pairs = torch.cdist(torch.view_as_real(lam[i])[None], torch.view_as_real(ev)[None])[0]
        assert pairs.min(1).values.max() < 1e-6 and pairs.min(0).values.max() < 1e-6
        assert (R @ torch.diag(lam[i]) @ L - J[i].to(R.dtype)).abs().max() < 1e-12
    assert (R @ L - torch.eye(cell.state_size, dtype=R.dtype)).abs().max() < 1e-12


@pytest.mark.parametrize("arch", DIAGONAL_ARCHS)
def test_the_closed_solver_stops_each_seed_at_the_nearest_point_under_tol(arch):
    cell = _cell(arch, seed=2)
    g = torch.Generator().manual_seed(3)
    seeds = 2 * torch.randn(40, cell.state_size, generator=g, dtype=torch.float64)
    fp = find_fixed_points(cell, seeds)  # solver "auto" picks the closed form for these cells
    assert fp.solver == "closed" and bool(fp.converged.all())
    assert float(fp.q.max()) < 1e-8 and float(fp.q.min()) > 0.99e-8  # stopped at tol, not at the exact point
    # nearest: no point of {q <= tol} along the segment to the exact fixed point is closer to the seed
    exact = cell.fixed_point(torch.zeros(1, I, dtype=torch.float64))
    for s in np.linspace(0.0, 0.999, 30):
        h = fp.points + s * (exact - fp.points)  # moving toward h* only lowers q, so it stays under tol
        d_new = torch.linalg.vector_norm(h - seeds, dim=1)
        assert bool((d_new >= torch.linalg.vector_norm(fp.points - seeds, dim=1) - 1e-9).all())
    # a seed already under tol stays where it is, as with every solver
    near = exact + 1e-7
    assert torch.equal(find_fixed_points(cell, near).points, near)
    # options of another solver turn "auto" into LM
    assert find_fixed_points(cell, seeds[:3], damping=1e-2).solver == "lm"
    with pytest.raises(ArgumentError, match="solver 'closed' needs a step"):
        find_fixed_points(make_cell("gru", I, 4), torch.zeros(2, 4), solver="closed")


# ------------------------------------------------------------------------------------------- hand-built LRU
def _line_lru(vocab, valence):
    """A SentimentRNN whose LRU mode 0 has lambda = 1 exactly and reads each word's valence; modes 1-3 decay
    (|lambda| = 0.3, rotating); the readout is Re z_0."""
    from rnnlens.model import SentimentRNN

    torch.manual_seed(0)
    model = SentimentRNN(len(vocab), arch="lru", embed_dim=3, hidden_size=4).double()
    cell = model.cell
    with torch.no_grad():
        cell.nu_log.copy_(torch.tensor([-800.0, math.log(-math.log(0.3))] + [math.log(-math.log(0.3))] * 2))
        cell.theta_log.copy_(torch.tensor([-800.0, 0.0, -1.0, -2.0]))  # exp(-800) = 0: lambda_0 = 1 exactly
        cell.gamma_log.zero_()
        cell.B_re.copy_(torch.tensor([[1.0, 0, 0], [0, 1, 0], [0, 0, 1], [0, 1, 1]]))
        cell.B_im.copy_(torch.tensor([[0.0, 0, 0], [0, 0, 1], [1, 0, 0], [0, 1, 0]]))
        E = torch.zeros(len(vocab), 3, dtype=torch.float64)
        g = torch.Generator().manual_seed(1)
        for i, w in enumerate(vocab.itos):
            if i > 1:
                E[i] = torch.cat([torch.tensor([float(valence.get(w, 0.0))]), torch.randn(2, generator=g).double()])
        model.embedding.weight.copy_(E)
        model.readout.weight.copy_(torch.tensor([[1.0, 0, 0, 0]]))
        model.readout.bias.zero_()
    return model


def test_a_hand_built_lru_with_a_unit_eigenvalue_is_an_exact_line_attractor(tmp_path):
    from rnnlens.analysis import AnalysisSettings, analyze
    from rnnlens.checkpoint import save_checkpoint
    from rnnlens.data import Vocab, load_corpus

    corpus = load_corpus("synthetic", seed=0, n_train=300, n_validation=50, n_test=200, min_length=10, max_length=30)
    vocab = Vocab.build(corpus.splits["train"].texts)
    model = _line_lru(vocab, corpus.truth.valence)
    cell = model.cell
    assert float(cell.eigenvalues()[0].real) == 1.0 and float(cell.eigenvalues()[0].imag) == 0.0
    # q = 0 exactly along the line h = c e_0 at x* = 0
    x0 = torch.zeros(41, 3, dtype=torch.float64)
    line = torch.zeros(41, 8, dtype=torch.float64)
    line[:, 0] = torch.linspace(-20, 20, 41)
    assert torch.equal(cell.step(x0, line), line)
    save_checkpoint(tmp_path / "ck", model, vocab, {"dataset": "synthetic"})
    a = analyze(
        tmp_path / "ck",
        corpus,
        AnalysisSettings.make(n_docs=150, n_seeds=150, modifiers=None, tol_sweep=[]),
        out_dir=tmp_path / "an",
    )
    assert a.value("fixed_points.n_converged") == 150
    check = a.value("fixed_points.closed_form_check")  # the analysis held its closed forms against LM
    assert check["n_converged"] == check["n"] == 10
    assert check["max_point_distance"] < 1e-6 and check["max_eigenvalue_distance"] < 1e-6
    checks = {c["name"]: c for c in a.paper_checks}
    assert checks["lambda1_near_one"]["value"] == pytest.approx(0.0, abs=1e-9)  # |lambda_1| = 1
    # the traced curve measures (visited states relaxed onto it, and its tangent against the readout's
    # covariance direction) see the fast modes the words drive and the states past the curve's ends: near 1
    assert checks["slow_points_1d"]["value"] > 0.98 and checks["readout_aligned"]["value"] > 0.98
    # the slow points themselves lie on the line: off it by at most sqrt(S tol) / min|lambda - 1| (q <= tol is
    # reached by shrinking the fast modes), and they spread along it as the visited states do
    points = a.fixed_points.points.double().numpy()
    assert np.abs(points[:, 1:]).max() < math.sqrt(8 * 1e-8) / 0.7
    assert np.ptp(points[:, 0]) > 5
    # word valence along the line is the valence the embedding was built with
    for prefix in ("", "sm_"):  # at the fixed points and along the traced slow manifold
        np.testing.assert_allclose(
            a.arrays[prefix + "truth_model_valence"], a.arrays[prefix + "truth_valence"], atol=1e-6
        )
    assert a.value("valence.spearman_truth") == pytest.approx(1.0, abs=1e-9)


# ------------------------------------------------------------------------------------------- user errors
def test_elementwise_cells_refuse_what_they_do_not_have():
    with pytest.raises(ArgumentError, match=r"hidden_size=6 must be a multiple of the state per channel \(4\)"):
        make_cell("s6", I, 6)
    cell = _cell("mingru")
    with pytest.raises(ArgumentError, match="has no recurrent weight matrix"):
        cell.initialize(recurrent="orthogonal")
    before = cell.weight.detach().clone()
    torch.manual_seed(5)
    cell.initialize(inputs="normal", input_gain=2.0)
    assert not torch.equal(before, cell.weight) and float(cell.weight.detach().std()) == pytest.approx(
        2 / math.sqrt(I), rel=0.3
    )
    assert isinstance(cell, DiagonalCell) and not isinstance(make_cell("gru", I, 4), DiagonalCell)


# ------------------------------------------------------------------------------------------- trained
@pytest.mark.parametrize("arch", DIAGONAL_ARCHS)
def test_each_cell_learns_the_synthetic_language_and_is_analysed_with_every_section(arch, tmp_path):
    from rnnlens.analysis import AnalysisSettings, analyze
    from rnnlens.baseline import fit_bag_of_words
    from rnnlens.data import load_corpus
    from rnnlens.training import TrainSettings, train

    torch.set_num_threads(1)
    corpus = load_corpus(
        "synthetic",
        seed=0,
        n_train=1500,
        n_validation=100,
        n_test=200,
        min_length=8,
        max_length=16,
        p_evidence=0.5,
        negation=True,
        intensifier=True,
        p_modifier=0.03,  # few enough that the linear LRU, which cannot flip a word, still classifies
    )
    settings = TrainSettings(
        arch=arch,
        hidden_size=8,
        embed_dim=8,
        epochs=4,
        lr=0.02,
        batch_size=32,
        seed=0,
        patience=None,
        checkpoint_every=0,
    )
    ck = train(corpus, settings, tmp_path / "ck", progress=False, verbose=False)
    assert ck.record["metrics"]["test"]["accuracy"] > 0.75  # chance is 0.5
    a = analyze(
        tmp_path / "ck",
        corpus,
        AnalysisSettings.make(n_docs=60, n_seeds=60, modifiers=["not", "very"], n_contexts=10, tol_sweep=[]),
        bow=fit_bag_of_words(corpus),
        out_dir=tmp_path / "an",
    )
    assert a.status == "complete", a.missing
    assert a.fixed_points.solver == "closed" and a.value("fixed_points.n_converged") == 60
    check = a.value("fixed_points.closed_form_check")
    assert check["max_relative_point_distance"] < 1e-6 and check["max_eigenvalue_distance"] < 1e-6
    assert len(a.value("modifiers.factor")["not"]) > 0 and a.value("valence.spearman_bow_readout") is not None


@pytest.mark.parametrize("arch", DIAGONAL_ARCHS)
def test_a_word_changes_how_the_next_is_integrated_only_through_its_gate(arch):
    # h_T = sum_t prod_{s>t} a(x_s) b(x_t): swapping w for w' at step t moves the final state by
    # P (b(w) - b(w')) + P (a(w) - a(w')) h_{t-1}, P = prod_{s>t} a(x_s). So what came before w ("not", "very" or a
    # neutral word) changes w's effect only by P (a(w) - a(w')) (h_mod - h_neutral): through the decay w's gate
    # applies to the state the earlier word left, and not at all in the LRU, whose a does not depend on the input
    cell = _cell(arch, seed=4)
    g = torch.Generator().manual_seed(5)
    ctx, modifier, neutral, w, w2 = torch.randn(5, I, generator=g, dtype=torch.float64)
    later = torch.randn(7, I, generator=g, dtype=torch.float64)

    def run(*tokens):
        return cell.to_modes(cell.run(torch.stack(tokens)[None])[0, -1].detach())

    measured = (run(ctx, modifier, w, *later) - run(ctx, modifier, w2, *later)) - (
        run(ctx, neutral, w, *later) - run(ctx, neutral, w2, *later)
    )
    with torch.no_grad():
        a = lambda x: cell.coefficients(x[None])[0][0]  # noqa: E731
        P = torch.stack([a(x) for x in later]).prod(0)
        predicted = P * (a(w) - a(w2)) * (run(ctx, modifier) - run(ctx, neutral))
    assert (measured - predicted).abs().max() < 1e-12
    if arch == "lru":
        assert measured.abs().max() < 1e-12
    else:
        assert measured.abs().max() > 1e-4  # the gate's channel is there (its size is the trained network's)
