"""Benchmark: Levenberg-Marquardt against FixedPointFinder-style Adam on one GRU, plus Jacobian timings.

Usage (from the repository root):

    .venv/bin/python benchmarks/fixed_points.py --checkpoint runs/imdb-gru128      # a trained model
    .venv/bin/python benchmarks/fixed_points.py --random-gru --hidden 128          # exercise only
    .venv/bin/python benchmarks/fixed_points.py --checkpoint DIR --seed-draw per-doc --n-docs 1000 \
        --threads 1 --fpf --lm-variants "default;relax=30"          # against the real FixedPointFinder

``--fpf``: the real FixedPointFinder (PyTorch, Apache-2.0, its sources under ``--fpf-dir``; the
package never imports it) with its defaults on the network's ``nn.GRU`` (an ``nn.LSTM`` through a
wrapper that gives it the state ``cat([h, c])``: FixedPointFinder's PyTorch port reads one state
tensor and fails on the LSTM's ``(h, c)`` tuple), timed over its whole
``find_fixed_points`` (Adam, then unique / outliers / Jacobians / eigendecompositions); then, in the
same process and from the same seeds, ``lm`` (each option set of ``--lm-variants``) with ``tol`` at
the level FixedPointFinder reached (its final median q_half): the time until the median point is
there and until every point is done (under the level or labelled a slow point; ``t_all_below_s``:
every point under it), the median of ``--lm-repeats`` runs, and the speed-ups; then ``lm`` at
q_half < 1e-12 (the share of seeds converged or labelled slow). Over several networks:
``benchmarks/fixed_points_across.py``. ``--seed-draw per-doc``: one visited state (a uniformly drawn
valid time step) from each of ``--n-docs`` test reviews.

Seeds: ``--n-seeds`` states sampled (:func:`rnnlens.fixedpoints.sample_seeds`) from the states the
model visits on ``--n-docs`` test reviews (first ``--max-length`` tokens of each). With
``--random-gru`` (random weights, update-gate bias raised so the dynamics are slow) the seeds come
from random input sequences: this only exercises the script and is NOT the measurement the issue
asks for (that needs the trained IMDB GRU).

Every method gets the same seeds and zero input and the same target, FixedPointFinder's
``q_half = 0.5 ||F(h) - h||^2 < 1e-12`` per point (= ``tol = 2e-12 / N`` on the paper's
``q = (1/N) ||F(h) - h||^2``). Adam uses FixedPointFinder's settings: learning rate 1.0,
multiplied by 0.95 on plateaus, stop when every point is under the target or at ``--max-iter``.

Printed per method: wall time; fraction of seeds with q_half < 1e-12; fraction with the paper's
q < 1e-8; fraction identified as slow points; fraction converged or slow; median q and q_half;
median distance ||point - seed||; time until the median q first reaches the median q Adam ends at.
Then: time for Jacobians (dF/dh, dF/dx) plus eigendecompositions (with R and L = R^-1) of
``--jac-points`` points at N = ``--jac-n``, and per-point Jacobian time of the closed form against
``torch.func`` ``jacfwd`` / ``jacrev`` on the same step.
"""

from __future__ import annotations

import json
import math
import time

import click
import torch

from rnnlens.cells import make_cell
from rnnlens.fixedpoints import as_step, find_fixed_points, sample_seeds
from rnnlens.linearization import linearize
from rnnlens.solvers import LM, Adam, Newton
from rnnlens.steps import FuncJacobian


def _one_per_document(states, lengths, seed):
    """One visited state from each document: a uniformly drawn valid time step of each."""
    g = torch.Generator().manual_seed(seed)
    return torch.stack([s[int(torch.randint(int(n), (1,), generator=g))] for s, n in zip(states, lengths)])


