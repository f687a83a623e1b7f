"""The HTTP front-ends' guard: JSON within a depth limit, the per-token rate limit, tokens
from the Authorization header only."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest
from opspack.frontends.guard import (
    TOKEN_SCOPE_KEY,
    BadJson,
    BearerToken,
    Guard,
    RateLimit,
    nested_deeper,
    read_json,
    token_names,
)


def _nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


@pytest.mark.parametrize("depth", [1, 2, 31, 32])
def test_json_up_to_the_depth_is_read(depth: int) -> None:
    assert not nested_deeper(_nested(depth), 32)
    assert read_json(_nested(depth), 32) is not None


@pytest.mark.parametrize("depth", [33, 900, 100_000])
def test_json_past_the_depth_is_refused_without_recursing(depth: int) -> None:
    assert nested_deeper(_nested(depth), 32)
    with pytest.raises(BadJson, match="deeper than 32"):
        read_json(_nested(depth), 32)


def test_the_depth_counts_arrays_and_objects_alike_and_not_brackets_in_strings() -> None:
    mixed = b'{"a": [{"b": [{"c": []}]}]}'  # 6 deep
    assert nested_deeper(mixed, 5) and not nested_deeper(mixed, 6)
    quoted = json.dumps({"text": '[[[[[[[[{{{{{{ \\" ]]]]', "args": {"x": ["[", "{"]}}).encode()
    assert not nested_deeper(quoted, 3)
    assert read_json(quoted, 3)["text"].startswith("[[[[")
    wide = b"[" + b",".join([b"[]"] * 200_000) + b"]"  # many brackets, two deep
    assert not nested_deeper(wide, 2) and nested_deeper(wide, 1)


def test_brackets_that_do_not_pair_up_and_other_bad_json_are_bad_json() -> None:
    with pytest.raises(BadJson, match="do not pair up"):
        read_json(b"]" * 100 + b"[" * 100, 32)
    with pytest.raises(BadJson, match="not JSON"):
        read_json(b"[" * 10 + b"}" * 10, 32)
    with pytest.raises(BadJson, match="not JSON"):
        read_json(b'{"text": "unterminated', 32)
    with pytest.raises(BadJson, match="not JSON"):
        read_json(b"\xff\xfe{}", 32)


def test_the_worst_body_is_read_quickly() -> None:
    for body in (_nested(500_000), b"[]" * 500_000, b"[{" * 250_000):
        start = time.perf_counter()
        with pytest.raises(BadJson):
            read_json(body, 32)
        assert time.perf_counter() - start < 0.5


def test_a_rate_limit_bucket_per_name() -> None:
    limit = RateLimit(rate=2, burst=3)
    assert [limit.take("a", now=100.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limit.take("a", now=100.0) == pytest.approx(0.5)
    assert limit.take("b", now=100.0) == 0.0  # another token's own bucket
    assert limit.take("a", now=100.5) == 0.0  # one request back after 1/rate s
    assert limit.take("a", now=100.5) > 0
    assert limit.take("a", now=200.0) == 0.0 and limit.take("a", now=200.0) == 0.0  # refilled, up to the burst
    unlimited = RateLimit(rate=0, burst=1)
    assert all(unlimited.take("a") == 0.0 for _ in range(1000))


def test_token_names_by_position() -> None:
    assert token_names(3) == ["default", "default2", "default3"]


def _call(guard: Guard, path: str, headers: dict[str, str], query: str = "") -> tuple[int, dict[str, str], Any]:
    seen: dict[str, Any] = {}
    sent: list[dict[str, Any]] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen["scope"] = scope
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Any) -> None:
        sent.append(message)

    guard.app = app
    scope = {
        "type": "http",
        "path": path,
        "query_string": query.encode(),
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
    }
    asyncio.run(guard(scope, receive, send))
    start = sent[0]
    body = json.loads(sent[1]["body"])
    return start["status"], {k.decode(): v.decode() for k, v in start["headers"]}, (seen.get("scope"), body)


def test_the_guard_takes_a_token_from_the_authorization_header_only() -> None:
    guard = Guard(lambda *a: None, ["t-one-1234", "t-two-1234"], max_body=1000)  # type: ignore[arg-type,return-value]
    status, _, _ = _call(guard, "/registry", {}, query="token=t-one-1234&access_token=t-one-1234")
    assert status == 401
    status, _, (scope, _) = _call(guard, "/registry", {"Authorization": "Bearer t-two-1234"})
    assert status == 200 and scope[TOKEN_SCOPE_KEY].name == "default2"
    status, _, _ = _call(guard, "/healthz", {})
    assert status == 200


def test_the_guard_answers_429_with_retry_after_past_the_rate() -> None:
    token = BearerToken("hubot", "t-one-1234")
    guard = Guard(lambda *a: None, [token], max_body=1000, rate=0.25, burst=2)  # type: ignore[arg-type,return-value]
    auth = {"Authorization": "Bearer t-one-1234"}
    assert [_call(guard, "/chat", auth)[0] for _ in range(2)] == [200, 200]
    status, headers, (_, body) = _call(guard, "/chat", auth)
    assert status == 429 and headers["retry-after"] == "4"
    assert body["ok"] is False and body["error"]["kind"] == "busy" and "hubot" in body["error"]["message"]
    assert _call(guard, "/healthz", {})[0] == 200  # no token, no bucket


def test_the_runners_limits_from_the_serve_table_and_the_environment() -> None:
    from opspack.errors import ConfigError
    from opspack.frontends.serve import ServeSettings
    from opspack.settings import Config

    table = {"serve": {"tokens": ["t-one-1234"], "rate": 5, "keep_alive": 2.5, "max_connections": 300}}
    settings = ServeSettings.load(Config(data=table, path=None, environ={"OPSPACK_SERVE_HEADER_TIMEOUT": "3"}))
    assert (settings.rate, settings.burst, settings.keep_alive, settings.header_timeout) == (5, 200, 2.5, 3)
    assert (settings.max_connections, settings.max_header, settings.max_json_depth) == (300, 16384, 32)
    assert ServeSettings.load(Config(data={}, path=None, environ={})).max_connections is None
    assert ServeSettings.load(Config(data={}, path=None, environ={"OPSPACK_SERVE_RATE": "0"})).rate == 0
    for name, value in [("rate", "-1"), ("keep_alive", "0"), ("max_header", "10"), ("max_body", "inf")]:
        with pytest.raises(ConfigError, match=name):
            ServeSettings.load(Config(data={}, path=None, environ={f"OPSPACK_SERVE_{name.upper()}": value}))
