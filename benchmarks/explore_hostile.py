"""Hostile request bodies against `rnnlens explore` (issue 23, item 6): the server's memory while it is sent
a 1 GB body and four 400 MB bodies at once, and normal requests' latency with and without hostile clients
beside them.

    python benchmarks/explore_hostile.py src/rnnlens/pretrained/imdb-gru [--analysis DIR] [--gb 1] \
        [--concurrent 4 --each-mb 400] [--clients 4 --requests 200 --tokens 300] [--hostile 2]

The server is the real command (`rnnlens explore CHECKPOINT --port 0`, its own process; see
benchmarks/explore_load.py, whose start-up and clients this reuses). Memory: the server's resident set
(VmRSS, sampled every 2 ms) before and at its peak while the bodies stream, each sent chunked (no
Content-Length, so only counting the bytes can stop it) by a client that stops sending when the answer
comes. Latency: `--requests` normal reads by `--clients` clients, alone and then with `--hostile` clients
looping over hostile requests (a chunked body of `--hostile-mb` MB, a declared 1 GB Content-Length, a lone
surrogate, invalid UTF-8, a foreign Host header). tests/explore/test_explore_hostile.py runs the same
functions at a small scale.
"""

from __future__ import annotations

import argparse
import json
import os
import select
import socket
import sys
import threading
import time
from pathlib import Path

import numpy as np

_CHUNK = b"a" * (1 << 20)
_HOSTILE_SMALL = (
    ("surrogate", b'{"model": "m", "text": "bad \\ud800 text"}', None),
    ("invalid_utf8", b'{"model": "m", "text": "bad \xff\xfe text"}', None),
    ("foreign_host", b'{"model": "m", "text": "good"}', "rebind.example"),
)


def rss_bytes(pid: int) -> int:
    """The resident set of process ``pid`` now (bytes, from /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def peak_rss_growth(pid: int, action):
    """Run ``action()`` while sampling process ``pid``'s resident set every 2 ms -> (action's result,
    peak growth over the resident set before it, in bytes)."""
    before = rss_bytes(pid)
    peak, done = [before], threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], rss_bytes(pid))
            time.sleep(0.002)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        result = action()
    finally:
        done.set()
        sampler.join()
    return result, max(peak[0], rss_bytes(pid)) - before


def _frames(total: int):
    """The pieces of a JSON body of ``total`` bytes: a text of a's (one 1 MiB chunk sent again and again)."""
    head, tail = b'{"model": "m", "text": "', b'"}'
    yield head
    left = total - len(head) - len(tail)
    while left > 0:
        piece = _CHUNK if left >= len(_CHUNK) else _CHUNK[:left]
        left -= len(piece)
        yield piece
    yield tail


def _framed(pieces, chunked: bool):
    for p in pieces:
        yield b"%x\r\n%s\r\n" % (len(p), p) if chunked else p
    if chunked:
        yield b"0\r\n\r\n"


def send_request(port: int, head: bytes, pieces, timeout: float = 120.0) -> dict:
    """Send ``head`` then ``pieces`` on a fresh connection to 127.0.0.1:``port``, stopping as soon as the
    server answers (or closes) -> {"status", "sent" (body bytes written), "seconds", "body"}."""
    t0 = time.perf_counter()
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    sock.setblocking(False)
    sent, answer, pending = 0, b"", memoryview(head)
    pieces = iter(pieces)
    try:
        while time.perf_counter() - t0 < timeout:
            if not pending:
                nxt = next(pieces, None)
                pending = memoryview(nxt) if nxt is not None else None
            readable, writable, _ = select.select([sock], [sock] if pending else [], [], 1.0)
            if readable:
                answer = _read_answer(sock, timeout - (time.perf_counter() - t0))
                break
            if writable and pending:
                try:
                    n = sock.send(pending)
                except (BrokenPipeError, ConnectionResetError):
                    answer = _read_answer(sock, 1.0)
                    break
                sent, pending = sent + n, pending[n:]
    finally:
        sock.close()
    status, _, body = answer.partition(b"\r\n\r\n")
    code = int(status.split()[1]) if status.startswith(b"HTTP/") else None
    return {
        "status": code,
        "sent": max(0, sent - len(head)),
        "seconds": time.perf_counter() - t0,
        "body": body.decode("utf-8", "replace"),
    }


def _read_answer(sock: socket.socket, timeout: float) -> bytes:
    """What the server sends until it closes, a whole response has come (Content-Length), or ``timeout``."""
    sock.setblocking(True)
    sock.settimeout(max(timeout, 0.1))
    data = b""
    try:
        while True:
            part = sock.recv(65536)
            if not part:
                break
            data += part
            head, sep, body = data.partition(b"\r\n\r\n")
            length = [
                int(line.split(b":")[1]) for line in head.lower().split(b"\r\n") if line.startswith(b"content-length:")
            ]
            if sep and length and len(body) >= length[0]:
                break
    except (ConnectionResetError, TimeoutError):
        pass
    return data


def send_body(
    port: int,
    total: int,
    *,
    chunked: bool = True,
    declare: int | None = None,
    host: str | None = None,
    timeout: float = 120.0,
) -> dict:
    """POST /api/read with a JSON body of ``total`` bytes, chunked (no Content-Length) or with
    Content-Length ``declare`` (default ``total``); see send_request."""
    head = f"POST /api/read HTTP/1.1\r\nHost: {host or f'127.0.0.1:{port}'}\r\nContent-Type: application/json\r\n"
    head += "Transfer-Encoding: chunked\r\n" if chunked else f"Content-Length: {declare or total}\r\n"
    return send_request(port, (head + "\r\n").encode(), _framed(_frames(total), chunked), timeout)


