"""Tutorial: ``rnnlens explore`` from Python. Load a checkpoint with its analysis, build the web app, and
either serve it (what ``rnnlens explore`` does) or ask it, in this process, what the page would show.

    python examples/tutorials/explore.py [--checkpoint DIR ...] [--analysis DIR ...] [--setting KEY=VALUE ...]
                                         [--host 127.0.0.1] [--port 0]
    python examples/tutorials/explore.py --query [--text "not good" ...] [--words 5] ...

Without ``--checkpoint`` it loads the shipped IMDB GRU (``src/rnnlens/pretrained/imdb-gru``). A checkpoint
without ``--analysis`` gets a quick analysis at start-up on the corpus it records (IMDB here: needs the
corpus under ``RNNLENS_DATA_DIR``; about 10 s for the 64-unit GRU); ``--setting n_docs=80`` and the like
make it smaller. ``--query`` reads each ``--text`` through the JSON API (FastAPI's TestClient, no server)
and prints the numbers the page draws; without it the page is served until Ctrl+C.
"""

from __future__ import annotations

import argparse
import json
import socket
from pathlib import Path

from rnnlens.explore import create_app, load_models
from rnnlens.workflows import pretrained_checkpoints

TEXTS = ["good", "not good", "a wonderful film", "the worst film ever, a waste of time"]


def setting(text: str) -> tuple[str, object]:
    """KEY=VALUE -> (KEY, VALUE read as JSON: a number, a list, true/false; else the text itself)."""
    key, sep, value = text.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"{text!r}: give KEY=VALUE")
    try:
        return key, json.loads(value)
    except ValueError:
        return key, value


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", type=Path, action="append", default=[], help="a checkpoint folder (repeatable)")
    ap.add_argument("--analysis", type=Path, action="append", default=[], help="its saved analysis (same order)")
    ap.add_argument(
        "--setting",
        type=setting,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a setting of the quick analysis (AnalysisSettings.make's names; repeatable), e.g. n_docs=80",
    )
    ap.add_argument("--query", action="store_true", help="print what the page shows for each --text; no server")
    ap.add_argument("--text", action="append", default=[], help="a review to read (repeatable; with --query)")
    ap.add_argument("--words", type=int, default=5, help="words per list of the word panel (with --query)")
    ap.add_argument("--host", default="127.0.0.1", help="address to listen on")
    ap.add_argument("--port", type=int, default=0, help="port; 0 picks a free one")
    return ap.parse_args(argv)


# --8<-- [start:read]
def read(client, model: str, text: str) -> dict:
    """What the page draws for ``text``: one row per token (P(positive) after it, the readout r_t, and its push:
    measured, settled along the line, and the linearized prediction of the settled push)."""
    d = client.post("/api/read", json={"model": model, "text": text}).json()
    last = d["label_names"][-1]  # binary: the positive class
    print(f"\n{model} reads {text!r}: P({last}) {d['probs'][-1][-1]:.3f}, readout {d['readout'][-1]:+.3f}")
    print(f"  {'token':<12} {'P(' + last[:3] + ')':>7} {'readout':>8} {'measured':>9} {'settled':>8} {'predicted':>9}")
    print(f"  {'(start)':<12} {d['probs'][0][-1]:7.3f} {d['readout'][0]:+8.3f}")
    for t, token in enumerate(d["tokens"]):
        shown = token + "?" if d["unknown"][t] else token  # the page draws unknown words dashed, with a ?
        row = (d["probs"][t + 1][-1], d["readout"][t + 1], d["measured"][t], d["settled"][t], d["predicted"][t])
        print(f"  {shown:<12} {row[0]:7.3f} {row[1]:+8.3f} {row[2]:+9.3f} {row[3]:+8.3f} {row[4]:+9.3f}")
    for note in d["notes"]:
        print(f"  note: {note}")
    return d


# --8<-- [end:read]


# --8<-- [start:panels]
def word_panel(client, model: str, n: int) -> dict:
    """The word panel: the most positive, negative and neutral words (push along the line, in logits)."""
    lists = client.get("/api/words", params={"model": model, "n": n}).json()
    for kind in ("positive", "negative", "neutral"):
        print(f"  {kind:<8}: " + ", ".join(f"{w['word']} {w['push']:+.3f}" for w in lists[kind]))
    return lists


def scene(client, model: str) -> dict:
    """What the trajectory is drawn over: the visited states, the traced line, its fixed points, modifiers."""
    s = client.get("/api/scene", params={"model": model}).json()
    lam = s["line"]["abs_lambda1"]
    print(
        f"  scene: {len(s['cloud']['pc'])} visited states, a line of {len(s['line']['pc'])} nodes "
        f"(|lambda_1| {min(lam):.3f}..{max(lam):.3f}), fixed points with "
        f"{s['fixed_points']['unstable']} unstable directions"
    )
    if "modifiers" in s:
        mods = s["modifiers"]
        for word in mods["words"]:  # factor[k - 1]: the push of a word read k tokens after the modifier, x
            print(f"  modifier {word!r}: next word's push x {mods['factor'][word][0]:.2f}, reach {mods['reach'][word]}")
    return s


# --8<-- [end:panels]


# --8<-- [start:serve]
def make_server(models, host: str = "127.0.0.1", port: int = 0):
    """A uvicorn server of the app on ``host``:``port`` (0: a free port) that answers only the Host names
    ``rnnlens explore`` answers -> (server, listening socket, URL). ``server.run(sockets=[sock])`` serves."""
    import uvicorn

    from rnnlens.explore.guard import allowed_hosts

    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.bind((host, port))
    port = sock.getsockname()[1]
    app = create_app(models, allowed_hosts=allowed_hosts(host, port))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    return server, sock, f"http://{host if ':' not in host else f'[{host}]'}:{port}/"


# --8<-- [end:serve]


def main(argv: list[str] | None = None) -> dict:
    """Serve the page, or with ``--query`` return ``{"models", "reads": {text: /api/read}, "words", "scene"}``."""
    args = parse_args(argv)
    # --8<-- [start:load]
    checkpoints = args.checkpoint or [pretrained_checkpoints()["gru"]]
    # a saved analysis per checkpoint, or None: a quick analysis on the corpus the checkpoint records
    models = load_models(checkpoints, args.analysis or None, quick=dict(args.setting) or None, progress=True)
    for m in models:
        d = m.describe()
        print(f"{d['name']}: {d['arch']}, {d['hidden_size']} units, slow manifold from {d['nodes_source']}")
    # --8<-- [end:load]
    if not args.query:
        server, sock, url = make_server(models, args.host, args.port)
        print(f"serving at {url} (Ctrl+C stops)")
        server.run(sockets=[sock])
        return {"models": models}

    # --8<-- [start:query]
    from fastapi.testclient import TestClient

    client = TestClient(create_app(models))  # the app in this process: no server, no port
    out: dict = {"models": models, "reads": {}, "words": {}, "scene": {}}
    for m in models:
        for text in args.text or TEXTS:
            out["reads"].setdefault(text, {})[m.name] = read(client, m.name, text)
        print(f"\n{m.name}: word panel and scene")
        out["words"][m.name] = word_panel(client, m.name, args.words)
        out["scene"][m.name] = scene(client, m.name)
    # --8<-- [end:query]
    return out


if __name__ == "__main__":
    main()
