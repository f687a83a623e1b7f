"""Hostile clients against a real `opspack serve` (uvicorn on a loopback port).

Each attack is refused cheaply, with a result object where an answer is possible, and
the runner keeps answering everyone else: idle connections past the open-files limit,
connections that never send (or send their headers or body a byte at a time), a 1 MB
Authorization header, a token in the query string (it authenticates nothing and stays out
of the access log), JSON nested 100,000 deep, arguments nested 900 deep, a port scan of
65,535 ports through /invoke, and a token over its rate limit.
"""

from __future__ import annotations

import contextlib
import json
import resource
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import start_runner
from frontend_helpers import TOKEN, Runner

AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def strict(registry_file: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runner]:
    """A runner with one-second timeouts and its access log on."""
    with start_runner(
        registry_file,
        tmp_path_factory.mktemp("strict"),
        access_log=True,
        OPSPACK_SERVE_KEEP_ALIVE="1",
        OPSPACK_SERVE_HEADER_TIMEOUT="1",
        OPSPACK_SERVE_BODY_TIMEOUT="1",
    ) as runner:
        yield runner


def _address(runner: Runner) -> tuple[str, int]:
    host, port = runner.url.removeprefix("http://").split(":")
    return host, int(port)


def _connect(runner: Runner, timeout: float = 10) -> socket.socket:
    return socket.create_connection(_address(runner), timeout=timeout)


def _answer(sock: socket.socket) -> bytes:
    """Everything the runner sends until it closes the connection (or a reset)."""
    out = b""
    while True:
        try:
            data = sock.recv(65536)
        except ConnectionResetError:
            return out
        if not data:
            return out
        out += data


def _status_and_body(raw: bytes) -> tuple[int, dict[str, Any]]:
    head, _, body = raw.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), json.loads(body)


def _log(runner: Runner) -> str:
    return runner.log.read_text(errors="replace")


# -- connections ------------------------------------------------------------------------
def test_a_connection_that_sends_nothing_is_closed(strict: Runner) -> None:
    with _connect(strict) as sock:
        start = time.monotonic()
        assert _answer(sock) == b""  # closed, without a word
        assert time.monotonic() - start < 3


def test_headers_sent_a_byte_at_a_time_are_answered_408(strict: Runner) -> None:
    with _connect(strict) as sock:
        start = time.monotonic()
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        try:
            for _ in range(25):  # a header every 0.2 s, never the blank line: 5 s if nobody stops it
                sock.sendall(b"X-Slow: 1\r\n")
                time.sleep(0.2)
        except (BrokenPipeError, ConnectionResetError):
            pass
        status, body = _status_and_body(_answer(sock))
    assert status == 408 and body["error"]["kind"] == "timeout", body
    assert time.monotonic() - start < 4


def test_a_body_that_stops_coming_is_answered_408(strict: Runner) -> None:
    with _connect(strict) as sock:
        start = time.monotonic()
        sock.sendall(
            f"POST /chat HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n"
            'Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"text": '.encode()
        )
        status, body = _status_and_body(_answer(sock))
    assert status == 408 and body["error"]["kind"] == "timeout", body
    assert time.monotonic() - start < 4
    assert "Traceback" not in _log(strict)


def test_a_megabyte_authorization_header_is_refused_431(strict: Runner) -> None:
    header = b"GET /registry HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + b"a" * (1024 * 1024) + b"\r\n\r\n"
    with _connect(strict) as sock:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # refused before it was all sent
            sock.sendall(header)
        status, body = _status_and_body(_answer(sock))
    assert status == 431 and "16384 bytes" in body["error"]["message"], body
    with httpx.Client(base_url=strict.url, timeout=10) as http:
        assert http.get("/healthz").status_code == 200