def _seeds_from_checkpoint(path, n_seeds, n_docs, max_length, data_dir, seed, per_doc=False):
    from rnnlens.checkpoint import load_checkpoint
    from rnnlens.data import batches, encode, load_corpus

    ck = load_checkpoint(path)
    model = ck.model.eval()
    rec = ck.record
    options = dict((rec.get("data_info") or {}).get("options") or {})
    corpus = load_corpus(rec["dataset"], data_dir=data_dir, **options)
    split = corpus.splits.get("test") or corpus.splits["validation"]
    enc = encode(ck.vocab, split, max_length=max_length)
    g = torch.Generator().manual_seed(seed)
    keep = torch.randperm(len(enc.labels), generator=g)[:n_docs].tolist()
    enc.ids = [enc.ids[i] for i in keep]
    enc.labels = enc.labels[keep]
    states, lengths = [], []
    with torch.no_grad():
        for b in batches(enc, 64, shuffle=False):
            s = model.states(b.ids, b.lengths)
            states += list(s)
            lengths += b.lengths.tolist()
    if per_doc:
        seeds = _one_per_document(states, lengths, seed)[:n_seeds]
        desc = (
            f"checkpoint {path} ({rec['dataset']}, arch {model.arch}, N={model.hidden_size}); one seed per "
            f"document from {len(states)} test documents, first {max_length} tokens"
        )
        return model.cell, seeds, desc
    T = max(s.shape[0] for s in states)
    padded = torch.stack([torch.nn.functional.pad(s, (0, 0, 0, T - s.shape[0])) for s in states])
    seeds = sample_seeds(padded, torch.tensor(lengths), n=n_seeds, seed=seed)
    desc = (
        f"checkpoint {path} ({rec['dataset']}, arch {model.arch}, N={model.hidden_size}, "
        f"validation accuracy {rec.get('metrics', {}).get('validation', {}).get('accuracy')}); "
        f"seeds from {len(states)} {('test' if 'test' in corpus.splits else 'validation')} documents, "
        f"first {max_length} tokens"
    )
    return model.cell, seeds, desc


