"""Load test of `rnnlens explore` (issue 13): N clients send R POST /api/read requests of T-token reviews
to a server on 127.0.0.1 and the latency percentiles are printed.

    python benchmarks/explore_load.py /tmp/gru128 [--analysis DIR] [--clients 8] [--requests 400] [--tokens 300]

The server is the real command (`rnnlens explore CHECKPOINT --port 0`, its own process, torch on one
thread); without --analysis it first computes its quick analysis (needs the checkpoint's corpus,
RNNLENS_DATA_DIR). Reviews: T words drawn (seeded) from the checkpoint's 5,000 most frequent alphabetic words, a
different review per request. Target (issue 13): p95 < 200 ms on 2 cores, no errors. The same with hostile
clients beside these: benchmarks/explore_hostile.py.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import threading
import time

import numpy as np


def review_texts(checkpoint: str, n: int, tokens: int, seed: int = 0) -> list[str]:
    """``n`` reviews of ``tokens`` words drawn (seeded) from the checkpoint's 5,000 most frequent alphabetic words."""
    import torch

    torch.set_num_threads(1)
    from rnnlens.checkpoint import load_checkpoint

    vocab = load_checkpoint(checkpoint).vocab
    rng = np.random.default_rng(seed)
    pool = [w for w in vocab.itos[2:6002] if w.isalpha()][:5000]
    return [" ".join(rng.choice(pool, tokens)) for _ in range(n)]


@contextlib.contextmanager
def server(checkpoint: str, analysis: str | None = None):
    """`rnnlens explore CHECKPOINT --port 0` in its own process -> (its URL, the process, start-up seconds)."""
    cmd = [sys.executable, "-c", "from rnnlens.cli import main; main()", "explore", checkpoint, "--port", "0"]
    if analysis:
        cmd += ["--analysis", analysis]
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"}
    )
    try:
        url = None
        for line in proc.stdout:
            if "serving" in line and "http://" in line:
                url = line.split(" at ")[-1].strip()
                break
        if url is None:
            raise RuntimeError("the server did not start")
        yield url, proc, time.perf_counter() - t0
    finally:
        proc.terminate()
        proc.wait(10)


def warm_up(url: str, text: str) -> str:
    """Five reads of ``text`` by the first model served -> its name."""
    import httpx

    with httpx.Client(timeout=30) as c:
        name = c.get(url + "api/models").json()["models"][0]["name"]
        for _ in range(5):
            c.post(url + "api/read", json={"model": name, "text": text})
    return name


def run_clients(url: str, name: str, texts: list[str], clients: int, tokens: int):
    """``clients`` threads read ``texts`` between them (one request each) -> (latencies in seconds, the
    errors, wall seconds)."""
    import httpx

    lat, errors, lock = [], [], threading.Lock()
    it = iter(range(len(texts)))

    def client():
        with httpx.Client(timeout=30) as c:
            while True:
                with lock:
                    i = next(it, None)
                if i is None:
                    return
                s = time.perf_counter()
                try:
                    r = c.post(url + "api/read", json={"model": name, "text": texts[i]})
                    ok = r.status_code == 200 and r.json()["n_tokens"] == tokens
                except Exception as e:  # noqa: BLE001 - counted and reported
                    ok, r = False, e
                d = time.perf_counter() - s
                with lock:
                    lat.append(d)
                    if not ok:
                        errors.append(str(getattr(r, "status_code", r)))

    w0 = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return lat, errors, time.perf_counter() - w0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("checkpoint")
    ap.add_argument("--analysis", default=None)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--requests", type=int, default=400)
    ap.add_argument("--tokens", type=int, default=300)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    texts = review_texts(args.checkpoint, args.requests, args.tokens, args.seed)
    try:
        with server(args.checkpoint, args.analysis) as (url, _, startup):
            name = warm_up(url, texts[0])
            lat, errors, wall = run_clients(url, name, texts, args.clients, args.tokens)
    except RuntimeError as e:
        print(e, file=sys.stderr)
        return 1
    ms = np.array(lat) * 1000
    out = {
        "checkpoint": args.checkpoint,
        "clients": args.clients,
        "requests": len(lat),
        "tokens": args.tokens,
        "p50_ms": round(float(np.percentile(ms, 50)), 1),
        "p95_ms": round(float(np.percentile(ms, 95)), 1),
        "max_ms": round(float(ms.max()), 1),
        "errors": len(errors),
        "requests_per_s": round(len(lat) / wall, 1),
        "server_startup_s": round(startup, 1),
        "cpu_count": os.cpu_count(),
    }
    print(json.dumps(out, indent=1))
    return 0 if not errors else 1


if __name__ == "__main__":
    sys.exit(main())
