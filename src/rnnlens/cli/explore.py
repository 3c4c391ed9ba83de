"""Click command ``explore``: a local web app that shows networks reading a review."""

from __future__ import annotations

import click

__all__ = ["COMMANDS", "explore"]

_MISSING = "rnnlens explore needs the 'explore' extra ({what} is not installed): pip install 'rnnlens[explore]'"


def _check_extra() -> None:
    import importlib.util

    for mod in ("fastapi", "uvicorn", "plotly"):
        if importlib.util.find_spec(mod) is None:
            raise click.ClickException(_MISSING.format(what=mod))


def _url(host: str, port: int) -> str:
    """The page's address: the bound one, or a loopback name for a wildcard (which no Host check answers)."""
    shown = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "::1"}.get(host, host)
    return f"http://[{shown}]:{port}/" if ":" in shown else f"http://{shown}:{port}/"


@click.command("explore")
@click.argument("checkpoints", nargs=-1, required=False, type=click.Path())
@click.option(
    "--network",
    "networks",
    multiple=True,
    metavar="FILE.py:FUNCTION",
    help="A network of your own (after the CHECKPOINTs; repeatable), as for `rnnlens analyze --network`: "
    "runs your Python file, only when given. Give its saved analysis with --analysis.",
)
@click.option(
    "--analysis",
    "analyses",
    multiple=True,
    type=click.Path(),
    help="Saved analysis folder (rnnlens analyze -o DIR) for the checkpoint in the same position; "
    "repeat per checkpoint. Without one, a quick analysis (200 documents, 100 seeds) is computed "
    "at start-up on the corpus the checkpoint records.",
)
@click.option("--data-dir", type=click.Path(), default=None, help="Corpora folder for the quick analyses.")
@click.option(
    "--host", default="127.0.0.1", show_default=True, help="Address to listen on (127.0.0.1: only this machine)."
)
@click.option(
    "--allow-host",
    "allow_hosts",
    multiple=True,
    metavar="NAME[:PORT]",
    help="Also answer requests whose Host header is NAME (any port) or NAME:PORT (repeatable); "
    "'*' answers any. Without it only localhost, 127.0.0.1 and [::1] with the port (and the "
    "--host address itself) are answered, others get 400 (a page of another site reaching this "
    "server through DNS rebinding). Give the names other machines use when --host listens "
    "beyond this one.",
)
@click.option("--port", type=click.IntRange(0, 65535), default=0, show_default=True, help="Port; 0 picks a free one.")
@click.option("--open", "open_browser", is_flag=True, help="Open the page in the default browser.")
def explore(checkpoints, networks, analyses, data_dir, host, port, allow_hosts, open_browser):
    """Serve a page where you type a review and watch CHECKPOINT... read it (state trajectory over the
    line attractor, readout per token, each word's push). JSON API under /api, described by /openapi.json
    (no interactive docs page: it would load its JavaScript from a CDN). Request bodies over 5,000,000
    bytes are refused (413) before they are read."""
    _check_extra()
    import socket
    import threading
    import webbrowser

    import torch
    import uvicorn

    from rnnlens.explore.app import create_app
    from rnnlens.explore.engine import load_models
    from rnnlens.explore.guard import allowed_hosts, is_loopback

    torch.set_num_threads(1)
    from rnnlens.cli._common import load_network

    if not checkpoints and not networks:
        raise click.UsageError("give at least one CHECKPOINT folder or --network FILE.py:FUNCTION")
    models = load_models([*checkpoints, *map(load_network, networks)], analyses, data_dir=data_dir, progress=True)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(2048)  # connections wait in the backlog until uvicorn accepts (the URL is printed first)
    except OSError as e:
        raise click.BadParameter(f"cannot listen on {host}:{port} ({e.strerror})", param_hint="--host/--port") from e
    bound = sock.getsockname()[1]
    hosts = allowed_hosts(host, bound, allow_hosts)
    app = create_app(models, allowed_hosts=hosts)
    url = _url(host, bound)
    click.echo(f"rnnlens explore: serving {len(models)} model(s) ({', '.join(m.name for m in models)}) at {url}")
    click.echo(f"JSON API described at {url}openapi.json; press Ctrl+C to stop")
    if not is_loopback(host):
        names = "any Host header" if hosts is None else f"requests to {', '.join(hosts)} only (--allow-host NAME)"
        click.echo(f"warning: listening on {host}: other machines can reach this server; it answers {names}", err=True)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
    if open_browser:

        def _open():
            import time

            while not server.started:
                time.sleep(0.05)
            webbrowser.open(url)

        threading.Thread(target=_open, daemon=True).start()
    server.run(sockets=[sock])


COMMANDS = [explore]
