"""The 3-bit flip-flop (Sussillo & Barak 2013; FixedPointFinder's own example), written and trained in plain
PyTorch, then opened up with rnnlens: its 8 stable fixed points (one per memory state) and the saddles
between them.

    python examples/flipflop.py [--out DIR] [--hidden 16] [--steps 1500]

Three input channels each send a +1 or -1 pulse now and then; each output channel must hold the sign of
its channel's last pulse. A network that solves it has 2^3 = 8 stable fixed points (at zero input) and
saddles between them (19 in the textbook solution: 12 of index 1, 6 of index 2, 1 of index 3).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from torch import nn

import rnnlens


# --8<-- [start:task]
def flipflop_batch(rng: np.random.Generator, batch: int, steps: int, bits: int = 3, p: float = 0.1):
    """Inputs [B, T, bits] with pulses of +-1 (probability p per step and channel, and one on every channel at
    the first step) and targets [B, T, bits]: the sign of each channel's last pulse."""
    pulses = (rng.random((batch, steps, bits)) < p) * rng.choice([-1.0, 1.0], size=(batch, steps, bits))
    pulses[:, 0] = rng.choice([-1.0, 1.0], size=(batch, bits))
    targets = np.zeros_like(pulses)
    state = np.zeros((batch, bits))
    for t in range(steps):
        state = np.where(pulses[:, t] != 0, pulses[:, t], state)
        targets[:, t] = state
    return torch.tensor(pulses, dtype=torch.float32), torch.tensor(targets, dtype=torch.float32)


# --8<-- [end:task]


# --8<-- [start:train]
def train_flipflop(hidden: int = 16, steps: int = 1500, seed: int = 0):
    """A GRU and its linear readout trained with a plain loop (mean squared error at every step)."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    gru, readout = nn.GRU(3, hidden, batch_first=True), nn.Linear(hidden, 3)
    opt = torch.optim.Adam([*gru.parameters(), *readout.parameters()], lr=1e-2)
    for _ in range(steps):
        x, y = flipflop_batch(rng, 64, 60)
        loss = ((readout(gru(x)[0]) - y) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return gru.eval(), readout.eval(), float(loss.detach())


# --8<-- [end:train]


def main(argv=None) -> rnnlens.Analysis:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("flipflop-analysis"))
    ap.add_argument("--hidden", type=int, default=16)
    ap.add_argument("--steps", type=int, default=1500, help="training iterations (batches of 64)")
    args = ap.parse_args(argv)
    gru, readout, loss = train_flipflop(args.hidden, args.steps)
    print(f"trained: final mean squared error {loss:.4f}")

    # --- the rnnlens part: a network of the user's own modules, fed continuous inputs (no words)
    # --8<-- [start:rnnlens]
    network = rnnlens.Network.from_parts(rnn=gru, readout=readout)
    inputs, targets = flipflop_batch(np.random.default_rng(1), 200, 60)
    data = rnnlens.Sequences.from_arrays(inputs, targets=targets, name="3-bit flip-flop")
    # noisy seeds reach the saddles, which the visited states (near the 8 memories) rarely come close to
    settings = rnnlens.AnalysisSettings.make(n_docs=200, n_seeds=2000, seed_noise=0.5, tol_sweep=[])
    result = rnnlens.analyze(network, data, settings, out_dir=args.out / "analysis")
    report = rnnlens.make_report([args.out / "analysis"], args.out / "report")
    # --8<-- [end:rnnlens]

    print(
        f"readout on the per-step targets: R^2 {result.value('data.target_r2'):.3f}, mean squared error "
        f"{result.value('data.target_mse'):.4f}"
    )
    print(
        f"distinct fixed points: {result.value('modes.n_distinct')} "
        f"({result.value('modes.n_distinct_stable')} stable, {result.value('modes.n_distinct_saddles')} saddles; "
        f"by number of unstable directions: {result.value('modes.distinct_by_unstable')})"
    )
    for s in result.skipped:
        print(f"skipped {s['section']}: {s['why']}")
    print(f"report: {report}")
    return result


if __name__ == "__main__":
    main()