def _hold(runner: Runner, count: int) -> list[socket.socket]:
    """``count`` connections to the runner that send nothing."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < count + 200:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, count + 200), hard))
    held = []
    for _ in range(count):
        held.append(_connect(runner))
    return held


def test_idle_connections_past_the_open_files_limit_do_not_stop_healthz_or_chat(
    registry_file: Path, tmp_path: Path
) -> None:
    """The runner may open 400 files; 600 connections that never send anything do not keep
    out /healthz nor an authenticated /chat: the oldest idle ones are closed to make room."""
    with start_runner(registry_file, tmp_path, open_files=400) as runner:
        held = _hold(runner, 600)
        try:
            time.sleep(0.5)  # (well within the 5 s an idle connection may wait)
            with httpx.Client(base_url=runner.url, timeout=5) as http:
                for _ in range(3):
                    assert http.get("/healthz").status_code == 200
                    r = http.post("/chat", json={"text": "echo hi", "user": "al"}, headers=AUTH)
                    assert r.status_code == 200 and r.json()["ok"] is True, r.text
            # the runner holds at most 400 - 200 connections: the others were closed
            closed = 0
            for sock in held:
                sock.setblocking(False)
                try:
                    closed += sock.recv(1) == b""
                except BlockingIOError:
                    pass
                except ConnectionResetError:
                    closed += 1
            assert closed >= 600 - 200, closed
        finally:
            for sock in held:
                sock.close()
        assert "Too many open files" not in _log(runner)


# -- tokens and the access log -------------------------------------------------------
@pytest.mark.parametrize("name", ["token", "access_token", "x"])
def test_a_token_in_the_query_string_opens_nothing_and_is_not_logged(strict: Runner, name: str) -> None:
    with httpx.Client(base_url=strict.url, timeout=10) as http:
        r = http.get(f"/registry?user=al&{name}={TOKEN}")
        assert r.status_code == 401 and r.json()["error"]["kind"] == "denied"
        assert http.get(f"/healthz?{name}={TOKEN}").status_code == 200
    time.sleep(0.2)
    log = _log(strict)
    assert "GET /registry?user=al&" in log and "401" in log
    assert TOKEN not in log


def test_a_token_over_its_rate_limit_is_answered_429(registry_file: Path, tmp_path: Path) -> None:
    with (
        start_runner(registry_file, tmp_path, OPSPACK_SERVE_RATE="0.5", OPSPACK_SERVE_BURST="3") as runner,
        httpx.Client(base_url=runner.url, timeout=10) as http,
    ):
        for _ in range(3):
            assert http.get("/registry", headers=AUTH).status_code == 200
        r = http.post("/chat", json={"text": "echo hi"}, headers=AUTH)
        assert r.status_code == 429, r.text
        assert r.json()["ok"] is False and r.json()["error"]["kind"] == "busy"
        assert "default2" in r.json()["error"]["message"]  # the second token of OPSPACK_SERVE_TOKENS
        assert 1 <= int(r.headers["retry-after"]) <= 2
        # another token has its own bucket; /healthz needs none
        assert http.get("/registry", headers={"Authorization": "Bearer other-token"}).status_code == 200
        assert http.get("/healthz").status_code == 200


# -- JSON and arguments ---------------------------------------------------------------
def test_json_nested_100000_deep_is_400(strict: Runner) -> None:
    with httpx.Client(base_url=strict.url, timeout=10, headers=AUTH) as http:
        for path in ("/invoke", "/chat"):
            r = http.post(path, content=b"[" * 100_000 + b"]" * 100_000)
            assert r.status_code == 400 and r.json()["error"]["kind"] == "usage", r.text
            assert "deeper than 32" in r.json()["error"]["message"]
            r = http.post(path, content=b'{"text": ' + b"[" * 100_000)
            assert r.status_code == 400 and r.json()["error"]["kind"] == "usage", r.text
    log = _log(strict)
    assert "Traceback" not in log and "RecursionError" not in log


def test_arguments_nested_900_deep_are_400_and_leave_the_log_quiet(strict: Runner) -> None:
    before = len(_log(strict).splitlines())
    nested = b"[" * 900 + b'"x"' + b"]" * 900
    with httpx.Client(base_url=strict.url, timeout=10, headers=AUTH) as http:
        body = b'{"command": "echo.msg.say", "user": "al", "args": {"text": ' + nested + b"}}"
        r = http.post("/invoke", content=body)
        assert r.status_code == 400 and "deeper than 32" in r.json()["error"]["message"], r.text
        assert http.post("/invoke", json={"command": "echo.msg.say", "args": {"text": "ok"}}).json()["ok"] is True
    time.sleep(0.2)
    assert len(_log(strict).splitlines()) - before < 10


def test_a_scan_of_every_port_through_invoke_is_held_to_chats_limit(strict: Runner) -> None:
    with httpx.Client(base_url=strict.url, timeout=30, headers=AUTH) as http:
        every = {"command": "server.host.test", "args": {"host": "127.0.0.1", "ports": list(range(1, 65536))}}
        r = http.post("/invoke", json=every)
        assert r.status_code == 200 and len(r.content) < 2000, len(r.content)
        error = r.json()["error"]
        assert error["kind"] == "usage" and "the limit is 4,000" in error["message"], error
        # within the length, the command's own maximum: at most 32 ports, by id or in chat
        some = {"command": "server.host.test", "args": {"host": "127.0.0.1", "ports": list(range(1, 34))}}
        error = http.post("/invoke", json=some).json()["error"]
        assert error["kind"] == "usage" and "at most 32" in error["message"], error
        text = "server test 127.0.0.1 --ports " + ",".join(str(p) for p in range(1, 34))
        error = http.post("/chat", json={"text": text}).json()["error"]
        assert error["kind"] == "usage" and "at most 32" in error["message"], error


# -- what stays allowed -----------------------------------------------------------------
def test_headers_under_the_limit_and_a_body_in_one_write_are_answered(strict: Runner) -> None:
    body = json.dumps({"command": "echo.msg.say", "args": {"text": "y" * 3000}, "user": "al"}).encode()
    request = (
        f"POST /invoke HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\nX-Pad: {'p' * 12_000}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode() + body
    with _connect(strict) as sock:
        sock.sendall(request)
        status, reply = _status_and_body(_answer(sock))
    assert status == 200 and reply["ok"] is True, reply


def test_a_kept_alive_connection_serves_request_after_request(strict: Runner) -> None:
    with httpx.Client(base_url=strict.url, timeout=10, headers=AUTH) as http:
        for i in range(5):
            r = http.post("/invoke", json={"command": "echo.msg.say", "args": {"text": str(i)}})
            assert r.json()["results"][0]["text"] == str(i)
            time.sleep(0.3)  # within the idle second


def test_the_access_log_masks_secret_looking_query_parameters_and_registered_secrets() -> None:
    from opspack.frontends.listener import masked_path
    from opspack.masking import Masker

    masker = Masker()
    masker.add("a+b/c=tok-1234")
    assert masked_path("/registry?user=al&token=zzz&roles=a,b", masker) == "/registry?user=al&token=••••••&roles=a%2Cb"
    assert masked_path("/jobs?q=a%2Bb%2Fc%3Dtok-1234", masker) == "/jobs?q=••••••"
    assert masked_path("/a/a+b/c=tok-1234/b", masker) == "/a/••••••/b"
    assert masked_path("/registry?user=al", masker) == "/registry?user=al"


def test_the_connection_cap_stays_below_the_open_files_limit() -> None:
    from opspack.frontends.listener import DEFAULT_MAX_CONNECTIONS, connection_cap

    assert connection_cap(None, 20_000, 256) == DEFAULT_MAX_CONNECTIONS == 10_000
    assert connection_cap(None, 1024, 256) == 768
    assert connection_cap(None, 400, 256) == 200  # half kept when the reserve would take most
    assert connection_cap(50_000, 20_000, 256) == 19_744
    assert connection_cap(100, None, 256) == 100
