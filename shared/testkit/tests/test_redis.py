"""RedisServer: Debian's redis-server on a free loopback port, empty again after a restart."""

from __future__ import annotations

import pytest
from opspack_testkit import need
from opspack_testkit.servers.redis import RedisError, RedisServer, RedisUnavailable, redis_binary


@pytest.fixture
def binary() -> None:
    try:
        redis_binary()
    except RedisUnavailable as exc:
        need(False, str(exc))


@pytest.mark.usefixtures("binary")
def test_it_answers_and_comes_back_empty_on_the_same_port() -> None:
    with RedisServer() as first:
        assert first.call("SET", "k", "v") == "OK"
        assert first.call("GET", "k") == "v"
        assert first.call("RPUSH", "q", "a", "b") == 2
        assert first.call("LRANGE", "q", 0, -1) == ["a", "b"]
        assert first.url(db=3) == f"redis://127.0.0.1:{first.port}/3"
        with pytest.raises(RedisError, match="unknown command"):
            first.call("NOSUCHCOMMAND")
        port = first.port
    with RedisServer(port=port) as again:
        assert again.call("GET", "k") is None  # nothing was saved
        assert again.call("DBSIZE") == 0


def test_a_missing_binary_is_told(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPSPACK_REDIS_SERVER", "/nonexistent/redis-server")
    with pytest.raises(RedisUnavailable, match="OPSPACK_REDIS_SERVER=/nonexistent/redis-server"):
        RedisServer(start_timeout=5).start()
