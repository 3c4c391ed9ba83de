"""Hostile requests against the explorer (issue 23, item 6), on a live uvicorn server in this process: bodies
over the limit refused while they stream (413 before any parsing, memory bounded), a lone surrogate or
invalid UTF-8 answered 400/422 with a message, no /docs or /redoc (their JavaScript came from a CDN), a
Content-Security-Policy on every response, the Host header checked against the loopback names, and normal
requests' latency with hostile clients beside them (benchmarks/explore_hostile.py at a small scale)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

_BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "explore_hostile.py"
MB = 2**20


def _bench():
    spec = importlib.util.spec_from_file_location("explore_hostile", _BENCH)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


hostile = _bench()


class _Stub:
    """A model that must never be asked: every request in these tests is refused before reaching it."""

    name = "m"

    def read(self, text):
        raise AssertionError("a refused body reached the model")


@pytest.fixture(scope="module")
def stub_port(serve):
    from rnnlens.explore.app import create_app
    from rnnlens.explore.guard import allowed_hosts

    return serve(lambda port: create_app([_Stub()], allowed_hosts=allowed_hosts("127.0.0.1", port)))


@pytest.fixture(scope="module")
def model_port(serve, explore_models):
    from rnnlens.explore.app import create_app
    from rnnlens.explore.guard import allowed_hosts

    return serve(lambda port: create_app(explore_models[:1], allowed_hosts=allowed_hosts("127.0.0.1", port)))


def _limit_error(r):
    from rnnlens.explore.guard import MAX_BODY_BYTES

    assert r["status"] == 413, r
    detail = json.loads(r["body"])["detail"]
    assert f"{MAX_BODY_BYTES:,}" in detail and "bytes" in detail


def test_a_declared_length_over_the_limit_is_refused_before_any_body_is_sent(stub_port):
    # was: the server waited for the whole declared gigabyte, then read and parsed it
    r = hostile.send_body(stub_port, 4096, chunked=False, declare=10**9, timeout=10)
    _limit_error(r)
    assert r["seconds"] < 5


def test_a_chunked_body_over_the_limit_is_refused_while_it_streams_with_memory_bounded(stub_port):
    # was: 100 MB read, joined and parsed (+300 MB resident), then refused by its character count
    import os

    r, growth = hostile.peak_rss_growth(os.getpid(), lambda: hostile.send_body(stub_port, 100 * MB))
    assert r["sent"] < 40 * MB, r["sent"]  # the limit plus what the sockets' buffers hold
    assert growth < 40 * MB, growth / MB
    _limit_error(r)


def test_four_large_bodies_at_once_keep_memory_bounded(stub_port):
    import os

    rs, growth = hostile.peak_rss_growth(os.getpid(), lambda: hostile.concurrent_bodies(stub_port, 4, 40 * MB))
    assert growth < 60 * MB, growth / MB
    # every one refused with 413; the server closes a connection whose body it did not read, and a client still
    # sending then gets a reset that can discard the answer's body from its receive buffer (seen once under the
    # full suite's load): the body is checked where it arrived, and it must have arrived somewhere
    assert all(r["status"] == 413 for r in rs), rs
    whole = [r for r in rs if r["body"]]
    assert whole, rs
    for r in whole:
        _limit_error(r)


def test_a_body_under_the_limit_is_still_read(model_port, explore_models):
    from rnnlens.explore.guard import MAX_BODY_BYTES

    body = json.dumps({"model": explore_models[0].name, "text": "spos001 " * ((MAX_BODY_BYTES - 100) // 8)})
    r = hostile.send_small(model_port, body.encode())
    assert r["status"] == 200, r
    assert json.loads(r["body"])["truncated"]


def test_a_lone_surrogate_is_a_422_naming_it(client):
    name = client.get("/api/models").json()["models"][0]["name"]
    for body in (
        f'{{"model": "{name}", "text": "good \\ud800 film"}}',
        f'{{"model": "{name}", "text": "good film \\udfff"}}',
        '{"model": "\\ud800", "text": "good"}',
        '{"text": "\\ud800"}',
    ):
        r = client.post("/api/read", content=body, headers={"content-type": "application/json"})
        assert r.status_code == 422, (body, r.status_code, r.text)
        assert "surrogate" in r.text or "Field required" in r.text, r.text
    r = client.post(
        "/api/read",
        content=f'{{"model": "{name}", "text": "good \\ud83d\\ude42 film"}}',
        headers={"content-type": "application/json"},
    )
    assert r.status_code == 200 and "🙂" in r.json()["tokens"]  # a proper pair is one character


def test_invalid_utf8_is_a_400_naming_it(client):
    name = client.get("/api/models").json()["models"][0]["name"]
    for body in (
        b'{"model": "%s", "text": "bad \xff\xfe"}' % name.encode(),
        b'{"model": "%s", "text": "encoded surrogate \xed\xa0\x80"}' % name.encode(),
    ):
        r = client.post("/api/read", content=body, headers={"content-type": "application/json"})
        assert r.status_code == 400, (body, r.status_code, r.text)
        assert "UTF-8" in r.json()["detail"], r.text


def test_no_docs_pages_and_a_csp_on_every_response(client):
    for path in ("/docs", "/redoc", "/docs/oauth2-redirect"):
        assert client.get(path).status_code == 404, path
    assert client.get("/openapi.json").json()["info"]["title"] == "rnnlens explore"
    for path in ("/", "/api/models", "/openapi.json", "/nothing-here", "/static/app.js"):
        r = client.get(path)
        assert "default-src 'self'" in r.headers["content-security-policy"], path
        assert r.headers["x-content-type-options"] == "nosniff"
    page = client.get("/").text
    assert "http://" not in page and "https://" not in page and 'href="/docs"' not in page


def test_the_host_header_is_checked_against_the_loopback_names(stub_port):
    import httpx

    base = f"http://127.0.0.1:{stub_port}"
    for host in (f"127.0.0.1:{stub_port}", f"localhost:{stub_port}", f"[::1]:{stub_port}", f"LOCALHOST:{stub_port}"):
        assert httpx.get(base + "/openapi.json", headers={"host": host}).status_code == 200, host
    for host in (
        "rebind.example",
        f"rebind.example:{stub_port}",
        f"127.0.0.1:{stub_port + 1}",
        "127.0.0.1",
        f"127.0.0.1.rebind.example:{stub_port}",
        f"localhost:{stub_port}@evil",
        "",
    ):
        r = httpx.get(base + "/", headers={"host": host})
        assert r.status_code == 400, host
        assert "Host" in r.json()["detail"] and "--allow-host" in r.json()["detail"]
        assert "default-src 'self'" in r.headers["content-security-policy"]
    r = hostile.send_small(stub_port, b'{"model": "m", "text": "x"}', host="rebind.example")
    assert r["status"] == 400


def test_allowed_hosts_for_each_binding():
    from rnnlens.explore.guard import allowed_hosts

    assert set(allowed_hosts("127.0.0.1", 8000)) == {"127.0.0.1:8000", "localhost:8000", "[::1]:8000"}
    assert set(allowed_hosts("::1", 80)) >= {"[::1]:80", "[::1]", "localhost", "127.0.0.1"}
    assert allowed_hosts("localhost", 9, ["*"]) is None
    names = allowed_hosts("0.0.0.0", 8000, ["box.lan", "10.0.0.5:8000"])
    assert {"box.lan", "10.0.0.5:8000", "localhost:8000"} <= set(names)
    assert "192.168.1.9:8000" in allowed_hosts("192.168.1.9", 8000)


def test_the_allow_host_option_opens_other_names():
    from fastapi.testclient import TestClient

    from rnnlens.explore.app import create_app
    from rnnlens.explore.guard import allowed_hosts

    c = TestClient(create_app([_Stub()], allowed_hosts=allowed_hosts("0.0.0.0", 8000, ["box.lan"])))
    assert c.get("/openapi.json", headers={"host": "box.lan:8000"}).status_code == 200
    assert c.get("/openapi.json", headers={"host": "box.lan"}).status_code == 200
    assert c.get("/openapi.json", headers={"host": "other.lan:8000"}).status_code == 400
    anyone = TestClient(create_app([_Stub()], allowed_hosts=allowed_hosts("0.0.0.0", 8000, ["*"])))
    assert anyone.get("/openapi.json", headers={"host": "other.lan:8000"}).status_code == 200


def test_the_cli_help_names_the_host_check_and_no_docs_page():
    from click.testing import CliRunner

    from rnnlens.cli.explore import explore
    from rnnlens.explore.guard import MAX_BODY_BYTES

    text = " ".join(CliRunner().invoke(explore, ["--help"]).output.split())
    assert "--allow-host" in text and "/openapi.json" in text and "/docs" not in text
    assert f"{MAX_BODY_BYTES:,} bytes" in text


def test_normal_requests_keep_their_latency_beside_hostile_clients(model_port, explore_models):
    # the small version of benchmarks/explore_hostile.py: 2 clients x 60 reads, alone and beside 2 hostile
    # clients (was: every hostile body was read and parsed on the event loop, stalling everyone)
    import sys

    sys.path.insert(0, str(_BENCH.parent))
    try:
        import explore_load
    finally:
        sys.path.remove(str(_BENCH.parent))
    url, name = f"http://127.0.0.1:{model_port}/", explore_models[0].name
    texts = [" ".join(["spos001", "neu002", "neg003", "pos004"] * 25)] * 60
    out = hostile.p95_with_and_without_hostile(
        model_port, lambda: explore_load.run_clients(url, name, texts, 2, 100)[0], 2, 30 * MB
    )
    print(json.dumps(out))
    answers = out["hostile_answers"]
    assert set(answers.get("big_chunked", {"413": 0})) == {"413"}
    assert set(answers.get("surrogate", {"422": 0})) == {"422"}
    assert set(answers.get("invalid_utf8", {"400": 0})) == {"400"}
    assert set(answers.get("foreign_host", {"400": 0})) == {"400"}
    assert sum(sum(a.values()) for a in answers.values()) >= 4
    assert out["hostile"]["p95_ms"] < 3 * out["alone"]["p95_ms"] + 50, out


def test_the_printed_address_is_one_the_host_check_answers():
    from rnnlens.cli.explore import _url
    from rnnlens.explore.guard import Guard, allowed_hosts

    for host in ("127.0.0.1", "localhost", "::1", "0.0.0.0", "::", "192.168.1.9"):
        url = _url(host, 8000)
        assert Guard(None, allowed_hosts(host, 8000)).host_ok(url.split("/")[2]), (host, url)
