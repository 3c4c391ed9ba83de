"""Training throughput of the four architectures, and the UGRNN recurrence implementations compared.

Run:  .venv/bin/python benchmarks/throughput.py            (about 1 minute, 1 torch thread)
      .venv/bin/python benchmarks/throughput.py --quick    (fewer batches, for a smoke test)

Table 1, training throughput: SentimentRNN (vocabulary 20,000, embedding 64, hidden 128, batch 64),
one training step = forward + binary cross-entropy + backward + Adam step. Each batch has document
lengths drawn uniformly from 100..400 tokens, unsorted (no length bucketing, so the padding is as
bad as it gets; the fused kernels and the scan both skip padded steps). vanilla/gru/lstm are timed
with both fast paths: "fused" (torch's nn.RNN/GRU/LSTM kernel on a packed sequence, the default) and
"scan" (rnnlens.cells._Scan, hand-written BPTT over the same parameters); the UGRNN has only "scan".
tokens/s = (sum of valid tokens over the timed batches) / (wall time of the timed batches).

Table 2, UGRNN recurrence (hidden 128, embedding 64, batch 64, T = 200, lengths uniform 150..200):
forward + backward of the final state only (input projections of all steps in one matmul first),
ms per batch (median of the timed repeats), for
  plain      - Python loop over time with autograd, masking so finished rows keep their state
  jit.script - the same loop compiled with torch.jit.script (deprecated in torch 2.x)
  compile    - the Python loop calling a torch.compile-d step (elementwise ops fused); the one-off
               compile time is reported separately
  bptt-scan  - rnnlens' implementation: forward without autograd, a hand-written backward pass,
               length-sorted rows dropped when they finish (rnnlens.cells._Scan)
and, for reference, torch's fused GRU on a packed sequence at the same sizes.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
import warnings

import torch
import torch.nn.functional as F

from rnnlens.cells import make_cell
from rnnlens.constants import ARCHS
from rnnlens.model import SentimentRNN

VOCAB, EMBED, HIDDEN, BATCH = 20_000, 64, 128, 64


def _random_batch(g, lo, hi):
    lengths = torch.randint(lo, hi + 1, (BATCH,), generator=g)
    ids = torch.randint(2, VOCAB, (BATCH, int(lengths.max())), generator=g)
    ids[torch.arange(ids.shape[1]) >= lengths[:, None]] = 0
    labels = torch.randint(0, 2, (BATCH,), generator=g).float()
    return ids, lengths, labels


def training_throughput(arch, fast_path, n_batches, seed=0):
    """tokens/s of forward + loss + backward + Adam step, and seconds per batch."""
    torch.manual_seed(seed)
    model = SentimentRNN(VOCAB, arch=arch, embed_dim=EMBED, hidden_size=HIDDEN)
    model.cell.fast_path = fast_path
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    g = torch.Generator().manual_seed(seed)
    batches = [_random_batch(g, 100, 400) for _ in range(n_batches + 1)]

    def train_step(ids, lengths, labels):
        opt.zero_grad()
        F.binary_cross_entropy_with_logits(model(ids, lengths), labels).backward()
        opt.step()

    train_step(*batches[0])  # warm-up
    t0 = time.perf_counter()
    for b in batches[1:]:
        train_step(*b)
    dt = time.perf_counter() - t0
    tokens = sum(int(b[1].sum()) for b in batches[1:])
    return tokens / dt, dt / n_batches


# ------------------------------------------------------------------ UGRNN loop variants (table 2)
def ugrnn_loop(xp: torch.Tensor, h: torch.Tensor, U: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Final UGRNN state by a masked loop over time: xp [B, T, 2N], mask [B, T] (1 = valid)."""
    N = h.shape[1]
    Ut = U.t()
    for t in range(xp.shape[1]):
        g = torch.addmm(xp[:, t], h, Ut)
        u = torch.sigmoid(g[:, :N])
        c = torch.tanh(g[:, N:])
        h_new = c + u * (h - c)
        h = torch.where(mask[:, t : t + 1], h_new, h)
    return h


def _ugrnn_step(xp_t, h, Ut, m):
    N = h.shape[1]
    g = torch.addmm(xp_t, h, Ut)
    u = torch.sigmoid(g[:, :N])
    c = torch.tanh(g[:, N:])
    return torch.where(m, c + u * (h - c), h)


def _median_ms(fn, repeats):
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1000 * statistics.median(times)