def _random_gru(hidden, n_seeds, seed):
    torch.manual_seed(seed)
    cell = make_cell("gru", 32, hidden)
    N = hidden
    with torch.no_grad():
        cell.rnn.weight_hh_l0.mul_(3.0)
        cell.rnn.bias_hh_l0[N : 2 * N].add_(3.0)  # update gate near 1: slow dynamics
    x = torch.randn(64, 100, 32, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        states = cell.run(x)
    seeds = sample_seeds(states, n=n_seeds, seed=seed)
    return cell, seeds, f"RANDOM GRU (N={hidden}, not a trained model: exercises the script only)"


def _time_to_reach(history, level):
    for row in history:
        if row["q_median"] <= level:
            return row["seconds"]
    return math.inf


def _row(name, fp, N, adam_level):
    q, qh = fp.q.double(), fp.q_half.double()
    P = len(fp)
    t_reach = _time_to_reach(fp.info["history"], adam_level) if adam_level is not None else math.nan
    return {
        "method": name,
        "wall_s": fp.info["seconds"],
        "frac_q_half<1e-12": float((qh < 1e-12).sum()) / P,
        "frac_q<1e-8": float((q < 1e-8).sum()) / P,
        "frac_slow": float(fp.slow.sum()) / P,
        "frac_conv_or_slow": float((fp.converged | fp.slow).sum()) / P,
        "median_q": float(q.median()),
        "median_q_half": float(qh.median()),
        "median_distance": float(fp.distance.double().median()),
        "median_iterations": float(fp.iterations.double().median()),
        "t_reach_adam_level_s": t_reach,
    }


FPF_DIR = "/work/shared/anchors/fixed-point-finder"


def _parse_variants(text):
    """``"default;relax=30;chord=0.9,relax=30"`` -> [("default", {}), ("relax=30", {"relax": 30}), ...]."""
    out = []
    for part in (p.strip() for p in text.split(";")):
        if not part:
            continue
        opts = {}
        if part != "default":
            for kv in part.split(","):
                k, v = kv.split("=")
                opts[k.strip()] = int(v) if v.strip().lstrip("-").isdigit() else float(v)
        out.append((part, opts))
    return out


class _LSTMJointState(torch.nn.Module):
    """An ``nn.LSTM`` seen by FixedPointFinder as one RNN with the state ``cat([h, c])`` ``[1, B, 2N]``.

    FixedPointFinder's PyTorch port calls ``rnn(inputs [B, 1, I], state [1, B, n])`` and reads the new
    state as one tensor, so an ``nn.LSTM`` (whose state is the tuple ``(h, c)``) fails in it; through this
    wrapper it optimizes, de-duplicates and takes Jacobians on the whole ``[h, c]`` state: the same
    state, map and q as rnnlens's LSTM cell (``state_size = 2N``, ``q_half`` over both halves)."""

    def __init__(self, lstm):
        super().__init__()
        self.lstm = lstm
        self.batch_first = lstm.batch_first
        self.input_size = lstm.input_size

    def forward(self, inputs, state):
        n = self.lstm.hidden_size
        out, (h, c) = self.lstm(inputs, (state[..., :n].contiguous(), state[..., n:].contiguous()))
        return out, torch.cat([h, c], -1)


def _run_fpf(cell, seeds, fpf_dir):
    """FixedPointFinder with its defaults on ``cell``'s torch RNN (an LSTM through its joint [h, c] state), timed
    over its whole ``find_fixed_points`` and over its optimization alone; its per-seed final q_half."""
    import sys

    import numpy as np

    sys.path.insert(0, fpf_dir)
    from FixedPointFinderTorch import FixedPointFinderTorch

    rnn = cell.rnn
    fpf_rnn = _LSTMJointState(rnn) if isinstance(rnn, torch.nn.LSTM) else rnn
    seeds_np = seeds.detach().cpu().numpy().astype(np.float32)
    fpf = FixedPointFinderTorch(fpf_rnn, verbose=False)
    opt_seconds = {}
    joint = fpf._run_joint_optimization

    def timed_joint(*a, **k):
        t = time.perf_counter()
        out = joint(*a, **k)
        opt_seconds["s"] = time.perf_counter() - t
        return out

    fpf._run_joint_optimization = timed_joint
    t0 = time.perf_counter()
    unique_fps, all_fps = fpf.find_fixed_points(seeds_np, np.zeros((1, rnn.input_size), dtype=np.float32))
    t_fpf = time.perf_counter() - t0
    for p in rnn.parameters():  # FixedPointFinder freezes the parameters; give them back
        p.requires_grad_(True)
    qh = np.asarray(all_fps.qstar, dtype=np.float64)
    out = {
        "wall_s": t_fpf,
        "opt_s": opt_seconds["s"],
        "q_half": qh,
        "level_half": float(np.median(qh)),
        "iterations": int(np.asarray(all_fps.n_iters).max()),
        "unique": int(unique_fps.n),
    }
    print(
        f"\nFixedPointFinder (defaults: Adam lr 1.0, ReduceLROnPlateau x0.95, tol_q 1e-12, max_iters 5000, "
        f"then unique / outliers / Jacobians / eigendecomposition): {t_fpf:.1f} s in all, {out['opt_s']:.1f} s "
        f"optimizing, {out['iterations']} iterations; final median q_half {out['level_half']:.3g} (max "
        f"{qh.max():.3g}; {(qh < 1e-12).mean():.1%} under 1e-12); {out['unique']} unique points",
        flush=True,
    )
    return out


def _lm_variant(cell, seeds, name, opts, fpf, tol, lm_max_iter, lm_repeats):
    """One ``lm`` option set against FixedPointFinder's run ``fpf``: times to its level (median of
    ``lm_repeats`` runs), the share that reaches it, and the run at q_half < 1e-12."""
    import numpy as np

    from rnnlens.solvers import lm as lm_module

    N, qh, level_half = cell.state_size, fpf["q_half"], fpf["level_half"]
    lm_module._CPU_LAPACK = not opts.pop("torch_factor", 0)  # torch_factor=1: the batched torch factorization
    runs = []  # lm_repeats runs, the same work each time: the median time of each (load on the machine varies)
    for _ in range(lm_repeats):
        fp = find_fixed_points(
            cell, seeds, solver=LM(max_iter=lm_max_iter, **opts), tol=tol, record_history=True, chunk_size=len(seeds)
        )
        hist = fp.info["history"]
        t_med = _time_to_reach(hist, tol)
        t_below = next((r["seconds"] for r in hist if r["q_max"] <= tol), math.inf)
        # every point done: under the level, or retired as a slow point (a minimum of q above the level,
        # which no solver takes under it); inf when a point diverged or ran out of iterations
        resolved = bool((fp.converged | fp.slow).all())
        t_all = next((r["seconds"] for r in hist if r["n_active"] == 0), math.inf) if resolved else math.inf
        runs.append((t_med, t_below, t_all))
    t_med, t_below, t_all = (float(np.median([r[i] for r in runs])) for i in range(3))
    reached = float((fp.q.double() <= tol).double().mean())
    # per seed: lm's q_half at most FixedPointFinder's final q_half from the same seed (or the level)
    lm_qh = fp.q_half.double().cpu().numpy()
    no_worse = float(np.mean(lm_qh <= np.maximum(qh, level_half) * (1 + 1e-6)))
    strict = find_fixed_points(
        cell, seeds, solver=LM(max_iter=lm_max_iter, **opts), tol=2e-12 / N, chunk_size=len(seeds)
    )
    lm_module._CPU_LAPACK = True
    frac = lambda t: float(t.double().mean())  # noqa: E731
    r = {
        "variant": name,
        "repeats": [list(x) for x in runs],
        "t_median_s": t_med,
        "t_every_s": t_all,
        "wall_s": fp.info["seconds"],
        "reached": reached,
        "slow_at_level": frac(fp.slow),
        "diverged_at_level": frac(fp.diverged),
        "t_all_below_s": t_below,
        "no_worse_than_fpf": no_worse,
        "speedup_median": fpf["wall_s"] / t_med,
        "speedup_every": fpf["wall_s"] / t_all,
        "speedup_median_opt": fpf["opt_s"] / t_med,
        "speedup_every_opt": fpf["opt_s"] / t_all,
        "strict_wall_s": strict.info["seconds"],
        "strict_conv_or_slow": frac(strict.converged | strict.slow),
        "strict_q_half<1e-12": frac(strict.q_half < 1e-12),
        "strict_slow": frac(strict.slow),
        "strict_converged": frac(strict.converged),
        "strict_diverged": frac(strict.diverged),
        "strict_max_iter": frac(~(strict.converged | strict.slow | strict.diverged)),
        "strict_iterations_median": float(strict.iterations.double().median()),
        "strict_iterations_max": int(strict.iterations.max()),
        "median_distance": float(fp.distance.double().median()),
    }
    print(
        f"  lm {name:<22} median there {t_med:6.3f} s ({r['speedup_median']:5.1f}x), every point "
        f"{t_all:6.3f} s ({r['speedup_every']:5.1f}x), {reached:.1%} reach it ({r['slow_at_level']:.1%} slow, "
        f"{no_worse:.1%} no worse than FPF's seed); at q_half<1e-12: "
        f"{r['strict_conv_or_slow']:.1%} converged or slow ({r['strict_q_half<1e-12']:.1%} under, "
        f"{r['strict_slow']:.1%} slow, {r['strict_diverged']:.1%} diverged, {r['strict_max_iter']:.1%} at "
        f"max_iter) in {r['strict_wall_s']:.2f} s; median distance {r['median_distance']:.3g}",
        flush=True,
    )
    return r


def _fpf_comparison(cell, seeds, fpf_dir, variants, lm_max_iter, lm_repeats=1):
    """FixedPointFinder (its defaults) against ``lm`` at the q level FixedPointFinder reaches."""
    fpf = _run_fpf(cell, seeds, fpf_dir)
    tol = 2 * fpf["level_half"] / cell.state_size
    rows = [_lm_variant(cell, seeds, name, opts, fpf, tol, lm_max_iter, lm_repeats) for name, opts in variants]
    print(
        "speed-ups: FixedPointFinder's whole find_fixed_points wall time / lm's time to the level "
        "(per-iteration history, same process, same seeds, zero input)"
    )
    return {
        "fpf_wall_s": fpf["wall_s"],
        "fpf_opt_s": fpf["opt_s"],
        "fpf_iterations": fpf["iterations"],
        "fpf_median_q_half": fpf["level_half"],
        "fpf_unique": fpf["unique"],
        "lm_tol": tol,
        "lm": rows,
    }


def _compare_methods(cell, seeds, methods, tol, max_iter, lm_max_iter):
    """Each solver of ``methods`` from the same seeds to ``tol``: the printed table and its rows, and Adam's final
    median q (the level the others are timed to)."""
    N = cell.state_size
    runs = {}
    wanted = [m.strip() for m in methods.split(",") if m.strip()]
    order = ["adam"] + [m for m in wanted if m != "adam"] if "adam" in wanted else wanted
    for m in order:
        kw = dict(tol=tol, record_history=True, chunk_size=len(seeds))
        if m == "adam":
            fp = find_fixed_points(cell, seeds, solver=Adam(max_iter=max_iter, lr=1.0, decay=0.95, stop="all"), **kw)
        elif m == "lm":
            fp = find_fixed_points(cell, seeds, solver=LM(max_iter=lm_max_iter), **kw)
        elif m == "lm-refine":
            fp = find_fixed_points(cell, seeds, solver=LM(max_iter=lm_max_iter), refine=True, **kw)
        elif m == "newton":
            fp = find_fixed_points(cell, seeds, solver=Newton(max_iter=50), **kw)
        else:
            raise click.UsageError(f"unknown method {m!r}")
        runs[m] = fp
        print(f"  {m}: done in {fp.info['seconds']:.1f} s", flush=True)
    adam_level = float(runs["adam"].q.double().median()) if "adam" in runs else None
    rows = [_row(m, runs[m], N, adam_level) for m in wanted]
    cols = [
        ("method", "method", 10, ""),
        ("wall_s", "wall s", 8, ".2f"),
        ("frac_q_half<1e-12", "qh<1e-12", 9, ".3f"),
        ("frac_q<1e-8", "q<1e-8", 7, ".3f"),
        ("frac_slow", "slow", 6, ".3f"),
        ("frac_conv_or_slow", "conv|slow", 9, ".3f"),
        ("median_q", "med q", 9, ".3g"),
        ("median_q_half", "med q_half", 10, ".3g"),
        ("median_distance", "med dist", 8, ".3g"),
        ("median_iterations", "med it", 6, ".0f"),
        ("t_reach_adam_level_s", "t(adam q)", 9, ".3g"),
    ]
    print()
    print(" ".join(f"{head:>{w}}" for _, head, w, _ in cols))
    for r in rows:
        print(" ".join(f"{r[k]:>{w}{fmt}}" for k, _, w, fmt in cols))
    print("q = (1/N)||F(h)-h||^2 (paper); q_half = 0.5||F(h)-h||^2 (FixedPointFinder); dist = ||point - seed||;")
    if adam_level is not None:
        print(f"t(adam q) = seconds until the median q first reaches Adam's final median q = {adam_level:.3g}")
        t_adam = _time_to_reach(runs["adam"].info["history"], adam_level)
        for r in rows:
            if r["method"] != "adam" and r["t_reach_adam_level_s"] > 0:
                print(f"  speed-up of {r['method']} over adam to that level: {t_adam / r['t_reach_adam_level_s']:.1f}x")
    return rows, adam_level


def _time_jacobians(cell, seeds, jac_n, jac_points, seed):
    """Closed-form Jacobians and eigendecompositions of a random GRU at ``jac_n`` units, and dF/dh per point of
    ``cell`` by its closed form against torch.func's jacfwd / jacrev."""
    N = cell.state_size
    torch.manual_seed(seed)
    big = make_cell("gru", 64, jac_n)
    pts = 0.5 * torch.randn(jac_points, jac_n)
    t0 = time.perf_counter()
    with torch.no_grad():
        for i in range(0, jac_points, 256):
            big.jacobians(torch.zeros(len(pts[i : i + 256]), 64), pts[i : i + 256])
    t_jac = time.perf_counter() - t0
    t0 = time.perf_counter()
    linearize(big, pts, chunk_size=256, vectors=False)
    t_vals = time.perf_counter() - t0
    t0 = time.perf_counter()
    linearize(big, pts, chunk_size=256)
    t_lin = time.perf_counter() - t0
    print(
        f"\nGRU N={jac_n}, {jac_points} points: closed-form Jacobians {t_jac:.2f} s; Jacobians + eigenvalues only "
        f"{t_vals:.2f} s; Jacobians + full eigendecomposition (eigenvalues, R, L = R^-1, in float64) {t_lin:.2f} s"
    )

    # ---------------------------------------------------------------- closed form vs torch.func
    n = min(256, len(seeds))
    x, h = torch.zeros(n, cell.input_size), seeds[:n]
    step = as_step(cell)
    times = {}
    for name, f in (
        ("closed-form", lambda: step.jacobian_rec(x, h)),
        ("jacfwd", lambda: FuncJacobian(cell.step, "fwd")(x, h, "rec")),
        ("jacrev", lambda: FuncJacobian(cell.step, "rev")(x, h, "rec")),
    ):
        f()
        best = math.inf
        for _ in range(3):
            t0 = time.perf_counter()
            f()
            best = min(best, time.perf_counter() - t0)
        times[name] = best / n
    print(
        f"dF/dh per point at N={N} ({n} points, best of 3): "
        + ", ".join(f"{k} {v * 1e6:.0f} us" for k, v in times.items())
    )
    return {"jac_s": t_jac, "jac_eigvals_s": t_vals, "jac_eig_s": t_lin, "jacobian_s_per_point": times}


@click.command()
@click.option("--checkpoint", type=click.Path(exists=True, file_okay=False), help="trained model folder")
@click.option("--random-gru", is_flag=True, help="random GRU instead (exercise the script only)")
@click.option("--hidden", default=128, show_default=True, help="N for --random-gru")
@click.option("--n-seeds", default=1000, show_default=True)
@click.option("--n-docs", default=200, show_default=True, help="test documents the seeds come from")
@click.option("--max-length", default=400, show_default=True, help="tokens read per document for seeds")
@click.option("--data-dir", default=None, help="where the corpus lives (see rnnlens.data.load_corpus)")
@click.option("--max-iter", default=5000, show_default=True, help="Adam iterations (FixedPointFinder: 5000)")
@click.option("--lm-max-iter", default=200, show_default=True)
@click.option("--methods", default="lm,lm-refine,newton,adam", show_default=True)
@click.option("--jac-points", default=1000, show_default=True)
@click.option("--jac-n", default=256, show_default=True)
@click.option("--threads", default=2, show_default=True)
@click.option("--seed", default=0, show_default=True)
@click.option(
    "--seed-draw",
    type=click.Choice(["random", "per-doc"]),
    default="random",
    show_default=True,
    help="random: n-seeds states from all visited states; per-doc: one state from each document",
)
@click.option("--fpf", is_flag=True, help="compare lm with the real FixedPointFinder (its defaults) instead")
@click.option("--fpf-dir", default=FPF_DIR, show_default=True, help="FixedPointFinder's PyTorch sources")
@click.option(
    "--lm-variants",
    default="default",
    show_default=True,
    help="with --fpf: ';'-separated LM option sets, e.g. 'default;relax=30;chord=0.9'",
)
@click.option(
    "--lm-repeats",
    default=1,
    show_default=True,
    help="with --fpf: run lm this many times at FixedPointFinder's level; times are the median",
)
@click.option("--json-out", type=click.Path(dir_okay=False), default=None, help="also write the numbers here")
def main(
    checkpoint,
    random_gru,
    hidden,
    n_seeds,
    n_docs,
    max_length,
    data_dir,
    max_iter,
    lm_max_iter,
    methods,
    jac_points,
    jac_n,
    threads,
    seed,
    seed_draw,
    fpf,
    fpf_dir,
    lm_variants,
    lm_repeats,
    json_out,
):
    """Compare fixed-point solvers on one GRU and time Jacobians + eigendecompositions."""
    torch.set_num_threads(threads)
    if bool(checkpoint) == bool(random_gru):
        raise click.UsageError("pass exactly one of --checkpoint DIR or --random-gru")
    if checkpoint:
        cell, seeds, desc = _seeds_from_checkpoint(
            checkpoint, n_seeds, n_docs, max_length, data_dir, seed, per_doc=seed_draw == "per-doc"
        )
    else:
        cell, seeds, desc = _random_gru(hidden, n_seeds, seed)
    N = cell.state_size
    tol = 2e-12 / N  # q_half < 1e-12
    print(f"model: {desc}")
    print(
        f"{len(seeds)} seeds, zero input, {threads} threads; target q_half = 0.5||F(h)-h||^2 < 1e-12 "
        f"(tol = {tol:.3g} on q = (1/N)||F(h)-h||^2, N = {N})"
    )
    find_fixed_points(cell, seeds[:8], tol=tol, max_iter=2)  # warm-up: one-off costs out of the timings
    if fpf:
        out = _fpf_comparison(cell, seeds, fpf_dir, _parse_variants(lm_variants), lm_max_iter, lm_repeats)
        if json_out:
            with open(json_out, "w") as f:
                json.dump({"model": desc, "threads": threads, **out}, f, indent=1)
        return
    rows, adam_level = _compare_methods(cell, seeds, methods, tol, max_iter, lm_max_iter)
    timings = _time_jacobians(cell, seeds, jac_n, jac_points, seed)
    if json_out:
        with open(json_out + ".tmp", "w") as f:
            json.dump({"model": desc, "rows": rows, "adam_final_median_q": adam_level, **timings}, f, indent=1)
        import os

        os.replace(json_out + ".tmp", json_out)


if __name__ == "__main__":
    main()
