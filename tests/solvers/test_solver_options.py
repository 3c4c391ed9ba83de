"""Solver objects: options declared once with their defaults, checked when made, frozen; the string form."""

import dataclasses

import pytest
import torch

import rnnlens
from rnnlens.cells import make_cell
from rnnlens.errors import ArgumentError
from rnnlens.fixedpoints import find_fixed_points
from rnnlens.solvers import LM, SOLVERS, Adam, Closed, Newton, make_solver


def test_defaults_declared_once_and_used():
    assert (LM().max_iter, Newton().max_iter, Adam().max_iter) == (200, 50, 5000)
    assert LM().options() == {
        "damping": 1e-3,
        "patience": 10,
        "progress_rtol": 1e-3,
        "grad_rtol": 1e-7,
        "chord": 0.5,
        "relax": 0,
    }
    assert Newton().options() == {}
    assert Adam().options() == {
        "lr": 1.0,
        "decay": 0.95,
        "plateau_patience": 5,
        "stop": "point",
        "betas": [0.9, 0.999],
        "eps": 1e-8,
    }
    assert SOLVERS == {"lm": LM, "newton": Newton, "adam": Adam, "closed": Closed}
    assert rnnlens.LM is LM and rnnlens.Newton is Newton and rnnlens.Adam is Adam and rnnlens.Closed is Closed
    assert Closed().max_iter == 1 and Closed().options() == {}

    def F(x, h):
        return 0.5 * h

    cell = make_cell("mingru", 2, 2).double()  # the closed form needs a cell elementwise linear in the state
    for name, cls in SOLVERS.items():
        step = cell if name == "closed" else F
        fp = find_fixed_points(step, torch.ones(2, 2, dtype=torch.float64), solver=name, tol=1e-20)
        assert fp.info["max_iter"] == cls().max_iter and fp.info["solver_options"] == cls().options()
        assert fp.solver == name


def test_solver_objects_are_frozen_and_keyword_only():
    lm = LM(damping=1e-2)
    with pytest.raises(dataclasses.FrozenInstanceError):
        lm.damping = 1.0
    with pytest.raises(TypeError):
        LM(200)
    assert dataclasses.replace(lm, chord=0.0) == LM(damping=1e-2, chord=0.0) and lm.chord == 0.5
    assert Adam(betas=[0.8, 0.9]).betas == (0.8, 0.9)  # a list is kept as a tuple (hashable, frozen)


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: LM(max_iter=-1), r"LM: max_iter must be an integer >= 0, got -1"),
        (lambda: LM(max_iter=2.5), r"LM: max_iter must be an integer >= 0, got 2.5"),
        (lambda: Newton(max_iter=True), r"Newton: max_iter must be an integer"),
        (lambda: LM(damping=0.0), r"LM: damping must be a number > 0, got 0.0"),
        (lambda: LM(damping=float("nan")), r"LM: damping must be a number > 0"),
        (lambda: LM(patience=0), r"LM: patience must be an integer >= 1, got 0"),
        (lambda: LM(progress_rtol=-1e-3), r"LM: progress_rtol must be a number >= 0"),
        (lambda: LM(grad_rtol="small"), r"LM: grad_rtol must be a number >= 0, got 'small'"),
        (lambda: LM(chord=1.5), r"LM: chord must be a number >= 0 and <= 1, got 1.5"),
        (lambda: LM(relax=-1), r"LM: relax must be an integer >= 0, got -1"),
        (lambda: LM(relax=2.0), r"LM: relax must be an integer >= 0, got 2.0"),
        (lambda: Adam(lr=0), r"Adam: lr must be a number > 0"),
        (lambda: Adam(decay=1.0), r"Adam: decay must be a number > 0 and < 1, got 1.0"),
        (lambda: Adam(plateau_patience=-1), r"Adam: plateau_patience must be an integer >= 0"),
        (lambda: Adam(stop="sometimes"), r"Adam: stop='sometimes'; choose one of point, all, mean"),
        (lambda: Adam(betas=(0.9,)), r"Adam: betas must be a pair"),
        (lambda: Adam(betas=(0.9, 1.0)), r"Adam: betas\[1\] must be a number >= 0 and < 1"),
        (lambda: Adam(eps=-1.0), r"Adam: eps must be a number >= 0"),
        (lambda: dataclasses.replace(LM(), patience=0), r"LM: patience"),
    ],
)
def test_bad_options_name_the_argument(make, match):
    with pytest.raises(ArgumentError, match=match):
        make()


