"""Mutation score: how many small deliberate bugs (mutants) in the analysis code the fast tests catch.

    python benchmarks/mutation.py                         # the default modules and their fast tests
    python benchmarks/mutation.py --module src/rnnlens/analysis/checks.py --tests tests/analysis/test_metrics.py

Runs mutmut (PyPI; every mutant is one small change: an operator, a constant, a string, a call's
argument) over the chosen modules of a copy of the committed tree (``git archive HEAD``), each mutant
against the tests that cover the mutated function (mutmut's own selection from a first run of
``--tests``). Not part of CI: it takes minutes. Results and the equivalent survivors: docs/mutation.md.

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
import math
import os
import random
import subprocess
import sys
import tarfile
import tempfile
import venv
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# the default run takes about a minute on 2 cores; docs/mutation.md gives the commands for the whole fixed-point
# core (every mutant, about 20 minutes) and for analysis/ (a seeded --sample per module, about 45 minutes)
DEFAULT_MODULES = [
    "src/rnnlens/analysis/checks.py",
    "src/rnnlens/analysis/geometry.py",
    "src/rnnlens/analysis/metrics.py",
]
DEFAULT_TESTS = ["tests/analysis/test_metrics.py", "tests/analysis/test_pieces.py"]
DEPS = [
    "torch==2.13.0",
    "numpy>=1.24",
    "safetensors>=0.4",
    "scikit-learn>=1.3",
    "scipy>=1.10",
    "matplotlib>=3.7",
    "click>=8.1",
    "tqdm>=4.66",
    "pytest>=8",
    "hypothesis>=6",
    "mutmut==3.8.1",
]


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


def _configure(work: Path, modules: list[str], tests: list[str], timeout_multiplier: float) -> None:
    targets = {str(Path(m)) for m in modules}
    missing = [m for m in targets if not (work / m).is_file()]
    if missing:
        raise SystemExit(f"--module: not a file of the committed tree: {', '.join(missing)}")
    others = sorted(
        str(p.relative_to(work))
        for p in (work / "src" / "rnnlens").rglob("*.py")
        if str(p.relative_to(work)) not in targets
    )
    quote = lambda xs: "[" + ", ".join(json.dumps(x) for x in xs) + "]"  # noqa: E731
    cfg = (
        f'\n[tool.mutmut]\npaths_to_mutate = ["src/rnnlens/"]\ntests_dir = {quote(tests)}\n'
        f"do_not_mutate = {quote(others)}\ntimeout_multiplier = {float(timeout_multiplier)}\n"
    )
    pyproject = work / "pyproject.toml"
    pyproject.write_text(pyproject.read_text() + cfg)


def _results(py: Path, work: Path, env: dict) -> dict[str, str]:
    out = subprocess.run(
        [str(py.parent / "mutmut"), "results", "--all", "true"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    res = {}
    for line in out.splitlines():
        if ":" in line:
            name, status = line.strip().rsplit(":", 1)
            res[name.strip()] = status.strip()
    return res


def _module_of(name: str) -> str:
    # rnnlens.pkg.module.x_function__mutmut_3 or rnnlens.pkg.module.xǁClassǁmethod__mutmut_3
    return name.rsplit(".", 1)[0]


def _wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval of a binomial proportion k/n (the score estimated from a sample)."""
    if n == 0:
        return float("nan"), float("nan")
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def _mutmut(py: Path, work: Path, env: dict, args: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run([str(py.parent / "mutmut"), *args], cwd=work, env=env, capture_output=True, text=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--module", action="append", help="a file to mutate (repeatable; default: the analysis core)")
    ap.add_argument("--tests", action="append", help="test files/folders to run (repeatable)")
    ap.add_argument("--venv", type=Path, default=Path(tempfile.gettempdir()) / "rnnlens-mutation-venv")
    ap.add_argument("--work", type=Path, default=None, help="work folder (default: a new temporary one)")
    ap.add_argument("--max-children", type=int, default=2)
    ap.add_argument(
        "--sample",
        type=int,
        default=0,
        help="test a seeded random sample of this many mutants per module (0: all); the score is then "
        "an estimate, printed with its 95%% (Wilson) interval",
    )
    ap.add_argument("--seed", type=int, default=0, help="seed of --sample")
    ap.add_argument(
        "--timeout-multiplier",
        type=float,
        default=15.0,
        help="a mutant whose covering tests take more than this many times their clean CPU time "
        "(mutmut's rule) is stopped and counted as a timeout",
    )
    ap.add_argument("--out", type=Path, default=None, help="write the scores as JSON here")
    a = ap.parse_args()
    modules, tests = a.module or DEFAULT_MODULES, a.tests or DEFAULT_TESTS
    py = _venv(a.venv)
    work = a.work or Path(tempfile.mkdtemp(prefix="rnnlens-mutation-"))
    _copy_tree(work)
    _configure(work, modules, tests, a.timeout_multiplier)
    # one thread per test process: mutmut limits CPU time, and idle BLAS/OpenMP threads spinning beside the
    # --max-children processes would count against it (a clean mutant would read as a timeout)
    env = dict(
        os.environ,
        PYTHONPATH="src",
        MPLBACKEND="Agg",
        OMP_NUM_THREADS="1",
        MKL_NUM_THREADS="1",
        OPENBLAS_NUM_THREADS="1",
    )
    names: list[str] = []
    if a.sample:
        # generate the mutants and the test coverage without running any mutant (the filter matches none),
        # then run a seeded sample of each module's mutants
        _mutmut(py, work, env, ["run", "--max-children", str(a.max_children), "__none_matches_this__"])
        everything = _results(py, work, env)
        if not everything:
            raise SystemExit("mutmut generated no mutants (see `mutmut run` in the work folder)")
        by_module = defaultdict(list)
        for name in sorted(everything):
            by_module[_module_of(name)].append(name)
        rng = random.Random(a.seed)
        for _module, group in sorted(by_module.items()):
            names += rng.sample(group, min(a.sample, len(group)))
    run = _mutmut(py, work, env, ["run", "--max-children", str(a.max_children), *names])
    if run.returncode != 0:
        print(run.stdout[-3000:].replace("\r", "\n"), run.stderr[-3000:], file=sys.stderr)
        return run.returncode
    res = _results(py, work, env)
    if names:
        res = {n: res.get(n, "not checked") for n in names}
    per = defaultdict(Counter)
    survivors = defaultdict(list)
    for name, status in res.items():
        module = _module_of(name)
        per[module][status] += 1
        if status == "survived":
            survivors[module].append(name)
    rows = {}
    print(
        f"{'module':34s} {'mutants':>7s} {'killed':>6s} {'timeout':>7s} {'survived':>8s} {'no tests':>8s} "
        f"{'other':>5s} {'score':>6s}" + ("  95% interval" if a.sample else "")
    )
    for module in sorted(per):
        c = per[module]
        k, s, t, nt = c["killed"], c["survived"], c["timeout"], c["no tests"]
        other = sum(c.values()) - k - s - t - nt
        caught, tested = k + t, k + s + t
        score = caught / max(tested, 1)
        lo, hi = _wilson(caught, tested)
        rows[module] = {
            "mutants": sum(c.values()),
            "killed": k,
            "timeout": t,
            "survived": s,
            "no_tests": nt,
            "other": other,
            "score": score,
            "interval95": [lo, hi] if a.sample else None,
        }
        print(
            f"{module:34s} {sum(c.values()):7d} {k:6d} {t:7d} {s:8d} {nt:8d} {other:5d} {score:6.1%}"
            + (f"  {lo:.0%}-{hi:.0%}" if a.sample else "")
        )
    print(
        "\nscore = (killed + timeout) / (killed + timeout + survived), mutmut's own definition: a timeout is a "
        f"mutant whose tests ran over {a.timeout_multiplier:g}x their clean CPU time; 'no tests': no selected test "
        "reaches the mutated function"
    )
    print(f"work folder {work} (`mutmut show NAME` there prints a mutant)")
    for module, names_left in sorted(survivors.items()):
        print(
            f"surviving in {module}: {len(names_left)}: "
            + ", ".join(n.rsplit(".", 1)[-1] for n in names_left[:60])
            + (" ..." if len(names_left) > 60 else "")
        )
    if a.out:
        a.out.write_text(
            json.dumps(
                {
                    "modules": modules,
                    "tests": tests,
                    "sample": a.sample,
                    "seed": a.seed,
                    "timeout_multiplier": a.timeout_multiplier,
                    "scores": rows,
                    "survivors": survivors,
                },
                indent=1,
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
