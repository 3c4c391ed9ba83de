"""The shape of the code, measured: no import circle, short functions, small analysis modules, entry
points with few parameters, one definition of the shared defaults."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "rnnlens"


def _modules() -> dict[str, Path]:
    out = {}
    for p in SRC.rglob("*.py"):
        parts = ["rnnlens", *p.relative_to(SRC).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = p
    return out


def _imports(modules: dict[str, Path]) -> dict[str, set[str]]:
    """Module -> the rnnlens modules it imports (at module level or inside functions; a package's own
    ``__init__`` is not counted as an import of its submodules)."""

    def resolve(name):
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph = {}
    for m, p in modules.items():
        is_pkg = p.name == "__init__.py"
        edges = set()
        for n in ast.walk(ast.parse(p.read_text())):
            if isinstance(n, ast.Import):
                targets = [a.name for a in n.names]
            elif isinstance(n, ast.ImportFrom):
                base = n.module or ""
                if n.level:
                    pkg = m.split(".") if is_pkg else m.split(".")[:-1]
                    base = ".".join(pkg[: len(pkg) - (n.level - 1)] + ([base] if base else []))
                targets = [f"{base}.{a.name}" for a in n.names] + [base]
            else:
                continue
            for t in targets:
                r = resolve(t)
                if r and r != m and not m.startswith(r + "."):
                    edges.add(r)
        graph[m] = edges
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in graph:
        if v not in index:
            visit(v)
    return out


def test_the_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_circles():
    assert _cycles(_imports(_modules())) == []


def _functions():
    for p in SRC.rglob("*.py"):
        for n in ast.walk(ast.parse(p.read_text())):
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)):
                yield p.relative_to(SRC), n


def _code_lines(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    """Lines from a function's first statement after its docstring to its end: the signature (one parameter a
    line under ``ruff format``) and the docstring are documentation, not length of logic."""
    body = fn.body
    if len(body) > 1 and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]
    return fn.end_lineno - body[0].lineno + 1


def test_the_code_line_count_skips_the_signature_and_the_docstring():
    fn = ast.parse('def f(\n    a,\n    b,\n):\n    """Doc.\n\n    More.\n    """\n    x = a\n    return x\n').body[0]
    assert _code_lines(fn) == 2
    assert _code_lines(ast.parse("def g():\n    return 1\n").body[0]) == 1


def test_no_function_over_80_lines():
    long = [f"{p}:{n.lineno} {n.name} ({_code_lines(n)} lines)" for p, n in _functions() if _code_lines(n) > 80]
    assert long == []


def test_no_analysis_module_over_450_lines():
    big = [
        f"{p.relative_to(SRC)} ({n} lines)"
        for p in (SRC / "analysis").rglob("*.py")
        if (n := len(p.read_text().splitlines())) > 450
    ]
    assert big == []


def test_analyze_and_the_section_entry_points_take_at_most_6_parameters():
    from rnnlens.analysis import analyze
    from rnnlens.analysis.kclass import analyze_kclass
    from rnnlens.analysis.modifiers import analyze_modifiers
    from rnnlens.analysis.registry import sections

    for fn in (analyze, analyze_modifiers, analyze_kclass, *(s.measure for s in sections())):
        n = len(inspect.signature(fn).parameters)
        assert n <= 6, f"{fn.__module__}.{fn.__qualname__} takes {n} parameters"


def test_nothing_outside_the_model_reaches_into_a_cell():
    # the Network view (network.py) is the one place that reads a model's cell, embedding and readout
    allowed = {"cells.py", "model.py", "network.py", "training.py", "checkpoint.py"}
    bad = []
    for p in SRC.rglob("*.py"):
        if p.name in allowed or p.parent.name == "cells":
            continue
        text = p.read_text()
        for needle in ("cell.rnn", ".cell.init_state(", "model.embedding", "model.readout", "logits_from_state("):
            if needle in text:
                bad.append(f"{p.relative_to(SRC)}: {needle}")
    assert bad == []


def test_the_paper_tolerance_is_written_once():
    # the default tolerance of the analysis and of find_fixed_points is one constant
    from rnnlens.analysis.settings import AnalysisSettings
    from rnnlens.constants import PAPER_TOL
    from rnnlens.fixedpoints import find_fixed_points

    assert AnalysisSettings().fixed_points.tol == PAPER_TOL
    assert inspect.signature(find_fixed_points).parameters["tol"].default == PAPER_TOL
    code = []
    for p in SRC.rglob("*.py"):
        for n in ast.walk(ast.parse(p.read_text())):
            if isinstance(n, ast.Constant) and isinstance(n.value, float) and n.value == 1e-8:
                code.append(f"{p.relative_to(SRC)}:{n.lineno}")
    # and Adam's epsilon (the solver's, the training optimizer's): other quantities. A constant belongs to the
    # declaration it follows by at most two lines (a formatter may put a default on the next line)
    expected = [("constants.py", "PAPER_TOL ="), ("solvers/adam.py", "eps: float"), ("settings.py", "adam_eps: float")]
    assert len(code) == len(expected), code
    for where in code:
        file, line = where.rsplit(":", 1)
        owners = [text for f, text in expected if f == file and 0 <= int(line) - _line_of(SRC / f, text) <= 2]
        assert owners, f"1e-8 written at {where}, not as PAPER_TOL or an Adam epsilon"


def _line_of(path: Path, text: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if text in line)


def test_the_public_api_is_typed():
    # every parameter and return of the functions and public methods rnnlens exports is annotated
    import rnnlens

    assert (SRC / "py.typed").is_file()
    missing = []
    for name in rnnlens.__all__:
        obj = getattr(rnnlens, name)
        if inspect.isfunction(obj):
            functions = [(name, obj)]
        elif inspect.isclass(obj):
            functions = [
                (f"{name}.{k}", getattr(v, "__func__", v))
                for k, v in vars(obj).items()
                if (not k.startswith("_") or k == "__init__") and inspect.isfunction(getattr(v, "__func__", v))
            ]
        else:
            continue
        for label, fn in functions:
            sig = inspect.signature(fn)
            bare = [
                p
                for p, v in sig.parameters.items()
                if p not in ("self", "cls")
                and v.annotation is inspect.Parameter.empty
                and v.kind not in (v.VAR_POSITIONAL, v.VAR_KEYWORD)
            ]
            if bare or (sig.return_annotation is inspect.Signature.empty and fn.__name__ != "__init__"):
                missing.append(f"{label}: {bare or 'return'}")
    assert missing == []


def test_defaults_shared_by_a_library_function_and_a_setting_are_one_constant():
    from rnnlens.analysis.settings import AnalysisSettings
    from rnnlens.analysis.valence import valence_summary
    from rnnlens.constants import MANIFOLD_NODES, RELAX_STEPS, WORD_GROUP_SIZE
    from rnnlens.manifold import trace_slow_manifold

    s = AnalysisSettings()
    trace = inspect.signature(trace_slow_manifold).parameters
    assert trace["n_points"].default == s.slow_manifold.manifold_points == MANIFOLD_NODES
    assert trace["relax_steps"].default == s.slow_manifold.relax_steps == RELAX_STEPS
    assert inspect.signature(valence_summary).parameters["n_group"].default == s.valence.n_group == WORD_GROUP_SIZE
    for path, needle in (
        (SRC / "manifold.py", "n_points: int = MANIFOLD_NODES, relax_steps: int = RELAX_STEPS"),
        (SRC / "analysis" / "valence.py", "n_group: int = WORD_GROUP_SIZE"),
        (SRC / "analysis" / "sections" / "slow_manifold.py", "setting(MANIFOLD_NODES,"),
        (SRC / "analysis" / "sections" / "valence.py", "setting(WORD_GROUP_SIZE,"),
    ):
        # compared without white space, so a formatter's line breaks do not matter
        assert needle.replace(" ", "") in "".join(path.read_text().split()), path
