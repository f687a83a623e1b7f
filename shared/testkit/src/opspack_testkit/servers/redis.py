"""A private Redis server (Debian's ``redis-server``) for tests and the demo, standard library only.

::

    with RedisServer() as redis:                 # redis-server on a free loopback port
        url = redis.url()                        # redis://127.0.0.1:PORT/0, a Celery broker
        redis.call("LLEN", "opspack.vmware")     # one command, its decoded answer

Nothing is kept on disk (``--save ''``, ``--appendonly no``): a server stopped and
started again on the same port (``RedisServer(port=old.port)``) comes back empty, as a
broker that lost its messages. Needs ``apt-get install redis-server`` (``$OPSPACK_REDIS_SERVER``
names another binary).
"""

from __future__ import annotations

import os
import shutil
import socket
from pathlib import Path
from typing import Any

from opspack_testkit.servers.process import ManagedProcess, ServerError

__all__ = ["APT_PACKAGES", "RedisError", "RedisServer", "RedisUnavailable", "redis_binary"]

APT_PACKAGES = ("redis-server",)


class RedisUnavailable(RuntimeError):
    """The ``redis-server`` binary is not installed."""


class RedisError(ServerError):
    """The server did not start, or a command sent to it failed."""


def redis_binary() -> Path:
    """The ``redis-server`` to run: ``$OPSPACK_REDIS_SERVER``, else the one on ``PATH``."""
    env = os.environ.get("OPSPACK_REDIS_SERVER")
    if env:
        path = Path(env)
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise RedisUnavailable(f"OPSPACK_REDIS_SERVER={env} is not an executable file")
        return path
    found = shutil.which("redis-server")
    if not found and Path("/usr/bin/redis-server").is_file():  # /usr/bin may be missing from PATH
        found = "/usr/bin/redis-server"
    if not found:
        raise RedisUnavailable("redis-server is not installed; install: apt-get install -y redis-server")
    return Path(found)


class RedisServer(ManagedProcess):
    """A running Redis server on loopback, in memory only; use as a context manager.

    Args:
        port: TCP port on 127.0.0.1 (0: a free one); give the old one to start a server again there.
    """

    name = "redis"
    error = RedisError

    def __init__(self, *, port: int = 0, start_timeout: float = 30.0) -> None:
        super().__init__(port=port, start_timeout=start_timeout, stop_timeout=10.0)
        self.binary: Path | None = None

    # -- ManagedProcess ------------------------------------------------------------------
    def prepare(self) -> None:
        """Find the binary (before the folder and port are of any use)."""
        self.binary = redis_binary()

    def command(self) -> list[str]:
        """``redis-server`` in the foreground on :attr:`port`, nothing saved to disk."""
        assert self.binary is not None
        return [
            str(self.binary),
            "--port",
            str(self.port),
            "--bind",
            self.host,
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(self.workdir),
            "--daemonize",
            "no",
            "--protected-mode",
            "no",
        ]

    def ready(self) -> bool:
        """The server answers ``PING``."""
        try:
            return bool(self.call("PING") == "PONG")
        except (OSError, RedisError):
            return False

    # -- clients ------------------------------------------------------------------
    def url(self, db: int = 0) -> str:
        """``redis://127.0.0.1:PORT/<db>``."""
        return f"redis://{self.host}:{self.port}/{db}"

    def call(self, *args: str | int) -> Any:
        """Send one command (RESP over a new connection); its answer: a str, an int, None or a list."""
        parts = [str(a).encode() for a in args]
        request = b"*%d\r\n" % len(parts) + b"".join(b"$%d\r\n%s\r\n" % (len(p), p) for p in parts)
        with socket.create_connection((self.host, self.port), timeout=5) as sock:
            sock.sendall(request)
            reader = sock.makefile("rb")
            return _read_reply(reader)


def _read_reply(reader: Any) -> Any:
    line = reader.readline()
    if not line:
        raise RedisError("the server closed the connection")
    kind, rest = line[:1], line[1:].rstrip(b"\r\n")
    if kind == b"+":
        return rest.decode()
    if kind == b"-":
        raise RedisError(rest.decode())
    if kind == b":":
        return int(rest)
    if kind == b"$":
        size = int(rest)
        if size < 0:
            return None
        data = reader.read(size + 2)
        return data[:-2].decode("utf-8", "replace")
    if kind == b"*":
        count = int(rest)
        return None if count < 0 else [_read_reply(reader) for _ in range(count)]
    raise RedisError(f"unexpected answer {line!r}")