def test_string_form_builds_the_object_and_lists_valid_options():
    assert make_solver("lm", damping=1e-2, chord=0.0) == LM(damping=1e-2, chord=0.0)
    assert make_solver("adam", stop="all") == Adam(stop="all")
    obj = Newton(max_iter=3)
    assert make_solver(obj) is obj
    with pytest.raises(
        ArgumentError,
        match=r"solver 'lm' has no option\(s\) \['lr'\]; its options are "
        r"\['max_iter', 'damping', 'patience', 'progress_rtol', 'grad_rtol', "
        r"'chord', 'relax'\]",
    ):
        make_solver("lm", lr=0.1)
    with pytest.raises(
        ArgumentError,
        match=r"solver 'newton' has no option\(s\) \['damping'\]; its options are "
        r"\['max_iter'\]",
    ):
        find_fixed_points(lambda x, h: h, torch.zeros(1, 2), solver="newton", damping=1.0)
    with pytest.raises(ArgumentError, match=r"unknown solver='bfgs': choose one of lm, newton, adam"):
        make_solver("bfgs")
    with pytest.raises(
        ArgumentError,
        match=r"solver=LM\(\.\.\.\) is an object: give it its options "
        r"\(LM\(damping=\.\.\.\)\)",
    ):
        find_fixed_points(lambda x, h: h, torch.zeros(1, 2), solver=LM(), damping=1.0)


def test_max_iter_argument_overrides_the_solvers_own():
    def F(x, h):
        return torch.tanh(2 * h)

    seeds = torch.full((3, 1), 0.3, dtype=torch.float64)
    capped = find_fixed_points(F, seeds, solver=LM(max_iter=2), tol=1e-24)
    assert capped.iterations.tolist() == [2, 2, 2] and not capped.converged.any()
    assert capped.info["max_iter"] == 2
    more = find_fixed_points(F, seeds, solver=LM(max_iter=2), max_iter=3, tol=1e-24)
    assert more.iterations.tolist() == [3, 3, 3] and more.info["max_iter"] == 3
    full = find_fixed_points(F, seeds, solver=LM(max_iter=2), max_iter=None, tol=1e-24)
    assert torch.equal(full.points, capped.points)


def test_range_ends_are_open_or_closed_as_documented():
    # chord lies in the closed [0, 1]; Adam's decay and betas exclude 1
    assert LM(chord=1.0).chord == 1.0 and LM(chord=0.0).chord == 0.0
    assert Adam(decay=0.999).decay == 0.999 and Adam(betas=(0.0, 0.999)).betas == (0.0, 0.999)
    for make in (lambda: Adam(decay=0.0), lambda: Adam(betas=(1.0, 0.9))):
        with pytest.raises(ArgumentError):
            make()


def test_make_solver_defaults_to_lm_and_its_errors_read_in_full():
    assert make_solver() == LM()
    with pytest.raises(ArgumentError) as info:
        make_solver(LM(), damping=1.0, chord=0.5)
    assert str(info.value) == (
        "solver=LM(...) is an object: give it its options (LM(chord=..., damping=...)), not separate keyword arguments."
    )
    with pytest.raises(ArgumentError) as info:
        make_solver("LM")
    assert str(info.value) == (
        "unknown solver='LM': choose one of lm, newton, adam, closed or auto (or pass an object: "
        "rnnlens.solvers.LM(...), Newton(...), Adam(...), Closed())."
    )
    # "auto": Closed for a step elementwise linear in the state, unless an option of another solver is given
    cell = make_cell("lru", 2, 3)
    assert make_solver("auto", step=cell) == Closed() and make_solver("auto", step=cell, max_iter=5) == Closed(
        max_iter=5
    )
    assert make_solver("auto", step=cell, damping=1e-2) == LM(damping=1e-2)
    assert make_solver("auto", step=make_cell("gru", 2, 3)) == LM() == make_solver("auto")
