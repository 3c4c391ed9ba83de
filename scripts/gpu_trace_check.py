#!/usr/bin/env python3
"""Trace the slow manifold of a checkpoint on a given device and time it against the fixed-point search.

    PYTHONPATH=src python3 scripts/gpu_trace_check.py CHECKPOINT --data-dir DIR [--device cuda]

Prints the device, the wall time of trace_slow_manifold and of find_fixed_points (500 seeds, the
analysis default) on the same states, and the curve's q, one-dimensionality and exact fixed points.
Used on the borrowed GPU machine after scripts/gpu_train_paper.sh to check that tracing runs there.
"""

import argparse
import time

import torch

from rnnlens.analysis.geometry import readout_direction
from rnnlens.analysis.inputs import select_documents
from rnnlens.checkpoint import load_checkpoint, load_training_corpus
from rnnlens.fixedpoints import find_fixed_points, sample_seeds
from rnnlens.manifold import curve_variance_explained, trace_slow_manifold
from rnnlens.network import Network


def _sync(device):
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("checkpoint")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--n-docs", type=int, default=1000)
    a = p.parse_args()
    ck = load_checkpoint(a.checkpoint)
    corpus = load_training_corpus(ck, data_dir=a.data_dir)
    model = ck.model.eval()
    docs = select_documents(ck.vocab, corpus.splits["test"], a.n_docs, None, 0)
    X = torch.from_numpy(__import__("numpy").concatenate(Network(model, ck.vocab).states(docs.encoded)))
    w = readout_direction(model.readout_matrix().double().numpy())
    cell = model.cell.to(a.device)
    Xd = X.to(a.device)
    for _what in ("warm-up", "timed"):
        _sync(a.device)
        t0 = time.perf_counter()
        sm = trace_slow_manifold(cell, Xd, readout=w)
        _sync(a.device)
        t_trace = time.perf_counter() - t0
    seeds = sample_seeds(Xd, None, n=500, seed=0)
    _sync(a.device)
    t0 = time.perf_counter()
    fps = find_fixed_points(cell, seeds, tol=1e-8)
    _sync(a.device)
    t_fp = time.perf_counter() - t0
    print(
        f"checkpoint {a.checkpoint} arch {model.arch} N {model.hidden_size} device {a.device} "
        f"({torch.cuda.get_device_name() if a.device.startswith('cuda') else 'cpu'})"
    )
    print(
        f"trace_slow_manifold: {t_trace:.2f} s, {len(sm)} nodes on {sm.points.device}; find_fixed_points "
        f"(500 seeds, lm, q < 1e-8): {t_fp:.2f} s, {int(torch.as_tensor(fps.converged).sum())} under tol"
    )
    print(
        f"q = (1/N)||F(h)-h||^2 along the curve: median {float(sm.q.median()):.2e}, max {float(sm.q.max()):.2e}; "
        f"one-dimensionality {curve_variance_explained(sm.relaxed.cpu(), sm.points.cpu()):.4f}; exact fixed "
        f"points (n unstable) {sm.fixed_point_unstable.tolist()}"
    )


if __name__ == "__main__":
    main()
