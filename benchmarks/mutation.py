"""Mutation score: how many small deliberate bugs (mutants) in the analysis code the fast tests catch.

    python benchmarks/mutation.py                         # the default modules and their fast tests
    python benchmarks/mutation.py --module src/rnnlens/analysis/checks.py --tests tests/analysis/test_metrics.py

Runs mutmut (PyPI; every mutant is one small change: an operator, a constant, a string, a call's
argument) over the chosen modules of a copy of the committed tree (``git archive HEAD``), each mutant
against the tests that cover the mutated function (mutmut's own selection from a first run of
``--tests``). Not part of CI: it takes minutes.

mutmut needs to import the mutated copy, not the project, so it runs in a separate virtual environment
(``--venv``, created on first use) that holds rnnlens' dependencies and mutmut but not rnnlens itself
(an editable install would shadow the copy); ``PYTHONPATH=src`` points at the mutants.

Prints and writes (``--out``, JSON) per module: mutants, killed, survived, timed out, other, and the
score = killed / (killed + survived + timed out); then the surviving mutants by name (``mutmut show
NAME`` in the work folder prints the change).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import venv
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# the default run takes about a minute on 2 cores; the rest of the analysis core (dynamics.py, linearization.py,
# fixedpoints.py, solvers/) with --module/--tests takes tens of minutes: their mutants often loop until mutmut's
# timeout, and their covering tests are slower
DEFAULT_MODULES = ["src/rnnlens/analysis/checks.py", "src/rnnlens/analysis/geometry.py",
                   "src/rnnlens/analysis/metrics.py"]
DEFAULT_TESTS = ["tests/analysis/test_metrics.py", "tests/analysis/test_pieces.py"]
DEPS = ["torch==2.13.0", "numpy>=1.24", "safetensors>=0.4", "scikit-learn>=1.3", "scipy>=1.10", "matplotlib>=3.7",
        "click>=8.1", "tqdm>=4.66", "pytest>=8", "hypothesis>=6", "mutmut==3.8.1"]


def _venv(path: Path) -> Path:
    py = path / "bin" / "python"
    if not py.exists():
        print(f"creating {path} (rnnlens' dependencies + mutmut, without rnnlens) ...", file=sys.stderr)
        venv.create(path, with_pip=True)
        subprocess.run([str(py), "-m", "pip", "install", "-q", *DEPS], check=True)
    return py


def _copy_tree(work: Path) -> None:
    data = subprocess.run(["git", "-C", str(ROOT), "archive", "HEAD"], check=True, capture_output=True).stdout
    with tempfile.TemporaryFile() as f:
        f.write(data)
        f.seek(0)
        with tarfile.open(fileobj=f) as tar:
            tar.extractall(work, filter="data")


def _configure(work: Path, modules: list[str], tests: list[str]) -> None:
    targets = {str(Path(m)) for m in modules}
    missing = [m for m in targets if not (work / m).is_file()]
    if missing:
        raise SystemExit(f"--module: not a file of the committed tree: {', '.join(missing)}")
    others = sorted(str(p.relative_to(work)) for p in (work / "src" / "rnnlens").rglob("*.py")
                    if str(p.relative_to(work)) not in targets)
    quote = lambda xs: "[" + ", ".join(json.dumps(x) for x in xs) + "]"  # noqa: E731
    cfg = (f"\n[tool.mutmut]\npaths_to_mutate = [\"src/rnnlens/\"]\ntests_dir = {quote(tests)}\n"
           f"do_not_mutate = {quote(others)}\n")
    pyproject = work / "pyproject.toml"
    pyproject.write_text(pyproject.read_text() + cfg)


def _results(py: Path, work: Path, env: dict) -> dict[str, str]:
    out = subprocess.run([str(py.parent / "mutmut"), "results", "--all", "true"], cwd=work, env=env,
                         capture_output=True, text=True, check=True).stdout
    res = {}
    for line in out.splitlines():
        if ":" in line:
            name, status = line.strip().rsplit(":", 1)
            res[name.strip()] = status.strip()
    return res


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--module", action="append", help="a file to mutate (repeatable; default: the analysis core)")
    ap.add_argument("--tests", action="append", help="test files/folders to run (repeatable)")
    ap.add_argument("--venv", type=Path, default=Path(tempfile.gettempdir()) / "rnnlens-mutation-venv")
    ap.add_argument("--work", type=Path, default=None, help="work folder (default: a new temporary one)")
    ap.add_argument("--max-children", type=int, default=2)
    ap.add_argument("--out", type=Path, default=None, help="write the scores as JSON here")
    a = ap.parse_args()
    modules, tests = a.module or DEFAULT_MODULES, a.tests or DEFAULT_TESTS
    py = _venv(a.venv)
    work = a.work or Path(tempfile.mkdtemp(prefix="rnnlens-mutation-"))
    _copy_tree(work)
    _configure(work, modules, tests)
    env = dict(os.environ, PYTHONPATH="src", MPLBACKEND="Agg")
    run = subprocess.run([str(py.parent / "mutmut"), "run", "--max-children", str(a.max_children)], cwd=work,
                         env=env, capture_output=True, text=True)
    if run.returncode != 0:
        print(run.stdout[-3000:].replace("\r", "\n"), run.stderr[-3000:], file=sys.stderr)
        return run.returncode
    res = _results(py, work, env)
    per = defaultdict(Counter)
    survivors = defaultdict(list)
    for name, status in res.items():
        module = name.split(".x")[0].split(".x_")[0]
        module = module.rsplit(".", 1)[0] if "__mutmut_" in module else module
        per[module][status] += 1
        if status == "survived":
            survivors[module].append(name)
    rows = {}
    print(f"{'module':40s} {'mutants':>7s} {'killed':>6s} {'survived':>8s} {'timeout':>7s} {'other':>5s} {'score':>6s}")
    for module in sorted(per):
        c = per[module]
        k, s, t = c["killed"], c["survived"], c["timeout"]
        other = sum(c.values()) - k - s - t
        score = k / max(k + s + t, 1)
        rows[module] = {"mutants": sum(c.values()), "killed": k, "survived": s, "timeout": t, "other": other,
                        "score": score}
        print(f"{module:40s} {sum(c.values()):7d} {k:6d} {s:8d} {t:7d} {other:5d} {score:6.1%}")
    print(f"\nscore = killed / (killed + survived + timeout); work folder {work} (mutmut show NAME there)")
    for module, names in sorted(survivors.items()):
        print(f"surviving in {module}: {len(names)}: " + ", ".join(n.rsplit('.', 1)[-1] for n in names[:40])
              + (" ..." if len(names) > 40 else ""))
    if a.out:
        a.out.write_text(json.dumps({"modules": modules, "tests": tests, "scores": rows,
                                     "survivors": survivors}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
