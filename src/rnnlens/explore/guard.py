"""What every request to the explorer passes before the app sees it: its ``Host`` header checked
against the names the server answers to (DNS rebinding), its body read only up to :data:`MAX_BODY_BYTES`
and refused with 413 as soon as it is over (the declared Content-Length first, then the bytes counted as
they stream, before any parsing), the body checked to be UTF-8; and security headers on every response.

A plain ASGI middleware (no per-request task, unlike FastAPI's ``@app.middleware``): :class:`Guard`.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterable

__all__ = ["MAX_BODY_BYTES", "CSP", "Guard", "allowed_hosts", "is_loopback"]

MAX_BODY_BYTES = 5_000_000  # a request body over this is refused (413) before it is parsed

# scripts only from this server (no inline script, no event-handler attributes, no CDN)
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)
_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
]
_LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")


def is_loopback(host: str) -> bool:
    """Whether binding ``host`` listens on this machine only (``localhost``, 127.0.0.0/8, ``::1``)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _name(host: str) -> str:
    """``host`` as a Host header writes it: lower case, an IPv6 address in brackets."""
    host = host.strip().lower()
    try:
        if ipaddress.ip_address(host.strip("[]")).version == 6:
            return f"[{host.strip('[]')}]"
    except ValueError:
        pass
    return host


def allowed_hosts(host: str, port: int, extra: Iterable[str] = ()) -> list[str] | None:
    """The Host header values a server bound to ``host``:``port`` answers: the loopback names with the port
    (``localhost:PORT``, ``127.0.0.1:PORT``, ``[::1]:PORT``; bare too at port 80), the bound address
    itself when it is neither loopback nor a wildcard, and every name in ``extra`` (``NAME`` for any port,
    ``NAME:PORT`` for that port). ``"*"`` in ``extra`` -> None: any Host is accepted."""
    extra = [e.strip() for e in extra]
    if "*" in extra:
        return None
    own = [*_LOOPBACK_NAMES]
    if not is_loopback(host) and host.strip("[]") not in ("", "0.0.0.0", "::"):
        own.append(_name(host))
    names = [f"{n}:{port}" for n in own] + (own if port == 80 else [])
    for e in extra:
        name, p = _split(_name(e))
        names.append(f"{name}:{p}" if p else name)
    return list(dict.fromkeys(names))


def _split(value: str) -> tuple[str, str | None]:
    """A Host header value -> (name, port or None)."""
    if value.startswith("["):
        end = value.find("]") + 1
        rest = value[end:]
        return (value[:end], rest[1:]) if end and rest.startswith(":") else (value, None)
    name, sep, port = value.rpartition(":")
    return (name, port) if sep else (value, None)


class Guard:
    """ASGI middleware around the explorer app: Host check (``hosts``: allowed_hosts' list; None: any),
    body limit (``max_body`` bytes), UTF-8 check of the body, security headers (CSP, nosniff) on every
    response, its own refusals included. Refusals are JSON ``{"detail": ...}``; a refused body is never
    read further (the connection is closed)."""

    def __init__(self, app, hosts: Iterable[str] | None = None, max_body: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_body = int(max_body)
        self.hosts = None if hosts is None else list(hosts)
        pairs = [_split(h.lower()) for h in self.hosts or ()]
        self._exact = {p for p in pairs if p[1] is not None}
        self._any_port = {n for n, p in pairs if p is None}

    def host_ok(self, value: str) -> bool:
        """Whether a request with Host header ``value`` is answered."""
        if self.hosts is None:
            return True
        name, port = _split(value.strip().lower())
        if port is not None and not port.isdigit():
            return False
        return (name, port) in self._exact or name in self._any_port

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        send = _with_headers(send)
        headers = dict(scope.get("headers") or ())
        host = headers.get(b"host", b"").decode("latin-1")
        if not self.host_ok(host):
            return await _refuse(
                send,
                400,
                f"Host header {host!r} is not a name this server answers to "
                f"({', '.join(self.hosts)}); a page of another site may be trying to reach "
                "it through DNS rebinding. To serve under another name, start it with "
                "--allow-host NAME",
            )
        declared = headers.get(b"content-length", b"").decode("latin-1")
        if declared.isdigit() and int(declared) > self.max_body:
            return await _refuse(send, 413, self._too_large(f"declares {int(declared):,} bytes"))
        body = await _read_body(receive, self.max_body)
        if body is None:  # the client went away
            return None
        if body is False:
            return await _refuse(send, 413, self._too_large(f"is longer than {self.max_body:,} bytes"))
        try:
            body.decode("utf-8")
        except UnicodeDecodeError as e:
            return await _refuse(
                send,
                400,
                f"the request body is not valid UTF-8 (byte 0x{body[e.start]:02x} at "
                f"offset {e.start:,}): send the JSON encoded as UTF-8",
                close=False,
            )
        return await self.app(scope, _replay(body, receive), send)

    def _too_large(self, what: str) -> str:
        return (
            f"the request body {what}; the limit is {self.max_body:,} bytes (a text is read only up to "
            "limits.max_chars characters anyway: GET /api/models)"
        )


async def _read_body(receive, limit: int):
    """The request body, read up to ``limit`` bytes -> bytes; False as soon as it is longer (the rest is
    not read); None when the client disconnects."""
    parts, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return False
        parts.append(chunk)
        if not message.get("more_body", False):
            return b"".join(parts)


def _replay(body: bytes, receive):
    """A receive that gives ``body`` whole once, then what ``receive`` gives (the disconnect)."""
    given = False

    async def replay():
        nonlocal given
        if given:
            return await receive()
        given = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


def _with_headers(send):
    """``send`` adding the security headers to the response start."""

    async def wrapped(message):
        if message["type"] == "http.response.start":
            present = {k.lower() for k, _ in message.get("headers", ())}
            message = {
                **message,
                "headers": [*message.get("headers", ()), *(h for h in _HEADERS if h[0] not in present)],
            }
        await send(message)

    return wrapped


async def _refuse(send, status: int, detail: str, close: bool = True) -> None:
    """Answer ``status`` with ``{"detail": detail}``; ``close``: and close the connection (the body unread)."""
    body = json.dumps({"detail": detail}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})