def ugrnn_variants(repeats, T=200):
    torch.manual_seed(0)
    cell = make_cell("ugrnn", EMBED, HIDDEN)
    g = torch.Generator().manual_seed(1)
    x = torch.randn(BATCH, T, EMBED, generator=g)
    lengths = torch.randint(150, T + 1, (BATCH,), generator=g)
    lengths[0] = T
    mask = torch.arange(T)[None, :] < lengths[:, None]
    h0 = torch.zeros(BATCH, HIDDEN)
    W, U, b = cell.weight_ih, cell.weight_hh, cell.bias

    def proj():
        return torch.addmm(b, x.reshape(-1, EMBED), W.t()).view(BATCH, T, -1)

    def fwd_bwd(loop):
        def run():
            cell.zero_grad()
            loop(proj()).sum().backward()

        return run

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        scripted = torch.jit.script(ugrnn_loop)
    results = {
        "plain": fwd_bwd(lambda xp: ugrnn_loop(xp, h0, U, mask)),
        "jit.script": fwd_bwd(lambda xp: scripted(xp, h0, U, mask)),
        "bptt-scan": fwd_bwd(lambda xp: cell.final_state(x, lengths)),
    }
    out = {name: (_median_ms(fn, repeats), None) for name, fn in results.items()}

    # torch.compile-d step in a Python loop: needs a working C compiler; report compile time
    try:
        step = torch.compile(_ugrnn_step, dynamic=False)

        def compiled_loop(xp):
            h, Ut = h0, U.t()
            for t in range(T):
                h = step(xp[:, t], h, Ut, mask[:, t : t + 1])
            return h

        t0 = time.perf_counter()
        fwd_bwd(compiled_loop)()
        compile_s = time.perf_counter() - t0
        out["compile"] = (_median_ms(fwd_bwd(compiled_loop), repeats), compile_s)
    except Exception as e:  # noqa: BLE001 - report, do not crash the benchmark
        out["compile"] = (float("nan"), f"failed: {type(e).__name__}: {str(e).splitlines()[0][:80]}")

    gru = make_cell("gru", EMBED, HIDDEN, fast_path="fused")
    out["fused GRU (ref)"] = (_median_ms(lambda: gru.final_state(x, lengths).sum().backward(), repeats), None)

    # the implementations agree (forward) before their speeds are compared
    with torch.no_grad():
        ref = ugrnn_loop(proj(), h0, U, mask)
        diff = (cell.final_state(x, lengths) - ref).abs().max().item()
    return out, diff


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer batches and repeats (smoke test)")
    ap.add_argument("--batches", type=int, default=6, help="timed training batches per architecture")
    ap.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads (default 1: on a 2-core machine shared with other jobs, 2 threads "
        "oversubscribe the cores and were measured up to 100x slower; 0 = torch's choice)",
    )
    args = ap.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    n_batches, repeats = (2, 3) if args.quick else (args.batches, 7)

    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs, "
        f"load average before: {os.getloadavg()[0]:.2f}"
    )
    print(
        f"\nTable 1: training throughput, vocab {VOCAB}, embed {EMBED}, hidden {HIDDEN}, batch {BATCH}, "
        f"lengths uniform 100..400 unsorted; forward+BCE+backward+Adam; {n_batches} timed batches"
    )
    print(f"{'arch':<8} {'fast_path':<9} {'tokens/s':>10} {'s/batch':>8}")
    tps = {}
    for arch in ARCHS:
        for path in make_cell(arch, 1, 1).FAST_PATHS:
            tps[arch, path], spb = training_throughput(arch, path, n_batches)
            print(f"{arch:<8} {path:<9} {tps[arch, path]:>10.0f} {spb:>8.2f}", flush=True)
    print(
        f"UGRNN / fused GRU throughput ratio: {tps['ugrnn', 'scan'] / tps['gru', 'fused']:.2f} "
        f"(target: >= 0.5, i.e. UGRNN within 2x of the fused GRU); "
        f"UGRNN / scan GRU: {tps['ugrnn', 'scan'] / tps['gru', 'scan']:.2f}"
    )

    print(
        f"\nTable 2: UGRNN final state, forward+backward, hidden {HIDDEN}, embed {EMBED}, batch {BATCH}, "
        f"T 200, lengths 150..200; median of {repeats}"
    )
    out, diff = ugrnn_variants(repeats)
    print(f"{'implementation':<16} {'ms/batch':>9} {'vs plain':>9}  note")
    for name, (ms, note) in out.items():
        extra = f"one-off compile + first run {note:.1f} s" if isinstance(note, float) else (note or "")
        print(f"{name:<16} {ms:>9.1f} {out['plain'][0] / ms:>8.2f}x  {extra}")
    print(f"max |bptt-scan - plain loop| over final states: {diff:.1e}")
    print(f"load average after: {os.getloadavg()[0]:.2f} (other jobs share these cores)")


if __name__ == "__main__":
    main()