def send_small(port: int, body: bytes, host: str | None = None) -> dict:
    """POST /api/read with ``body`` as it is (Content-Length) and Host ``host`` (default 127.0.0.1:port)."""
    head = (
        f"POST /api/read HTTP/1.1\r\nHost: {host or f'127.0.0.1:{port}'}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return send_request(port, head.encode(), [body], timeout=30)


def concurrent_bodies(port: int, n: int, total: int) -> list[dict]:
    """``n`` chunked bodies of ``total`` bytes sent at once (one thread each) -> their send_body results."""
    out: list = [None] * n

    def one(i):
        out[i] = send_body(port, total)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return out


def hostile_loop(port: int, stop: threading.Event, big: int, log: list) -> None:
    """Send hostile requests in turn until ``stop`` is set: a chunked body of ``big`` bytes, a declared
    1 GB Content-Length with no body, then the small ones (_HOSTILE_SMALL); ``log`` gets (kind, status)."""
    i = 0
    while not stop.is_set():
        kind = i % (2 + len(_HOSTILE_SMALL))
        if kind == 0:
            log.append(("big_chunked", send_body(port, big)["status"]))
        elif kind == 1:
            log.append(("declared_1gb", send_body(port, 2048, chunked=False, declare=10**9, timeout=10)["status"]))
        else:
            name, body, host = _HOSTILE_SMALL[kind - 2]
            log.append((name, send_small(port, body, host)["status"]))
        i += 1


def _hostile_process(port: int, stop, big: int, queue, nice: int) -> None:
    os.nice(nice)
    log: list = []
    hostile_loop(port, stop, big, log)
    queue.put(log)


def p95_with_and_without_hostile(port: int, normal, hostile: int, big: int, nice: int = 0) -> dict:
    """``normal()`` -> a list of latencies (seconds), run alone and then beside ``hostile`` hostile_loop
    processes (their own processes: their sending takes no turn of this one's interpreter lock; ``nice``:
    their niceness, so that on one machine the attackers' own CPU time, which a real attacker spends
    elsewhere, can be kept from the server's) ->
    {"alone": {...}, "hostile": {...}, "hostile_answers": {kind: {status: count}}}."""
    import multiprocessing

    out = {"alone": _summary(normal())}
    ctx = multiprocessing.get_context("fork")
    stop, queue = ctx.Event(), ctx.Queue()
    procs = [
        ctx.Process(target=_hostile_process, args=(port, stop, big, queue, nice), daemon=True) for _ in range(hostile)
    ]
    for p in procs:
        p.start()
    try:
        out["hostile"] = _summary(normal())
    finally:
        stop.set()
        logs = [queue.get(timeout=60) for _ in procs]
        for p in procs:
            p.join(10)
    answers: dict = {}
    for kind, status in (entry for log in logs for entry in log):
        answers.setdefault(kind, {}).setdefault(str(status), 0)
        answers[kind][str(status)] += 1
    out["hostile_answers"] = answers
    return out


def _summary(lat) -> dict:
    ms = np.asarray(lat) * 1000
    return {
        "requests": len(ms),
        "p50_ms": round(float(np.percentile(ms, 50)), 1),
        "p95_ms": round(float(np.percentile(ms, 95)), 1),
        "max_ms": round(float(ms.max()), 1),
    }


def _memory(port: int, pid: int, args) -> dict:
    one, grow1 = peak_rss_growth(pid, lambda: send_body(port, int(args.gb * 2**30)))
    many, grow4 = peak_rss_growth(pid, lambda: concurrent_bodies(port, args.concurrent, args.each_mb * 2**20))
    return {
        "one_body": {
            "bytes": int(args.gb * 2**30),
            "status": one["status"],
            "sent_before_answer": one["sent"],
            "seconds": round(one["seconds"], 2),
            "rss_growth_mb": round(grow1 / 2**20, 1),
        },
        "concurrent": {
            "bodies": args.concurrent,
            "bytes_each": args.each_mb * 2**20,
            "status": [r["status"] for r in many],
            "sent_before_answer": [r["sent"] for r in many],
            "rss_growth_mb": round(grow4 / 2**20, 1),
        },
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("checkpoint")
    ap.add_argument("--analysis", default=None)
    ap.add_argument("--gb", type=float, default=1.0, help="size of the single hostile body (GiB)")
    ap.add_argument("--concurrent", type=int, default=4)
    ap.add_argument("--each-mb", type=int, default=400)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--tokens", type=int, default=300)
    ap.add_argument("--hostile", type=int, default=2, help="hostile clients beside the normal ones")
    ap.add_argument("--hostile-mb", type=int, default=100, help="size of their chunked bodies (MiB)")
    ap.add_argument(
        "--hostile-nice",
        type=int,
        default=0,
        help="niceness of the hostile clients (19: their own CPU time yields to the server's)",
    )
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import explore_load

    texts = explore_load.review_texts(args.checkpoint, args.requests, args.tokens, args.seed)
    with explore_load.server(args.checkpoint, args.analysis) as (url, proc, startup):
        port = int(url.rstrip("/").rsplit(":", 1)[1])
        name = explore_load.warm_up(url, texts[0])
        out = {
            "checkpoint": args.checkpoint,
            "server_startup_s": round(startup, 1),
            "cpu_count": os.cpu_count(),
            "memory": _memory(port, proc.pid, args),
        }
        normal = lambda: explore_load.run_clients(url, name, texts, args.clients, args.tokens)[0]  # noqa: E731
        out["latency"] = p95_with_and_without_hostile(
            port, normal, args.hostile, args.hostile_mb * 2**20, args.hostile_nice
        )
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
