"""The public API end to end on a user's own torch module (not an rnnlens cell)."""

import torch

import rnnlens


def test_users_own_gru_fixed_points_and_modes():
    torch.manual_seed(0)
    gru = torch.nn.GRU(3, 8, batch_first=True).double()
    with torch.no_grad():  # a strong recurrent weight gives the zero-input dynamics structure
        gru.weight_hh_l0.mul_(3.0)
    before = {k: v.clone() for k, v in gru.state_dict().items()}
    seeds = torch.rand(20, 8, dtype=torch.float64) * 2 - 1
    fps = rnnlens.find_fixed_points(gru, seeds, solver="lm", tol=1e-20, max_iter=200)
    ok = fps[fps.converged]
    assert len(ok) >= 10
    # the points are fixed points of the user's module itself: one step of its own forward, zero input
    x = torch.zeros(len(ok), 1, 3, dtype=torch.float64)
    _, h_next = gru(x, ok.points.unsqueeze(0))
    assert torch.allclose(h_next[0], ok.points, atol=1e-9)
    lin = rnnlens.linearize(gru, ok.points)
    assert not any(t.requires_grad for t in (ok.points, lin.J_rec, lin.J_inp, lin.eigvals, lin.R, lin.L, lin.tau))
    # J R = R diag(lambda), L R = I, sorted by |lambda| descending, tau = 1/|ln|lambda||
    J = lin.J_rec.to(torch.complex128)
    assert torch.allclose(J @ lin.R, lin.R * lin.eigvals.unsqueeze(-2), atol=1e-8)
    eye = torch.eye(8, dtype=torch.complex128).expand(len(ok), 8, 8)
    assert torch.allclose(lin.L @ lin.R, eye, atol=1e-8)
    mags = lin.eigvals.abs()
    assert bool((mags[:, :-1] >= mags[:, 1:] - 1e-12).all())
    assert torch.allclose(lin.tau, 1 / mags.log().abs())
    # the user's module was left as it was
    assert all(torch.equal(before[k], v) for k, v in gru.state_dict().items())
    assert gru.training and all(p.requires_grad for p in gru.parameters())


def test_exported_functions_survive_importing_every_submodule():
    import importlib
    import pkgutil

    for mod in pkgutil.walk_packages(rnnlens.__path__, "rnnlens."):
        importlib.import_module(mod.name)
    for name in rnnlens.__all__:
        value = getattr(rnnlens, name)
        assert not isinstance(value, type(rnnlens)), f"rnnlens.{name} is a module, not the exported {name}"
    assert rnnlens.train.__module__ == "rnnlens.training" and rnnlens.linearize.__module__ == "rnnlens.linearization"


def test_importing_the_report_loads_no_solver():
    import subprocess
    import sys

    code = (
        "import sys, rnnlens, rnnlens.report; "
        "print([m for m in sys.modules if m.startswith(('rnnlens.fixedpoints', 'rnnlens.solvers', "
        "'rnnlens.linearization', 'rnnlens.training'))])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_test_file_names_are_unique():
    # the tests folders have no __init__.py, so pytest imports test files by basename: two files of the same
    # name in different folders stop the collection of the whole suite
    from collections import Counter
    from pathlib import Path

    names = Counter(p.name for p in Path(__file__).parent.rglob("test_*.py"))
    assert [n for n, c in names.items() if c > 1] == []
